/**
 * origin_node's "Restart pi-origin" handler and its stop tasks, on this machine in test mode
 * (origin_node_service_manager: none): the server runs from this checkout's dist/ on [::1] with
 * the demo release, started and stopped by start-stop-daemon as on the rig.
 *   - The handler works in a play that notifies it without having run service.yml (it reads the
 *     node's state itself, no register of another file): it starts the server, and restarts it
 *     (a new process) when notified again.
 *   - It starts nothing on a node without a release.
 *   - tasks_from: stop stops the server and removes its PID file.
 * No rig and no SSH: ansible-playbook against localhost (connection local). Needs root (the
 * server is started with --chuid) and a built dist/ (the demo release).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, healthLine, REPO, run, type Run, waitHttp } from './helpers/ansible.js';
import { freePort } from './helpers/cluster.js';
import { pidAlive } from './rig/netns.js';

const ROLES = join(REPO, 'ansible/roles');
const DEMO_RELEASES = join(REPO, 'dist/demo-releases');

const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
// A guard against a hang, not a speed test: four ansible-playbook runs take about 80 s under load.
t.setTimeout(10 * 60_000);

const skip = !hasAnsible ? 'ansible-playbook is not installed (Debian: apt install ansible)' : !isRoot ? 'start-stop-daemon --chuid needs root' : false;

t.test('origin_node restart handler and stop in test mode', { skip }, async (t) => {
  const dir = t.testdir({
    'inventory.ini': 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
    // A play that notifies the handler without running service.yml. Importing the input checks
    // loads the role's defaults, vars and handlers (a `when` there would skip the handlers too).
    'notify.yml': `---
- name: Notify Restart pi-origin without service.yml
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load the role with its input checks
      ansible.builtin.import_role:
        name: origin_node
        tasks_from: validate
    - name: Change something the server runs
      ansible.builtin.command: /bin/true
      changed_when: true
      notify: Restart pi-origin
`,
    'stop.yml': `---
- name: Stop the server as origin_release does
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Stop the server
      ansible.builtin.include_role:
        name: origin_node
        tasks_from: stop
`,
    app: {},
    run: {},
    empty: {},
  });
  // The app's `current` is this checkout (dist/cli/main.js), as an unpacked artifact would be.
  symlinkSync(REPO, join(dir, 'app', 'current'));
  const port = await freePort();
  const pidfile = join(dir, 'run', 'pi-origin.pid');
  const id = readlinkSync(join(DEMO_RELEASES, 'current'));
  const health = (): Promise<string> => healthLine(`http://[::1]:${port}/_origin/health`);
  const pid = (): number => Number(readFileSync(pidfile, 'utf8').trim());
  const playbook = (name: string, releases: string): Promise<Run> => {
    const vars = join(dir, `${name}.json`);
    writeFileSync(
      vars,
      JSON.stringify({
        origin_node_artifact: 'unused-here',
        origin_node_service_manager: 'none',
        origin_node_node_binary: process.execPath,
        origin_node_app_dir: join(dir, 'app'),
        origin_node_releases_dir: releases,
        origin_node_run_dir: join(dir, 'run'),
        origin_node_user: 'root',
        origin_node_group: 'root',
        origin_node_port: port,
        origin_node_listen: `[::1]:${port}`,
        origin_node_workers: 1,
      }),
    );
    return run('ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(dir, name), '-e', `@${vars}`], {
      env: ansibleEnv({ ANSIBLE_ROLES_PATH: ROLES }),
      timeoutMs: 120_000,
    });
  };
  t.teardown(() => {
    spawnSync('start-stop-daemon', ['--stop', '--remove-pidfile', '--retry', 'KILL/5', '--pidfile', pidfile, '--exec', process.execPath], { stdio: 'ignore' });
  });

  const none = await playbook('notify.yml', join(dir, 'empty'));
  t.equal(none.code, 0, 'on a node without a release the handler runs', { stdout: none.stdout.slice(-3000) });
  t.notOk(existsSync(pidfile), 'and starts no server (no PID file)');

  const first = await playbook('notify.yml', DEMO_RELEASES);
  t.equal(first.code, 0, 'with a release the handler runs without service.yml having run', { stdout: first.stdout.slice(-3000) });
  await waitHttp(`http://[::1]:${port}/_origin/health`, 30_000).catch(() => undefined);
  t.equal(await health(), `200 ok ${id}`, 'and starts the server on the release');
  const pid1 = pid();
  t.ok(pidAlive(pid1), `the PID file names the running server (${pid1})`);

  const second = await playbook('notify.yml', DEMO_RELEASES);
  t.equal(second.code, 0, 'notified again, the handler runs', { stdout: second.stdout.slice(-3000) });
  await waitHttp(`http://[::1]:${port}/_origin/health`, 30_000).catch(() => undefined);
  t.equal(await health(), `200 ok ${id}`, 'the server answers again');
  const pid2 = pid();
  t.not(pid2, pid1, `and is a new process (${pid1} -> ${pid2})`);
  t.notOk(pidAlive(pid1), 'the old one is gone');

  const stop = await playbook('stop.yml', DEMO_RELEASES);
  t.equal(stop.code, 0, 'tasks_from: stop runs', { stdout: stop.stdout.slice(-3000) });
  t.notOk(pidAlive(pid2), 'the server is gone');
  t.notOk(existsSync(pidfile), 'and so is its PID file');
  const status = spawnSync('start-stop-daemon', ['--status', '--pidfile', pidfile]);
  t.equal(status.status, 3, 'start-stop-daemon --status: not running (exit 3)');
  t.notMatch(await health(), /^\d{3} /, 'no HTTP answer');
});
