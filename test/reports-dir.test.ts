/** Where reports go by default: the checkout's load-tests/out, else the user's state directory. */
import { homedir } from 'node:os';
import t from 'tap';
import { isInstalledPackage, reportsDir } from '../common/reports-dir.js';

t.test('a checkout keeps load-tests/out; an installed package uses XDG_STATE_HOME', (t) => {
  t.equal(isInstalledPackage('/home/ops/pi-origin'), false);
  t.equal(reportsDir('/home/ops/pi-origin', {}), '/home/ops/pi-origin/load-tests/out');
  const installed = '/usr/local/lib/node_modules/pi-origin';
  t.equal(isInstalledPackage(installed), true);
  t.equal(reportsDir(installed, { XDG_STATE_HOME: '/var/tmp/state' }), '/var/tmp/state/pi-origin/reports');
  t.equal(reportsDir(installed, {}), `${homedir()}/.local/state/pi-origin/reports`, 'unset: ~/.local/state');
  t.equal(reportsDir(installed, { XDG_STATE_HOME: 'state' }), `${homedir()}/.local/state/pi-origin/reports`, 'relative: invalid, ignored');
  t.end();
});
