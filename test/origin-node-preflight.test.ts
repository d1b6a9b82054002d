/**
 * origin_node's preflight (tasks/preflight.yml) refuses, before the role changes anything on the
 * node, an artifact built for another CPU, a Node.js whose module ABI the artifact's
 * uWebSockets.js does not match (Bookworm's nodejs 18), a node without Node.js that the role
 * would not install, and a firewall ruleset that would cut the controller's own SSH connection.
 * Each message names the host, what was found and what to do.
 *
 * No rig and no SSH: ansible-playbook against localhost (connection local). The artifacts are
 * small tars holding only what the preflight reads (the uWS binary's name); the wrong Node.js is
 * a script answering as Node 18 does; the controller's address is SSH_CONNECTION in the
 * environment the modules inherit, as sshd sets it on a node.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, REPO, run, type Run } from './helpers/ansible.js';

const ROLES = join(REPO, 'ansible/roles');
const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
// A guard against a hang: six short runs at once on a shared machine.
t.setTimeout(4 * 60_000);

/** Node's name for this machine's CPU, and one that is not it. */
const ARCH = process.arch;
const OTHER = ARCH === 'arm64' ? 'x64' : 'arm64';
const ABI = process.versions.modules;

t.test('preflight', { skip: hasAnsible ? false : 'ansible-playbook is not installed (Debian: apt install ansible)' }, async (t) => {
  const dir = t.testdir({
    'inventory.ini': 'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n',
    'main.yml': '---\n- name: The whole role\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: origin_node\n',
    'preflight.yml': `---
- name: The preflight alone
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the preflight
      ansible.builtin.include_role:
        name: origin_node
        tasks_from: preflight
`,
  });
  /** A tar with just node_modules/uWebSockets.js/binaries/<binary>, as `cluster artifact` names it. */
  const artifact = (name: string, binary: string): string => {
    const root = join(dir, name);
    mkdirSync(join(root, 'node_modules/uWebSockets.js/binaries'), { recursive: true });
    writeFileSync(join(root, 'node_modules/uWebSockets.js/binaries', binary), '');
    writeFileSync(join(root, 'package.json'), '{}\n');
    const out = join(dir, `${name}.tar.gz`);
    const r = spawnSync('tar', ['-czf', out, '-C', root, 'package.json', 'node_modules']);
    if (r.status !== 0) throw new Error(String(r.stderr));
    return out;
  };
  const here = artifact('here', `uws_linux_${ARCH}_${ABI}.node`);
  const other = artifact('other', `uws_linux_${OTHER}_${ABI}.node`);
  const node18 = join(dir, 'node18');
  writeFileSync(node18, '#!/bin/sh\n# What `node -p "process.version + \' \' + process.versions.modules"` says on Debian 12.\necho "v18.19.0 108"\n');
  chmodSync(node18, 0o755);

  /** Where the whole role would write: none of it may exist after a failed preflight. */
  const nodePaths = (name: string): Record<string, string> => ({ app: join(dir, name, 'app'), etc: join(dir, name, 'etc-root'), run: join(dir, name, 'run') });
  const play = (name: string, playbook: string, vars: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<Run> => {
    const paths = nodePaths(name);
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        origin_node_service_manager: 'none',
        origin_node_apply_host_config: false,
        origin_node_install_packages: false,
        origin_node_etc_root: paths.etc,
        origin_node_app_dir: paths.app,
        origin_node_run_dir: paths.run,
        origin_node_releases_dir: join(dir, name, 'releases'),
        origin_node_log_dir: join(dir, name, 'log'),
        origin_node_create_user: false,
        origin_node_node_binary: process.execPath,
        ...vars,
      }),
    );
    return run('ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(dir, playbook), '-e', `@${file}`], { env: ansibleEnv({ ANSIBLE_ROLES_PATH: ROLES, ...env }), timeoutMs: 180_000 });
  };
  /** The failed task's message (Ansible prints the result as JSON). */
  const failure = (r: Run): string => {
    const json = /fatal: \[localhost\]: FAILED! => (\{.*\})/.exec(r.stdout)?.[1];
    return json === undefined ? `(no failure in: ${r.stdout.slice(-2000)})` : (JSON.parse(json) as { msg: string }).msg;
  };
  const outside = { SSH_CONNECTION: '2001:db8:ff::5 40000 2001:db8:10::11 22' };
  const [arch, old, none, locked, v4, inside] = await Promise.all([
    play('arch', 'main.yml', { origin_node_artifact: other }),
    play('old', 'main.yml', { origin_node_artifact: here, origin_node_node_binary: node18 }),
    play('none', 'main.yml', { origin_node_artifact: here, origin_node_node_binary: join(dir, 'no-such-node') }),
    // Host configuration applied: the preflight alone runs (the role would change this machine).
    play('locked', 'preflight.yml', { origin_node_artifact: here, origin_node_apply_host_config: true, origin_node_ssh_allow: ['fd00::/8'] }, outside),
    play('v4', 'preflight.yml', { origin_node_artifact: here, origin_node_apply_host_config: true, origin_node_ssh_allow: ['::/0'] }, { SSH_CONNECTION: '192.0.2.5 40000 192.0.2.11 22' }),
    play('inside', 'preflight.yml', { origin_node_artifact: here, origin_node_apply_host_config: true, origin_node_ssh_allow: ['fd00::/8', '2001:db8:ff::/64'] }, outside),
  ]);

  t.test('an artifact for another CPU', (t) => {
    t.not(arch.code, 0, 'fails');
    const machine = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();
    t.equal(failure(arch), `localhost is ${machine} (${ARCH}), but origin_node_artifact ${other} is built for linux-${OTHER}: make one with \`pi-origin cluster artifact --arch ${ARCH}\` and set origin_node_artifact for this host`);
    t.end();
  });

  t.test("a Node.js the artifact's uWebSockets.js cannot load", (t) => {
    t.not(old.code, 0, 'fails');
    const msg = failure(old);
    t.match(msg, `localhost: ${node18} is v18.19.0 (module ABI 108), but the artifact's uWebSockets.js needs Node.js ${ABI === '115' ? '20' : '?'} (module ABI ${ABI}).`, 'naming the host, the version found and the one needed');
    t.match(msg, /Debian 12 \/ Raspberry Pi OS Bookworm \(nodejs 18\) add NodeSource's node_\d+\.x repository/, 'and what to install on Bookworm');
    t.end();
  });

  t.test('no Node.js, and the role installs none', (t) => {
    t.not(none.code, 0, 'fails');
    t.match(failure(none), `localhost: there is no ${join(dir, 'no-such-node')}, and the role installs no nodejs (origin_node_install_packages false`);
    t.end();
  });

  t.test('nothing on the node changed before those failures', (t) => {
    for (const name of ['arch', 'old', 'none']) for (const [what, path] of Object.entries(nodePaths(name))) t.notOk(existsSync(path), `${name}: no ${what} directory`);
    t.end();
  });

  t.test('a controller outside origin_node_ssh_allow', (t) => {
    t.not(locked.code, 0, 'fails');
    t.equal(
      failure(locked),
      'localhost: the controller reaches this node over SSH from 2001:db8:ff::5 (SSH_CONNECTION on the node), which is not in origin_node_ssh_allow ["fd00::/8"] (IPv4 is dropped altogether): the ruleset would cut this run\'s own connection. Add the controller\'s (or its jump host\'s) IPv6 prefix to origin_node_ssh_allow.',
    );
    t.not(v4.code, 0, 'a controller on IPv4 fails even with ::/0 (the ruleset drops IPv4)');
    t.match(failure(v4), /from 192\.0\.2\.5 \(SSH_CONNECTION on the node\), which is not in origin_node_ssh_allow \["::\/0"\]/);
    t.equal(inside.code, 0, 'a controller inside origin_node_ssh_allow passes', { stdout: inside.stdout.slice(-2000) });
    t.end();
  });
});
