/**
 * The capacity plan: the arithmetic with inputs chosen so every figure can be checked by hand
 * (the working is in the comments), each limit binding in turn, headroom, the CDN edge cases, the
 * exact messages for bad input, `--from` with a report fixture, and the built CLI.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parseBytes } from '../common/units.js';
import { parseCount, parseRate, parseRatio } from '../cli/plan.js';
import { capacityFromReport, nodesFor, plan, proxyLine, summaryLine, type PlanInput } from '../capacity/plan.js';
import { runCli } from './helpers/cli.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/plan/bench-report.json', import.meta.url));

/**
 * 8,640,000 visitors / 86,400 s = 100 visits/s; x 10 requests = 1,000 req/s at the edge, x peak
 * factor 5 = 5,000 req/s. 100 visits/s x 1,250,000 B = 125,000,000 B/s = 1,000 Mbit/s on average,
 * 5,000 Mbit/s at peak. Defaults: NIC 1,000 x 0.7 = 700 Mbit/s, target 0.6, disk 320 Mbit/s
 * x 0.6 = 192 Mbit/s, headroom 1.
 */
const BASE = { visitorsPerDay: 8_640_000, peakFactor: 5, requestsPerVisit: 10, bytesPerVisit: 1_250_000 } as const satisfies PlanInput;

/** Equal to a millionth: the figures are products and quotients of decimals. */
const close = (t: Test, actual: number, expected: number, what: string): void => void t.ok(Math.abs(actual - expected) < 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≈ ${expected}`);

t.test('demand: the day spread over seconds, then the CDN share taken off', (t) => {
  // CDN 0.9: the origin sees 10%: 100 req/s average, 500 at peak; 100 Mbit/s average, 500 at peak.
  const p = plan({ ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 250 });
  const d = p.demand;
  close(t, d.avgVisitsPerSec, 100, 'visits/s');
  close(t, d.avgEdgeReqPerSec, 1000, 'edge req/s');
  close(t, d.peakEdgeReqPerSec, 5000, 'peak edge req/s');
  close(t, d.avgEdgeMbps, 1000, 'edge Mbit/s');
  close(t, d.peakEdgeMbps, 5000, 'peak edge Mbit/s');
  close(t, d.originRequestShare, 0.1, 'origin share of requests');
  close(t, d.avgOriginReqPerSec, 100, 'origin req/s');
  close(t, d.peakOriginReqPerSec, 500, 'peak origin req/s');
  close(t, d.avgOriginMbps, 100, 'origin Mbit/s');
  close(t, d.peakOriginMbps, 500, 'peak origin Mbit/s');
  t.equal(p.options.responseBytes, 125_000, 'average response = 1,250,000 B / 10');
  t.end();
});

t.test('CPU binds', (t) => {
  // CPU: 250 req/s x 0.6 = 150 usable; 500 / 150 = 3.33 -> 4. NIC: 500 / 700 = 0.71 -> 1.
  // Memory: no working set -> 0. 4 + 1 headroom = 5.
  const p = plan({ ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 250 });
  t.same(p.limits.map((l) => [l.limit, l.nodes]), [['cpu', 4], ['nic', 1], ['memory', 0]]);
  close(t, p.limits[0]?.load ?? NaN, 500 / 150, 'cpu load');
  close(t, p.node.usableReqPerSec, 150, 'usable req/s');
  t.equal(p.binding, 'cpu');
  t.equal(p.nodesForPeak, 4);
  t.equal(p.totalNodes, 5);
  // With 4 nodes up: 125 req/s each = 50% of the measured 250; 125 Mbit/s = 12.5% of the NIC.
  close(t, p.perNodeAtPeak.reqPerSec, 125, 'per node req/s');
  close(t, p.perNodeAtPeak.cpuShare, 0.5, 'per node CPU share');
  close(t, p.perNodeAtPeak.nicShare, 0.125, 'per node NIC share');
  t.equal(summaryLine(p), '5 Pis (4 for CPU at peak + 1 headroom); the binding limit is CPU');
  t.match(p.notes.join('\n'), /no --working-set/);
  t.end();
});

t.test('NIC binds', (t) => {
  // CDN 0.5: peak origin 2,500 req/s and 2,500 Mbit/s. CPU: 10,000 x 0.6 = 6,000; 2,500 / 6,000
  // = 0.42 -> 1. NIC: 2,500 / 700 = 3.57 -> 4. 4 + 1 = 5.
  const p = plan({ ...BASE, cdnHitRatio: 0.5, nodeReqPerSec: 10_000 });
  t.same(p.limits.map((l) => l.nodes), [1, 4, 0]);
  close(t, p.limits[1]?.load ?? NaN, 2500 / 700, 'nic load');
  t.equal(p.binding, 'nic');
  t.equal(p.totalNodes, 5);
  t.equal(summaryLine(p), '5 Pis (4 for NIC at peak + 1 headroom); the binding limit is NIC');
  // A 2.5 Gbit/s NIC at 80%: 2,000 usable; 2,500 / 2,000 = 1.25 -> 2.
  t.equal(plan({ ...BASE, cdnHitRatio: 0.5, nodeReqPerSec: 10_000, nicMbps: 2500, nicCeiling: 0.8 }).limits[1]?.nodes, 2);
  t.end();
});

t.test('memory binds: the working set beyond the cache is read from storage', (t) => {
  // CDN 0.9: 500 Mbit/s at peak. Cache 4 GB over 4 workers: each caches 1 GB of a 10 GB working
  // set (every worker sees the whole of it): 10% from cache, 90% from storage = 450 Mbit/s. SD
  // card 320 x 0.6 = 192; 450 / 192 = 2.34 -> 3. NIC 500 / 700 -> 1, CPU 500 / 6,000 -> 1. 3 + 1 = 4.
  const input = { ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 10_000, cacheBytes: 4e9, workers: 4, workingSetBytes: 10e9 };
  const p = plan(input);
  t.equal(p.node.workerCacheBytes, 1e9, 'one worker caches a quarter of --cache-size');
  close(t, p.node.cacheByteShare, 0.1, 'cached share: what one worker holds, not the node total');
  close(t, p.node.diskByteShare, 0.9, 'disk share');
  close(t, p.limits[2]?.peakDemand ?? NaN, 450, 'Mbit/s from storage');
  t.same(p.limits.map((l) => l.nodes), [1, 1, 3]);
  t.equal(p.binding, 'memory');
  t.equal(summaryLine(p), '4 Pis (3 for memory at peak + 1 headroom); the binding limit is memory (cache misses read from storage)');
  t.match(p.notes.join('\n'), /uniform over the working set/);
  // A USB 3 SSD (300 MB/s = 2,400 Mbit/s x 0.6 = 1,440): 450 / 1,440 = 0.31 -> 1; the NIC (0.71) binds.
  const ssd = plan({ ...input, diskMbps: 2400 });
  t.same(ssd.limits.map((l) => l.nodes), [1, 1, 1]);
  t.equal(ssd.binding, 'nic');
  t.equal(ssd.totalNodes, 2);
  // The working set fits one worker's share: nothing from storage.
  const fits = plan({ ...input, workingSetBytes: 1e9 });
  t.equal(fits.node.diskByteShare, 0);
  t.equal(fits.limits[2]?.nodes, 0);
  // One worker would cache 40% of it.
  close(t, plan({ ...input, workers: 1 }).node.cacheByteShare, 0.4, 'one worker: the whole cache');
  t.end();
});

t.test('headroom: N+0, N+1, N+2', (t) => {
  const input = { ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 250 };
  t.same([0, 1, 2].map((headroom) => plan({ ...input, headroom }).totalNodes), [4, 5, 6]);
  t.equal(summaryLine(plan({ ...input, headroom: 0 })), '4 Pis (4 for CPU at peak + no headroom); the binding limit is CPU');
  t.end();
});

t.test('rounding: a demand of exactly N nodes needs N, a hair more needs N+1', (t) => {
  // Peak factor 3: 3,000 req/s; 5,000 x 0.6 = 3,000 usable: load 1 -> 1. 4,999 x 0.6 = 2,999.4: 1.0002 -> 2.
  t.equal(plan({ ...BASE, peakFactor: 3, nodeReqPerSec: 5000, bytesPerVisit: 1000 }).limits[0]?.nodes, 1);
  t.equal(plan({ ...BASE, peakFactor: 3, nodeReqPerSec: 4999, bytesPerVisit: 1000 }).limits[0]?.nodes, 2);
  t.same([0, 1e-12, 0.5, 1, 1 + 1e-12, 1.0001, 3.0000000000000004].map(nodesFor), [0, 1, 1, 1, 1, 2, 3]);
  t.end();
});

t.test('CDN hit ratio 0: the origin sees everything; 1: nothing, one node plus headroom', (t) => {
  // No CDN: 5,000 req/s and 5,000 Mbit/s at peak. 5,000 / 700 = 7.14 -> 8 NIC nodes; 5,000 / 6,000 -> 1.
  const none = plan({ ...BASE, nodeReqPerSec: 10_000 });
  t.equal(none.demand.peakOriginReqPerSec, none.demand.peakEdgeReqPerSec);
  close(t, none.demand.peakOriginMbps, 5000, 'peak origin Mbit/s');
  t.same(none.limits.map((l) => l.nodes), [1, 8, 0]);
  t.equal(none.totalNodes, 9);

  const all = plan({ ...BASE, cdnHitRatio: 1, nodeReqPerSec: 10_000 });
  t.equal(all.demand.peakOriginReqPerSec, 0);
  t.equal(all.demand.peakOriginMbps, 0);
  t.same(all.limits.map((l) => l.nodes), [0, 0, 0]);
  t.equal(all.binding, null);
  t.equal(all.nodesForPeak, 1, 'an origin is still needed for misses and revalidation');
  t.equal(all.totalNodes, 2);
  t.equal(summaryLine(all), '2 Pis (1 minimum + 1 headroom); no limit binds: the origin sees no traffic');
  t.end();
});

t.test('response bytes instead of bytes per visit; a byte hit ratio of its own', (t) => {
  // 125,000 B x 10 requests = 1,250,000 B per visit: the same plan as BASE.
  const { bytesPerVisit: _, ...rest } = BASE;
  const a = plan({ ...rest, responseBytes: 125_000, cdnHitRatio: 0.9, nodeReqPerSec: 250 });
  t.equal(a.options.bytesPerVisit, 1_250_000);
  t.same(a.demand, plan({ ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 250 }).demand);
  // 90% of requests but 99% of bytes at the CDN: 5,000 Mbit/s x 1% = 50 Mbit/s at peak; requests stay 500.
  const b = plan({ ...BASE, cdnHitRatio: 0.9, cdnByteHitRatio: 0.99, nodeReqPerSec: 250 });
  close(t, b.demand.peakOriginMbps, 50, 'peak origin Mbit/s');
  close(t, b.demand.peakOriginReqPerSec, 500, 'peak origin req/s');
  t.end();
});

t.test('the proxy: TLS CPU per request, per byte and per handshake, and the uplink', (t) => {
  // CDN 0.9: 500 req/s and 500 Mbit/s at peak; 100 visits/s x 5 = 500 visits/s x 1 connection x
  // 10% (a CDN keeps its connections open) = 50 handshakes/s. One core: 1,000 req/s, 1,000
  // Mbit/s, 100 handshakes/s, so 0.5 + 0.5 + 0.5 = 1.5 cores busy; / 0.6 = 2.5 cores needed;
  // 2 a host -> 2 hosts. Uplink 1,000 x 0.7 = 700 usable; 500 / 700 -> 1 host.
  const p = plan({ ...BASE, cdnHitRatio: 0.9, nodeReqPerSec: 250, proxyCoreReqPerSec: 1000, proxyCoreMbps: 1000, proxyCoreHandshakes: 100, proxyCores: 2 });
  close(t, p.proxy.peakHandshakesPerSec, 50, 'handshakes/s');
  close(t, p.proxy.coresBusy, 1.5, 'cores busy');
  close(t, p.proxy.coresNeeded, 2.5, 'cores needed');
  t.same([p.proxy.hostsForCpu, p.proxy.hostsForUplink, p.proxy.hosts, p.proxy.uplinkExceeded], [2, 1, 2, false]);
  t.equal(proxyLine(p), '2 proxy hosts (for 2.5 cores at 60%, 2 a host)');
  t.equal(summaryLine(p), '5 Pis (4 for CPU at peak + 1 headroom); the binding limit is CPU', 'the nodes are planned as before');

  // Without a CDN every visit is a new connection: 500 handshakes/s at 100 a core = 5 cores alone.
  close(t, plan({ ...BASE, nodeReqPerSec: 250, proxyCoreHandshakes: 100 }).proxy.peakHandshakesPerSec, 500, 'no CDN: a handshake per visit');

  // CDN 0.5: 2,500 Mbit/s at peak > 700 usable: the uplink, not the CPU, needs 4 hosts.
  const wide = plan({ ...BASE, cdnHitRatio: 0.5, nodeReqPerSec: 10_000 });
  t.equal(wide.proxy.uplinkExceeded, true);
  t.equal(wide.proxy.hostsForUplink, 4);
  t.equal(wide.proxy.hosts, 4);
  t.equal(proxyLine(wide), '4 proxy hosts (for the uplink)');

  // A CDN fetching from the nodes' AAAA records (origin TLS): no proxy in the origin path.
  const direct = plan({ ...BASE, cdnHitRatio: 0.5, nodeReqPerSec: 10_000, proxyCores: 0 });
  t.same([direct.proxy.hosts, direct.proxy.uplinkExceeded], [0, false]);
  t.equal(proxyLine(direct), 'none in the origin path (--proxy-cores 0: the CDN fetches from the nodes)');
  t.end();
});

t.test('invalid input: PlanError naming the option and the value', (t) => {
  const ok = { ...BASE, nodeReqPerSec: 1000 };
  const cases: [string, PlanInput, string][] = [
    ['negative visitors', { ...ok, visitorsPerDay: -1 }, '--visitors must be greater than 0 (got -1)'],
    ['NaN visitors', { ...ok, visitorsPerDay: NaN }, '--visitors must be a number (got NaN)'],
    ['peak factor below 1', { ...ok, peakFactor: 0.5 }, '--peak-factor must be at least 1 (got 0.5)'],
    ['zero requests', { ...ok, requestsPerVisit: 0 }, '--requests-per-visit must be greater than 0 (got 0)'],
    ['hit ratio above 1', { ...ok, cdnHitRatio: 1.5 }, '--cdn-hit-ratio must be from 0 to 1 (got 1.5)'],
    ['negative hit ratio', { ...ok, cdnHitRatio: -0.1 }, '--cdn-hit-ratio must be from 0 to 1 (got -0.1)'],
    ['byte hit ratio above 1', { ...ok, cdnByteHitRatio: 2 }, '--cdn-byte-hit-ratio must be from 0 to 1 (got 2)'],
    ['zero capacity', { ...ok, nodeReqPerSec: 0 }, '--node-rps must be greater than 0 (got 0)'],
    ['no capacity', { ...BASE }, '--node-rps is required (or --from REPORT.json)'],
    ['zero NIC', { ...ok, nicMbps: 0 }, '--nic-mbps must be greater than 0 (got 0)'],
    ['NIC ceiling above 1', { ...ok, nicCeiling: 1.2 }, '--nic-ceiling must be greater than 0 and at most 1 (got 1.2)'],
    ['zero target', { ...ok, targetUtilisation: 0 }, '--target-utilisation must be greater than 0 and at most 1 (got 0)'],
    ['negative disk', { ...ok, diskMbps: -40 }, '--disk-mbps must be greater than 0 (got -40)'],
    ['zero working set', { ...ok, workingSetBytes: 0 }, '--working-set must be greater than 0 (got 0)'],
    ['fractional headroom', { ...ok, headroom: 1.5 }, '--headroom must be a whole number of spare nodes from 0 to 10 (got 1.5)'],
    ['no workers', { ...ok, workers: 0 }, '--workers must be a whole number of worker threads from 1 to 256 (got 0)'],
    ['both sizes', { ...ok, responseBytes: 1000 }, 'give --bytes-per-visit or --response-bytes, not both'],
    ['no size', { visitorsPerDay: 1, requestsPerVisit: 1, nodeReqPerSec: 1 }, '--bytes-per-visit (or --response-bytes) is required'],
  ];
  for (const [what, input, message] of cases) t.throws(() => plan(input), { name: 'PlanError', code: 'PI_ORIGIN_PLAN_INVALID_OPTION', message }, what);
  t.end();
});

t.test('flag values in human units', (t) => {
  t.equal(parseCount('20M'), 20_000_000);
  t.equal(parseCount('20_000_000'), 20_000_000);
  t.equal(parseCount('1.5k'), 1500);
  t.equal(parseCount('-5'), undefined);
  t.equal(parseCount('many'), undefined);
  t.equal(parseRatio('0.98'), 0.98);
  t.equal(parseRatio('98%'), 0.98);
  t.equal(parseRatio('-1'), undefined);
  t.equal(parseRate('1000'), 1000);
  t.equal(parseRate('1Gbit'), 1000);
  t.equal(parseRate('940Mbit'), 940);
  t.equal(parseRate('40MB/s'), 320, '40 megabytes/s = 320 Mbit/s');
  t.equal(parseRate('300MB/s'), 2400);
  t.equal(parseRate('1 furlong'), undefined);
  t.equal(parseBytes('2.5MB'), 2_500_000, 'sizes parse as serve --cache-size does');
  t.end();
});

t.test('capacity from a report: the best pi-origin run of a bench, the best run of a gate', (t) => {
  const bench = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { runs: { name: string; achievedRate: number }[] };
  // nginx 1KB (90,000) is faster but not pi-origin; pi-origin 1KB (82,352) beats pi-origin 200KB.
  const c = capacityFromReport(bench, 'r.json');
  t.same(c, { reqPerSec: 82_352, run: 'pi-origin 1KB', kind: 'bench', title: 'pi-origin against its peers (fixture)', machine: 'Intel(R) Xeon(R) Processor, 2 cores', responseBytes: 1377 });
  // A gate's runs are all pi-origin, whatever the scenario is called.
  const gate = { ...bench, kind: 'gate', runs: [{ ...bench.runs[0], name: 'launch-day', achievedRate: 4000 }, { ...bench.runs[1], name: 'cold-cache', achievedRate: 1200 }] };
  t.equal(capacityFromReport(gate, 'g.json').run, 'launch-day');
  t.equal(capacityFromReport(gate, 'g.json').reqPerSec, 4000);

  const bad = { name: 'PlanError', code: 'PI_ORIGIN_PLAN_BAD_REPORT' };
  t.throws(() => capacityFromReport([], 'x.json'), { ...bad, message: 'x.json: not a gate or bench report (expected schema 1, kind "gate" or "bench" and runs)' });
  t.throws(() => capacityFromReport(null, 'x.json'), { ...bad, message: 'x.json: not a gate or bench report (expected a JSON object)' });
  t.throws(() => capacityFromReport({ ...bench, kind: 'soak' }, 'x.json'), { ...bad, message: 'x.json: not a gate or bench report (expected schema 1, kind "gate" or "bench" and runs)' });
  t.throws(() => capacityFromReport({ ...bench, runs: bench.runs.filter((r) => !r.name.startsWith('pi-origin')) }, 'x.json'), { ...bad, message: 'x.json: no "pi-origin ..." run with an achievedRate above 0' });
  t.throws(() => capacityFromReport({ ...gate, runs: [{ name: 'x', achievedRate: 0 }] }, 'x.json'), { ...bad, message: 'x.json: no run with an achievedRate above 0' });
  t.end();
});

t.test('the built CLI', async (t) => {
  // The CPU-binding case again, in flags and in human units: 8.64M visitors, 1.25MB a visit, 90%.
  const flags = ['plan', '--visitors', '8.64M', '--peak-factor', '5', '--requests-per-visit', '10', '--bytes-per-visit', '1.25MB', '--cdn-hit-ratio', '90%', '--node-rps', '250', '--nic-mbps', '1Gbit'];
  const [top, help, text, json] = await Promise.all([runCli(['--help']), runCli(['plan', '--help']), runCli(flags), runCli([...flags, '--json'])]);

  t.equal(top.code, 0);
  t.match(top.stdout, /^ {2}plan\s+how many Pis/m, 'pi-origin --help lists plan');

  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: pi-origin plan --visitors N /);
  for (const flag of ['--visitors', '--peak-factor', '--requests-per-visit', '--bytes-per-visit', '--response-bytes', '--cdn-hit-ratio', '--cdn-byte-hit-ratio', '--node-rps', '--from', '--nic-mbps', '--nic-ceiling', '--cache-size', '--workers', '--working-set', '--disk-mbps', '--target-utilisation', '--headroom', '--proxy-core-rps', '--proxy-core-mbps', '--proxy-core-handshakes', '--connections-per-visit', '--proxy-cores', '--proxy-uplink-mbps', '--json'])
    t.match(help.stdout, new RegExp(`^ {2}${flag} `, 'm'), `--help lists ${flag}`);
  t.ok(help.stdout.split('\n').length <= 44, 'help fits a screen, examples included');

  t.equal(text.code, 0);
  t.equal(text.stderr, '');
  const lines = text.stdout.trimEnd().split('\n');
  t.equal(lines.at(-1), 'plan: 5 Pis (4 for CPU at peak + 1 headroom); the binding limit is CPU');
  t.ok(lines.length <= 30, `one screen (${lines.length} lines)`);
  t.match(text.stdout, /origin, average \/ peak\s+100 \/ 500 req\/s/);
  t.match(text.stdout, /^ {2}CPU\s+4 {2}<- binds\s+500 \/ 150 req\/s = 3\.33$/m);
  // 500/9,000 + 500/2,100 + 50/900 = 0.056 + 0.238 + 0.056 = 0.35 cores busy; / 0.6 = 0.58.
  t.equal(lines.at(-2), 'proxy: 1 proxy host (for 0.6 cores at 60%, 4 a host)', 'the proxy, with the measured defaults');
  t.notMatch(text.stdout, /^warning:/m, 'one uplink carries 500 Mbit/s');

  t.equal(json.code, 0);
  const p = JSON.parse(json.stdout) as { totalNodes: number; binding: string; summary: string; capacityFrom: unknown; options: { visitorsPerDay: number; bytesPerVisit: number; cdnHitRatio: number; nicMbps: number } };
  t.same([p.totalNodes, p.binding, p.capacityFrom], [5, 'cpu', null]);
  t.same(p.options, { ...p.options, visitorsPerDay: 8_640_000, bytesPerVisit: 1_250_000, cdnHitRatio: 0.9, nicMbps: 1000 });
  t.equal(p.summary, '5 Pis (4 for CPU at peak + 1 headroom); the binding limit is CPU');
});

t.test('the built CLI with --from', async (t) => {
  const base = ['plan', '--visitors', '8.64M', '--requests-per-visit', '10', '--bytes-per-visit', '1.25MB', '--cdn-hit-ratio', '0.9'];
  const dir = t.testdir({ 'broken.json': '{"schema": 1,' });
  const [from, explicit, json, missing, broken] = await Promise.all([
    runCli([...base, '--from', FIXTURE]),
    runCli([...base, '--from', FIXTURE, '--node-rps', '250']),
    runCli([...base, '--from', FIXTURE, '--json']),
    runCli([...base, '--from', join(dir, 'nope.json')]),
    runCli([...base, '--from', join(dir, 'broken.json')]),
  ]);
  t.equal(from.code, 0);
  // 82,352 x 0.6 = 49,411.2 usable; 500 / 49,411.2 = 0.01 -> 1; NIC 500 / 700 -> 1; 1 + 1 = 2.
  t.match(from.stdout, /82,352 req\/s measured x 60% target \(bench run "pi-origin 1KB" on Intel\(R\) Xeon\(R\) Processor, 2 cores\)/);
  t.match(from.stdout, /note: --from's run averaged 1\.38 kB responses, this plan 125 kB/);
  t.match(from.stdout, /note: capacity measured on Intel\(R\) Xeon\(R\) Processor, 2 cores: replace it with a run on a Pi 4/);
  t.match(from.stdout, /\nplan: 2 Pis \(1 for NIC at peak \+ 1 headroom\); the binding limit is NIC\n$/);

  t.equal(explicit.code, 0, '--node-rps given explicitly wins over --from');
  t.match(explicit.stdout, /\nplan: 5 Pis \(4 for CPU at peak \+ 1 headroom\)/);
  t.notMatch(explicit.stdout, /pi-origin 1KB/);

  const p = JSON.parse(json.stdout) as { options: { nodeReqPerSec: number }; capacityFrom: { run: string } };
  t.equal(p.options.nodeReqPerSec, 82_352);
  t.equal(p.capacityFrom.run, 'pi-origin 1KB');

  t.equal(missing.code, 1);
  t.equal(missing.stderr, `pi-origin: error: plan: --from ${join(dir, 'nope.json')}: cannot read it (ENOENT)\n`);
  t.equal(broken.code, 1);
  t.equal(broken.stderr, `pi-origin: error: plan: --from ${join(dir, 'broken.json')}: not JSON\n`);
});

t.test('the built CLI: usage errors are one line and exit 2', async (t) => {
  const ok = ['plan', '--visitors', '1M', '--requests-per-visit', '2', '--bytes-per-visit', '1MB'];
  const cases: [string[], string][] = [
    [[...ok, '--node-rps', '100', '--cdn-hit-ratio', '1.5'], '--cdn-hit-ratio must be from 0 to 1 (got 1.5)'],
    [[...ok, '--node-rps', '0'], '--node-rps must be greater than 0 (got 0)'],
    [[...ok, '--node-rps', '-5'], '--node-rps must be a rate like 15000 or 15k (got "-5")'],
    [[...ok, '--node-rps', '100', '--disk-mbps', 'fast'], '--disk-mbps must be a rate in Mbit/s like 320 or 40MB/s (got "fast")'],
    [[...ok, '--node-rps', '100', '--proxy-cores', '1.5'], '--proxy-cores must be a whole number of cores from 0 (no proxy) to 1024 (got 1.5)'],
    [[...ok, '--node-rps', '100', '--proxy-uplink-mbps', 'wide'], '--proxy-uplink-mbps must be a rate in Mbit/s like 1000 or 1Gbit (got "wide")'],
    [ok, '--node-rps is required (or --from REPORT.json)'],
    [['plan', '--requests-per-visit', '2'], '--visitors is required'],
    [[...ok, '--bogus'], 'unknown option --bogus'],
    [[...ok, 'extra'], 'unexpected argument "extra"'],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => {
    const [args, message] = cases[i] as [string[], string];
    t.equal(r.code, 2, args.join(' '));
    t.equal(r.stdout, '');
    t.equal(r.stderr, `pi-origin plan: ${message} (see pi-origin plan --help)\n`);
  });
});

t.test('the docs run the commands they show', async (t) => {
  // Every `pi-origin plan ...` command in docs/capacity.md runs and ends with the plan line the doc quotes.
  const doc = readFileSync(new URL('../docs/capacity.md', import.meta.url), 'utf8');
  // A ```sh block holding one command, then a ```text block ending with its plan line.
  const shown = [...doc.matchAll(/^pi-origin (plan [^\n]*(?:\\\n[^\n]*)*)\n```\n\n```text\n(?:(?!```)[^\n]*\n)*?(plan: [^\n]+)$/gm)];
  t.ok(shown.length >= 4, `docs/capacity.md shows plan commands with their results (${shown.length})`);
  for (const [, command, line] of shown) {
    const args = (command as string).replace(/\\\n/g, ' ').trim().split(/\s+/);
    const r = await runCli(args);
    t.equal(r.code, 0, args.join(' '));
    t.equal(r.stdout.trimEnd().split('\n').at(-1), line, `docs quote the result of ${args.slice(0, 4).join(' ')} ...`);
  }
});
