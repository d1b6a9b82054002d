/**
 * `pi-origin cluster dashboard`, its parts as units (TypeScript sources): the metrics text, the
 * rates, the majority release and down nodes, HAProxy's `show stat` CSV (parsed, and read from
 * a fake runtime API socket and a fake stats page), the report listing, the HTTP routes' guards,
 * and the command's argument errors through the built CLI.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseNodeAddress } from '../cluster/address.js';
import { listReports, MAX_REPORTS } from '../cluster/dashboard-reports.js';
import { buildView, bytesPerSecond, perSecond, type Reading } from '../cluster/dashboard-view.js';
import { nodeMetrics, rates, type Counted, type NodeMetrics } from '../cluster/node-metrics.js';
import { checkHost, route, type Site } from '../cluster/dashboard-http.js';
import type { ProxyServer } from '../cluster/dashboard-state.js';
import { parseShowStat, proxyState, readProxy, SHOW_STAT } from '../cluster/haproxy-stat.js';
import type { InventoryHost } from '../cluster/inventory.js';
import { parsePrometheusText, sumOf } from '../cluster/prometheus.js';
import type { NodeStatus } from '../cluster/node-probe.js';
import { nodeProbe, nodeStatus } from './helpers/node-status.js';
import { parseListen } from '../cli/cluster-dashboard.js';
import { runCli, start } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const R1 = 'aaaaaaaaaaaa';
const R2 = 'bbbbbbbbbbbb';

/** What a node's /_origin/metrics says (server/admin.ts), with these counters. */
function metricsText(m: Partial<Record<'c2xx' | 'c4xx' | 'c5xx' | 'bytes' | 'hits' | 'misses' | 'cache' | 'conns', number>> = {}): string {
  return [
    '# HELP pi_origin_http_requests_total Finished responses, by status code and method (GET, HEAD, other).',
    '# TYPE pi_origin_http_requests_total counter',
    `pi_origin_http_requests_total{code="200",method="GET"} ${m.c2xx ?? 0}`,
    'pi_origin_http_requests_total{code="304",method="GET"} 0',
    `pi_origin_http_requests_total{code="404",method="HEAD"} ${m.c4xx ?? 0}`,
    `pi_origin_http_requests_total{code="500",method="GET"} ${m.c5xx ?? 0}`,
    'pi_origin_http_requests_total{code="503",method="GET"} 0',
    '# TYPE pi_origin_http_response_bytes_total counter',
    `pi_origin_http_response_bytes_total ${m.bytes ?? 0}`,
    `pi_origin_cache_hits_total ${m.hits ?? 0}`,
    `pi_origin_cache_misses_total ${m.misses ?? 0}`,
    `pi_origin_cache_bytes ${m.cache ?? 0}`,
    'pi_origin_read_errors_total 0',
    'pi_origin_inflight_responses 0',
    `pi_origin_active_connections ${m.conns ?? 0}`,
    'pi_origin_release_info{release="5465a1a40e71"} 1',
    '',
  ].join('\n');
}

t.test('Prometheus text: samples, labels with escapes, special values, bad lines', (t) => {
  const samples = parsePrometheusText(metricsText({ c2xx: 7, c5xx: 2, bytes: 1234 }));
  if (typeof samples === 'string') throw new Error(samples);
  t.equal(samples.length, 13, 'every sample line, no comment');
  t.same(samples[0], { name: 'pi_origin_http_requests_total', labels: { code: '200', method: 'GET' }, value: 7 });
  t.same(samples[12], { name: 'pi_origin_release_info', labels: { release: '5465a1a40e71' }, value: 1 });
  t.equal(sumOf(samples, 'pi_origin_http_requests_total'), 9);
  t.equal(sumOf(samples, 'pi_origin_http_requests_total', { code: '500' }), 2);
  t.equal(sumOf(samples, 'nope'), undefined);
  t.same(parsePrometheusText('a{l="x\\"y\\\\z\\n",m="}"} 1.5e3 1700000000000\nb +Inf\nc NaN\nd -2\n'), [
    { name: 'a', labels: { l: 'x"y\\z\n', m: '}' }, value: 1500 },
    { name: 'b', labels: {}, value: Infinity },
    { name: 'c', labels: {}, value: Number.NaN },
    { name: 'd', labels: {}, value: -2 },
  ]);
  t.same(parsePrometheusText('e Nan\nf -inf\n'), [
    { name: 'e', labels: {}, value: Number.NaN },
    { name: 'f', labels: {}, value: -Infinity },
  ], 'special values in any case, as Prometheus reads them (prom-client writes Nan)');
  t.equal(parsePrometheusText('ok 1\n<html>\n'), 'invalid metrics (line 2)');
  t.equal(parsePrometheusText('a{l="x" m="y"} 1'), 'invalid metrics (line 1)', 'labels need commas');
  t.equal(parsePrometheusText('a 12abc'), 'invalid metrics (line 1)');
  t.end();
});

t.test('a node\'s metrics: requests of every code and method, 5xx as errors, a missing family named', (t) => {
  t.same(nodeMetrics(metricsText({ c2xx: 10, c4xx: 3, c5xx: 2, bytes: 5000, hits: 8, misses: 2, cache: 4096, conns: 3 })), {
    requests: 15,
    errors: 2,
    bytesOut: 5000,
    cacheHits: 8,
    cacheMisses: 2,
    cacheBytes: 4096,
    connections: 3,
  });
  t.equal(nodeMetrics(metricsText().replace(/^pi_origin_http_response_bytes_total.*$/m, '')), 'metrics without bytesOut');
  t.equal(nodeMetrics('<html>hello</html>'), 'invalid metrics (line 1)');
  t.end();
});

const M0: NodeMetrics = { requests: 100, errors: 1, bytesOut: 1e6, cacheHits: 90, cacheMisses: 10, cacheBytes: 5e5, connections: 2 };
const counted = (at: number, uptimeSeconds: number, m: Partial<NodeMetrics> = {}): Counted => ({ at, uptimeSeconds, metrics: { ...M0, ...m } });

t.test('rates are counter differences over the time between two readings', (t) => {
  t.same(rates(counted(1000, 60), counted(3000, 62, { requests: 300, errors: 5, bytesOut: 3e6, cacheHits: 180, cacheMisses: 40 })), {
    requestsPerSecond: 100,
    bytesPerSecond: 1e6,
    errorsPerSecond: 2,
    cacheHitRatio: 0.75,
  });
  t.same(rates(counted(1000, 60), counted(1500, 60)), { requestsPerSecond: 0, bytesPerSecond: 0, errorsPerSecond: 0, cacheHitRatio: null }, 'no lookups: no ratio');
  t.equal(rates(counted(1000, 60), counted(1000, 60)), undefined, 'no time passed: no rate');
  // Restarts: a counter went down, or the node is younger than the gap between the readings.
  t.same(rates(counted(0, 600), counted(10_000, 5, { requests: 40, errors: 0, bytesOut: 2e5, cacheHits: 3, cacheMisses: 1 })), {
    requestsPerSecond: 4,
    bytesPerSecond: 2e4,
    errorsPerSecond: 0,
    cacheHitRatio: 0.75,
  });
  t.same(rates(counted(0, 600), counted(10_000, 3, { requests: 200 }))?.requestsPerSecond, 20, 'restarted and already past the old count: all of it is new');
  t.end();
});

function host(name: string, port = 8080, address = 'fd00:cafe::11'): InventoryHost {
  return { name, address: parseNodeAddress(address) ?? (undefined as never), port, vars: {} };
}
function reading(h: InventoryHost, at: number, s: NodeStatus | string, m: NodeMetrics | string = M0): Reading {
  return { host: h, probe: nodeProbe(h.name, s, h.address.text, h.port), metrics: m, at, wall: Date.UTC(2026, 4, 1, 12, 0, at / 1000) };
}

t.test('the view: rows in inventory order, the majority release, the odd node, down nodes', (t) => {
  const [a, b, c, d] = [host('pi1', 8080, 'fd00:cafe:0:0::11'), host('pi2', 8080, 'fd00:cafe::12'), host('pi3', 8081, 'fd00:cafe::13'), host('pi4', 8080, 'fd00:cafe::14')];
  const first = buildView([reading(a, 0, nodeStatus(R1)), reading(b, 0, nodeStatus(R1)), reading(c, 0, nodeStatus(R2)), reading(d, 0, 'refused')], new Map(), null);
  t.same(first.nodes.map((n) => [n.name, n.address, n.up, n.health, n.release, n.releaseAgrees]), [
    ['pi1', 'fd00:cafe::11', true, 'ok', R1, true],
    ['pi2', 'fd00:cafe::12', true, 'ok', R1, true],
    ['pi3', 'fd00:cafe::13', true, 'ok', R2, false],
    ['pi4', 'fd00:cafe::14', false, 'down', null, true],
  ]);
  t.same(first.nodes.map((n) => n.requestsPerSecond), [null, null, null, null], 'no rate from one reading');
  t.same(first.nodes[0]?.text, { uptime: '10m', requests: '…', bytes: '…', errors: '…', cache: '0.5 MiB' });
  t.same(first.nodes[3]?.text, { uptime: '–', requests: '–', bytes: '–', errors: '–', cache: '–' });
  t.equal(first.nodes[3]?.error, 'refused');
  t.equal(first.nodes[3]?.lastSeen, null, 'never answered');
  t.same(first.cluster.release, { id: R1, nodes: 2 });
  t.same(first.cluster.releases, { [R1]: ['pi1', 'pi2'], [R2]: ['pi3'] });
  t.equal(first.cluster.summary, `3/4 up; releases disagree: ${R1} on pi1,pi2; ${R2} on pi3`);
  t.same([first.cluster.up, first.cluster.total, first.cluster.requestsPerSecond, first.cluster.bitsPerSecond], [3, 4, 0, 0]);

  // Two seconds later: pi1 served 200 requests (2 of them 5xx) and 2 MB; pi2 stopped answering.
  const more = { ...M0, requests: 300, errors: 3, bytesOut: 3e6, cacheHits: 190, cacheMisses: 110 };
  const second = buildView([reading(a, 2000, nodeStatus(R1, { uptimeSeconds: 602 }), more), reading(b, 2000, 'timeout'), reading(c, 2000, nodeStatus(R2, { uptimeSeconds: 602 })), reading(d, 2000, 'refused')], first.memory, null);
  const [n1, n2, n3] = second.nodes;
  t.same([n1?.requestsPerSecond, n1?.bytesPerSecond, n1?.errorsPerSecond, n1?.cacheHitRatio], [100, 1e6, 1, 0.5]);
  t.same(n1?.text, { uptime: '10m', requests: '100', bytes: '1.00 MB/s', errors: '1.0', cache: '0.5 MiB · 50% hits' });
  t.same([n2?.up, n2?.error, n2?.lastSeen], [false, 'timeout', '2026-05-01T12:00:00.000Z'], 'down with the last error and when it last answered');
  t.equal(n3?.requestsPerSecond, 0);
  t.same([second.cluster.requestsPerSecond, second.cluster.bitsPerSecond], [100, 8e6]);
  // One node each on R1 and R2 now: no majority, so both stand out.
  t.equal(second.cluster.release, null);
  t.same(second.nodes.filter((n) => n.up).map((n) => n.releaseAgrees), [false, false]);

  // pi2 is back (restarted): its rate counts from zero, against the reading kept from before it went down.
  const memory = second.memory;
  t.equal(memory.get('pi2')?.counted?.at, 0, 'the last good reading is kept while a node is down');
  const third = buildView([reading(b, 4000, nodeStatus(R1, { uptimeSeconds: 1 }), { ...M0, requests: 8, errors: 0, bytesOut: 4000, cacheHits: 0, cacheMisses: 0 })], memory, null);
  t.equal(third.nodes[0]?.requestsPerSecond, 2, '8 requests since the restart, over 4 s');
  t.end();
});

t.test('the view: metrics that fail leave the node up without rates; proxy state by server name', (t) => {
  const proxy: ProxyServer[] = [{ backend: 'origins', server: 'pi2', state: 'DRAIN', status: 'DRAIN', check: 'L7OK', sessions: 0, lastChangeSeconds: 4 }];
  const v = buildView([reading(host('pi1'), 0, nodeStatus(R1, { cacheBytes: 4096 }), 'metrics: HTTP 404 (not in --admin-allow?)'), reading(host('pi2'), 0, nodeStatus(R1, { health: 'draining' }))], new Map(), proxy);
  t.same([v.nodes[0]?.up, v.nodes[0]?.error, v.nodes[0]?.cacheBytes], [true, 'metrics: HTTP 404 (not in --admin-allow?)', 4096], 'cache use from the status instead');
  t.equal(v.nodes[0]?.proxy, null, 'not at the proxy');
  t.equal(v.nodes[1]?.proxy?.state, 'DRAIN');
  t.equal(v.nodes[1]?.health, 'draining');
  t.equal(v.cluster.summary, `2/2 up, release ${R1} on all; not ok: pi2 (draining)`);
  t.same(buildView([reading(host('pi1'), 0, 'refused')], new Map(), null).cluster.release, null, 'nobody up: no release');
  t.end();
});

t.test('display units', (t) => {
  t.same([0, 0.04, 12.345, 99.95, 1234.5].map(perSecond), ['0', '0.0', '12.3', '100.0', '1,235']);
  t.same([0, 999, 1000, 12_345, 4_560_000, 2.5e9, 3e12].map(bytesPerSecond), ['0 B/s', '999 B/s', '1.00 kB/s', '12.3 kB/s', '4.56 MB/s', '2.50 GB/s', '3000 GB/s']);
  t.end();
});

/** Captured from HAProxy 2.6.12 (`show stat -1 4 -1`): node1 drained, node2 refused, node3 disabled. Columns after addr cut. */
const SHOW_STAT_26 = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,',
  'origins,node1,0,0,3,5,,17,0,0,,0,,0,0,0,0,DRAIN,1,1,0,1,1,1,2,,1,3,1,,0,,2,0,,0,L7OK,200,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,2,2,3,,,,[::1]:18081,',
  'origins,node2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,2,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,2,0,,,,[::1]:18082,',
  'origins,node3,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,1,1,2,2,,1,3,3,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,[::1]:18083,',
  '',
  '',
].join('\n');

t.test('HAProxy show stat: server rows, states, the header checked', (t) => {
  t.same(parseShowStat(SHOW_STAT_26), [
    { backend: 'origins', server: 'node1', state: 'DRAIN', status: 'DRAIN', check: 'L7OK', sessions: 3, lastChangeSeconds: 1 },
    { backend: 'origins', server: 'node2', state: 'DOWN', status: 'DOWN', check: 'L4CON', sessions: 0, lastChangeSeconds: 2 },
    { backend: 'origins', server: 'node3', state: 'MAINT', status: 'MAINT', check: '', sessions: 0, lastChangeSeconds: 2 },
  ]);
  // The stats page's CSV has frontends and backends too, and may quote a field.
  const page = ['# pxname,svname,scur,status,lastchg,check_status,type', 'www,FRONTEND,0,OPEN,,,0', 'origins,"odd,name",1,UP 1/2,9,* L7OK,2', 'origins,BACKEND,1,UP,9,,1'].join('\r\n');
  t.same(parseShowStat(page), [{ backend: 'origins', server: 'odd,name', state: 'UP', status: 'UP 1/2', check: 'L7OK', sessions: 1, lastChangeSeconds: 9 }]);
  t.equal(parseShowStat('Unknown command.\n'), 'not a show stat answer: "Unknown command."');
  t.equal(parseShowStat('# pxname,svname,scur\n'), 'not a show stat answer: no status column');
  t.same(['UP', 'UP 1/3', 'DOWN 1/2', 'NOLB', 'DRAIN (agent)', 'MAINT(via)', 'MAINT (resolution)', 'no check', 'OPEN', ''].map(proxyState), ['UP', 'UP', 'DOWN', 'NOLB', 'DRAIN', 'MAINT', 'MAINT', 'NO CHECK', 'OTHER', 'OTHER']);
  t.end();
});

/** A runtime API socket that answers `show stat` like HAProxy (or not at all). */
async function fakeRuntimeApi(t: Test, answer: ((command: string, s: Socket) => void) | undefined): Promise<{ path: string; commands: string[] }> {
  // Not in t.testdir(): a unix socket path must stay under 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'pid-sock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'admin.sock');
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString();
      if (!text.endsWith('\n')) return;
      commands.push(text);
      answer?.(text, s);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { path, commands };
}

t.test('HAProxy over a runtime API socket: one show stat, the answer read to the close', async (t) => {
  const api = await fakeRuntimeApi(t, (_, s) => {
    // In pieces, as a large answer arrives.
    s.write(SHOW_STAT_26.slice(0, 700));
    setTimeout(() => s.end(SHOW_STAT_26.slice(700)), 20);
  });
  const servers = await readProxy({ kind: 'socket', path: api.path }, 2000);
  t.same(Array.isArray(servers) ? servers.map((s) => `${s.server} ${s.state}`) : servers, ['node1 DRAIN', 'node2 DOWN', 'node3 MAINT']);
  t.same(api.commands, [SHOW_STAT], 'exactly one read-only command');

  const silent = await fakeRuntimeApi(t, undefined);
  const started = Date.now();
  t.equal(await readProxy({ kind: 'socket', path: silent.path }, 300), 'timeout');
  t.ok(Date.now() - started >= 290, 'not before the deadline (the socket never answers: resolving at all is the deadline)');
  t.equal(await readProxy({ kind: 'socket', path: join(tmpdir(), `pid-missing-${process.pid}.sock`) }, 300), 'no such socket');
  const stopper = new AbortController();
  const pending = readProxy({ kind: 'socket', path: silent.path }, 5000, stopper.signal);
  stopper.abort();
  t.equal(await pending, 'stopped');
});

t.test('HAProxy from a stats page CSV URL', async (t) => {
  const server = createHttpServer((req, res) => {
    if (req.url === '/stats;csv') res.writeHead(200, { 'Content-Type': 'text/plain' }).end(SHOW_STAT_26);
    else res.writeHead(404).end('no');
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const servers = await readProxy({ kind: 'url', url: new URL(`http://[::1]:${port}/stats;csv`) }, 2000);
  t.same(Array.isArray(servers) ? servers.map((s) => s.server) : servers, ['node1', 'node2', 'node3']);
  t.equal(await readProxy({ kind: 'url', url: new URL(`http://[::1]:${port}/stats`) }, 2000), 'HTTP 404');
});

t.test('reports: gate and bench files only, newest first, with their JSON', (t) => {
  const dir = t.testdir({ out: {}, lt: {} });
  const out = join(dir, 'out');
  const lt = join(dir, 'lt');
  const file = (d: string, name: string, minutesAgo: number): void => {
    writeFileSync(join(d, name), '<!doctype html><title>r</title>');
    const when = new Date(Date.UTC(2026, 4, 1, 12, 0) - minutesAgo * 60_000);
    utimesSync(join(d, name), when, when);
  };
  file(out, 'gate-2026-05-01T11-00-00-000Z.html', 60);
  file(out, 'gate-2026-05-01T11-00-00-000Z.json', 60);
  file(out, 'gate-latest.html', 1);
  file(out, 'RESULTS.md', 0);
  file(out, 'notes.html', 0);
  file(lt, 'bench-report.html', 30);
  mkdirSync(join(lt, 'gate-dir.html'));
  const reports = listReports([out, lt, join(dir, 'missing')]);
  t.same(
    reports.map((r) => [r.kind, r.name, r.href, r.jsonHref, r.modified]),
    [
      ['gate', 'gate-latest.html', '/reports/0/gate-latest.html', null, '2026-05-01T11:59:00.000Z'],
      ['bench', 'bench-report.html', '/reports/1/bench-report.html', null, '2026-05-01T11:30:00.000Z'],
      ['gate', 'gate-2026-05-01T11-00-00-000Z.html', '/reports/0/gate-2026-05-01T11-00-00-000Z.html', '/reports/0/gate-2026-05-01T11-00-00-000Z.json', '2026-05-01T11:00:00.000Z'],
    ],
  );
  for (let i = 0; i < MAX_REPORTS + 3; i++) file(out, `gate-2026-04-0${(i % 9) + 1}T0${i % 10}-00-00-${String(i).padStart(3, '0')}Z.html`, 120 + i);
  t.equal(listReports([out]).length, MAX_REPORTS, 'at most MAX_REPORTS');
  t.end();
});

t.test('HTTP: Host must be an address or localhost; GET and HEAD only; reports only by their names', async (t) => {
  t.equal(checkHost('[::1]:8090'), undefined);
  t.equal(checkHost('[fd00:cafe::1]'), undefined);
  t.equal(checkHost('127.0.0.1:8090'), undefined);
  t.equal(checkHost('localhost:8090'), undefined);
  t.equal(checkHost('LOCALHOST'), undefined);
  for (const bad of ['evil.example', 'evil.example:8090', '[evil]:80', '[::1]x', '::1', '1.2.3.4.5', 'localhost.evil.example']) t.equal(checkHost(bad)?.status, 421, `Host ${bad} refused`);
  t.equal(checkHost(undefined)?.status, 400);

  const dir = t.testdir({ 'gate-latest.html': '<p>gate</p>', 'gate-latest.json': '{}', 'secret.html': 'no', sub: { 'bench-report.html': 'no' } });
  const site: Site = { dashboard: { stateJson: () => '{"ok":true}' }, page: { html: '<p>page</p>', csp: "default-src 'none'" }, reportDirs: [dir] };
  const ask = (url: string, method = 'GET', hostHeader = '[::1]:8090') => route(site, { url, method, headers: { host: hostHeader } } as unknown as IncomingMessage);
  const page = await ask('/');
  t.same([page.status, page.type, page.body, page.headers], [200, 'text/html; charset=utf-8', '<p>page</p>', { 'Content-Security-Policy': "default-src 'none'" }]);
  t.same([(await ask('/api/state?x=1')).status, (await ask('/api/state')).body], [200, '{"ok":true}']);
  t.equal((await ask('/', 'POST')).status, 405);
  t.same((await ask('/', 'POST')).headers, { Allow: 'GET, HEAD' });
  t.equal((await ask('/', 'GET', 'rebind.example')).status, 421, 'the Host check comes first');
  const report = await ask('/reports/0/gate-latest.html');
  t.same([report.status, String(report.body), report.headers?.['Content-Security-Policy']], [200, '<p>gate</p>', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"]);
  t.equal((await ask('/reports/0/gate-latest.json')).type, 'application/json; charset=utf-8');
  for (const bad of ['/reports/0/secret.html', '/reports/1/gate-latest.html', '/reports/0/..%2Fgate-latest.html', '/reports/0/sub%2Fbench-report.html', '/reports/0/sub/bench-report.html', '/reports/0/%E0%A4%A', '/reports/0/gate-missing.html', '/reports/x/gate-latest.html', '/etc/passwd'])
    t.equal((await ask(bad)).status, 404, `${bad}: 404`);
  const early: Site = { ...site, dashboard: { stateJson: () => '' } };
  t.equal((await route(early, { url: '/api/state', method: 'GET', headers: { host: 'localhost' } } as unknown as IncomingMessage)).status, 503, 'before the first poll');
});

t.test('--listen: bracketed IPv6 or IPv4 with a port; loopback told apart', (t) => {
  t.same(parseListen('[::1]:8090'), { host: '::1', port: 8090, text: '[::1]:8090', loopback: true });
  t.same(parseListen('[0:0::1]:0'), { host: '::1', port: 0, text: '[::1]:0', loopback: true });
  t.same(parseListen('127.0.0.2:80'), { host: '127.0.0.2', port: 80, text: '127.0.0.2:80', loopback: true });
  t.same(parseListen('[::]:8090'), { host: '::', port: 8090, text: '[::]:8090', loopback: false });
  t.same(parseListen('[FD00:CAFE::1]:8090').text, '[fd00:cafe::1]:8090');
  for (const bad of ['::1:8090', '[::1]', 'localhost:8090', '[127.0.0.1]:80', '::1', '[::1]:99999', '[fe80::1%eth0]:80', '1.2.3:80'])
    t.throws(() => parseListen(bad), { message: /^--listen must be \[IPv6\]:PORT or IPv4:PORT/ }, bad);
  t.end();
});

t.test('the command refuses bad arguments before it listens', async (t) => {
  const dir = t.testdir({ 'hosts.ini': '[origins]\npi1 ansible_host=::1 origin_node_port=1\n', 'bad.ini': '[origins]\npi1 ansible_host=[::1]\n' });
  const inv = join(dir, 'hosts.ini');
  const cases: [string[], number, RegExp][] = [
    [[], 2, /^pi-origin cluster dashboard: --inventory FILE is required \(see pi-origin cluster dashboard --help\)\n$/],
    [['-i', inv, '--interval', '100ms'], 2, /--interval must be from 200ms to 5m \(got "100ms"\)/],
    [['-i', inv, '--interval', 'soon'], 2, /--interval must be a duration/],
    [['-i', inv, '--timeout', '0'], 2, /--timeout must be a duration from 1ms to 5m/],
    [['-i', inv, '--listen', 'localhost:8090'], 2, /--listen must be \[IPv6\]:PORT or IPv4:PORT/],
    [['-i', inv, '--haproxy-socket', 'a', '--haproxy-stats', 'http://[::1]/'], 2, /give --haproxy-socket or --haproxy-stats, not both/],
    [['-i', inv, '--haproxy-stats', 'ftp://x/'], 2, /--haproxy-stats must be an http:\/\/ or https:\/\/ URL/],
    [['-i', inv, '--reports', join(dir, 'nope')], 2, /--reports .*nope is not a directory/],
    [['-i', join(dir, 'bad.ini')], 1, /bad\.ini:2: host pi1: ansible_host "\[::1\]" is not an IPv6 or IPv4 literal or a host name \(write IPv6 literals without brackets\)/],
    [['-i', inv, '--group', 'web'], 1, /no group "web"/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(['cluster', 'dashboard', ...args])));
  for (const [i, [args, code, message]] of cases.entries()) {
    const r = results[i] as Awaited<ReturnType<typeof runCli>>;
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.match(r.stderr, message);
    t.equal(r.stdout, '', 'nothing on stdout: it never started');
  }
  const help = await runCli(['cluster', 'dashboard', '--help']);
  t.equal(help.code, 0);
  for (const flag of ['--inventory', '--listen', '--group', '--interval', '--timeout', '--haproxy-socket', '--haproxy-stats', '--reports']) t.match(help.stdout, flag, `--help documents ${flag}`);
});

t.test('the command: a port in use exits 1; a non-loopback --listen warns; SIGINT stops it', async (t) => {
  const dir = t.testdir({ 'hosts.ini': '[origins]\npi1 ansible_host=::1 origin_node_port=1\n' });
  const inv = join(dir, 'hosts.ini');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '::1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const busy = await runCli(['cluster', 'dashboard', '-i', inv, '--listen', `[::1]:${port}`]);
  t.equal(busy.code, 1);
  t.equal(busy.stderr, `pi-origin: error: [::1]:${port} is already in use (another dashboard? pick a port with --listen)\n`);

  const p = start(['cluster', 'dashboard', '-i', inv, '--listen', '[::]:0', '--interval', '200ms']);
  t.teardown(() => void p.child.kill('SIGKILL'));
  const url = await waitFor('the listening line', () => /^pi-origin: listening on (http:\/\/\[::\]:\d+\/)$/m.exec(p.stdout())?.[1], 15_000);
  t.equal(p.stderr(), 'pi-origin: warning: --listen [::]:0 is not loopback: anyone who reaches it sees node addresses, releases and counters (there is no login)\n');
  const state = (await (await fetch(url.replace('[::]', '[::1]') + 'api/state')).json()) as { nodes: { name: string; up: boolean; error: string }[] };
  t.same(state.nodes.map((n) => [n.name, n.up, n.error]), [['pi1', false, 'refused']], 'polling: port 1 refuses');
  p.child.kill('SIGINT');
  const exit = await p.result;
  t.equal(exit.code, 0, 'SIGINT: exit 0');
  t.match(exit.stdout, /pi-origin: dashboard stopped \(SIGINT\)\n$/);
});
