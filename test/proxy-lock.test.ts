/**
 * HAProxy's runtime changes take turns: `pi-origin cluster register` / `deregister` run
 * ansible/register.yml and deregister.yml, whose runtime API commands hold a lock on the proxy
 * host (dualstack_proxy `tasks_from: runtime-locked`). A real HAProxy on loopback, set up by
 * ansible/proxy.yml; the node is a small HTTP server on [::1] that answers the health check,
 * so no network namespace is needed. Two runs at once both succeed (the second finds the work
 * done); a run that finds the lock held waits, then stops naming the holder and changes nothing.
 * Needs root (HAProxy drops to its user), ansible-playbook, haproxy and socat.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, REPO, run } from './helpers/ansible.js';
import { clusterCommand, freePort, haproxyCommand, killPidFile, parseShowStat, runTail, writeLoopbackInventory, SHOW_STAT, summaryTable } from './helpers/cluster.js';

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0;
const missing = process.getuid?.() !== 0 ? 'needs root (HAProxy drops to its own user)' : ['ansible-playbook', 'haproxy', 'socat', 'flock'].find((tool) => !has(tool));

// A hang guard: about a minute and a half on an idle machine, several ansible-playbook runs.
t.setTimeout(15 * 60_000);

t.test('register and deregister take turns on the runtime API', { skip: missing === undefined ? false : `${missing}${missing.startsWith('needs') ? '' : ' is not installed'}` }, async (t) => {
  const node = createServer((req, res) => res.writeHead(req.url === '/_origin/health' ? 200 : 404).end('ok\n'));
  node.listen(0, '::1');
  await once(node, 'listening');
  t.teardown(() => void node.close());
  const work = mkdtempSync(join(tmpdir(), 'pi-origin-proxy-lock-'));
  const haproxyDir = join(work, 'haproxy');
  const socket = join(haproxyDir, 'admin.sock');
  t.teardown(() => {
    killPidFile(join(haproxyDir, 'haproxy.pid'));
    rmSync(work, { recursive: true, force: true });
  });
  const inventory = join(work, 'inventory.yml');
  // HAProxy starts without the node: register adds it.
  writeLoopbackInventory(inventory, [{ name: 'n1', port: (node.address() as AddressInfo).port }], { haproxyDir, socket, proxyPort: await freePort() }, { dualstack_proxy_client_address: 'forwardfor', dualstack_proxy_exclude: ['n1'] });
  const env = ansibleEnv();
  const proxy = await run('ansible-playbook', ['-i', inventory, join(REPO, 'ansible/proxy.yml')], { env, timeoutMs: 180_000 });
  t.equal(proxy.code, 0, 'HAProxy set up by proxy.yml', runTail(proxy));
  const cluster = clusterCommand(inventory, env, (line) => t.comment(line));
  const server = (): string | undefined => parseShowStat(haproxyCommand(socket, SHOW_STAT)).get('n1')?.status;
  const lock = `${socket}.lock`;
  t.equal(server(), undefined, 'n1 is not in HAProxy yet');

  // Two operators register n1 at once: without the lock both see it missing and both send
  // `add server`, and one fails; with it the second finds n1 registered.
  const [one, two] = await Promise.all([cluster(['register', 'n1']), cluster(['register', 'n1'])]);
  t.equal(one.code, 0, 'register n1 exits 0', runTail(one));
  t.equal(two.code, 0, 'a concurrent register n1 exits 0 too', runTail(two));
  t.equal(server(), 'UP', 'n1 is UP in HAProxy');
  const changed = [one, two].map((r) => summaryTable(r.stdout).get('proxy1')?.changed ?? 0).sort((a, b) => a - b);
  t.ok(changed[0] === 0 && (changed[1] ?? 0) > 0, `one run added n1, the other changed nothing (changed: ${changed.join(', ')})`);
  t.equal(readFileSync(lock, 'utf8'), '', 'the lock is free afterwards');

  // upgrade.yml drains and enables each node through the lock, delegated from the node to each
  // proxy (the node's variables, the proxy's socket): the same tasks, without installing anything.
  const upgradeLike = join(work, 'drain-enable.yml');
  const step = (action: string): string[] => [
    `    - name: ${action} the node at the proxy`,
    '      ansible.builtin.include_role:',
    '        name: dualstack_proxy',
    '        tasks_from: runtime-locked',
    '        apply:',
    '          delegate_to: "{{ __upgrade_proxy }}"',
    '      vars:',
    '        dualstack_proxy_node: "{{ inventory_hostname }}"',
    `        dualstack_proxy_action: ${action}`,
    "        dualstack_proxy_socket: \"{{ hostvars[__upgrade_proxy].dualstack_proxy_socket }}\"",
    "      loop: \"{{ groups['proxies'] }}\"",
    '      loop_control:',
    '        loop_var: __upgrade_proxy',
  ];
  writeFileSync(upgradeLike, ['- name: Drain and enable as upgrade.yml does', '  hosts: origins', '  gather_facts: false', '  tasks:', ...step('drain'), ...step('enable'), ''].join('\n'));
  const drained = await run('ansible-playbook', ['-i', inventory, upgradeLike], { env: { ...env, ANSIBLE_ROLES_PATH: join(REPO, 'ansible/roles') }, timeoutMs: 300_000 });
  t.equal(drained.code, 0, "drain and enable, delegated to the proxy, through the lock", runTail(drained));
  t.equal(server(), 'UP', 'n1 is UP again');
  t.equal(readFileSync(lock, 'utf8'), '', 'the lock is free afterwards');

  // Another run holds the lock (its lease, written here as that run writes it): deregister
  // waits dualstack_proxy_lock_wait, then stops naming the holder, and HAProxy is untouched.
  const lease = `4242 ${Math.floor(Date.now() / 1000) + 600} alice@elsewhere (add n9, from 2026-01-01T00:00:00Z)\n`;
  writeFileSync(lock, lease);
  const blocked = await cluster(['deregister', 'n1', '-e', 'dualstack_proxy_lock_wait=2']);
  t.equal(blocked.code, 1, 'deregister gives up while another run holds the lock', runTail(blocked));
  t.match(blocked.stdout, /^deregistration of n1 stopped: proxy1 failed at Fail when another run holds the runtime lock: HAProxy's runtime API on proxy1 is in use by alice@elsewhere \(add n9, from 2026-01-01T00:00:00Z\), until \S+Z; /m, 'naming the run that holds it');
  t.equal(server(), 'UP', 'n1 is still UP');
  t.equal(readFileSync(lock, 'utf8'), lease, "the other run's lease is left alone");

  // A lease that has run out (its run died) does not block.
  writeFileSync(lock, `4242 ${Math.floor(Date.now() / 1000) - 1} alice@elsewhere (add n9, from 2026-01-01T00:00:00Z)\n`);
  const [first, second] = await Promise.all([cluster(['deregister', 'n1']), cluster(['deregister', 'n1'])]);
  t.equal(first.code, 0, 'deregister n1 exits 0', runTail(first));
  t.equal(second.code, 0, 'a concurrent deregister n1 exits 0 too', runTail(second));
  t.equal(server(), undefined, 'n1 is gone from HAProxy');
  t.notMatch(readFileSync(join(haproxyDir, 'haproxy.cfg'), 'utf8'), /server n1 /, 'and from the configuration file');
  t.equal(readFileSync(lock, 'utf8'), '', 'the lock is free afterwards');
});
