/**
 * origin_node puts the previous artifact back when a new one does not become ready: the whole
 * role, on this machine in test mode (origin_node_service_manager: none, host configuration
 * rendered under a test directory, never applied), against localhost (connection local).
 *   1. Artifact A (made by `pi-origin cluster artifact` from this checkout's dist/) installs and
 *      serves the demo release on [::1].
 *   2. Artifact B is A with a server that exits at once: the run fails naming the host, the
 *      release, origin_node_ready_timeout and the server's last log lines, and says it put A
 *      back; current points at A again and the server answers on it.
 * Needs root (start-stop-daemon --chuid, nft -c for the rendered ruleset) and a built dist/.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, buildArtifact, healthLine, REPO, run, type Run } from './helpers/ansible.js';
import { freePort } from './helpers/cluster.js';

const ROLES = join(REPO, 'ansible/roles');
const DEMO_RELEASES = join(REPO, 'dist/demo-releases');
/** Short, as the failing artifact waits all of it; the good one serves in about a second. */
const READY_TIMEOUT = 8;

const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0;
// A guard against a hang: three role runs of ~50 tasks on a shared machine.
t.setTimeout(6 * 60_000);

const skip = !hasAnsible ? 'ansible-playbook is not installed (Debian: apt install ansible)' : !isRoot ? 'start-stop-daemon --chuid and nft -c need root' : !has('nft') ? 'nft is not installed' : false;

t.test('a new artifact that does not become ready is rolled back', { skip }, async (t) => {
  const dir = t.testdir({
    'inventory.ini': 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
    'provision.yml': `---
- name: Provision this machine in test mode
  hosts: localhost
  gather_facts: false
  roles:
    - role: origin_node
`,
    releases: {},
    b: {},
  });
  const id = readlinkSync(join(DEMO_RELEASES, 'current'));
  symlinkSync(join(DEMO_RELEASES, id), join(dir, 'releases', 'current'));
  const app = join(dir, 'app');
  const pidfile = join(dir, 'run', 'pi-origin.pid');
  const port = await freePort();
  // Every server the runs started, by PID: the test directory (and the PID file in it) may be
  // gone before this teardown runs.
  const servers = new Set<number>();
  const serverPid = (): string => {
    const pid = readFileSync(pidfile, 'utf8').trim();
    servers.add(Number(pid));
    return pid;
  };
  t.teardown(() => {
    for (const pid of servers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  });

  const a = join(dir, 'a.tar');
  const built = await buildArtifact(a);
  t.equal(built.code, 0, `artifact A built (${built.ms} ms) ${built.stderr}`);
  // B: A's files with a server that cannot start (its own words go to the server's log).
  const tar = spawnSync('tar', ['-xf', a, '-C', join(dir, 'b')]);
  t.equal(tar.status, 0, String(tar.stderr));
  writeFileSync(join(dir, 'b/dist/cli/main.js'), "process.stderr.write('<3>test artifact B: this server cannot start\\n');\nprocess.exit(1);\n");
  const b = join(dir, 'b.tar');
  t.equal(spawnSync('tar', ['-cf', b, '-C', join(dir, 'b'), '.']).status, 0, 'artifact B packed');

  const provision = (artifact: string): Promise<Run> => {
    const vars = join(dir, 'vars.json');
    writeFileSync(
      vars,
      JSON.stringify({
        origin_node_artifact: artifact,
        origin_node_service_manager: 'none',
        origin_node_apply_host_config: false,
        origin_node_install_packages: false,
        origin_node_etc_root: join(dir, 'etc-root'),
        origin_node_app_dir: app,
        origin_node_releases_dir: join(dir, 'releases'),
        origin_node_run_dir: join(dir, 'run'),
        origin_node_log_dir: join(dir, 'log'),
        origin_node_node_binary: process.execPath,
        origin_node_create_user: false,
        origin_node_user: 'root',
        origin_node_group: 'root',
        origin_node_port: port,
        origin_node_listen: `[::1]:${port}`,
        origin_node_workers: 1,
        origin_node_ready_timeout: READY_TIMEOUT,
      }),
    );
    return run('ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(dir, 'provision.yml'), '-e', `@${vars}`], {
      env: ansibleEnv({ ANSIBLE_ROLES_PATH: ROLES }),
      timeoutMs: 180_000,
    });
  };
  const health = (): Promise<string> => healthLine(`http://[::1]:${port}/_origin/health`);

  const first = await provision(a);
  t.equal(first.code, 0, `provision with A exits 0 (${first.ms} ms)`, { stdout: first.stdout.slice(-3000) });
  const versionA = readlinkSync(join(app, 'current'));
  t.match(versionA, /^releases-app\/[0-9a-f]{12}$/, `current -> ${versionA}`);
  t.equal(await health(), `200 ok ${id}`, 'A serves the release');
  const pidA = serverPid();

  const second = await provision(b);
  t.not(second.code, 0, `provision with B fails (${second.ms} ms)`);
  const said = /fatal: \[localhost\]: FAILED! => (\{.*\})/.exec(second.stdout)?.[1];
  const msg = said === undefined ? second.stdout.slice(-3000) : (JSON.parse(said) as { msg: string }).msg;
  t.match(second.stdout, /TASK \[origin_node : Fail when pi-origin does not become ready\]/, 'at the readiness check');
  t.match(msg, new RegExp(`^localhost: pi-origin did not serve release ${id} on http://\\[::1\\]:${port} within origin_node_ready_timeout=${READY_TIMEOUT}s `), 'naming the host, the release, the address and the wait');
  t.match(msg, /test artifact B: this server cannot start/, "with the server's last log lines");
  t.match(msg, new RegExp(`; put the previous artifact back \\(${app}/current -> ${versionA}\\), which serves again$`), 'and saying A is back and serving');
  t.equal(readlinkSync(join(app, 'current')), versionA, 'current points at A again');
  t.equal(await health(), `200 ok ${id}`, 'the node serves the release again');
  t.not(serverPid(), pidA, "from a server started again on A's files");
});
