/**
 * `pi-origin cluster status`: the summary and table logic as units (TypeScript sources), then
 * end to end against real origin servers on [::1] run from dist/, through the built CLI.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseNodeAddress } from '../cluster/address.js';
import type { InventoryHost } from '../cluster/inventory.js';
import { humanUptime, mebibytes } from '../cluster/format.js';
import { parseStatus, probeNode } from '../cluster/node-probe.js';
import { renderTable, summarise, summaryLine } from '../cluster/status.js';
import { nodeProbe, nodeStatus } from './helpers/node-status.js';
import { runCli } from './helpers/cli.js';
import { startServer } from './helpers/server.js';

const R1 = 'aaaaaaaaaaaa';
const R2 = 'bbbbbbbbbbbb';


t.test('summary: agreement, disagreement, down and unhealthy nodes', (t) => {
  const all = summarise([nodeProbe('n1', nodeStatus(R1)), nodeProbe('n2', nodeStatus(R1)), nodeProbe('n3', nodeStatus(R1))]);
  t.equal(summaryLine(all), `3/3 up, release ${R1} on all`);
  t.equal(all.ok, true);
  const split = summarise([nodeProbe('n1', nodeStatus(R1)), nodeProbe('n2', nodeStatus(R1)), nodeProbe('n3', nodeStatus(R2)), nodeProbe('n4', 'timeout')]);
  t.equal(summaryLine(split), `3/4 up; releases disagree: ${R1} on n1,n2; ${R2} on n3`);
  t.same(split.releases, { [R1]: ['n1', 'n2'], [R2]: ['n3'] });
  t.equal(split.ok, false);
  const oneDown = summarise([nodeProbe('n1', nodeStatus(R1)), nodeProbe('n2', 'refused')]);
  t.equal(summaryLine(oneDown), `1/2 up; release ${R1} on n1`);
  t.equal(oneDown.ok, false, 'a DOWN node fails the check even when the others agree');
  const draining = summarise([nodeProbe('n1', nodeStatus(R1)), nodeProbe('n2', nodeStatus(R1, { health: 'draining' })), nodeProbe('n3', nodeStatus(null, { health: 'invalid-root' }))]);
  t.equal(summaryLine(draining), `3/3 up; release ${R1} on n1,n2; not ok: n2 (draining), n3 (invalid-root)`);
  t.equal(draining.ok, false);
  t.equal(summaryLine(summarise([nodeProbe('n1', 'timeout')])), '0/1 up');
  t.equal(summarise([]).ok, false, 'no nodes is not ok');
  t.end();
});

t.test('table and human units', (t) => {
  t.equal(humanUptime(0), '0s');
  t.equal(humanUptime(59), '59s');
  t.equal(humanUptime(12 * 60 + 59), '12m');
  t.equal(humanUptime(2 * 3600 + 5 * 60), '2h 5m');
  t.equal(humanUptime(3 * 86400 + 4 * 3600 + 59), '3d 4h');
  t.equal(mebibytes(0), '0.0 MiB');
  t.equal(mebibytes(1.25 * 1048576), '1.3 MiB');
  const table = renderTable(summarise([nodeProbe('node1', nodeStatus(R1, { uptimeSeconds: 90, requests: 7, cacheBytes: 3 * 1048576 })), nodeProbe('node22', 'HTTP 404 (not in --admin-allow?)')]));
  t.equal(
    table,
    [
      'NODE    ADDRESS   HEALTH                                   RELEASE       UPTIME  REQUESTS    CACHE',
      `node1   [::1]:80  ok                                       ${R1}      1m         7  3.0 MiB`,
      'node22  [::1]:80  DOWN (HTTP 404 (not in --admin-allow?))  -                  -         -        -',
      '',
    ].join('\n'),
  );
  t.end();
});

t.test('parseStatus refuses what is not a status document', (t) => {
  const good = JSON.stringify({ ...nodeStatus(R1), counters: {} });
  t.same(parseStatus(good), nodeStatus(R1));
  t.equal(parseStatus('<html>'), 'invalid status (not JSON)');
  t.equal(parseStatus('null'), 'invalid status (not an object)');
  t.equal(parseStatus(JSON.stringify({ ...nodeStatus(R1), requests: '7' })), 'invalid status (requests)');
  t.equal(parseStatus(JSON.stringify({ ...nodeStatus(R1), health: 'fine' })), 'invalid status (health)');
  t.equal(parseStatus(JSON.stringify({ ...nodeStatus('../etc') })), 'invalid status (release)');
  t.end();
});

/** A port on [::1] that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '::1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Accepts TCP connections on [::1] and never answers. */
async function silentServer(t: Test): Promise<number> {
  const sockets = new Set<Socket>();
  const s: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => s.listen(0, '::1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    s.close();
  });
  return (s.address() as { port: number }).port;
}

t.test('end to end: three origins, one on another release, one closed port', async (t) => {
  const dir = t.testdir({
    a: { 'index.html': '<h1>one</h1>\n', 'app.js': 'console.log(1)\n' },
    b: { 'index.html': '<h1>one</h1>\n', 'app.js': 'console.log(1)\n' },
    c: { 'index.html': '<h1>two</h1>\n', 'app.js': 'console.log(1)\n' },
  });
  const [n1, n2, n3] = await Promise.all(['a', 'b', 'c'].map((d, i) => startServer(t, join(dir, d), { nodeName: `pi${i + 1}` })));
  if (n1 === undefined || n2 === undefined || n3 === undefined) throw new Error('three servers');
  const same = n1.node.releaseId();
  const other = n3.node.releaseId();
  t.equal(n2.node.releaseId(), same, 'a and b are one release');
  t.not(other, same, 'c is another');
  const closed = await closedPort();
  const inventory = join(dir, 'hosts');
  writeFileSync(
    inventory,
    [
      '# pi-origin test cluster',
      '[origins]',
      `node1 ansible_host=::1 origin_node_port=${n1.port}`,
      `node2 ansible_host=0:0:0:0:0:0:0:1 origin_node_port=${n2.port}`,
      `node3 ansible_host=::1 origin_node_port=${n3.port}`,
      `node4 ansible_host=::1 origin_node_port=${closed}`,
      '[origins:vars]',
      'ansible_user=root',
    ].join('\n') + '\n',
  );

  const r = await runCli(['cluster', 'status', '--inventory', inventory, '--timeout', '2s']);
  t.equal(r.code, 1, 'exit 1: a node is down and releases disagree');
  t.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NODE\s+ADDRESS\s+HEALTH\s+RELEASE\s+UPTIME\s+REQUESTS\s+CACHE$/);
  t.match(lines[1], new RegExp(`^node1\\s+\\[::1\\]:${n1.port}\\s+ok\\s+${same}\\s+\\d+s\\s+\\d+\\s+\\d+\\.\\d MiB$`));
  t.match(lines[2], new RegExp(`^node2\\s+\\[::1\\]:${n2.port}\\s+ok\\s+${same}\\s`), 'address in RFC 5952 form');
  t.match(lines[3], new RegExp(`^node3\\s+\\[::1\\]:${n3.port}\\s+ok\\s+${other}\\s`));
  t.match(lines[4], new RegExp(`^node4\\s+\\[::1\\]:${closed}\\s+DOWN \\(refused\\)\\s+-\\s+-\\s+-\\s+-$`));
  t.equal(lines[5], '');
  t.equal(lines[6], `3/4 up; releases disagree: ${same} on node1,node2; ${other} on node3`);
  t.equal(lines.length, 7);

  const j = await runCli(['cluster', 'status', '-i', inventory, '--json']);
  t.equal(j.code, 1);
  const doc = JSON.parse(j.stdout) as {
    nodes: { name: string; address: string; port: number; url: string; up: boolean; health: string | null; release: string | null; error: string | null; status: { node: string } | null }[];
    up: number;
    total: number;
    releases: Record<string, string[]>;
    ok: boolean;
  };
  t.same({ up: doc.up, total: doc.total, releases: doc.releases, ok: doc.ok }, { up: 3, total: 4, releases: { [same]: ['node1', 'node2'], [other]: ['node3'] }, ok: false });
  t.same(
    doc.nodes.map((n) => [n.name, n.address, n.port, n.up, n.health, n.release, n.error, n.status?.node ?? null]),
    [
      ['node1', '::1', n1.port, true, 'ok', same, null, 'pi1'],
      ['node2', '::1', n2.port, true, 'ok', same, null, 'pi2'],
      ['node3', '::1', n3.port, true, 'ok', other, null, 'pi3'],
      ['node4', '::1', closed, false, null, null, 'refused', null],
    ],
  );
  t.equal(doc.nodes[0]?.url, `http://[::1]:${n1.port}/_origin/status`);

  // The agreeing pair alone, from a YAML inventory: exit 0.
  const yaml = join(dir, 'pair.yml');
  writeFileSync(yaml, `all:\n  children:\n    pair:\n      hosts:\n        node1: { ansible_host: "::1", origin_node_port: ${n1.port} }\n        node2: { ansible_host: "::1", origin_node_port: ${n2.port} }\n`);
  const ok = await runCli(['cluster', 'status', '--inventory', yaml, '--group', 'pair']);
  t.equal(ok.code, 0, 'exit 0: all up, healthy, one release');
  t.match(ok.stdout, new RegExp(`\\n2/2 up, release ${same} on all\\n$`));
  t.equal(ok.stderr, '');
});

t.test('a node that accepts TCP but never answers is DOWN (timeout) within the deadline', async (t) => {
  const port = await silentServer(t);
  const host: InventoryHost = { name: 'mute', address: parseNodeAddress('::1')!, port, vars: {} };
  const started = Date.now();
  const probe = await probeNode(host, 300);
  const elapsed = Date.now() - started;
  t.same(probe, { name: 'mute', address: '::1', port, endpoint: `[::1]:${port}`, url: `http://[::1]:${port}/_origin/status`, up: false, error: 'timeout' });
  // The node never answers: resolving at all is the deadline's doing; not before it.
  t.ok(elapsed >= 290, `gave up after ${elapsed} ms (deadline 300 ms)`);

  const dir = t.testdir({ hosts: `[origins]\nmute ansible_host=::1 origin_node_port=${port}\n` });
  const cliStarted = Date.now();
  const r = await runCli(['cluster', 'status', '-i', join(dir, 'hosts'), '--timeout', '500ms']);
  const cliElapsed = Date.now() - cliStarted;
  t.equal(r.code, 1);
  t.match(r.stdout, new RegExp(`^mute\\s+\\[::1\\]:${port}\\s+DOWN \\(timeout\\)`, 'm'));
  t.match(r.stdout, /\n0\/1 up\n$/);
  t.ok(cliElapsed >= 500, `CLI finished after ${cliElapsed} ms (deadline 500 ms, plus start-up and reading the inventory)`);
});

t.test('usage errors exit 2, inventory errors exit 1, one line each', async (t) => {
  const dir = t.testdir({ hosts: '[origins]\nnode1 ansible_host=fd00::zz\n', good: '[origins]\nnode1 ansible_host=::1\n' });
  const cases: [string[], number, string][] = [
    [['cluster', 'status'], 2, "pi-origin cluster status: --inventory FILE is required (see pi-origin cluster status --help)\n"],
    [['cluster', 'status', '-i', join(dir, 'good'), '--timeout', 'soon'], 2, `pi-origin cluster status: --timeout must be a duration from 1ms to 5m, like 500ms or 2s (got "soon") (see pi-origin cluster status --help)\n`],
    [['cluster', 'status', '-i', join(dir, 'good'), '--timeout', '10m'], 2, `pi-origin cluster status: --timeout must be a duration from 1ms to 5m, like 500ms or 2s (got "10m") (see pi-origin cluster status --help)\n`],
    [['cluster', 'status', '-i', join(dir, 'good'), '--frobnicate'], 2, "pi-origin cluster status: unknown option --frobnicate (see pi-origin cluster status --help)\n"],
    [['cluster', 'status', '-i', join(dir, 'good'), 'extra'], 2, `pi-origin cluster status: unexpected argument "extra" (see pi-origin cluster status --help)\n`],
    [['cluster', 'frob'], 2, "pi-origin cluster: unknown command \"frob\" (expected status, dns, check, dashboard, prometheus-targets, artifact, provision, preview, rollout, rollback, register, deregister; see pi-origin cluster --help)\n"],
    [['cluster', 'status', '-i', join(dir, 'hosts')], 1, `pi-origin: error: ${join(dir, 'hosts')}:2: host node1: ansible_host "fd00::zz" is not an IPv6 or IPv4 literal or a host name\n`],
    [['cluster', 'status', '-i', join(dir, 'good'), '--group', 'web'], 1, `pi-origin: error: ${join(dir, 'good')}: no group "web" (groups: origins)\n`],
    [['cluster', 'status', '-i', join(dir, 'missing')], 1, `pi-origin: error: cannot read inventory ${join(dir, 'missing')}: ENOENT\n`],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  cases.forEach(([args, code, stderr], i) => {
    const r = results[i]!;
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.equal(r.stderr, stderr, `${args.join(' ')}: message`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  });
});

t.test('help lists the subcommands and every option', async (t) => {
  const top = await runCli(['--help']);
  t.match(top.stdout, /^ {2}cluster +\S/m, 'pi-origin --help lists cluster');
  const cluster = await runCli(['cluster', '--help']);
  t.equal(cluster.code, 0);
  t.match(cluster.stdout, /^Commands:\n {2}status +ask every node for \/_origin\/status/m);
  t.equal(cluster.stdout.match(/^ {2}\w+ {2,}/gm)?.length, 11, 'only the commands that exist');
  const bare = await runCli(['cluster']);
  t.equal(bare.code, 2, 'no subcommand is a usage error');
  const help = await runCli(['cluster', 'status', '--help']);
  t.equal(help.code, 0);
  for (const option of ['--inventory', '-i,', '--group', '--timeout', '--json', 'origin_node_port', 'ansible_host', 'Exit 0'])
    t.ok(help.stdout.includes(option), `status --help mentions ${option}`);
});
