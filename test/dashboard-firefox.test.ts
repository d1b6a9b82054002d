/**
 * `pi-origin cluster dashboard` in Firefox: three real origin servers on [::1] (two on one
 * release, one on another), the built CLI serving the page, and Debian's firefox-esr (headless,
 * over Marionette) reading it. The rows are written by the page's script from /api/state, so
 * nodes listed with their exact addresses and releases mean the script ran in Firefox under the
 * page's CSP; the test also waits for refreshes, a node going DOWN, and checks that the page
 * loaded nothing but its own origin, logged no error, and that its inline style applied. Skipped when firefox-esr is not installed.
 */
import t from 'tap';
import { startDashboard, startThreeOrigins, threeOriginRows } from './helpers/dashboard.js';
import { launchFirefox, NO_FIREFOX, type Firefox } from './helpers/firefox.js';
import { until, waitFor } from './helpers/wait.js';

const INTERVAL_MS = 500;

interface Row {
  name: string;
  address: string;
  port: string;
  health: string;
  release: string;
  odd: boolean;
  badge: boolean;
}

/** Run in the page (a function body, as Marionette takes it): every node row as shown. */
const READ_ROWS = `
  const text = (tr, sel) => tr.querySelector(sel)?.textContent ?? '';
  return Array.from(document.querySelectorAll('#node-rows tr')).map((tr) => ({
    name: tr.dataset.node ?? '',
    address: text(tr, '.addr'),
    port: text(tr, '.port').trim(),
    health: text(tr, '.state'),
    release: text(tr, '.release-id'),
    odd: tr.classList.contains('odd-release'),
    badge: tr.querySelector('.badge')?.hidden === false,
  }));`;

/** Every URL the page fetched (the document, /api/state polls, the favicon). */
const RESOURCES = `return [location.href, ...performance.getEntriesByType('resource').map((e) => e.name)];`;

let firefox: Firefox | undefined;
t.before(async () => {
  if (!NO_FIREFOX) firefox = await launchFirefox();
});
t.teardown(() => firefox?.close());

t.test('three origins on [::1], one on another release: the page in firefox-esr', { skip: NO_FIREFOX }, async (t) => {
  const dir = t.testdir({
    a: { 'index.html': '<h1>one</h1>\n' },
    b: { 'index.html': '<h1>one</h1>\n' },
    c: { 'index.html': '<h1>two</h1>\n' },
  });
  const { n1, n2, n3, same, other, inventory, killNode2 } = await startThreeOrigins(t, dir);
  t.not(other, same, 'c is another release');

  const dash = await startDashboard(t, ['-i', inventory, '--interval', `${INTERVAL_MS}ms`]);

  if (firefox === undefined) throw new Error('firefox not started');
  const ff = firefox;
  const userAgent = await ff.run<string>('return navigator.userAgent;');
  t.match(userAgent, /Firefox\/\d+/, `driving ${userAgent}`);
  const stdoutBefore = ff.stdout().length;
  await ff.navigate(dash.url);
  const rows = await waitFor(
    'three rows with releases',
    async () => {
      const r = await ff.run<Row[]>(READ_ROWS);
      return r.length === 3 && r.every((row) => row.release !== '') ? r : undefined;
    },
    15_000,
  );
  t.same(rows.map((r) => [r.name, r.address, r.port, r.health, r.release]), threeOriginRows({ n1, n2, n3, same, other }), 'every node with its exact address and release, in inventory order');
  t.same(rows.map((r) => [r.name, r.odd, r.badge]), [
    ['node1', false, false],
    ['node2', false, false],
    ['node3', true, true],
  ], 'only node3 is marked as on another release');
  t.equal(await ff.run<string>("return document.getElementById('summary').textContent;"), `3/3 up; releases disagree: ${same} on node1,node2; ${other} on node3`);
  t.equal(await ff.run<string>("return document.getElementById('c-release-nodes').textContent;"), 'on 2 of 3 nodes');

  // The inline style ran too (its CSP hash holds in Firefox): the address is in a monospace face.
  const style = await ff.run<{ fontFamily: string; userSelect: string }>("const s = getComputedStyle(document.querySelector('tr[data-node=\"node2\"] .addr')); return { fontFamily: s.fontFamily, userSelect: s.userSelect };");
  t.match(style.fontFamily, /mono/i, 'the inline style applies');
  t.equal(style.userSelect, 'all', 'the address is selected whole by one click');

  // The page keeps polling: more /api/state answers arrive.
  const polls = async (): Promise<number> => (await ff.run<string[]>(RESOURCES)).filter((u) => u === `${dash.url}api/state`).length;
  const before = await polls();
  t.ok(await until(async () => (await polls()) >= before + 2, 5000), 'the page refreshes');

  // Kill node2: the page shows it DOWN, still with its address.
  killNode2();
  const down = await waitFor('node2 DOWN', async () => (await ff.run<Row[]>(READ_ROWS)).find((r) => r.name === 'node2' && r.health === 'DOWN'), 10_000);
  t.equal(down.address, '::1', 'node2 DOWN, still listed with its address');
  t.match(await ff.run<string>("return document.getElementById('summary').textContent;"), /^2\/3 up; /);

  const foreign = (await ff.run<string[]>(RESOURCES)).filter((u) => !u.startsWith(dash.url));
  t.same(foreign, [], 'nothing loaded from anywhere else');

  const messages = ff
    .stdout()
    .slice(stdoutBefore)
    .split('\n')
    .filter((l) => /^(console\.(error|warn)|JavaScript (error|warning)):/.test(l))
    // Firefox's own code reports its errors the same way, naming a resource:// or chrome://
    // module (firefox-esr 153: BackupService.sys.mjs on a profile without a backup path). A
    // script error is the page's when it names the page's URL.
    .filter((l) => (/^JavaScript/.test(l) ? l.includes(dash.url) : !/\b(resource|chrome):\/\//.test(l)));
  t.same(messages, [], 'no script error, console error or warning from the page');

  const exit = await dash.stop();
  t.equal(exit.code, 0, 'SIGTERM: exit 0');
  // The open page keeps the rows and says its figures are stale.
  t.ok(await until(() => ff.run<boolean>("return document.body.classList.contains('stale');"), 5000), 'the page says the dashboard is not answering');
  t.equal((await ff.run<Row[]>(READ_ROWS)).length, 3, 'the rows stay');
});
