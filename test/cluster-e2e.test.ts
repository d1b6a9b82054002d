/**
 * The cluster end to end, with the real playbooks: three IPv6-only nodes in network namespaces
 * (test/rig/netns.ts, each with its own sshd and /srv/origin) and HAProxy in the root namespace
 * on 127.0.0.1 and [::1].
 *   1. provision the nodes and the proxy (origin_node and dualstack_proxy in test mode);
 *   2. roll out release A: an IPv4 client through HAProxy gets A from every node, and no node
 *      answers IPv4 (none has an IPv4 address but loopback, and even there the server refuses);
 *   3. roll out release B with canary and gate under load through HAProxy: zero failed
 *      requests, every body matches the manifest of the release in its header; roll back to A;
 *   4. roll out B again and kill one node's server mid-rollout: the rollout stops naming that
 *      node, every node serves one whole release, and rollback restores A everywhere;
 * Also: rolling out again changes nothing, and a failing gate puts the canary back.
 * What real machines prove (test/machines-cluster.test.ts: systemd, apt, provisioning twice,
 * register/deregister without a reload, an upgrade under load) is not repeated here.
 * `npm run test:cluster` runs this file, then cluster-faults.test.ts. The rig shares /etc, /opt
 * and the process table with this machine, so everything the roles write goes to the nodes'
 * private /srv or to this test's temporary directory; HAProxy runs as a daemon killed at teardown.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRelease } from '../dist/release/release.js';
import { ansibleEnv, httpGet } from './helpers/ansible.js';
import { clusterCommand, clusterInventory, haproxyCommand, loadThroughProxy, nodeHealth, parseShowStat, runTail as out, SHOW_STAT, startClusterRig, summaryTable, type ProxyServer } from './helpers/cluster.js';
import { parseResponses, rawExchange } from './helpers/server.js';
import { until } from './helpers/wait.js';
import type { RigNode } from './rig/netns.js';

const PORT = 8080;
const PREFIX = 'pie';
const SUBNET = 'fd00:cafe:0:e';
/** New bytes in release B: large next to what Ansible itself sends (modules, ~2 MB per node per rollout). */
const NEW_BYTES = 16 * 1024 * 1024;

// Run alone after the suite (npm test). The timeout guards against a hang, it is not a speed
// test: about 3 minutes on an idle machine, several times that when other work shares its two
// cores (provision alone took 83 s under load 18).
t.setTimeout(25 * 60_000);

t.test('cluster: provision, roll out, gate, break, roll back', async (t) => {
  const started = Date.now();
  const { rig, work, controlDir, haproxyDir, pidfile, socket, proxyPort, artifact, artifactBuild } = await startClusterRig(t, PREFIX, SUBNET);
  t.equal(artifactBuild.code, 0, `artifact built ${artifactBuild.stderr}`);

  // Releases A and B on the controller: app.js and big.bin are the same in both (hard-linked on
  // the nodes), index.html and notes.txt differ.
  const releases = join(work, 'releases');
  const site = (name: string, marker: string): string => {
    const dir = join(work, 'sites', name);
    const files: Record<string, string | Buffer> = {
      'index.html': `<!doctype html><h1>launch ${marker}</h1>\n`,
      'notes.txt': `release ${marker}\n`,
      'assets/app.js': 'console.log("launch");\n'.repeat(50),
      'big.bin': createHash('sha512').update('big').digest().toString('hex').repeat(2000),
    };
    for (const [path, body] of Object.entries(files)) {
      const full = join(dir, path);
      rmSync(full, { force: true });
      writeFileSync(full, body, { flag: 'w' });
    }
    return dir;
  };
  for (const n of ['a', 'b']) mkdirSync(join(work, 'sites', n, 'assets'), { recursive: true });
  const A = await buildRelease(site('a', 'A'), releases);
  // B also has NEW_BYTES that A lacks: what the peer fan-out must not send from the controller
  // once per node.
  writeFileSync(join(site('b', 'B'), 'new.bin'), randomBytes(NEW_BYTES));
  const B = await buildRelease(join(work, 'sites', 'b'), releases);
  const manifests = new Map([
    [A.id, A.manifest],
    [B.id, B.manifest],
  ]);
  t.not(A.id, B.id, 'two releases');

  const inventory = join(work, 'inventory.yml');
  writeFileSync(inventory, clusterInventory({ rig, nodes: rig.nodes, artifact, port: PORT, haproxyDir, socket, proxyPort }));

  // profile_tasks: each run's slowest tasks go into the test output (a comment), for tuning.
  const env = ansibleEnv({ ANSIBLE_CALLBACKS_ENABLED: 'ansible.posix.profile_tasks', PROFILE_TASKS_TASK_OUTPUT_LIMIT: '8' }, controlDir);
  /** `pi-origin cluster ARGS -i inventory`: the operator's commands, which run the playbooks (timings go to step `st`'s output). */
  const clusterIn = (st: Test): ReturnType<typeof clusterCommand> => clusterCommand(inventory, env, (line) => st.comment(line));
  /** Server name -> status and sessions in HAProxy's `show stat`. */
  const proxyServers = (): Map<string, ProxyServer> => parseShowStat(haproxyCommand(socket, SHOW_STAT));
  const haproxyPid = (): string => readFileSync(pidfile, 'utf8').trim();
  const health = (n: RigNode): Promise<string> => nodeHealth(n, PORT);
  /** Every file of the node, straight over IPv6: the releases named, and whether all bodies match. */
  const servedRelease = async (n: RigNode): Promise<string> => {
    const seen = new Set<string>();
    for (const f of A.manifest.files) {
      const r = await httpGet(`http://[${n.address}]:${PORT}${f.path}`);
      const release = String(r.headers['x-origin-release']);
      const want = manifests.get(release)?.files.find((x) => x.path === f.path)?.sha256;
      seen.add(want === createHash('sha256').update(r.body).digest('hex') ? release : `${release}(body mismatch)`);
    }
    return [...seen].join('+');
  };

  const paths = A.manifest.files.map((f) => f.path);
  let pid0 = '';

  await t.test('1. provision: the nodes, and HAProxy with backend servers by IPv6 literal and PROXY v2', async (t) => {
    const cluster = clusterIn(t);
    const provision = await cluster(['provision']);
    t.equal(provision.code, 0, `cluster provision exits 0 (${provision.ms} ms)`, out(provision));
    t.ok(existsSync(pidfile), 'HAProxy runs (PID file)');
    pid0 = haproxyPid();
    t.match(readFileSync(join(haproxyDir, 'haproxy.cfg'), 'utf8'), new RegExp(`server node1 \\[${rig.nodes[0]!.address}\\]:${PORT} check inter 500ms fall 2 rise 2 send-proxy-v2 check-send-proxy`), 'backend servers by IPv6 literal, PROXY v2 on traffic and checks');
  });

  await t.test('2. roll out A: every node serves it, IPv4 and IPv6 clients through HAProxy, nodes answer no IPv4', async (t) => {
    const cluster = clusterIn(t);
    const rolloutA = await cluster(['rollout', A.dir]);
    t.equal(rolloutA.code, 0, `rollout of A exits 0 (${rolloutA.ms} ms)`, out(rolloutA));
    const whole = [...rolloutA.stdout.matchAll(new RegExp(`Report why the whole release is copied · (node\\d+) ok: copying all of release ${A.id}: the node has no current release$`, 'gm'))].map((m) => m[1]);
    t.same(whole.sort(), ['node1', 'node2', 'node3'], 'a node with no release takes all of it, and the push says why');
    for (const n of rig.nodes) t.equal(await health(n), `200 ok ${A.id}`, `${n.name} reports release A`);
    t.ok(await until(() => [...proxyServers().values()].filter((s) => s.status === 'UP').length === 3, 15000), 'HAProxy sees all three nodes UP');
    const viaProxy = await Promise.all(Array.from({ length: 30 }, () => httpGet(`http://127.0.0.1:${proxyPort}/index.html`)));
    t.same([...new Set(viaProxy.map((r) => `${r.status} ${String(r.headers['x-origin-release'])}`))], [`200 ${A.id}`], 'IPv4 client through HAProxy: release A, 30 of 30');
    const v6 = await httpGet(`http://[::1]:${proxyPort}/notes.txt`);
    t.equal(v6.body.toString(), 'release A\n', 'IPv6 client through HAProxy too');
    // uWS 20.30 never answers HTTP/1.0 itself: the proxy's HTTP/2 hop must turn it into HTTP/1.1.
    for (const head of ['GET /notes.txt HTTP/1.0\r\nHost: www.test\r\n\r\n', 'GET /notes.txt HTTP/1.0\r\n\r\n']) {
      const [r] = parseResponses(await rawExchange(proxyPort, head, '127.0.0.1', 5000));
      t.equal(`${r?.status} ${r?.body.toString()}`, '200 release A\n', `HTTP/1.0 client through HAProxy (${head.includes('Host') ? 'with' : 'without'} Host) is answered`);
    }
    const perNode = proxyServers();
    for (const n of rig.nodes) t.ok((perNode.get(n.name)?.total ?? 0) > 0, `${n.name} served requests through the proxy`);
    for (const n of rig.nodes) {
      const v4 = await rig.exec(n, ['ip', '-4', '-o', 'addr', 'show']);
      t.same(v4.stdout.trim().split('\n').map((l) => l.split(/\s+/)[3]), ['127.0.0.1/8'], `${n.name}: no IPv4 address but loopback`);
      const probe = await rig.exec(n, ['/usr/bin/python3', '-c', `import socket\ns=socket.create_connection(("127.0.0.1",${PORT}),2)\ns.sendall(b"GET /index.html HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")\ns.settimeout(2)\nprint(repr(s.recv(100)))`]);
      t.equal(probe.stdout.trim(), "b''", `${n.name}: the server answers nothing over IPv4, even on loopback`);
    }
  });

  await t.test('rolling out A again changes nothing', async (t) => {
    const cluster = clusterIn(t);
    // Idempotence of the rollout; provisioning again is checked on real machines
    // (machines-cluster.test.ts: nodes and proxy, no reload) and by ansible-origin-node.test.ts.
    const again = await cluster(['rollout', A.dir]);
    const table = summaryTable(again.stdout);
    t.equal(again.code, 0, 'rollout of A again exits 0', out(again));
    t.same([...table].filter(([, c]) => c.changed !== 0).map(([h]) => h), [], `rollout of A again: changed=0 on every host (${[...table.keys()].join(', ')})`);
    t.equal(haproxyPid(), pid0, 'HAProxy was not reloaded');
  });

  await t.test('3. roll out B under load (canary, gate, batches): zero failed requests; roll back to A', async (t) => {
    const cluster = clusterIn(t);
    // 3. Roll out B (canary, gate, batches) while clients load the proxy; then roll back to A.
    const load = loadThroughProxy(proxyPort, manifests, paths, 4);
    // The controller's SSH bytes into the rig (Ansible and rsync; not the HTTP of the load through
    // HAProxy, whose requests and ACKs would swamp the count): an nftables counter on the way out.
    const table = `${PREFIX}_ssh_out`;
    const nft = (args: string): string => {
      const r = spawnSync('nft', ['-f', '-'], { input: args, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`nft: ${r.stderr}`);
      return r.stdout;
    };
    nft(`add table inet ${table}\nadd chain inet ${table} out { type filter hook output priority 0; policy accept; }\nadd rule inet ${table} out oifname "${rig.bridge}" tcp dport 22 counter\n`);
    t.teardown(() => void spawnSync('nft', ['delete', 'table', 'inet', table]));
    const controllerBytes = (): number => Number(/counter packets \d+ bytes (\d+)/.exec(nft(`list table inet ${table}\n`))?.[1] ?? NaN);
    const before = controllerBytes();
    const rolloutB = await cluster(['rollout', B.dir, '--batch', '2']);
    const sent = controllerBytes() - before;
    const samples = await load.stop();
    t.equal(rolloutB.code, 0, `rollout of B exits 0 (${rolloutB.ms} ms)`, out(rolloutB));
    // Each node has A, which the controller holds too: B is staged from A on the node (manifest
    // from a patch, unchanged files linked) and only the files that differ travel. Peer fan-out:
    // the seed (node1) takes them from the controller, the others from a node that has B.
    const copied = (how: string): string[] => [...rolloutB.stdout.matchAll(new RegExp(`Push the release to every node: ${how} · (node\\d+) changed`, 'g'))].map((m) => m[1] as string).sort();
    t.same(copied('Stage the release from the node\'s current one, hard-linking what they share'), ['node1', 'node2', 'node3'], 'every node staged B from A');
    t.same(copied('Copy the changed files into staging'), ['node1'], 'only the seed copied the changed files from the controller');
    t.same(copied('Copy the changed files from a peer into staging'), ['node2', 'node3'], 'the other nodes copied them from a peer');
    t.notMatch(rolloutB.stdout, /Report why the whole release is copied · node\d+ ok/, 'no node copied the whole release');
    t.comment(`controller sent ${sent} bytes for ${NEW_BYTES} new bytes on 3 nodes (${(sent / NEW_BYTES).toFixed(2)} copies)`);
    t.ok(sent > NEW_BYTES && sent < 2 * NEW_BYTES, `the controller sent the new bytes once, not once per node (${sent} bytes; 3 copies without fan-out)`);
    const peerKeys = (await rig.exec(3, ['cat', '/srv/peer/authorized_keys'])).stdout.split('\n').filter((l) => l.startsWith('from='));
    t.equal(peerKeys.length, 2, 'node3 admits the two other nodes');
    t.ok(peerKeys.every((l) => new RegExp(`^from="${SUBNET}::1\\d",restrict,command="/usr/bin/rrsync -ro /srv/origin/releases" ssh-ed25519 `).test(l)), 'each from its address only, for a read-only rsync of the releases only');
    const shell = await rig.exec(2, ['ssh', '-F', 'none', '-i', '/srv/peer/id_ed25519', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'UserKnownHostsFile=/srv/peer/known_hosts', `root@${rig.nodes[2]!.address}`, 'echo shell']);
    t.notMatch(shell.stdout, /^shell$/m, 'a peer key runs no shell on another node');
    t.match(rolloutB.stdout, /^\[ *[\d.]+s\] Canary: Run the canary gate against node1 · node1 -> localhost ok$/m, 'the gate ran on the canary, from the controller');
    t.match(rolloutB.stdout, new RegExp(`^\\[ *[\\d.]+s\\] Canary: Report the gate · node1 ok: http://\\[${rig.nodes[0]!.address}\\]:${PORT}: release ${B.id} passed the content check \\(${B.manifest.files.length} requests`, 'm'), 'and passed: every file over IPv6');
    t.match(rolloutB.stdout, new RegExp(`^\\[ *[\\d.]+s\\] Canary: Report the load gate · node1 ok: pi-origin gate: release ${B.id} on http://\\[${rig.nodes[0]!.address}\\]:${PORT}: PASS$`, 'm'), 'and the load gate passed on the canary, over IPv6');
    t.match(rolloutB.stdout, new RegExp(`^rollout of ${B.id} complete on 3 nodes in `, 'm'), 'summary line');
    const failed = samples.filter((s) => s.status !== 200 || !s.ok);
    t.ok(samples.length > 200, `load ran through HAProxy over IPv4 (${samples.length} requests)`);
    t.same(failed.slice(0, 5), [], `zero failed requests, every body matches its release (${failed.length} of ${samples.length})`);
    t.same([...new Set(samples.map((s) => s.release))].sort(), [A.id, B.id].sort(), 'the load saw A, then B');
    for (const n of rig.nodes) t.equal(await servedRelease(n), B.id, `${n.name} serves B`);
    const linked = await rig.exec(1, ['stat', '-c', '%i', `/srv/origin/releases/${A.id}/big.bin`, `/srv/origin/releases/${B.id}/big.bin`]);
    const [inodeA, inodeB] = linked.stdout.trim().split('\n');
    t.equal(inodeA, inodeB, 'an unchanged file is hard-linked between releases on the node (it did not travel again)');

    // The rollback: one parallel switch under a steady client, zero failed requests.
    const load2 = loadThroughProxy(proxyPort, manifests, paths, 2);
    const back = await cluster(['rollback']);
    const samples2 = await load2.stop();
    t.equal(back.code, 0, `rollback exits 0 (${back.ms} ms)`, out(back));
    t.match(back.stdout, /^fast switch: one ssh per node, 3 at once/m, 'the ssh switch ran, not the playbook');
    const lines = back.stdout.split('\n');
    const activated = lines.flatMap((l, i) => (/Switch every node at once: Activate release \S+ · node\d+ changed/.test(l) ? [i] : []));
    const confirmed = lines.flatMap((l, i) => (/Switch every node at once: Wait for every node to report release \w+ · node\d+ -> localhost ok/.test(l) ? [i] : []));
    t.equal(activated.length, 3, 'every node, the canary too, was activated in the one switch play');
    t.equal(confirmed.length, 1, 'and all were confirmed from the controller by one check');
    t.ok(Math.max(...activated) < Math.min(...confirmed), 'all nodes switched in one step: every activation came before the first confirmation');
    for (const n of rig.nodes) t.equal(await servedRelease(n), A.id, `${n.name} back on A`);
    const failed2 = samples2.filter((s) => s.status !== 200 || !s.ok);
    t.ok(samples2.length > 20, `the client ran through HAProxy during the rollback (${samples2.length} requests)`);
    t.same(failed2.slice(0, 5), [], `zero failed requests during the rollback (${failed2.length} of ${samples2.length})`);
  });

  await t.test('a failing gate puts the canary back and stops the rollout; rollback then has nothing to undo', async (t) => {
    const cluster = clusterIn(t);
    // A gate that fails puts the canary back and stops the rollout before any other node moves.
    const gateVars = join(work, 'gate-fails.json');
    writeFileSync(gateVars, JSON.stringify({ origin_release_gate_command: ['/bin/sh', '-c', 'echo "gate: p99 too high"; exit 1', 'gate'] }));
    const gated = await cluster(['rollout', B.dir, '-e', `@${gateVars}`]);
    t.not(gated.code, 0, 'a failing gate fails the rollout');
    t.match(gated.stdout, new RegExp(`^rollout of ${B.id} stopped: node1 failed at Stop the rollout: canary node1 failed the gate for release ${B.id}; it is back on ${A.id} and no other node changed\\. gate: p99 too high`, 'm'), 'the summary says the canary failed the gate, with the gate\'s words');
    for (const n of rig.nodes) t.equal(await servedRelease(n), A.id, `${n.name} still serves A`);
    const pointers1 = await rig.exec(1, ['readlink', '/srv/origin/releases/current', '/srv/origin/releases/previous']);
    t.equal(pointers1.stdout, `${A.id}\n${B.id}\n`, 'the canary\'s current and previous are exactly as before');
    const nothing = await cluster(['rollback']);
    t.equal(nothing.code, 1, 'rollback after a rejected rollout refuses: nothing to undo');
    t.match(nothing.stdout, new RegExp(`nothing to roll back: the canary node1 serves ${A.id} and the last rollout it recorded is ${A.id} ${B.id}`));
  });

  await t.test('4. a node dies mid-rollout: the rollout stops naming it, each node serves one whole release, rollback restores A', async (t) => {
    const cluster = clusterIn(t);
    // 4. Roll out B again; node2's server dies once the canary is under way.
    const node2 = rig.node(2);
    let killed = false;
    const broken = await cluster(['rollout', B.dir, '--batch', '1'], (s) => {
      if (!killed && s.includes('PLAY Canary')) {
        killed = true;
        void rig.exec(node2, ['start-stop-daemon', '--stop', '--signal', 'KILL', '--pidfile', '/srv/origin/run/pi-origin.pid']);
      }
  });
  t.ok(killed, 'node2 was broken mid-rollout');
  t.not(broken.code, 0, 'the rollout fails');
  t.match(broken.stdout, new RegExp(`^rollout of ${B.id} stopped: node2 failed at Report the failed activation: node2 did not take release ${B.id} \\(Fail when the node does not report release ${B.id}: `, 'm'), 'the summary names node2 and the step');
  const r4 = summaryTable(broken.stdout);
  t.equal(r4.get('node2')?.failed, 1, 'node2 failed');
  t.equal(r4.get('node3')?.changed ?? 0, 0, 'node3 was not touched after the failure');
  t.equal(await servedRelease(rig.node(1)), B.id, 'node1 (canary) serves B, whole');
  t.equal(await servedRelease(rig.node(3)), A.id, 'node3 serves A, whole');
  const link2 = await rig.exec(node2, ['readlink', '/srv/origin/releases/current']);
  t.equal(link2.stdout.trim(), A.id, 'node2 was put back on A');
  t.ok(await until(() => proxyServers().get('node2')?.status.startsWith('DOWN') === true, 10000), 'HAProxy took node2 out by health check');

  // The operator restarts node2 (provision starts a stopped server) and rolls back.
  const fix = await cluster(['provision', '--limit', 'node2']);
  t.equal(fix.code, 0, `provision --limit node2 exits 0`, out(fix));
  // This rollback through ansible/rollback.yml (--playbook), the path for nodes plain ssh does not reach.
  const rollback = await cluster(['rollback', '--playbook']);
  t.equal(rollback.code, 0, `rollback --playbook exits 0 (${rollback.ms} ms)`, out(rollback));
  t.notMatch(rollback.stdout, /^fast switch/m, 'the playbook ran');
  t.match(rollback.stdout, /Switch every node at once: Read the node's release pointers · node3 ok/, 'its tasks, by name');
  t.match(rollback.stdout, new RegExp(`Report the rollback target · node1 ok: rolling back to release ${A.id}$`, 'm'));
  for (const n of rig.nodes) t.equal(await servedRelease(n), A.id, `${n.name} serves A after the rollback`);
  });

  await t.test('a node that cannot switch is named; the others switch', async (t) => {
    const cluster = clusterIn(t);
    await rig.exec(3, ['rm', '-rf', `/srv/origin/releases/${B.id}`]);
    const to = await cluster(['rollback', '--to', B.id]);
    t.equal(to.code, 1, 'the rollback fails');
    t.match(to.stdout, new RegExp(`node3 failed at Report the node that did not switch: node3 did not take release ${B.id}.*run pi-origin cluster rollback --to ${B.id}`, 's'), 'naming node3 and how to run it again');
    for (const n of rig.nodes) t.equal(await health(n), `200 ok ${n.name === 'node3' ? A.id : B.id}`, `${n.name} serves ${n.name === 'node3' ? 'A (put back)' : 'B'}`);
  });

  // A record, not a verdict: how long a run takes is the machine's; t.setTimeout bounds a hang.
  t.comment(`the whole cluster test took ${Math.round((Date.now() - started) / 1000)} s`);
});
