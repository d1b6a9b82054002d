/**
 * Slow and idle clients against the built server run as a child process (`pi-origin serve`),
 * so its resident memory and open descriptors are its own, apart from the test's sockets:
 * request heads that trickle in (slowloris), clients that never read a 5 MiB body (streamed
 * and cached) or a 1 MiB one (the socket buffers take it whole), and 10,000 idle connections.
 * uWS closes each of them on its own timeout: 10 s counted in 4 s ticks, so 8 to 12 s after
 * the socket was last armed (by a write that did not fit, the end of a response, or the
 * connection), never re-armed by a byte received. The groups share nothing (each has its own
 * server), so they run side by side; a stalled 5 MiB response parks ~4 MiB in kernel socket
 * buffers, so the two 5 MiB groups run one after the other.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { settledFds, spawnOrigin, type OriginProcess } from './helpers/origin-process.js';
import { ensureNofile, mib, PeakRss, rss, UNINSTRUMENTED } from './helpers/proc.js';
import { request } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { waitFor } from './helpers/wait.js';

t.jobs = 4;

const MiB = 1024 * 1024;
const A = 'inside a\n';
const BODY = pseudoRandom(5 * MiB, 5);
const MID = pseudoRandom(1 * MiB, 6);
const dir = t.testdir({ 'a.txt': A });
writeFileSync(join(dir, 'big.bin'), BODY);
writeFileSync(join(dir, 'mid.bin'), MID);

/** uWS's timeout fires 8 to 12 s after it was armed; earlier than this it was not the timeout. */
const NOT_BEFORE_MS = 6_000;
/** Generous for a loaded 2-core machine: the timeout itself is at most 12 s. */
const CLOSED_WITHIN_MS = 25_000;
/** Descriptors the server may hold above its settled count (a lazily opened one, a closing socket). */
const FD_SLACK = 2;
const IDLE_CONNECTIONS = 10_000;
// The test process holds the idle connections plus the other groups' sockets at the same time.
const fdShortage = ensureNofile(process.pid, IDLE_CONNECTIONS + 2_000);

const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: origin.test\r\n\r\n`;

function start(t: Test, flags: readonly string[]): Promise<OriginProcess> {
  return spawnOrigin(t, dir, ['--no-watch', ...flags], UNINSTRUMENTED);
}

/** The server's settled descriptor count and resident set after `warm` ran once. */
async function baseline(t: Test, origin: OriginProcess, warm: string): Promise<{ fds: number; rss: number }> {
  const r = await request(origin.port, warm);
  t.equal(r.status, 200, `warm-up ${warm}: 200`);
  const fds = await settledFds(origin);
  return { fds, rss: rss(origin.pid) };
}

/** Fetches /a.txt every 500 ms until `stop` settles: the statuses and bodies seen, and the slowest. */
async function serveMeanwhile(port: number, stop: Promise<unknown>): Promise<{ ok: number; bad: string[]; slowestMs: number }> {
  let done = false;
  void stop.finally(() => (done = true));
  const seen = { ok: 0, bad: [] as string[], slowestMs: 0 };
  while (!done) {
    const at = Date.now();
    const r = await request(port, '/a.txt').catch((e: Error) => e);
    seen.slowestMs = Math.max(seen.slowestMs, Date.now() - at);
    if (!(r instanceof Error) && r.status === 200 && r.body.toString() === A) seen.ok++;
    else seen.bad.push(r instanceof Error ? r.message : `${r.status} ${JSON.stringify(r.body.toString().slice(0, 40))}`);
    await Promise.race([stop, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  return seen;
}

interface Dropped {
  /** From connect until the server closed the connection. */
  readonly ms: number;
  readonly received: number;
  /** Pieces of the head sent, one a second. */
  readonly sent: number;
}

/** Sends `piece(0)`, `piece(1)`, ... one a second (never a complete head) until the server closes. */
function slowHead(port: number, piece: (i: number) => string): Promise<Dropped> {
  return new Promise((resolve) => {
    const s = connect({ host: '::1', port });
    let started = 0;
    let received = 0;
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const next = (): void => {
      s.write(piece(sent++));
      timer = setTimeout(next, 1000);
    };
    const giveUp = setTimeout(() => s.destroy(), 2 * CLOSED_WITHIN_MS);
    s.once('connect', () => {
      started = Date.now();
      next();
    });
    s.on('data', (c: Buffer) => (received += c.length));
    s.on('error', () => undefined); // EPIPE/ECONNRESET for a piece written as the server closed
    s.on('close', () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      resolve({ ms: started === 0 ? Infinity : Date.now() - started, received, sent });
    });
  });
}

t.test('slow request heads are closed by the idle timeout; others are served meanwhile', async (t) => {
  const origin = await start(t, ['--workers', '1']);
  const base = await baseline(t, origin, '/a.txt');
  const peak = new PeakRss(origin.pid);
  // One byte a second of a head that never ends, and 500 connections adding a header a second.
  const head = 'GET /a.txt HTTP/1.1\r\nHost: origin.test\r\n' + 'X-Slow: x\r\n'.repeat(10);
  const single = slowHead(origin.port, (i) => head.charAt(i % head.length));
  const many = Promise.all(Array.from({ length: 500 }, () => slowHead(origin.port, (i) => (i === 0 ? 'GET /a.txt HTTP/1.1\r\nHost: origin.test\r\n' : `X-Slow-${i}: ${i}\r\n`))));
  const served = await serveMeanwhile(origin.port, Promise.all([single, many]));
  const growth = peak.stop() - base.rss;

  const one = await single;
  t.equal(one.received, 0, 'the byte-a-second head got no response');
  t.ok(one.sent >= NOT_BEFORE_MS / 1000, `it kept sending (${one.sent} bytes, one a second)`);
  t.ok(one.ms >= NOT_BEFORE_MS && one.ms <= CLOSED_WITHIN_MS, `the server closed it after ${one.ms} ms (timeout: 8-12 s)`);
  const all = await many;
  const times = all.map((d) => d.ms);
  t.equal(all.filter((d) => d.received === 0).length, 500, 'none of the 500 got a response');
  t.ok(Math.min(...times) >= NOT_BEFORE_MS, `none closed before ${NOT_BEFORE_MS} ms (first after ${Math.min(...times)} ms)`);
  t.ok(Math.max(...times) <= CLOSED_WITHIN_MS, `all 500 closed by the server within ${CLOSED_WITHIN_MS} ms (last after ${Math.max(...times)} ms)`);
  t.same(served.bad, [], 'every normal request during the attack got 200 and the file');
  // Liveness, not speed: a server stalled by the slow heads would answer none (or fail them).
  t.ok(served.ok >= 3, `${served.ok} normal requests served during the attack (slowest ${served.slowestMs} ms)`);
  t.ok(growth < 16 * MiB, `RSS grew ${mib(growth)} MiB with 501 slow heads open (bound 16 MiB)`);
  const fds = await settledFds(origin);
  t.ok(fds <= base.fds + FD_SLACK, `descriptors back to ${fds} (baseline ${base.fds})`);
  t.comment(`slowloris: baseline RSS ${mib(base.rss)} MiB, growth ${mib(growth)} MiB; closed after ${one.ms} ms (single), ${Math.min(...times)}-${Math.max(...times)} ms (500); ${served.ok} requests served meanwhile, slowest ${served.slowestMs} ms`);
});

/** Connects, sends the request and stops reading (after what Node buffers itself, 16 KiB). */
function stalledReader(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port }, () => s.write(GET(path), () => resolve(s)));
    s.pause();
    s.once('error', reject);
  });
}

/** Reads the rest of a stalled download until the server's FIN; checks the bytes against `body` as they come. */
function readRest(s: Socket, body: Buffer): Promise<{ status: number; length: number; body: number; exact: boolean }> {
  return new Promise((resolve) => {
    let head: Buffer = Buffer.alloc(0);
    const got = { status: 0, length: -1, body: 0, exact: true };
    s.on('data', (c: Buffer) => {
      if (got.length === -1) {
        head = Buffer.concat([head, c]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        const text = head.subarray(0, end).toString('latin1');
        got.status = Number(text.split(' ')[1]);
        got.length = Number(/^content-length: (\d+)$/im.exec(text)?.[1] ?? NaN);
        c = head.subarray(end + 4);
      }
      got.exact &&= c.equals(body.subarray(got.body, got.body + c.length));
      got.body += c.length;
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    s.resume();
  });
}

interface Unread {
  readonly path: string;
  readonly body: Buffer;
  /** Larger than the socket buffers take (~4 MiB on loopback): the server must wait on the client. */
  readonly stalls: boolean;
}
const STREAMED: Unread = { path: '/big.bin', body: BODY, stalls: true };
const SMALL: Unread = { path: '/mid.bin', body: MID, stalls: false };

/**
 * `n` clients ask for `file` and never read. When it stalls, every response waits in flight
 * until the timeout; either way the server closes them all on its timeout (descriptors back to
 * the baseline, nothing in flight) and holds no copy of the body per connection. Each client
 * then reads what the kernel kept for it: exact bytes, cut short when the response stalled.
 * Returns the RSS growth.
 */
async function neverRead(t: Test, origin: OriginProcess, n: number, file: Unread): Promise<number> {
  const base = await baseline(t, origin, file.path);
  const peak = new PeakRss(origin.pid);
  const sent = Date.now();
  const readers = await Promise.all(Array.from({ length: n }, () => stalledReader(origin.port, file.path)));
  if (file.stalls) {
    const inflight = await waitFor(`${n} responses in flight`, async () => ((await origin.metric('pi_origin_inflight_responses')) === n ? n : undefined), 10_000).catch(() => origin.metric('pi_origin_inflight_responses'));
    t.equal(inflight, n, `all ${n} responses wait on their client (in flight)`);
  }
  const held = await waitFor('the server to accept every connection', () => (origin.fds() >= base.fds + n ? origin.fds() : undefined)).catch(() => origin.fds());
  t.ok(held >= base.fds + n, `the server holds the ${n} connections (${held} descriptors)`);
  const closedAt = await waitFor('the server to close every connection', () => (origin.fds() <= base.fds + FD_SLACK ? Date.now() : undefined), 2 * CLOSED_WITHIN_MS).catch(() => Infinity);
  const growth = peak.stop() - base.rss;
  t.ok(closedAt - sent >= NOT_BEFORE_MS && closedAt - sent <= CLOSED_WITHIN_MS, `the server closed all ${n} after ${closedAt - sent} ms (timeout: 8-12 s after the last write)`);
  t.equal(await origin.metric('pi_origin_inflight_responses'), 0, 'nothing left in flight');
  const fds = await settledFds(origin);
  t.ok(fds <= base.fds + FD_SLACK, `descriptors back to ${fds} (baseline ${base.fds})`);
  // Read what the kernel still holds, then the server's FIN.
  const rest = await Promise.all(readers.map((r) => readRest(r, file.body)));
  t.equal(rest.filter((r) => r.status === 200 && r.length === file.body.length).length, n, 'each got the 200 head with the full Content-Length');
  t.equal(rest.filter((r) => r.exact).length, n, 'each got exact body bytes');
  const bodies = rest.map((r) => r.body);
  const whole = bodies.filter((b) => b === file.body.length).length;
  if (file.stalls) t.equal(whole, 0, `each was cut short (${Math.min(...bodies)}-${Math.max(...bodies)} of ${file.body.length} body bytes)`);
  const after = await request(origin.port, file.path);
  t.ok(after.status === 200 && after.body.equals(file.body), 'a reading client still gets the whole file');
  t.comment(`${n} clients not reading ${file.path} (${file.body.length} bytes): baseline RSS ${mib(base.rss)} MiB, peak growth ${mib(growth)} MiB (${((growth / n) / 1024).toFixed(0)} KiB each); closed after ${closedAt - sent} ms; ${Math.min(...bodies)}-${Math.max(...bodies)} body bytes reached each, ${whole} whole`);
  return growth;
}

t.test('clients that never read a body are closed by the timeout and hold no copy of it', async (t) => {
  // One after the other: each stalls ~4 MiB per connection in kernel socket buffers.
  await t.test('streamed (5 MiB above --cache-max-file): 200 clients', async (t) => {
    const origin = await start(t, ['--workers', '1', '--cache-max-file', '1MiB', '--cache-size', '8MiB']);
    const growth = await neverRead(t, origin, 200, STREAMED);
    t.ok(growth < 32 * MiB, `RSS grew ${mib(growth)} MiB for 200 × 5 MiB unread (bound 32 MiB; a 256 KiB read buffer each would be 50 MiB, 200 bodies 1000 MiB)`);
  });
  await t.test('cached (5 MiB under --cache-max-file): 100 clients', async (t) => {
    const origin = await start(t, ['--workers', '1', '--cache-max-file', '8MiB', '--cache-size', '64MiB']);
    t.equal(await origin.metric('pi_origin_cache_bytes'), 0, 'nothing cached before the warm-up');
    const growth = await neverRead(t, origin, 100, STREAMED);
    t.equal(await origin.metric('pi_origin_cache_bytes'), BODY.length, 'the body is cached once');
    t.ok(growth < 32 * MiB, `RSS grew ${mib(growth)} MiB for 100 × 5 MiB unread (bound 32 MiB)`);
  });
});

t.test('clients that never read a 1 MiB cached body: the socket buffers take it, the idle timeout closes them', async (t) => {
  const origin = await start(t, ['--workers', '1', '--cache-max-file', '8MiB', '--cache-size', '64MiB']);
  const growth = await neverRead(t, origin, 50, SMALL);
  t.ok(growth < 16 * MiB, `RSS grew ${mib(growth)} MiB for 50 × 1 MiB unread (bound 16 MiB)`);
});

/** An idle client: whether it opened (and was answered), ms from connect to close, when it closed. */
interface IdleConnection { opened: Promise<boolean>; closed: Promise<number>; closedAt?: number }

/** A connection that sends nothing (or one request, answered, then nothing) until the server closes it. */
function idleConnection(port: number, oneRequest: boolean): IdleConnection {
  let started = 0;
  let answered: (ok: boolean) => void = () => undefined;
  const opened = new Promise<boolean>((r) => (answered = r));
  const closed = new Promise<number>((resolve) => {
    const s = connect({ host: '::1', port }, () => {
      started = Date.now();
      if (!oneRequest) return answered(true);
      s.write(GET('/a.txt'));
      let reply = '';
      s.on('data', (c: Buffer) => {
        reply += c.toString('latin1');
        if (reply.endsWith(`\r\n\r\n${A}`)) answered(reply.startsWith('HTTP/1.1 200 OK\r\n'));
      });
    });
    s.on('error', () => answered(false));
    s.on('close', () => {
      answered(false);
      resolve(started === 0 ? Infinity : Date.now() - started);
    });
  });
  const conn: IdleConnection = { opened, closed };
  void closed.then(() => (conn.closedAt = Date.now()));
  return conn;
}

t.test(`${IDLE_CONNECTIONS} idle connections cost little memory and are all closed by the idle timeout`, { skip: fdShortage ?? false }, async (t) => {
  const origin = await start(t, ['--workers', '2']);
  t.equal(ensureNofile(origin.pid, IDLE_CONNECTIONS + 1_000), undefined, 'the server may open enough descriptors');
  const base = await baseline(t, origin, '/a.txt');
  const peak = new PeakRss(origin.pid);
  // Half connect and send nothing, half are idle after one keep-alive request; opened 500 at a time.
  const conns: IdleConnection[] = [];
  const openedAt = Date.now();
  for (let i = 0; i < IDLE_CONNECTIONS; i += 500) {
    const batch = Array.from({ length: 500 }, (_, j) => idleConnection(origin.port, (i + j) % 2 === 1));
    t.equal((await Promise.all(batch.map((c) => c.opened))).filter(Boolean).length, 500, `connections ${i}-${i + 499} open`);
    conns.push(...batch);
  }
  const openMs = Date.now() - openedAt;
  // On a slow machine the first connections may reach the idle timeout before the last are
  // open: the server must hold every one of ours that it has not closed yet.
  const stillOpen = (): number => conns.filter((c) => c.closedAt === undefined).length;
  const held = await waitFor('the server to hold every open connection', () => (origin.fds() >= base.fds + stillOpen() ? origin.fds() : undefined)).catch(() => origin.fds());
  t.ok(held >= base.fds + stillOpen(), `the server holds ${held - base.fds} connections, every one still open (${stillOpen()} of ${IDLE_CONNECTIONS}, opened in ${openMs} ms)`);
  const during = await request(origin.port, '/a.txt');
  t.equal(during.status, 200, 'a new client is served while they are open');
  t.equal(during.body.toString(), A);
  const withIdle = peak.now() - base.rss;
  const closed = await Promise.all(conns.map((c) => c.closed));
  const growth = peak.stop() - base.rss;
  t.ok(withIdle < 48 * MiB, `RSS grew ${mib(withIdle)} MiB with ${IDLE_CONNECTIONS} idle connections open (bound 48 MiB)`);
  t.ok(growth < 48 * MiB, `and at most ${mib(growth)} MiB until they were closed`);
  t.ok(Math.min(...closed) >= NOT_BEFORE_MS, `none closed before ${NOT_BEFORE_MS} ms (first after ${Math.min(...closed)} ms)`);
  t.ok(Math.max(...closed) <= CLOSED_WITHIN_MS, `all closed by the server within ${CLOSED_WITHIN_MS} ms of connecting (last after ${Math.max(...closed)} ms)`);
  const fds = await settledFds(origin);
  t.ok(fds <= base.fds + FD_SLACK, `descriptors back to ${fds} (baseline ${base.fds})`);
  t.comment(`${IDLE_CONNECTIONS} idle: baseline RSS ${mib(base.rss)} MiB, +${mib(withIdle)} MiB while open (${((withIdle / IDLE_CONNECTIONS) / 1024).toFixed(2)} KiB each), peak +${mib(growth)} MiB; opened in ${openMs} ms; closed ${Math.min(...closed)}-${Math.max(...closed)} ms after connecting`);
});
