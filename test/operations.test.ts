/**
 * Operating the origin: admin endpoints and who may read them, client addresses behind trusted
 * proxies (X-Forwarded-For and PROXY v2), the access log, several workers, graceful close,
 * --ipv6-only and refusing to share a port. Real sockets on loopback only.
 *
 * Starting an origin costs seconds under tap (every worker thread loads tap's import hooks),
 * so each server below serves several related subtests.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { resolveOptions } from '../dist/server/config.js';
import { startOrigin } from '../dist/server/origin.js';
import { proxyV2 } from './helpers/proxy-v2.js';
import { parseResponses, rawExchange, request, startServer, type RawResponse } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { until, waitFor } from './helpers/wait.js';
import { sha256 } from './helpers/hash.js';



function httpGet(path: string, extra: Record<string, string> = {}): string {
  const headers = { Host: 'origin.test', ...extra, Connection: 'close' };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

function one(data: Buffer): RawResponse {
  const responses = parseResponses(data);
  if (responses.length !== 1) throw new Error(`expected one response, got ${responses.length}: ${JSON.stringify(data.toString('latin1').slice(0, 200))}`);
  return responses[0] as RawResponse;
}

const BIG_SIZE = 24 * 1024 * 1024;
const fixtures = t.testdir({
  // `_origin/health` and `_origin/status` are content here: admin must not shadow them for others.
  site: { 'index.html': '<h1>hi</h1>\n', 'a.txt': 'hello\n', 'b.txt': 'bee\n', _origin: { health: 'content health file\n', status: '{"mine":true}\n' } },
  big: { 'a.txt': 'hello\n' },
  logs: {},
});
const site = join(fixtures, 'site');
const logs = join(fixtures, 'logs');
const big = pseudoRandom(BIG_SIZE, 42);
writeFileSync(join(fixtures, 'big', 'big.bin'), big);

t.test('admin endpoints, default allow-list', async (t) => {
  const { node, port } = await startServer(t, site, { nodeName: 'pi-test-1' });
  const release = node.releaseId();
  t.match(release, /^[0-9a-f]{12}$/);
  // Some traffic first so the counters have something to count.
  t.equal((await request(port, '/a.txt')).status, 200);
  t.equal((await request(port, '/a.txt')).status, 200);
  t.equal((await request(port, '/missing')).status, 404);

  t.test('/_origin/health', async (t) => {
    const health = await request(port, '/_origin/health');
    t.equal(health.status, 200);
    t.equal(health.body.toString(), `ok ${release}\n`, 'admin wins over the content file for admin clients');
    t.equal(health.headers['cache-control'], 'no-store');
    const head = await request(port, '/_origin/health', { method: 'HEAD' });
    t.equal(head.status, 200);
    t.equal(head.headers['content-length'], String(`ok ${release}\n`.length));
    t.equal(head.body.length, 0);
  });

  t.test('/_origin/status', async (t) => {
    const res = await request(port, '/_origin/status');
    t.equal(res.status, 200);
    t.match(res.headers['content-type'], /^application\/json/);
    const status = JSON.parse(res.body.toString()) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    t.match(status, {
      node: 'pi-test-1',
      version: pkg.version,
      release,
      files: 5,
      cacheBytes: Number,
      uptimeSeconds: Number,
      workers: 1,
      requests: Number,
      connections: Number,
    });
    t.ok((status['requests'] as number) >= 3, 'counts the requests made so far');
    // Connections are sampled by the main thread about once a second: hold one open meanwhile.
    const held = await holdConnection(t, port);
    t.ok(await until(async () => (JSON.parse((await request(port, '/_origin/status')).body.toString()) as { connections: number }).connections >= 1, 3000), 'an open connection is counted');
    held.destroy();
    t.ok((status['cacheBytes'] as number) >= 6, 'a.txt is in the body cache');
    t.ok((status['uptimeSeconds'] as number) >= 0);
  });

  t.test('/_origin/metrics', async (t) => {
    const res = await request(port, '/_origin/metrics');
    t.equal(res.status, 200);
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const m = res.body.toString();
    const value = (name: string): number => {
      const line = m.split('\n').find((l) => l.startsWith(name + ' '));
      if (line === undefined) throw new Error(`no ${name} in metrics:\n${m}`);
      return Number(line.slice(name.length + 1));
    };
    t.ok(value('pi_origin_http_requests_total{code="200",method="GET"}') >= 2, '200s counted');
    t.ok(value('pi_origin_http_requests_total{code="404",method="GET"}') >= 1, '404 counted');
    t.ok(value('pi_origin_http_response_bytes_total') >= 12, 'bytes counted');
    t.ok(value('pi_origin_cache_hits_total') >= 1, 'second a.txt was a cache hit');
    t.ok(value('pi_origin_cache_misses_total') >= 1, 'first a.txt was a cache miss');
    t.ok(value('pi_origin_cache_bytes') >= 6, 'cache bytes');
    const held = await holdConnection(t, port);
    t.ok(await until(async () => /^pi_origin_active_connections [1-9]/m.test((await request(port, '/_origin/metrics')).body.toString()), 3000), 'active connections');
    held.destroy();
    t.equal(value('pi_origin_inflight_responses'), 0, 'nothing in flight');
    t.match(m, new RegExp(`^pi_origin_release_info\\{release="${release}"\\} 1$`, 'm'));
    const samples = m.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    t.same(samples.filter((l) => !/^[a-z_0-9]+(\{[^}\n]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.test(l)), [], 'every sample line is valid exposition format');
  });
});

t.test('admin allow-list excludes the client: paths fall through to content', async (t) => {
  const { port } = await startServer(t, site, { adminAllow: ['2001:db8::/32'] });
  const health = await request(port, '/_origin/health');
  t.equal(health.status, 200);
  t.equal(health.body.toString(), 'content health file\n', 'the content file, not the admin endpoint');
  t.equal((await request(port, '/_origin/status')).body.toString(), '{"mine":true}\n');
  const metrics = await request(port, '/_origin/metrics');
  t.equal(metrics.status, 404, 'no such content: 404');
  t.notMatch(metrics.body.toString(), /pi_origin_/);
  t.equal((await request(port, '/_origin/nothing')).status, 404);

  t.test('X-Forwarded-For from an untrusted peer is ignored', async (t) => {
    const r = await request(port, '/_origin/metrics', { headers: { 'X-Forwarded-For': '2001:db8::5' } });
    t.equal(r.status, 404);
  });

  t.test('PROXY v2 from an untrusted peer is ignored', async (t) => {
    const header = proxyV2('2001:db8::7', '2001:db8::1', 40000, 443);
    const r = one(await rawExchange(port, Buffer.concat([header, Buffer.from(httpGet('/_origin/metrics'))])));
    t.equal(r.status, 404);
  });
});

t.test('trusted proxy and access log (combined)', async (t) => {
  const log = join(logs, 'access.log');
  const { node, port } = await startServer(t, site, { trustedProxy: ['::1/128'], adminAllow: ['2001:db8::/32'], accessLog: log, logFormat: 'combined' });
  const release = node.releaseId();

  t.test('X-Forwarded-For from a trusted proxy names the client', async (t) => {
    const viaProxy = await request(port, '/_origin/health', { headers: { 'X-Forwarded-For': '2001:db8::5', 'User-Agent': 'xff' } });
    t.equal(viaProxy.status, 200, 'client 2001:db8::5 (via the trusted ::1) is an admin client');
    t.equal(viaProxy.body.toString(), `ok ${release}\n`);
    t.equal((await request(port, '/_origin/metrics')).status, 404, 'the proxy itself (::1) is not in the allow-list');
    t.equal((await request(port, '/_origin/metrics', { headers: { 'X-Forwarded-For': '2001:db9::5' } })).status, 404, 'a forwarded client outside the allow-list is not admin');
  });

  t.test('PROXY v2 from a trusted proxy names the client', async (t) => {
    const header = proxyV2('2001:db8:0:0:0:0:0:7', '2001:db8::1', 40000, 443);
    const viaProxy = one(await rawExchange(port, Buffer.concat([header, Buffer.from(httpGet('/_origin/health', { 'User-Agent': 'proxy-v2' }))])));
    t.equal(viaProxy.status, 200, 'client 2001:db8::7 from the PROXY header is an admin client');
    t.equal(viaProxy.body.toString(), `ok ${release}\n`);
    const file = one(await rawExchange(port, Buffer.concat([header, Buffer.from(httpGet('/a.txt', { 'User-Agent': 'proxy-v2' }))])));
    t.equal(file.status, 200, 'the request after the PROXY header is served');
    t.equal(file.body.toString(), 'hello\n');
  });

  t.test('combined lines, and reopenLog after the file was moved', async (t) => {
    t.equal((await request(port, '/a.txt?x=1', { headers: { 'User-Agent': 'ua' } })).status, 200);
    t.equal((await request(port, '/nope', { headers: { 'User-Agent': 'say "hi"', Referer: 'http://r.test/' } })).status, 404);
    renameSync(log, log + '.1');
    node.reopenLog();
    await waitFor('the log to be reopened at its path', () => (existsSync(log) ? true : undefined));
    t.equal((await request(port, '/b.txt')).status, 200);
    await node.close();

    const old = readFileSync(log + '.1', 'utf8').split('\n');
    t.equal(old.pop(), '', 'ends with a newline');
    const current = readFileSync(log, 'utf8').split('\n');
    t.equal(current.pop(), '', 'ends with a newline');
    const date = '\\d\\d/[A-Z][a-z]{2}/\\d{4}:\\d\\d:\\d\\d:\\d\\d \\+0000';
    t.same(
      old.filter((l) => / "(xff|proxy-v2)"$/.test(l)).map((l) => l.split(' ')[0]),
      ['2001:db8::5', '2001:db8::7', '2001:db8::7'],
      'proxied clients logged in RFC 5952 form',
    );
    t.match(old.find((l) => l.includes('/a.txt?x=1')), new RegExp(`^::1 - - \\[${date}\\] "GET /a\\.txt\\?x=1 HTTP/1\\.1" 200 6 "-" "ua"$`));
    t.match(old.find((l) => l.includes('/nope')), /^::1 - - \[[^\]]+\] "GET \/nope HTTP\/1\.1" 404 \d+ "http:\/\/r\.test\/" "say \\x22hi\\x22"$/);
    t.notOk(old.some((l) => l.includes('/b.txt')), 'nothing after the reopen went to the moved file');
    t.equal(current.length, 1, 'the reopened file holds what came after');
    t.match(current[0], new RegExp(`^::1 - - \\[${date}\\] "GET /b\\.txt HTTP/1\\.1" 200 4 "-" "-"$`));
  });
});

t.test("admin through a trusted proxy whose own address is in the allow-list", async (t) => {
  // The proxy (::1) is trusted and admin (its health checks); one client behind it is admin.
  const { port } = await startServer(t, site, { trustedProxy: ['::1/128'], adminAllow: ['::1/128', '2001:db8::7/128'] });
  const isAdminStatus = (r: RawResponse): boolean => r.status === 200 && /"node":/.test(r.body.toString());
  /** /_origin/status with raw header lines (repeats allowed), optionally after a PROXY v2 header. */
  const status = async (lines: readonly string[], proxiedFrom?: string): Promise<RawResponse> => {
    const head = Buffer.from(`GET /_origin/status HTTP/1.1\r\nHost: origin.test\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
    const bytes = proxiedFrom === undefined ? head : Buffer.concat([proxyV2(proxiedFrom, '2001:db8::1', 40000, 80), head]);
    return one(await rawExchange(port, bytes));
  };
  const notAdmin = (t: Test, r: RawResponse, what: string): void => {
    t.equal(r.status, 200, `${what}: answered as content`);
    t.equal(r.body.toString(), '{"mine":true}\n', `${what}: the content file, not the node's status`);
  };

  t.test('the proxy itself, without claims, is admin (health checks)', async (t) => {
    t.ok(isAdminStatus(await status([])));
  });

  t.test('PROXY v2', async (t) => {
    t.ok(isAdminStatus(await status([], '2001:db8::7')), 'an allowed client gets the status');
    notAdmin(t, await status([], '2001:db8::8'), 'a client outside the allow-list');
    notAdmin(t, await status(['X-Forwarded-For: 2001:db8::7'], '2001:db8::8'), 'XFF does not override the PROXY source');
    const metrics = one(await rawExchange(port, Buffer.concat([proxyV2('2001:db8::8', '2001:db8::1', 40000, 80), Buffer.from(httpGet('/_origin/metrics'))])));
    t.equal(metrics.status, 404, '/_origin/metrics is missing content for it');
    t.notMatch(metrics.body.toString(), /pi_origin_/);
  });

  t.test('X-Forwarded-For', async (t) => {
    t.ok(isAdminStatus(await status(['X-Forwarded-For: 2001:db8::7'])), 'an allowed client gets the status');
    notAdmin(t, await status(['X-Forwarded-For: 2001:db8::8']), 'a client outside the allow-list');
    notAdmin(t, await status(['X-Forwarded-For: 2001:db8::7, 2001:db8::8']), 'a forged hop left of the real client');
    // HAProxy's `option forwardfor` adds its own line after the client's: every line is read.
    notAdmin(t, await status(['X-Forwarded-For: 2001:db8::7', 'X-Forwarded-For: 2001:db8::8']), 'a forged first line');
    notAdmin(t, await status(['X-Forwarded-For:', 'X-Forwarded-For: 2001:db8::8']), 'an empty first line');
    // A header naming no usable client must not fall back to the (admin) proxy's address.
    notAdmin(t, await status(['X-Forwarded-For: garbage']), 'garbage');
    notAdmin(t, await status(['X-Forwarded-For: 2001:db8::7, garbage']), 'garbage as the rightmost hop');
    notAdmin(t, await status(['X-Forwarded-For: ::1']), 'only trusted hops');
  });
});

t.test('a relayed loopback address is never admin: loopback prefixes match only the socket peer', async (t) => {
  // The default allow-list (loopback only) behind a trusted proxy on ::1: any local user on the
  // proxy host can have the proxy relay ::1 or 127.0.0.1 (or forge the PROXY header itself).
  const { port } = await startServer(t, site, { trustedProxy: ['::1/128'] });
  const get = async (lines: readonly string[], proxiedFrom?: string): Promise<RawResponse> => {
    const head = Buffer.from(`GET /_origin/status HTTP/1.1\r\nHost: origin.test\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`);
    return one(await rawExchange(port, proxiedFrom === undefined ? head : Buffer.concat([proxyV2(proxiedFrom, '::1', 40000, 80), head])));
  };
  const isAdmin = (r: RawResponse): boolean => r.status === 200 && /"node":/.test(r.body.toString());
  t.ok(isAdmin(await get([])), 'the proxy itself, the socket peer ::1, is admin (health checks)');
  for (const [what, r] of [
    ['PROXY v2 claiming ::1', await get([], '::1')],
    ['X-Forwarded-For 127.0.0.1', await get(['X-Forwarded-For: 127.0.0.1'])],
    ['X-Forwarded-For 127.0.0.9 behind a trusted ::1 hop', await get(['X-Forwarded-For: 127.0.0.9, ::1'])],
  ] as const) {
    t.notOk(isAdmin(r), `${what}: not admin`);
    t.equal(r.body.toString(), '{"mine":true}\n', `${what}: the content file instead`);
  }
});

t.test('access log (json)', async (t) => {
  const log = join(logs, 'access.json');
  const { node, port } = await startServer(t, site, { accessLog: log, logFormat: 'json' });
  await request(port, '/a.txt?x=1', { headers: { 'User-Agent': 'ua' } });
  await request(port, '/a.txt', { method: 'HEAD' });
  await node.close();
  const lines = readFileSync(log, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, 2, 'one line per request');
  const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(first, { client: '::1', method: 'GET', target: '/a.txt?x=1', status: 200, bytes: 6, userAgent: 'ua' });
  t.ok(!Number.isNaN(Date.parse(first?.['time'] as string)), 'time is a date');
  t.match(second, { client: '::1', method: 'HEAD', target: '/a.txt', status: 200, bytes: 0 });
});

/** Opens a keep-alive connection, sends one request and resolves with the whole response. */
function keepAliveGet(port: number, path: string): Promise<{ socket: Socket; response: RawResponse }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '::1', port }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: origin.test\r\n\r\n`));
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before a whole response')));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(data.subarray(0, end).toString('latin1'))?.[1] ?? NaN);
      if (data.length >= end + 4 + length) {
        socket.removeAllListeners('close');
        resolve({ socket, response: one(data) });
      }
    });
  });
}

t.test('two workers serve 100 keep-alive connections', async (t) => {
  const { port } = await startServer(t, site, { workers: '2' });
  const results = await Promise.all(Array.from({ length: 100 }, () => keepAliveGet(port, '/a.txt')));
  t.teardown(() => results.forEach((r) => r.socket.destroy()));
  t.equal(results.filter((r) => r.response.status === 200 && r.response.body.toString() === 'hello\n').length, 100, 'every request succeeded');
  t.equal(results.filter((r) => !r.socket.destroyed).length, 100, 'every connection is still open (keep-alive)');
  const getStatus = async (): Promise<{ workers: number; connections: number; requests: number }> => JSON.parse((await request(port, '/_origin/status')).body.toString()) as { workers: number; connections: number; requests: number };
  let status = await getStatus();
  // Connections are sampled once a second by the main thread.
  await until(async () => (status = await getStatus()).connections >= 100, 3000);
  t.equal(status.workers, 2);
  t.ok(status.connections >= 100, `connections (${status.connections}) counts the idle keep-alive connections`);
  t.ok(status.requests >= 100, "both workers' requests are summed");
});

/** IPv4 connections to an --ipv6-only server: no response bytes (closed, or refused by the kernel). */
function fromV4(port: number, text: string): Promise<Buffer> {
  return rawExchange(port, text, '127.0.0.1').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ECONNREFUSED') return Buffer.alloc(0);
    throw e;
  });
}

t.test('--ipv6-only', async (t) => {
  t.throws(() => resolveOptions({ flags: { listen: ['127.0.0.1:0'], ipv6Only: true }, positionalRoot: site, defaultRoot: site }), {
    name: 'ConfigError',
    code: 'PI_ORIGIN_INVALID_OPTION',
    message: /127\.0\.0\.1:0.*--ipv6-only/,
  });
  t.throws(() => resolveOptions({ flags: { listen: ['[::1]:0'], tlsListen: ['127.0.0.1:0'], ipv6Only: true }, positionalRoot: site, defaultRoot: site }), { name: 'ConfigError' }, 'TLS addresses too');
  const { port } = await startServer(t, site, { listen: ['[::]:0'], ipv6Only: true });
  t.equal((await fromV4(port, httpGet('/a.txt'))).length, 0, 'an IPv4 client gets no response');
  const v6 = await request(port, '/a.txt');
  t.equal(v6.status, 200, '[::1] is served');
  t.equal(v6.body.toString(), 'hello\n');
});

t.test('[::] without --ipv6-only is dual-stack; then a graceful close', async (t) => {
  const { node, port } = await startServer(t, join(fixtures, 'big'), { listen: ['[::]:0'], drainTimeout: '2' });

  t.test('IPv4 clients are served', async (t) => {
    const v4 = one(await rawExchange(port, httpGet('/a.txt'), '127.0.0.1'));
    t.equal(v4.status, 200);
    t.equal(v4.body.toString(), 'hello\n');
  });

  t.test('a second server on the same port fails to start', async (t) => {
    const again = (listen: string): Promise<unknown> =>
      startOrigin(resolveOptions({ flags: { listen: [listen], workers: '1', watch: false }, positionalRoot: site, defaultRoot: site })).then(async (n) => {
        await n.close();
        return n;
      });
    await t.rejects(again(`[::]:${port}`), { name: 'StartError', code: 'PI_ORIGIN_LISTEN' }, 'same address and port');
    await t.rejects(again(`[::1]:${port}`), { name: 'StartError', code: 'PI_ORIGIN_LISTEN' }, '[::1] inside a held [::]');
    await t.rejects(again(`127.0.0.1:${port}`), { name: 'StartError', code: 'PI_ORIGIN_LISTEN' }, 'dual-stack [::] holds the IPv4 port too');
    t.equal((await request(port, '/a.txt')).status, 200, 'the first server still serves');
  });

  t.test('graceful close', async (t) => {
    /** Starts a download and resolves once the first bytes arrived, with the socket paused. */
    const slowDownload = (): Promise<{ socket: Socket; chunks: Buffer[]; closed: Promise<void> }> =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = connect({ host: '::1', port }, () => socket.write(httpGet('/big.bin')));
        const closed = new Promise<void>((r) => socket.on('close', () => r()));
        socket.on('error', reject);
        socket.on('data', (c: Buffer) => {
          chunks.push(c);
          if (chunks.length === 1) {
            socket.pause();
            resolve({ socket, chunks, closed });
          }
        });
      });
    /** One connection attempt: true when refused, undefined when accepted. */
    const refusedOnce = (): Promise<true | undefined> =>
      new Promise((resolve) => {
        const s = connect({ host: '::1', port });
        s.on('connect', () => {
          s.destroy();
          resolve(undefined);
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? true : undefined));
      });

    const finishing = await slowDownload();
    const stalled = await slowDownload();
    const started = Date.now();
    let closedAt = 0;
    const closing = node.close().then(() => void (closedAt = Date.now()));
    t.equal(await waitFor('new connections to be refused', refusedOnce, 1500), true, 'a new connection is refused once close began');
    t.equal(closedAt, 0, 'close waits for the in-flight responses');

    finishing.socket.resume();
    await finishing.closed;
    t.equal(closedAt, 0, 'close still waits for the stalled response');
    const done = one(Buffer.concat(finishing.chunks));
    t.equal(done.status, 200);
    t.equal(done.body.length, BIG_SIZE, 'the in-flight download that kept reading completed');
    t.equal(sha256(done.body), sha256(big), 'with exact bytes');

    await closing;
    const took = closedAt - started;
    t.ok(took >= 1800, `close waited for --drain-timeout 2 (${took} ms)`);
    // The stalled client reads nothing until below: close() resolving at all means it cut it.
    t.comment(`close resolved ${took} ms after it began, having cut the stalled client`);
    stalled.socket.resume();
    await stalled.closed;
    t.ok(Buffer.concat(stalled.chunks).length < BIG_SIZE, 'the stalled download was cut, not completed');
    t.equal(await refusedOnce(), true, 'the port stays closed');
    t.pass('the process did not abort');
  });
});

/** An idle connection to the server, open until the test ends. */
function holdConnection(t: Test, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port }, () => resolve(s)).once('error', reject);
    t.teardown(() => s.destroy());
  });
}
