/**
 * /_origin/metrics and the logs as operators consume them (issue 14 items 3 and 5): exact series
 * and values against a real node on a real socket, the output checked by Debian's promtool, a
 * response the client aborted counted and logged once, the JSON access log's fields, syslog
 * priorities on stderr when it is the journal, and an access log that cannot be opened.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { isJournalStream } from '../dist/server/log-lines.js';
import { ResponseClock } from '../dist/server/metrics.js';
import { nodeMetrics } from '../dist/cluster/node-metrics.js';
import { parsePrometheusText, sumOf } from '../dist/cluster/prometheus.js';
import { cleanEnv, listeningPort, MAIN, runCli, start } from './helpers/cli.js';
import { request, startServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const BIG = 48 * 1024 * 1024;
const base = t.testdir({ site: { 'a.txt': 'hello\n', 'b.txt': 'bbbb\n' }, logs: {} });
const site = join(base, 'site');
// Large enough that a client that stops reading leaves the response in flight (socket buffers are a few MiB).
closeSync(openSync(join(site, 'big.bin'), 'w'));
spawnSync('truncate', ['-s', String(BIG), join(site, 'big.bin')]);

async function scrape(port: number): Promise<string> {
  const r = await request(port, '/_origin/metrics');
  if (r.status !== 200) throw new Error(`metrics: ${r.status}`);
  return r.body.toString();
}

function series(text: string, name: string, labels: Record<string, string> = {}): number {
  const samples = parsePrometheusText(text);
  if (typeof samples === 'string') throw new Error(samples);
  return sumOf(samples, name, labels) ?? 0;
}

const DURATION = 'pi_origin_http_response_duration_seconds';

t.test('requests by code and method, the histogram and bytes move by exactly what was sent; promtool accepts the output', async (t) => {
  const { port, node } = await startServer(t, site, { workers: '2' });
  const before = await scrape(port);
  // Connection: close on each: SO_REUSEPORT spreads them over both workers, whose slots are summed.
  for (let i = 0; i < 5; i++) t.equal((await request(port, '/a.txt')).status, 200);
  for (let i = 0; i < 3; i++) t.equal((await request(port, '/a.txt', { method: 'HEAD' })).status, 200);
  t.equal((await request(port, '/nope')).status, 404);
  t.equal((await request(port, '/a.txt', { method: 'POST' })).status, 405);
  t.equal((await request(port, '/a.txt', { headers: { 'If-None-Match': (await request(port, '/a.txt')).headers['etag'] ?? '' } })).status, 304);
  const after = await scrape(port);
  const delta = (name: string, labels: Record<string, string> = {}): number => series(after, name, labels) - series(before, name, labels);
  // The first scrape is counted once it finished: one more 200 GET than the loop sent.
  t.equal(delta('pi_origin_http_requests_total', { code: '200', method: 'GET' }), 5 + 1 + 1, '200 GET: five, the ETag fetch, the first scrape');
  t.equal(delta('pi_origin_http_requests_total', { code: '200', method: 'HEAD' }), 3, '200 HEAD');
  t.equal(delta('pi_origin_http_requests_total', { code: '404', method: 'GET' }), 1, '404 GET');
  t.equal(delta('pi_origin_http_requests_total', { code: '405', method: 'other' }), 1, 'POST is "other"');
  t.equal(delta('pi_origin_http_requests_total', { code: '304', method: 'GET' }), 1, '304 GET');
  t.equal(delta('pi_origin_http_requests_total'), 13, 'nothing else');
  t.equal(delta(`${DURATION}_count`), 13, 'every finished response in the histogram');
  t.equal(delta(`${DURATION}_bucket`, { le: '+Inf' }), 13, '+Inf bucket = count');
  t.ok(delta(`${DURATION}_sum`) > 0, 'durations summed');
  t.equal(delta('pi_origin_http_response_bytes_total'), 6 * 'hello\n'.length + '404 Not Found\n'.length + '405 Method Not Allowed\n'.length, 'body bytes: 6 x a.txt, the 404 and 405 texts (admin answers count none)');
  t.equal(series(after, 'pi_origin_http_responses_aborted_total'), 0);

  const samples = parsePrometheusText(after);
  if (typeof samples === 'string') throw new Error(samples);
  const buckets = samples.filter((s) => s.name === `${DURATION}_bucket`);
  t.same(buckets.map((s) => s.labels['le']), ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'], 'the contract\'s buckets');
  t.ok(buckets.every((s, i) => i === 0 || s.value >= (buckets[i - 1]?.value ?? 0)), 'cumulative');
  t.same(samples.filter((s) => s.name === 'pi_origin_release_info'), [{ name: 'pi_origin_release_info', labels: { release: node.releaseId() }, value: 1 }]);
  const build = samples.filter((s) => s.name === 'pi_origin_build_info');
  t.same(build.map((s) => Object.keys(s.labels).sort()), [['arch', 'node', 'uws', 'version']]);
  t.same([build[0]?.labels['node'], build[0]?.labels['arch'], build[0]?.value], [process.versions.node, process.arch, 1]);
  for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_cpu_seconds_total', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds'])
    t.ok(samples.some((s) => s.name === name), `${name} present`);
  t.ok(Math.abs(series(after, 'process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 5, 'start time is the process\'s, not the worker\'s');
  t.same(series(after, 'pi_origin_workers_serving'), 2);
  t.same(nodeMetrics(after), { requests: series(after, 'pi_origin_http_requests_total'), errors: 0, bytesOut: series(after, 'pi_origin_http_response_bytes_total'), cacheHits: series(after, 'pi_origin_cache_hits_total'), cacheMisses: series(after, 'pi_origin_cache_misses_total'), cacheBytes: series(after, 'pi_origin_cache_bytes'), connections: series(after, 'pi_origin_active_connections') }, 'cluster status and the dashboard read the real output');

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: after, encoding: 'utf8' });
  t.equal(promtool.error, undefined, 'promtool is installed (Debian package prometheus, .ci/run)');
  t.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  t.equal(promtool.stdout + promtool.stderr, '', 'no lint complaint either');
});

/** A GET whose client reads the head, then stops reading, then goes away. */
function abandonedGet(port: number, path: string): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: origin.test\r\nUser-Agent: leaver\r\n\r\n`));
    s.once('error', reject);
    s.once('data', () => {
      s.pause();
      resolve(() => s.destroy());
    });
  });
}

t.test('a response the client aborted is counted once, not as finished, and logged with aborted: true', async (t) => {
  const log = join(base, 'logs', 'aborted.json');
  const { port, node } = await startServer(t, site, { accessLog: log, logFormat: 'json' });
  const before = await scrape(port);
  const leave = await abandonedGet(port, '/big.bin');
  await waitFor('the download to be in flight', async () => (series(await scrape(port), 'pi_origin_inflight_responses') === 1 ? true : undefined));
  leave();
  const after = await waitFor('the abort to be counted', async () => {
    const m = await scrape(port);
    return series(m, 'pi_origin_inflight_responses') === 0 ? m : undefined;
  });
  t.equal(series(after, 'pi_origin_http_responses_aborted_total') - series(before, 'pi_origin_http_responses_aborted_total'), 1, 'aborted once');
  // Only the scrapes finished: before, the in-flight polls, the final one not yet.
  const scrapes = series(after, 'pi_origin_http_requests_total', { code: '200', method: 'GET' }) - series(before, 'pi_origin_http_requests_total', { code: '200', method: 'GET' });
  t.equal(series(after, 'pi_origin_http_requests_total') - series(before, 'pi_origin_http_requests_total'), scrapes, 'the aborted download is not a finished response');
  t.equal(series(after, `${DURATION}_count`) - series(before, `${DURATION}_count`), scrapes, 'nor in the histogram');
  const sent = series(after, 'pi_origin_http_response_bytes_total') - series(before, 'pi_origin_http_response_bytes_total');
  t.ok(sent > 0 && sent < BIG, `the bytes it got before it left are counted (${sent})`);
  await node.close();
  const lines = readFileSync(log, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const big = lines.filter((l) => l['target'] === '/big.bin');
  t.equal(big.length, 1, 'logged once');
  const line = { ...big[0] };
  t.ok(typeof line['durationMs'] === 'number' && (line['durationMs']) > 0, 'duration up to the abort');
  t.ok(!Number.isNaN(Date.parse(line['time'] as string)));
  delete line['time'];
  delete line['durationMs'];
  t.same(line, { client: '::1', method: 'GET', host: 'origin.test', target: '/big.bin', protocol: 'HTTP/1.1', scheme: 'http', status: 200, bytes: sent, release: node.releaseId(), encoding: 'identity', cache: 'stream', aborted: true, referer: '', userAgent: 'leaver' });
});

t.test('the JSON access log: every field, in order, for a miss, a hit, a HEAD and a 404', async (t) => {
  const log = join(base, 'logs', 'fields.json');
  const { port, node } = await startServer(t, site, { accessLog: log, logFormat: 'json' });
  await request(port, '/b.txt?v=1', { headers: { 'User-Agent': 'ua', Referer: 'http://r.test/', Host: 'www.example.test' } });
  await request(port, '/b.txt');
  await request(port, '/b.txt', { method: 'HEAD' });
  await request(port, '/nope');
  await node.close();
  const lines = readFileSync(log, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const l of parsed) {
    t.ok(typeof l['durationMs'] === 'number' && (l['durationMs']) >= 0, 'durationMs is a number of milliseconds');
    t.same(Object.keys(l), ['time', 'client', 'method', 'host', 'target', 'protocol', 'scheme', 'status', 'bytes', 'durationMs', 'release', 'encoding', 'cache', 'aborted', 'referer', 'userAgent'], 'fields in a fixed order');
  }
  const strip = (l: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'time' && k !== 'durationMs'));
  const r = node.releaseId();
  t.same(parsed.map(strip), [
    { client: '::1', method: 'GET', host: 'www.example.test', target: '/b.txt?v=1', protocol: 'HTTP/1.1', scheme: 'http', status: 200, bytes: 5, release: r, encoding: 'identity', cache: 'miss', aborted: false, referer: 'http://r.test/', userAgent: 'ua' },
    { client: '::1', method: 'GET', host: 'origin.test', target: '/b.txt', protocol: 'HTTP/1.1', scheme: 'http', status: 200, bytes: 5, release: r, encoding: 'identity', cache: 'hit', aborted: false, referer: '', userAgent: '' },
    { client: '::1', method: 'HEAD', host: 'origin.test', target: '/b.txt', protocol: 'HTTP/1.1', scheme: 'http', status: 200, bytes: 0, release: r, encoding: 'identity', cache: null, aborted: false, referer: '', userAgent: '' },
    { client: '::1', method: 'GET', host: 'origin.test', target: '/nope', protocol: 'HTTP/1.1', scheme: 'http', status: 404, bytes: 14, release: r, encoding: null, cache: null, aborted: false, referer: '', userAgent: '' },
  ]);
});

t.test('an access log that cannot be opened stops the start, naming --access-log and the path', async (t) => {
  const path = join(base, 'no-such-dir', 'access.log');
  const r = await runCli(['serve', site, '--listen', '[::1]:0', '--access-log', path]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr, `pi-origin: error: --access-log: cannot open ${path}: ENOENT\n`);
});

/** Runs `serve` with stderr on a file that JOURNAL_STREAM names, as systemd does for the journal. */
async function serveToJournal(errFile: string, args: readonly string[], stop: boolean): Promise<string> {
  const fd = openSync(errFile, 'w');
  const st = fstatSync(fd);
  const child = spawn(process.execPath, [MAIN, 'serve', ...args], { env: cleanEnv({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }), stdio: ['ignore', 'pipe', fd] });
  closeSync(fd);
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const exited = once(child, 'exit');
  if (stop) {
    await waitFor('serving', () => (/listening on/.test(stdout) ? true : undefined), 30_000);
    child.kill('SIGTERM');
  }
  await exited;
  return readFileSync(errFile, 'utf8');
}

t.test('stderr on the journal: one line per event, each with its syslog priority', async (t) => {
  const dir = t.testdir({ 'a.txt': 'a\n' });
  symlinkSync('/etc/hostname', join(dir, 'out'));
  const lines = (await serveToJournal(join(base, 'logs', 'stderr-1'), [dir, '--listen', '[::1]:0', '--workers', '1'], true)).split('\n');
  t.equal(lines.pop(), '');
  t.match(lines[0], /^<4>pi-origin: warning: skipped 1 entries .*out$/, 'a warning is <4>');
  t.same(lines.slice(1), ['<6>pi-origin: SIGTERM: draining', '<6>pi-origin: stopped'], 'info is <6>');
  const bad = join(dir, 'missing', 'access.log');
  t.equal(await serveToJournal(join(base, 'logs', 'stderr-2'), [dir, '--listen', '[::1]:0', '--access-log', bad], false), `<3>pi-origin: error: --access-log: cannot open ${bad}: ENOENT\n`, 'an error is <3>');

  const other = statSync(MAIN);
  const p = start(['serve', dir, '--listen', '[::1]:0', '--workers', '1'], { JOURNAL_STREAM: `${other.dev}:${other.ino}` });
  t.type(await listeningPort(p), 'number');
  p.child.kill('SIGTERM');
  const r = await p.result;
  t.match(r.stderr, /^pi-origin: warning: skipped 1 entries/, 'JOURNAL_STREAM naming another file: no prefixes (a terminal, a pipe)');
  t.notMatch(r.stderr, /^</m);
});

t.test('isJournalStream: only the device and inode of that very fd', (t) => {
  const f = join(t.testdir(), 'x');
  const fd = openSync(f, 'w');
  const st = fstatSync(fd);
  t.equal(isJournalStream(fd, `${st.dev}:${st.ino}`), true);
  t.equal(isJournalStream(fd, `${st.dev}:${st.ino + 1}`), false);
  t.equal(isJournalStream(fd, undefined), false);
  t.equal(isJournalStream(fd, 'garbage'), false);
  closeSync(fd);
  t.end();
});

t.test('ResponseClock: one reading per loop iteration for starts, a fresh one for every end', async (t) => {
  const clock = new ResponseClock();
  const first = clock.start();
  t.equal(clock.start(), first, 'a second request of the same iteration starts at the same reading');
  const end = clock.end();
  t.ok(end >= first, 'an end is read anew');
  t.equal(clock.start(), end, 'the next request of the iteration starts where the previous response ended');
  await new Promise<void>((resolve) => setImmediate(resolve));
  const later = clock.start();
  t.ok(later >= end, 'after the iteration, a start is read anew');
  const spin = performance.now();
  while (performance.now() - spin < 2);
  t.equal(clock.start(), later, 'still the same iteration');
  await new Promise<void>((resolve) => setImmediate(resolve));
  t.ok(clock.start() - later >= 2, 'the next iteration reads the clock again');
});
