/**
 * A rollout from a controller the node does not admit to /_origin/* (its --admin-allow) stops at
 * the first confirmation, and origin_release's message says which variable admits the controller
 * instead of a bare "HTTP 404". On this machine: a server from this checkout's dist/ on [::1]
 * that admits only 2001:db8::/64, and origin_release's activate entry point against localhost
 * (connection local, ansible_host ::1, so the controller's confirmation comes from ::1).
 * Needs Debian's ansible and a built dist/ (the demo release).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, healthLine, REPO, run, waitHttp } from './helpers/ansible.js';
import { freePort } from './helpers/cluster.js';

const ROLES = join(REPO, 'ansible/roles');
const DEMO_RELEASES = join(REPO, 'dist/demo-releases');
const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
t.setTimeout(4 * 60_000);

t.test('a controller outside the node\'s admin prefixes is told to add itself to origin_node_admin_allow', { skip: hasAnsible ? false : 'ansible-playbook is not installed (Debian: apt install ansible)' }, async (t) => {
  const dir = t.testdir({
    'inventory.ini': 'localhost ansible_connection=local ansible_host=::1 ansible_python_interpreter=/usr/bin/python3\n',
    'activate.yml': `---
- name: Activate as a rollout does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Activate the release
      ansible.builtin.include_role:
        name: origin_release
        tasks_from: activate
`,
    app: {},
    releases: {},
  });
  const id = readlinkSync(join(DEMO_RELEASES, 'current'));
  cpSync(join(DEMO_RELEASES, id), join(dir, 'releases', id), { recursive: true });
  symlinkSync(id, join(dir, 'releases', 'current'));
  symlinkSync(REPO, join(dir, 'app', 'current'));
  const port = await freePort();
  const server = spawn(process.execPath, [join(REPO, 'dist/cli/main.js'), 'serve', join(dir, 'releases', 'current'), '--listen', `[::1]:${port}`, '--workers', '1', '--admin-allow', '2001:db8::/64'], { stdio: 'ignore' });
  t.teardown(() => void server.kill('SIGKILL'));
  await waitHttp(`http://[::1]:${port}/`, 30_000);
  t.match(await healthLine(`http://[::1]:${port}/_origin/health`), /^404 /, 'the node answers /_origin/health with 404 to this machine');

  const vars = join(dir, 'vars.json');
  writeFileSync(
    vars,
    JSON.stringify({
      origin_release_id: id,
      origin_release_releases_dir: join(dir, 'releases'),
      origin_release_app_dir: join(dir, 'app'),
      origin_release_node_binary: process.execPath,
      origin_release_port: port,
      origin_release_controller_cli: [process.execPath, join(REPO, 'dist/cli/main.js')],
      origin_release_confirm_timeout: 1,
    }),
  );
  const r = await run('ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(dir, 'activate.yml'), '-e', `@${vars}`], { env: ansibleEnv({ ANSIBLE_ROLES_PATH: ROLES }), timeoutMs: 180_000 });
  t.not(r.code, 0, 'the activation fails');
  // The last failure: the block's own (the confirmation) is printed before the rescue's report.
  const json = [...r.stdout.matchAll(/fatal: \[localhost\]: FAILED! => (\{.*\})/g)].pop()?.[1];
  const msg = json === undefined ? r.stdout.slice(-3000) : (JSON.parse(json) as { msg: string }).msg;
  t.match(msg, `localhost did not take release ${id}`, 'naming the node and the release');
  t.match(msg, /\/_origin\/health: HTTP 404/, 'with what the node answered');
  t.match(msg, /\. \/_origin\/health answered 404 to this controller: add its address \(or prefix\) to origin_node_admin_allow of the nodes and run provision$/, 'and which variable to set');
});
