/**
 * Rollout faults on the namespace rig (test/rig/netns.ts): three IPv6-only nodes, HAProxy in the
 * root namespace on 127.0.0.1 and [::1], the real playbooks run by `pi-origin cluster`.
 *   1. The copy to node2 dies half-way (its link is slowed with tc, and the node's rsync is
 *      killed): the rollout stops naming node2 and the copy step, no node switches, node2's
 *      partial copy is not a release; once the link is fine the same rollout completes and every
 *      node serves every file of the release. (B is staged from A, which the controller holds:
 *      the copy that dies is of the changed files; the stage starts afresh when run again.)
 *   2. node3 is unreachable (its sshd is gone) when a rollout starts: the push stops naming
 *      node3 as unreachable and why; no node copied or switched anything.
 *   3. With fan-out on, node1 refuses node2's ssh: node2 says so and copies the release from the
 *      controller; node3 copies from node1; every node serves every file of the release.
 *   4. One node's server is SIGKILLed under a steady load through HAProxy: HAProxy marks it DOWN
 *      within its check interval × fall, and no client request fails (retry-on + redispatch).
 * Its own rig prefix and subnet, so it can run while cluster-e2e.test.ts does; `npm test` and
 * `npm run test:cluster` run it after cluster-e2e.test.ts, not in the suite's parallel run.
 * Needs what the rig needs, and tc (iproute2) with the tbf qdisc.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRelease, type BuildResult } from '../dist/release/release.js';
import { ansibleEnv, closeMasters, REPO, run } from './helpers/ansible.js';
import {
  clusterCommand,
  clusterInventory,
  haproxyCommandAsync,
  nodeHealth,
  PROXY_CHECK_INTERVAL_MS,
  PROXY_FALL,
  parseShowStat,
  type ProxyServer,
  runTail,
  SHOW_STAT,
  startClusterRig,
  summaryTable,
} from './helpers/cluster.js';
import { until } from './helpers/wait.js';
import { pidAlive, type RigNode } from './rig/netns.js';

const PORT = 8080;
const PREFIX = 'pif';
const SUBNET = 'fd00:cafe:0:f';
/** Release B adds this many bytes of video (incompressible, as rsync sees it: .mp4 is not compressed). */
const MEDIA_FILES = 4;
const MEDIA_BYTES = 4 * 1024 * 1024;
/** node2's link during fault 1: 4 MB/s, so its copy of B takes about 4 s. */
const SLOW_LINK = '32mbit';

// A guard against a hang, not a speed test (about 3.5 minutes on an idle machine).
t.setTimeout(20 * 60_000);

/** Bytes of regular files below `dir` (0 when it does not exist); tolerates files renamed meanwhile. */
function bytesBelow(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) total += bytesBelow(p);
      else if (e.isFile()) total += lstatSync(p).size;
    } catch {
      // renamed while we looked
    }
  }
  return total;
}

/** Processes named `comm` inside the node (in its network namespace): the shared process table, narrowed by namespace. */
function pidsInNode(node: RigNode, comm: string): number[] {
  const ns = readlinkSync(`/proc/${node.holderPid}/ns/net`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm && readlinkSync(`/proc/${entry}/ns/net`) === ns) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Shot {
  readonly start: number;
  readonly end: number;
  readonly status: number;
  readonly error?: string;
  readonly release: string;
}

/**
 * An open-loop client: `rate` GETs of `path` a second through the proxy, alternately over
 * 127.0.0.1 and [::1], keep-alive; each shot's start, end and outcome on performance.now().
 */
function steadyLoad(port: number, path: string, rate: number): { stop: () => Promise<Shot[]> } {
  const agents = [new Agent({ keepAlive: true, maxSockets: 32 }), new Agent({ keepAlive: true, maxSockets: 32 })];
  const hosts = ['127.0.0.1', '::1'];
  const shots: Shot[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  const started = performance.now();
  const fire = (): void => {
    const i = sent++;
    const start = performance.now();
    const p = new Promise<void>((resolve) => {
      const done = (status: number, release: string, error?: string): void => {
        shots.push({ start, end: performance.now(), status, release, ...(error === undefined ? {} : { error }) });
        resolve();
      };
      const req = httpRequest({ host: hosts[i % 2], port, path, agent: agents[i % 2], timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0, String(res.headers['x-origin-release'] ?? '')));
        res.on('error', (e) => done(0, '', e.message));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => done(0, '', e.message));
      req.end();
    });
    pending.add(p);
    void p.then(() => pending.delete(p));
  };
  // Catch up on the schedule each tick, so a late timer does not lower the rate.
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) fire();
  }, 5);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all([...pending]);
      for (const a of agents) a.destroy();
      return shots.sort((a, b) => a.start - b.start);
    },
  };
}

t.test('rollout faults: an interrupted copy, an unreachable node, a node dying behind the proxy', async (t) => {
  const started = Date.now();
  const { rig, work, controlDir, haproxyDir, socket, proxyPort, artifact, artifactBuild } = await startClusterRig(t, PREFIX, SUBNET);
  t.equal(artifactBuild.code, 0, `artifact built ${artifactBuild.stderr}`);

  // A: a small site. B: A plus 16 MB of video, so a copy takes a moment on a slow link.
  // C: A with one page changed.
  const releases = join(work, 'releases');
  const build = async (name: string, files: Record<string, string | Buffer>): Promise<BuildResult> => {
    const dir = join(work, 'sites', name);
    for (const [path, body] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), body);
    }
    return buildRelease(dir, releases);
  };
  const base = { 'index.html': '<!doctype html><h1>faults</h1>\n', 'assets/app.js': 'console.log("faults");\n'.repeat(40) };
  const A = await build('a', base);
  const media = Object.fromEntries(Array.from({ length: MEDIA_FILES }, (_, i) => [`media/clip-${i}.mp4`, randomBytes(MEDIA_BYTES)]));
  const B = await build('b', { ...base, ...media });
  const C = await build('c', { ...base, 'index.html': '<!doctype html><h1>faults, again</h1>\n' });
  t.equal(new Set([A.id, B.id, C.id]).size, 3, 'three releases');

  const inventory = join(work, 'inventory.yml');
  writeFileSync(
    inventory,
    // The controller's own copy (the seed's, and every node's without the fan-out), broken on
    // purpose; the node-to-node fan-out is proved in cluster-e2e.test.ts.
    clusterInventory({ rig, nodes: rig.nodes, artifact, port: PORT, haproxyDir, socket, proxyPort, originVars: { origin_release_load_gate: false, origin_release_peer_fanout: false } }),
  );
  const env = ansibleEnv({ ANSIBLE_CALLBACKS_ENABLED: 'ansible.posix.profile_tasks', PROFILE_TASKS_TASK_OUTPUT_LIMIT: '6' }, controlDir);
  const cluster = clusterCommand(inventory, env, (line) => t.comment(line));
  const cli = (args: readonly string[]): ReturnType<typeof run> => run(process.execPath, [join(REPO, 'dist/cli/main.js'), ...args], { env: process.env });
  const releasesOf = (n: RigNode): string => join(n.srvOrigin, 'releases');
  const current = (n: RigNode): string => readlinkSync(join(releasesOf(n), 'current'));
  const health = (n: RigNode): Promise<string> => nodeHealth(n, PORT);
  /** Every node serves every file of the release (`cluster check`) and holds no staging copy. */
  const everyNodeServes = async (t: Test, name: string, dir: string): Promise<void> => {
    for (const n of rig.nodes) {
      const check = await cli(['cluster', 'check', '--target', `http://[${n.address}]:${PORT}`, '--release', dir]);
      t.equal(check.code, 0, `${n.name} serves ${name}, every file (cluster check: ${check.stdout.trim()})`);
      t.same(readdirSync(releasesOf(n)).filter((e) => e.startsWith('.incoming-')), [], `${n.name}: no .incoming-* left`);
    }
  };
  const servers = async (): Promise<Map<string, ProxyServer>> => parseShowStat(await haproxyCommandAsync(socket, SHOW_STAT));
  const allUp = async (): Promise<boolean> => [...(await servers()).values()].filter((s) => s.status === 'UP').length === rig.nodes.length;

  const provision = await cluster(['provision']);
  t.equal(provision.code, 0, `cluster provision exits 0 (${provision.ms} ms)`, runTail(provision));

  await t.test('0. the canary fails the gate on its first release', async (t) => {
    // A node with no release has no server running (origin_node starts it with the first
    // release). A canary that fails the gate then goes back to exactly that: no pointers and
    // no server, not a server left running without content (503 invalid-root), and no PID file
    // naming a dead server, which `start-stop-daemon --status` counts as running while that PID
    // is an unreaped zombie or another process.
    const runDir = (n: RigNode): string => join(n.srvOrigin, 'run');
    const provisioned = new Map(rig.nodes.map((n) => [n.name, readdirSync(runDir(n))]));
    const gateVars = join(work, 'gate-fails.json');
    writeFileSync(gateVars, JSON.stringify({ origin_release_gate_command: ['/bin/sh', '-c', 'echo "gate: p99 too high"; exit 1', 'gate'] }));
    const gated = await cluster(['rollout', A.dir, '-e', `@${gateVars}`]);
    t.equal(gated.code, 1, 'the rollout fails (exit 1)', runTail(gated));
    t.match(gated.stdout, new RegExp(`^rollout of ${A.id} stopped: node1 failed at Stop the rollout: canary node1 failed the gate for release ${A.id}; it is back on none and no other node changed\\.`, 'm'), 'the summary says the canary failed and is back on no release');
    for (const n of rig.nodes) {
      t.same(readdirSync(releasesOf(n)).filter((e) => e === 'current' || e === 'previous'), [], `${n.name}: no current, no previous`);
      // Exit 3 is "not running" with no PID file; 1 would be a PID file left by a dead server.
      const running = await rig.exec(n, ['start-stop-daemon', '--status', '--pidfile', '/srv/origin/run/pi-origin.pid']);
      t.equal(running.code, 3, `${n.name}: no server and no PID file (start-stop-daemon --status exits ${running.code})`);
      // The server's log stays: it says when and why the server stopped.
      t.same(readdirSync(runDir(n)).filter((e) => e !== 'pi-origin.log'), provisioned.get(n.name), `${n.name}: the run directory is as provisioning left it`);
      const live = pidsInNode(n, 'node').filter(pidAlive);
      t.same(live, [], `${n.name}: no Node.js process left in the node`);
      t.notMatch(await health(n), /^\d{3} /, `${n.name}: no HTTP answer at all`);
    }
  });
  const rolloutA = await cluster(['rollout', A.dir, '--batch', '100%']);
  t.equal(rolloutA.code, 0, `rollout of A exits 0 (${rolloutA.ms} ms)`, runTail(rolloutA));
  for (const n of rig.nodes) t.equal(await health(n), `200 ok ${A.id}`, `${n.name} serves A`);

  await t.test('1. the copy to one node dies half-way', async (t) => {
    const node2 = rig.node(2);
    const staging = join(releasesOf(node2), `.incoming-${B.id}`);
    // node2's link is slow (egress of its bridge port, the way to the node); the others' is not.
    const throttle = await run('tc', ['qdisc', 'replace', 'dev', node2.hostVeth, 'root', 'tbf', 'rate', SLOW_LINK, 'burst', '64kb', 'latency', '200ms'], {});
    t.equal(throttle.code, 0, `node2's link slowed to ${SLOW_LINK} ${throttle.stderr}`);

    // Once a quarter of the video has reached node2, its rsync dies (as it would if the node
    // ran out of memory or the connection dropped).
    let killed: { bytes: number; pids: number[] } | undefined;
    let copyFinished = false;
    const watch = (async () => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !copyFinished) {
        const bytes = bytesBelow(staging);
        if (bytes >= (MEDIA_FILES * MEDIA_BYTES) / 4) {
          const pids = pidsInNode(node2, 'rsync');
          for (const pid of pids) process.kill(pid, 'SIGKILL');
          killed = { bytes, pids };
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const broken = await cluster(['rollout', B.dir, '--batch', '100%']);
    copyFinished = true;
    await watch;
    t.ok(killed !== undefined && killed.pids.length > 0, `node2's rsync was killed with ${killed?.bytes ?? 0} of ${MEDIA_FILES * MEDIA_BYTES} bytes of video copied (pids ${killed?.pids.join(', ') ?? 'none'})`);
    t.equal(broken.code, 1, 'the rollout fails (exit 1)', runTail(broken));
    t.match(
      broken.stdout,
      new RegExp(`^rollout of ${B.id} stopped: node2 failed at Copy the changed files into staging: \\S`, 'm'),
      'the summary names node2 and the copy step, then the error (rsync\'s words, not pinned)',
    );
    t.comment(broken.stdout.split('\n').filter((l) => / FAILED: | stopped: /.test(l)).join('\n'));
    const table = summaryTable(broken.stdout);
    t.equal(table.get('node2')?.failed, 1, 'node2 failed');
    t.same([...table].filter(([, c]) => (c.failed ?? 0) > 0).map(([h]) => h), ['node2'], 'only node2 failed');

    for (const n of rig.nodes) {
      t.equal(current(n), A.id, `${n.name}: current still points at A`);
      t.equal(await health(n), `200 ok ${A.id}`, `${n.name}: /_origin/health still reports A`);
      t.notOk(existsSync(join(releasesOf(n), B.id)), `${n.name}: no releases/${B.id} (the push stopped before any copy was verified and placed)`);
    }
    t.ok(existsSync(staging), `node2 keeps the partial copy in .incoming-${B.id}`);
    t.comment(`.incoming-${B.id} on node2: ${readdirSync(staging).join(' ')}; ${bytesBelow(staging)} bytes`);
    // rsync --delay-updates (synchronize's default) holds every file in .~tmp~ until the end.
    const verify = await cli(['release', 'verify', staging]);
    t.equal(verify.code, 1, 'which is not a release: release verify refuses it');
    t.match(verify.stdout, new RegExp(`^missing: /${Object.keys(media)[0]}$`, 'm'), 'the video it was receiving is missing');
    const list = await cli(['release', 'list', releasesOf(node2)]);
    t.notMatch(list.stdout, B.id, `release list on node2 does not show ${B.id}`);

    // The link is fine again; the same rollout, run again, completes.
    const fast = await run('tc', ['qdisc', 'del', 'dev', node2.hostVeth, 'root'], {});
    t.equal(fast.code, 0, `node2's link back to full speed ${fast.stderr}`);
    const again = await cluster(['rollout', B.dir, '--batch', '100%']);
    t.equal(again.code, 0, `the same rollout again exits 0 (${again.ms} ms)`, runTail(again));
    t.match(again.stdout, new RegExp(`^rollout of ${B.id} complete on 3 nodes in `, 'm'), 'summary line');
    await everyNodeServes(t, 'B', B.dir);
  });

  await t.test('2. a node is unreachable when the rollout starts', async (t) => {
    const node3 = rig.node(3);
    // node3's sshd is gone: connections are refused. (Its link going down ends the same way,
    // after Ansible's connect timeout of 10 s per loop item: 20 s here.) SSH masters from
    // earlier runs would keep a session open; close them, as a new operator session has none.
    closeMasters(controlDir);
    const sshd = pidsInNode(node3, 'sshd');
    for (const pid of sshd) process.kill(pid, 'SIGKILL');
    t.ok(sshd.length > 0, `node3's sshd stopped (pids ${sshd.join(', ')})`);
    const r = await cluster(['rollout', C.dir]);
    t.comment(r.stdout.split('\n').filter((l) => / UNREACHABLE: | FAILED: | stopped: |no hosts left/.test(l)).join('\n'));
    t.equal(r.code, 1, 'the rollout fails (exit 1)', runTail(r));
    // What ssh says after that is its own (`Connection refused`, or `Broken pipe` through a
    // ControlPersist master that was still closing): the meaning is node3, unreachable, at the
    // first task that reaches the nodes.
    t.match(r.stdout, new RegExp(`^rollout of ${C.id} stopped: node3 unreachable at Read the release pointers: \\S`, 'm'), 'the summary says node3 was unreachable, and where');
    t.same([...summaryTable(r.stdout)].filter(([, c]) => (c.unreachable ?? 0) > 0 || (c.failed ?? 0) > 0).map(([h]) => h), ['node3'], 'no other node failed or was unreachable');
    const table = summaryTable(r.stdout);
    t.equal(table.get('node3')?.unreachable, 1, 'the table counts node3 unreachable');
    for (const n of rig.nodes) {
      t.equal(current(n), B.id, `${n.name}: still on B`);
      t.notOk(existsSync(join(releasesOf(n), C.id)), `${n.name}: C was not even copied`);
    }
    for (const n of rig.nodes) t.equal(await health(n), `200 ok ${B.id}`, `${n.name} serves B`);

    const restart = await rig.exec(node3, ['/usr/sbin/sshd', '-f', node3.sshdConfig, '-E', node3.sshdLog]);
    t.equal(restart.code, 0, `node3's sshd started again ${restart.stderr}`);
    // sshd listens only after it has put itself in the background.
    const pointer = async (): Promise<string> => (await rig.ssh(node3, 'readlink /srv/origin/releases/current')).stdout.trim();
    t.ok(await until(async () => (await pointer()) === B.id, 10_000), 'node3 is reachable again, on B');
  });

  await t.test('3. a peer refuses a node during a fan-out: it copies from the controller', async (t) => {
    // Fan-out on for this run only (-e beats the inventory): waves node1 (from the controller),
    // node2 (from node1), node3 (from node1). node1 refuses node2's ssh, so node2's peer copy
    // fails at once and node2 takes C from the controller; node3's peer copy works.
    const [node1, node2] = [rig.node(1), rig.node(2)];
    const table = 'pifpeerblock';
    const nft = (cmd: string) => rig.exec(node1, ['nft', cmd]);
    for (const cmd of [
      `add table inet ${table}`,
      `add chain inet ${table} in { type filter hook input priority -10; policy accept; }`,
      `add rule inet ${table} in ip6 saddr ${node2.address} tcp dport 22 reject with tcp reset`,
    ]) {
      const r = await nft(cmd);
      t.equal(r.code, 0, `node1: nft ${cmd} ${r.stderr}`);
    }
    t.teardown(async () => void (await nft(`delete table inet ${table}`)));
    const r = await cluster(['rollout', C.dir, '--batch', '100%', '-e', 'origin_release_peer_fanout=true']);
    t.equal(r.code, 0, `the rollout completes (${r.ms} ms)`, runTail(r));
    t.match(r.stdout, new RegExp(`^.* node2 ok: peer node1 did not give release ${C.id}; copying it from the controller \\(\\S`, 'm'), 'node2 reports the peer that failed, and why (ssh\'s words, not pinned)');
    t.equal(r.stdout.match(/did not give release/g)?.length, 1, 'only node2 fell back: node3 copied from node1');
    t.match(r.stdout, new RegExp(`^rollout of ${C.id} complete on 3 nodes in `, 'm'), 'summary line');
    await everyNodeServes(t, 'C', C.dir);
  });

  await t.test('4. the proxy takes a dead node out and traffic continues', async (t) => {
    const victim = rig.node(2);
    t.match(readFileSync(join(haproxyDir, 'haproxy.cfg'), 'utf8'), /^ {4}retries 2\n {4}retry-on conn-failure empty-response\n {4}option redispatch$/m, 'HAProxy retries a request a dead node did not answer, on another node');
    t.ok(await until(allUp, 10_000), 'all three nodes UP in HAProxy');
    const load = steadyLoad(proxyPort, '/index.html', 200);
    await new Promise((r) => setTimeout(r, 1000));
    const pid = Number(readFileSync(join(victim.srvOrigin, 'run/pi-origin.pid'), 'utf8').trim());
    const killAt = performance.now();
    process.kill(pid, 'SIGKILL');
    let downAt: number | undefined;
    let check = '';
    const deadline = killAt + 10_000;
    while (performance.now() < deadline) {
      const s = (await servers()).get(victim.name);
      if (s?.status === 'DOWN') {
        downAt = performance.now();
        check = s.check;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const shots = await load.stop();
    const stat = (await servers()).get(victim.name) as ProxyServer;
    t.ok(downAt !== undefined, `HAProxy marked ${victim.name} DOWN`);
    const detect = (downAt ?? Infinity) - killAt;
    const bound = PROXY_CHECK_INTERVAL_MS * PROXY_FALL;
    // How soon after the kill HAProxy's checks fire depends on the machine's load: the meaning is
    // that its own health checks took the node out (not a client's failed request), within the watch.
    t.comment(`DOWN ${Math.round(detect)} ms after the kill (check interval ${PROXY_CHECK_INTERVAL_MS} ms × fall ${PROXY_FALL} = ${bound} ms; last check ${check})`);
    const failed = shots.filter((s) => s.status !== 200);
    const afterDown = failed.filter((s) => s.start > (downAt ?? Infinity));
    const meanwhile = shots.filter((s) => s.end > killAt && s.start < (downAt ?? Infinity));
    const slowest = Math.max(...meanwhile.map((s) => s.end - s.start));
    // HAProxy counts the requests the node took and never answered (eresp: those in flight at
    // the kill) and the times it sent one again (retries); refused connections are redispatched.
    t.comment(
      `${shots.length} requests, ${failed.length} failed; ${meanwhile.length} between the kill and DOWN, the slowest ${Math.round(slowest)} ms; ` +
        `${victim.name} at HAProxy: ${stat.eresp} unanswered, ${stat.retries} retried, ${stat.redispatches} redispatched`,
    );
    t.ok(shots.length > 400, `the load ran through HAProxy (${shots.length} requests)`);
    t.same(afterDown, [], 'zero failed requests after the node was marked DOWN');
    t.same(failed.slice(0, 5), [], `zero failed requests at all: the ${stat.eresp} in flight on ${victim.name} were retried on other nodes (${failed.length} of ${shots.length} failed)`);
    t.same([...new Set(shots.filter((s) => s.status === 200).map((s) => s.release))], [C.id], 'every answer from release C');
  });

  // About 2.5 minutes on an idle machine; t.setTimeout bounds a hang, the time is a record.
  t.comment(`the whole file took ${Math.round((Date.now() - started) / 1000)} s`);
});
