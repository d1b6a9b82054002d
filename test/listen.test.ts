/**
 * Listen sockets over a node's life: a start where one address binds and a later one cannot
 * leaves nothing bound and exits like any other listen error (the bound socket used to be
 * dropped unclosed: the worker then aborted the process in uv_loop_close, or never ended), and
 * TLS reloads replace the TLS listeners instead of adding to them. Counted from the server's
 * own /proc entries.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { runCli } from './helpers/cli.js';
import { spawnOrigin } from './helpers/origin-process.js';
import { listeningPorts } from './helpers/proc.js';
import { certificateFor, selfSigned } from './helpers/tls.js';
import { waitFor } from './helpers/wait.js';

/**
 * Preloaded into the server with --import (no hook in the product): in worker 0, before the
 * worker module runs, it takes the second listen address's port, which the main thread has just
 * found free, so the worker binds the first address and fails on the second. The ports the
 * main thread chose go to $PORTS_FILE.
 */
const TAKE_SECOND_PORT = `
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { isMainThread, workerData } from 'node:worker_threads';
if (!isMainThread && workerData?.worker === 0 && workerData.ports?.length === 2) {
  writeFileSync(process.env.PORTS_FILE, JSON.stringify(workerData.ports));
  const holder = createServer();
  await new Promise((resolve, reject) => {
    holder.once('error', reject);
    holder.listen({ host: workerData.options.listen[1].host, port: workerData.ports[1], exclusive: true }, resolve);
  });
  holder.unref();
}
`;

function listenOn(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port, exclusive: true }, () => resolve(s));
  });
}

const close = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

t.test('the second listen address taken after the first bound: a clean error exit, the first port free', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'hello\n' }, 'take-second-port.mjs': TAKE_SECOND_PORT });
  const portsFile = join(dir, 'ports.json');
  const result = await runCli(['serve', join(dir, 'site'), '--listen', '[::1]:0', '--listen', '127.0.0.1:0', '--workers', '1', '--no-watch'], {
    NODE_OPTIONS: `--import=${join(dir, 'take-second-port.mjs')}`,
    PORTS_FILE: portsFile,
  });
  const [first, second] = JSON.parse(readFileSync(portsFile, 'utf8')) as [number, number];
  t.equal(result.signal, null, 'not killed: it neither aborted nor hung');
  t.equal(result.stderr, `pi-origin: error: cannot listen on 127.0.0.1:${second} (in use, or not an address of this host)\n`, 'one line naming the address, no stack trace');
  t.notMatch(result.stderr, /uv_loop_close|Assertion/);

  // The same exit code as a port already taken when the node starts.
  const held = await listenOn('::1', 0);
  const heldPort = (held.address() as { port: number }).port;
  const busy = await runCli(['serve', join(dir, 'site'), '--listen', `[::1]:${heldPort}`, '--workers', '1', '--no-watch']);
  await close(held);
  t.match(busy.stderr, /^pi-origin: error: \[::1\]:\d+ is already in use/);
  t.equal(result.code, busy.code, `exit code ${String(busy.code)}, as for a port already in use`);

  const again = await listenOn('::1', first);
  t.pass(`[::1]:${first}, the address that did bind, is free again`);
  await close(again);
});

/**
 * A keep-alive TLS connection that asks for `path` every 200 ms (so no idle timeout ends it) until
 * the server closes it or `max` requests were answered; resolves with the number answered.
 */
function busyConnection(port: number, path: string, max: number): { answered: Promise<number>; first: Promise<void> } {
  let answered = 0;
  let firstDone: () => void = () => undefined;
  const first = new Promise<void>((r) => (firstDone = r));
  const socket = connect({ host: '::1', port, rejectUnauthorized: false });
  const ask = (): void => void socket.write(`GET ${path} HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
  socket.on('secureConnect', ask);
  let buffered = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => {
    buffered += chunk;
    // Each answer is a small 200 whose body ends the response: count one per status line.
    const lines = buffered.match(/^HTTP\/1\.1 200 OK\r\n/gm)?.length ?? 0;
    if (lines > answered && buffered.endsWith('hello\n')) {
      answered = lines;
      if (answered === 1) firstDone();
      if (answered >= max) socket.end();
      else setTimeout(ask, 200);
    }
  });
  const done = new Promise<number>((resolve) => socket.on('close', () => resolve(answered)));
  socket.on('error', () => undefined);
  return { answered: done, first };
}

t.test('reloading the TLS certificates again and again keeps one TLS listener per worker', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'hello\n' }, certs: {} });
  const [one, two] = await Promise.all([selfSigned(dir, 'one.test'), selfSigned(dir, 'two.test')]);
  const live = { cert: join(dir, 'certs', 'live.crt.pem'), key: join(dir, 'certs', 'live.key.pem') };
  const install = (pair: { cert: string; key: string }): void => {
    copyFileSync(pair.key, live.key);
    copyFileSync(pair.cert, live.cert);
  };
  install(one);
  const workers = 2;
  const origin = await spawnOrigin(t, join(dir, 'site'), ['--workers', String(workers), '--tls-listen', '[::1]:0', '--tls-cert', live.cert, '--tls-key', live.key]);
  const atStart = listeningPorts(origin.pid);
  const tlsPort = atStart.find((p) => p !== origin.port) as number;
  t.same(atStart, [origin.port, origin.port, tlsPort, tlsPort].sort((a, b) => a - b), `${workers} workers: one plain and one TLS listener each`);

  // Opened before the first reload and kept busy: once the reload has replaced its app, the
  // old app is closed after --drain-timeout (1 s here), this connection with it.
  const busy = busyConnection(tlsPort, '/a.txt', 100);
  await busy.first;

  const reloads = 6;
  for (let i = 1; i <= reloads; i++) {
    const pair = i % 2 === 1 ? two : one;
    const cn = i % 2 === 1 ? 'two.test' : 'one.test';
    install(pair);
    // Connections spread over the workers (SO_REUSEPORT): ten in a row with the new certificate
    // before the next reload, so reloads do not overlap in a worker.
    await waitFor(`reload ${i}: new connections get ${cn}`, async () => {
      for (let k = 0; k < 10; k++) if ((await certificateFor(tlsPort, undefined).catch(() => '')) !== cn) return undefined;
      return true;
    }, 15_000);
  }
  t.same(listeningPorts(origin.pid), atStart, `after ${reloads} reloads: the same listeners, none added`);
  const answered = await busy.answered;
  t.ok(answered < 100, `a connection to a replaced TLS app is closed with it (after ${answered} of 100 requests), not kept for ever`);
  t.notMatch(origin.stderr(), /warning/, 'no warnings');
});
