/**
 * Issue 18 on a CI-sized fleet: five IPv6-only rig nodes with real sshd and pi-origin servers,
 * HAProxy in front, the real playbooks through `pi-origin cluster`.
 *   - Peer fan-out: a release with new bytes is pushed to node1 by the controller and by the
 *     nodes to each other (waves 1, 1, 2, 1 of 4). The controller's bytes, counted on the rig's
 *     bridge (what the root namespace sends to the nodes, not frames bridged between nodes), stay
 *     under four copies of the new bytes (one copy plus Ansible's own traffic), where five nodes
 *     pulling from the controller send five and more; every node serves the release whole.
 *   - Rollback as one parallel switch under a steady client through HAProxy: every node is
 *     activated in one task before any node is confirmed (the order of the progress lines, not a
 *     time), all serve the target, and no request fails.
 *   - A node that cannot switch (its copy of the target is gone) is named, with the command to run
 *     again, and the other nodes still switch.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease } from '../dist/release/release.js';
import { ansibleEnv } from './helpers/ansible.js';
import { clusterCommand, clusterInventory, loadThroughProxy, nodeHealth, parseShowStat, runTail as out, SHOW_STAT, haproxyCommand, startClusterRig } from './helpers/cluster.js';
import { until } from './helpers/wait.js';

const PORT = 8080;
const PREFIX = 'fan';
const SUBNET = 'fd00:fa0';
const NODES = 5;
/** New bytes in release B: large next to what Ansible itself sends (modules, a few hundred KB per run). */
const NEW_BYTES = 6 * 1024 * 1024;

// A guard against a hang on a loaded machine, not a speed test.
t.setTimeout(15 * 60_000);

t.test('fan-out push and parallel rollback on five nodes', async (t) => {
  const started = Date.now();
  const { rig, work, controlDir, haproxyDir, socket, proxyPort, artifact, artifactBuild } = await startClusterRig(t, PREFIX, SUBNET);
  t.equal(artifactBuild.code, 0, `artifact built ${artifactBuild.stderr}`);
  while (rig.nodes.length < NODES) await rig.addNode();

  const releases = join(work, 'releases');
  const site = (name: string, files: Record<string, string | Buffer>): string => {
    const dir = join(work, 'sites', name);
    mkdirSync(dir, { recursive: true });
    for (const [path, body] of Object.entries(files)) writeFileSync(join(dir, path), body);
    return dir;
  };
  const A = await buildRelease(site('a', { 'index.html': '<!doctype html><h1>A</h1>\n', 'notes.txt': 'release A\n' }), releases);
  const B = await buildRelease(site('b', { 'index.html': '<!doctype html><h1>B</h1>\n', 'notes.txt': 'release B\n', 'new.bin': randomBytes(NEW_BYTES) }), releases);
  const manifests = new Map([
    [A.id, A.manifest],
    [B.id, B.manifest],
  ]);

  // The peer trust in each node's private /srv (the rig shares /etc and /root with this machine),
  // and each node's own sshd host key, which the other nodes pin.
  const inventory = join(work, 'inventory.yml');
  const text = clusterInventory({
    rig,
    nodes: rig.nodes,
    artifact,
    port: PORT,
    haproxyDir,
    socket,
    proxyPort,
    originVars: { origin_release_load_gate: false, origin_release_peer_dir: '/srv/peer', origin_release_peer_authorized_keys: '/srv/peer/authorized_keys' },
  });
  writeFileSync(inventory, rig.nodes.reduce((s, n) => s.replace(`${n.name}: { ansible_host: "${n.address}" }`, `${n.name}: { ansible_host: "${n.address}", origin_release_peer_host_key: "${join(n.dir, 'ssh/ssh_host_ed25519_key.pub')}" }`), text));
  const env = ansibleEnv({}, controlDir);
  const cluster = clusterCommand(inventory, env, (line) => t.comment(line));
  /** Bytes the root namespace (the controller) sent into the rig's bridge. */
  const controllerBytes = (): number => Number(readFileSync(`/sys/class/net/${rig.bridge}/statistics/tx_bytes`, 'utf8'));

  const provision = await cluster(['provision']);
  t.equal(provision.code, 0, `cluster provision exits 0 (${provision.ms} ms)`, out(provision));
  const rolloutA = await cluster(['rollout', A.dir]);
  t.equal(rolloutA.code, 0, `rollout of A exits 0 (${rolloutA.ms} ms)`, out(rolloutA));

  await t.test('fan-out: the nodes copy B from each other; the controller sends it about once', async (t) => {
    const before = controllerBytes();
    const rollout = await cluster(['rollout', B.dir, '--batch', '100%']);
    const sent = controllerBytes() - before;
    t.equal(rollout.code, 0, `rollout of B exits 0 (${rollout.ms} ms)`, out(rollout));
    const fromPeer = [...rollout.stdout.matchAll(/Push the release to every node: Copy the release from a peer into staging, hard-linking unchanged files · (node\d+) changed/g)].map((m) => m[1]);
    const fromController = [...rollout.stdout.matchAll(/Push the release to every node: Copy the release into staging, hard-linking unchanged files · (node\d+) changed/g)].map((m) => m[1]);
    t.same(fromController, ['node1'], 'only the seed copied B from the controller');
    t.same(fromPeer.sort(), ['node2', 'node3', 'node4', 'node5'], 'every other node copied it from a peer');
    t.comment(`controller sent ${sent} bytes for ${NEW_BYTES} new bytes on ${NODES} nodes (${(sent / NEW_BYTES).toFixed(2)} copies)`);
    // Without fan-out the controller sends NODES copies and more. Ansible's own traffic (modules
    // over ssh, about 2 MB per node per rollout here) comes on top of the one copy: 17.7 MB
    // measured, 2.8 copies' worth, where five pulls would be 31.5 MB plus the same overhead.
    t.ok(sent < (NODES - 1) * NEW_BYTES, `the controller sent less than ${NODES - 1} copies of the new bytes (${sent} bytes; at least ${NODES} copies without fan-out)`);
    t.ok(sent > NEW_BYTES, 'and at least the one copy to the seed');
    for (const n of rig.nodes) t.equal(await nodeHealth(n, PORT), `200 ok ${B.id}`, `${n.name} serves B`);
    const peerKeys = await rig.exec(3, ['cat', '/srv/peer/authorized_keys']);
    const lines = peerKeys.stdout.split('\n').filter((l) => l.startsWith('from='));
    t.equal(lines.length, NODES - 1, 'node3 admits the four other nodes');
    t.ok(lines.every((l) => /^from="fd00:fa0::1\d",restrict,command="\/usr\/bin\/rrsync -ro \/srv\/origin\/releases" ssh-ed25519 /.test(l)), 'each from its address only, for a read-only rsync of the releases only');
    // The key admits rrsync and nothing else: a shell command is refused by the peer.
    const shell = await rig.exec(2, ['ssh', '-F', 'none', '-i', '/srv/peer/id_ed25519', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile=/srv/peer/known_hosts', `root@${rig.node(3).address}`, 'touch /srv/pwned; echo shell']);
    t.notMatch(shell.stdout, /^shell$/m, 'a peer key runs no shell on another node');
  });

  await t.test('rollback: one parallel switch under a steady client, zero failed requests', async (t) => {
    const load = loadThroughProxy(proxyPort, manifests, ['/index.html', '/notes.txt'], 2);
    t.ok(await until(() => [...parseShowStat(haproxyCommand(socket, SHOW_STAT)).values()].filter((s) => s.status === 'UP').length === NODES, 15000), 'HAProxy sees every node UP');
    const back = await cluster(['rollback']);
    const samples = await load.stop();
    t.equal(back.code, 0, `rollback exits 0 (${back.ms} ms)`, out(back));
    const lines = back.stdout.split('\n');
    const activated = lines.flatMap((l, i) => (new RegExp(`Switch every node at once: Activate release \\S+ · (node\\d+) changed`).exec(l) ? [i] : []));
    const confirmed = lines.flatMap((l, i) => (/Switch every node at once: Wait for the node to report release \w+ · node\d+ -> localhost ok/.test(l) ? [i] : []));
    t.equal(activated.length, NODES, 'every node, the canary too, was activated in the one switch play');
    t.equal(confirmed.length, NODES, 'and confirmed from the controller');
    t.ok(Math.max(...activated) < Math.min(...confirmed), 'all nodes switched in one step: every activation came before the first confirmation');
    for (const n of rig.nodes) t.equal(await nodeHealth(n, PORT), `200 ok ${A.id}`, `${n.name} serves A`);
    const failed = samples.filter((s) => s.status !== 200 || !s.ok);
    t.ok(samples.length > 20, `the client ran through HAProxy (${samples.length} requests)`);
    t.same(failed.slice(0, 5), [], `zero failed requests (${failed.length} of ${samples.length})`);
  });

  await t.test('a node that cannot switch is named; the others switch', async (t) => {
    await rig.exec(3, ['rm', '-rf', `/srv/origin/releases/${B.id}`]);
    const to = await cluster(['rollback', '--to', B.id]);
    t.equal(to.code, 1, 'the rollback fails');
    t.match(to.stdout, new RegExp(`node3 failed at Report the node that did not switch: node3 did not take release ${B.id}.*run pi-origin cluster rollback --to ${B.id}`, 's'), 'naming node3 and how to run it again');
    for (const n of rig.nodes) t.equal(await nodeHealth(n, PORT), `200 ok ${n.name === 'node3' ? A.id : B.id}`, `${n.name} serves ${n.name === 'node3' ? 'A (put back)' : 'B'}`);
  });

  rmSync(join(work, 'sites'), { recursive: true, force: true });
  t.comment(`the fan-out test took ${Math.round((Date.now() - started) / 1000)} s`);
});
