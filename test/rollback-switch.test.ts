/**
 * The rollback's ssh switch (cluster/rollback-switch.ts, cluster/ssh-target.ts): the ssh command
 * each inventory host gets, the hosts it leaves to the playbook, and the whole switch against
 * real releases and real origin servers on [::1], with a local shell standing in for ssh (it
 * runs the remote command exactly as sshd's login shell would). The switch over real ssh into
 * IPv6-only nodes is cluster-e2e's and machines-cluster's.
 */
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import type { InventoryHost } from '../dist/cluster/inventory.js';
import type { PlaybookEvent } from '../dist/cluster/playbook.js';
import { formatEvent, summaryLine } from '../dist/cluster/progress.js';
import { prepareSwitch, RELEASE_DEFAULTS, rollbackSwitch, type SwitchNode } from '../dist/cluster/rollback-switch.js';
import { shellQuote, sshTarget } from '../dist/cluster/ssh-target.js';
import { activateRelease, buildRelease } from '../dist/release/release.js';
import { request, startServer } from './helpers/server.js';

const REPO = join(import.meta.dirname, '..');

function host(name: string, vars: Record<string, unknown>, address = 'fd00::11'): InventoryHost {
  return { name, address: address.includes(':') ? { kind: 'ipv6', text: address } : { kind: 'hostname', text: address }, port: 8080, vars: { ansible_host: address, ...vars } };
}

t.test('the ssh command: Ansible\'s connection variables, host keys checked, the destination last', (t) => {
  const r = sshTarget(host('node1', { ansible_user: 'root', ansible_port: 2222, ansible_ssh_private_key_file: '/k/id', ansible_ssh_common_args: "-F '/tmp/my config' -o ProxyJump=none", ansible_ssh_extra_args: '-4' }), {});
  t.ok(r.ok);
  if (!r.ok) return t.end();
  t.same(r.target.argv, [
    'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'Port=2222', '-o', 'IdentityFile=/k/id', '-o', 'User=root', '-F', '/tmp/my config', '-o', 'ProxyJump=none', '-4', '--', 'fd00::11',
  ]);
  t.equal(r.target.display, 'root@[fd00::11]:2222');
  const env = sshTarget(host('node2', {}), { ANSIBLE_REMOTE_USER: 'pi', ANSIBLE_SSH_COMMON_ARGS: '-F /etc/x' });
  t.same(env.ok && env.target.argv.slice(9), ['-o', 'User=pi', '-F', '/etc/x', '--', 'fd00::11'], 'the environment Ansible reads, under the inventory');
  const over = sshTarget(host('node2', { ansible_user: 'root' }), { ANSIBLE_REMOTE_USER: 'pi' });
  t.same(over.ok && over.target.argv.slice(9), ['-o', 'User=root', '--', 'fd00::11'], 'the inventory wins over the environment');
  t.end();
});

t.test('hosts only Ansible reaches are left to the playbook, each with the reason', (t) => {
  const cases: [Record<string, unknown>, NodeJS.ProcessEnv, RegExp][] = [
    [{ ansible_connection: 'local' }, {}, /^node1: ansible_connection is "local", not ssh$/],
    [{ ansible_ssh_pass: 'x' }, {}, /^node1: ansible_ssh_pass is set/],
    [{ ansible_become: 'yes' }, {}, /^node1: ansible_become is set/],
    [{}, { ANSIBLE_BECOME: 'True' }, /^node1: ANSIBLE_BECOME is set/],
    [{ ansible_user: '{{ lookup("env", "USER") }}' }, {}, /^node1: ansible_user is a template/],
    [{ ansible_port: 'ssh' }, {}, /^node1: ansible_port must be an integer from 1 to 65535 \(got "ssh"\)$/],
    [{ ansible_ssh_common_args: "-F 'open" }, {}, /^node1: its ssh arguments do not parse: unterminated ' quote/],
  ];
  for (const [vars, env, reason] of cases) {
    const r = sshTarget(host('node1', vars), env);
    t.match(r.ok ? '' : r.reason, reason, JSON.stringify(vars) + JSON.stringify(env));
  }
  t.same(sshTarget(host('node1', { ansible_connection: 'ssh', ansible_become: false }), {}).ok, true, 'ssh and become false are fine');
  const templ = prepareSwitch([host('node1', { origin_node_releases_dir: "{{ '/srv' }}/r" })], {}, {});
  t.match(templ.ok ? '' : templ.reason, /^node1: origin_release_releases_dir must be an absolute path, not a template/);
  t.end();
});

t.test('the role\'s inputs: as origin_release reads them, -e over the inventory', (t) => {
  const defaults = parse(readFileSync(join(REPO, 'ansible/roles/origin_release/defaults/main.yml'), 'utf8')) as Record<string, unknown>;
  const fallback = (name: string): string => /default\('?([^')]*)'?\)/.exec(String(defaults[name]))?.[1] ?? 'none';
  t.same(
    { releasesDir: fallback('origin_release_releases_dir'), appDir: fallback('origin_release_app_dir'), nodeBinary: fallback('origin_release_node_binary'), port: Number(fallback('origin_release_port')), hash: defaults.origin_release_activate_hash, confirmTimeoutSec: defaults.origin_release_confirm_timeout },
    RELEASE_DEFAULTS,
    'the same defaults as ansible/roles/origin_release/defaults/main.yml',
  );
  const p = prepareSwitch([host('node1', { origin_node_releases_dir: '/data/r', origin_node_port: 8081, origin_release_activate_hash: 'True' })], { origin_release_confirm_timeout: 5 }, {});
  t.same(p.ok && p.nodes[0]!.vars, { releasesDir: '/data/r', appDir: '/opt/pi-origin', nodeBinary: '/usr/bin/node', port: 8081, hash: true, confirmTimeoutSec: 5 });
  t.equal(shellQuote("it's"), `'it'\\''s'`);
  t.equal(shellQuote('/srv/origin/releases'), '/srv/origin/releases');
  t.end();
});

// ---------------------------------------------------------------------------------------------
// The switch itself: two "nodes" on this machine, each a releases directory served by a real
// origin; "ssh" is `sh -c "$1"` with the remote command as $1.

const LOCAL_SSH = ['/bin/sh', '-c', 'exec /bin/sh -c "$1"', 'ssh'];

t.test('the switch: the canary\'s record, every node at once, confirmed, a failing node put back and named', async (t) => {
  const root = t.testdir({ site: { 'index.html': '<h1>A</h1>\n' }, app: {} });
  symlinkSync(REPO, join(root, 'app/current'));
  const build = async (body: string, dir: string, at: string): Promise<string> => {
    writeFileSync(join(root, 'site/index.html'), body);
    return (await buildRelease(join(root, 'site'), dir, { now: new Date(at) })).id;
  };
  const nodes: SwitchNode[] = [];
  const ids: { a: string; b: string } = { a: '', b: '' };
  for (const name of ['node1', 'node2']) {
    const releases = join(root, name);
    mkdirSync(releases);
    ids.a = await build('<h1>A</h1>\n', releases, '2026-01-01T00:00:00Z');
    ids.b = await build('<h1>B</h1>\n', releases, '2026-01-02T00:00:00Z');
    await activateRelease(releases, ids.a);
    await activateRelease(releases, ids.b);
    const server = await startServer(t, join(releases, 'current'), { watch: true });
    const h = host(name, {}, '::1');
    nodes.push({
      host: { ...h, address: { kind: 'ipv6', text: '::1' } },
      ssh: { host: name, argv: LOCAL_SSH, display: `${name} (local shell)` },
      vars: { ...RELEASE_DEFAULTS, releasesDir: releases, appDir: join(root, 'app'), nodeBinary: process.execPath, port: server.port, confirmTimeoutSec: 10 },
    });
  }
  writeFileSync(join(root, 'node1/.last-rollout'), `${ids.a} ${ids.b}\n`);
  const health = async (n: SwitchNode): Promise<string> => (await request(n.vars.port, '/_origin/health')).body.toString().trim();

  const run = async (to?: string, which = nodes): Promise<{ code: number; lines: string[]; summary: string }> => {
    const events: PlaybookEvent[] = [];
    const started = performance.now();
    const r = await rollbackSwitch({ nodes: which, ...(to === undefined ? {} : { to }), parallel: 10, onEvent: (e) => events.push(e), now: () => performance.now() - started });
    return { code: r.code, lines: events.flatMap((e) => formatEvent(e) ?? []), summary: summaryLine(to === undefined ? 'rollback' : `rollback to ${to}`, r) };
  };

  const back = await run();
  t.equal(back.code, 0, back.lines.join('\n'));
  t.match(back.lines, [/^fast switch: one ssh per node, 2 at once/, 'PLAY Read what the last rollout did · node1', "Read what the last rollout did: Read the canary's record of the last rollout · node1 ok", `Read what the last rollout did: Report the rollback target · node1 ok: rolling back to release ${ids.a}`, 'PLAY Switch every node at once · node1, node2']);
  t.same(back.lines.filter((l) => l.includes(`Activate release ${ids.a}`)).sort(), [`Switch every node at once: Activate release ${ids.a} · node1 changed`, `Switch every node at once: Activate release ${ids.a} · node2 changed`]);
  t.equal(back.lines.at(-1), `Switch every node at once: Wait for every node to report release ${ids.a} · node1 -> localhost ok`, 'one confirmation for all, after every activation');
  t.match(back.summary, /^rollback complete on 2 nodes in /);
  for (const n of nodes) {
    t.equal(await health(n), `ok ${ids.a}`, `${n.host.name} serves A`);
    t.same([readlinkSync(join(n.vars.releasesDir, 'current')), readlinkSync(join(n.vars.releasesDir, 'previous'))], [ids.a, ids.b], `${n.host.name}: current A, previous B`);
  }

  const nothing = await run();
  t.equal(nothing.code, 2, 'again: nothing to undo');
  t.equal(nothing.summary, `rollback stopped: node1 failed at Fail when there is nothing to go back to: nothing to roll back: the canary node1 serves ${ids.a} and the last rollout it recorded is ${ids.a} ${ids.b} (from to); name the release with origin_rollback_to (pi-origin cluster rollback --to ID)`);

  // node2 lost B: it cannot switch, stays on A with its pointers as they were; node1 switches.
  rmSync(join(nodes[1]!.vars.releasesDir, ids.b), { recursive: true });
  const to = await run(ids.b);
  t.equal(to.code, 2, 'a node that cannot switch fails the run');
  t.match(to.lines.find((l) => l.includes('· node2 failed (rescued)')), new RegExp(`Activate release ${ids.b} · node2 failed \\(rescued\\): .*no release ${ids.b}`));
  t.match(to.summary, new RegExp(`^rollback to ${ids.b} stopped: node2 failed at Report the node that did not switch: node2 did not take release ${ids.b} \\(Activate release ${ids.b}: .*\\); restored current=${ids.a}; the other nodes switched: once node2 is fixed, run pi-origin cluster rollback --to ${ids.b}$`));
  t.equal(await health(nodes[0]!), `ok ${ids.b}`, 'node1 switched to B');
  t.equal(await health(nodes[1]!), `ok ${ids.a}`, 'node2 still serves A');
  t.same([readlinkSync(join(nodes[1]!.vars.releasesDir, 'current')), readlinkSync(join(nodes[1]!.vars.releasesDir, 'previous'))], [ids.a, ids.b], 'node2\'s pointers as they were');

  // A node that switches but never reports the release (its server is gone) is put back.
  const deaf: SwitchNode = { ...nodes[1]!, vars: { ...nodes[1]!.vars, port: 1, confirmTimeoutSec: 1 } };
  const unconfirmed = await run(ids.a, [nodes[0]!, deaf]);
  t.equal(unconfirmed.code, 2);
  t.match(unconfirmed.lines.join('\n'), new RegExp(`Fail when the node does not report release ${ids.a} · node2 failed \\(rescued\\)`));
  t.equal(await health(nodes[0]!), `ok ${ids.a}`, 'node1 switched to A');

  // node2 was on A already: nothing to put back. A node ssh cannot reach is named too.
  const gone: SwitchNode = { ...nodes[1]!, ssh: { host: 'node2', argv: ['/bin/sh', '-c', 'echo "ssh: connect to host fd00::99 port 22: No route to host" >&2; exit 255', 'ssh'], display: 'root@[fd00::99]:22' } };
  const unreachable = await run(ids.b, [nodes[0]!, gone]);
  t.equal(unreachable.code, 4, 'unreachable: exit 4, as ansible-playbook');
  t.match(unreachable.summary, /^rollback to \w+ stopped: node2 unreachable at Activate release \w+: root@\[fd00::99\]:22: ssh: connect to host fd00::99 port 22: No route to host/);
  t.equal(await health(nodes[0]!), `ok ${ids.b}`, 'the reachable node switched');

  // A pointer that names no release is the node's answer, checked before anything switches.
  const previous2 = join(nodes[1]!.vars.releasesDir, 'previous');
  rmSync(previous2);
  symlinkSync('../../etc', previous2);
  const odd = await run(ids.a);
  t.equal(odd.code, 2);
  t.match(odd.summary, /^rollback to \w+ stopped: node2 failed at Report the node that did not switch: node2 did not take release \w+ \(Activate release \w+: its release pointers are not release ids: .*points at etc, not a release id; left as it is\); not switched, left as it is; /);
  t.equal(readlinkSync(previous2), '../../etc', 'node2\'s pointers untouched');
  t.equal(await health(nodes[0]!), `ok ${ids.a}`, 'node1 switched');
});
