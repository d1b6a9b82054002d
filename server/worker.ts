/**
 * A worker thread: one uWS app (plus a TLS app when configured) listening on every address,
 * sharing the ports with the other workers through SO_REUSEPORT and sharing nothing else but
 * the metrics buffer. Closes its listen sockets and connections itself before it ends: a
 * thread that ends while holding uWS sockets aborts Node ("uv_loop_close() while having open
 * handles").
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { AccessLog } from './access-log.js';
import { adminEndpoints } from './admin.js';
import { BodyStore } from './body-store.js';
import type { ListenAddress, ServeOptions } from './config.js';
import { buildContentIndex, type ContentIndex } from './content-index.js';
import { OriginHandler } from './handler.js';
import type { FromWorker, ToWorker, WorkerData } from './messages.js';
import { WorkerMetrics } from './metrics.js';
import { loadUws } from './uws.js';

const data = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('server/worker.js must run as a worker thread');
const uws = loadUws();
const options: ServeOptions = data.options;
const post = (m: FromWorker): void => port.postMessage(m);

const metrics = new WorkerMetrics(data.metrics, data.worker);
const bodies = new BodyStore(Math.floor(options.cacheSize / options.workers), options.cacheMaxFile, metrics);
const log = options.accessLog === 'off' ? undefined : new AccessLog(options.accessLog, options.logFormat);
let index: ContentIndex = buildContentIndex(data.site, options.headers);
// The plain-data index is only needed to build the first lookup: drop it so it can be collected.
(data as { site?: unknown }).site = undefined;
let draining = false;
let invalidRoot = false;
const ports: number[] = [];
const admin = adminEndpoints({
  nodeName: options.nodeName,
  version: data.version,
  startedAt: data.startedAt,
  workers: options.workers,
  ports,
  metrics: data.metrics,
  index: () => (invalidRoot ? undefined : index),
  draining: () => draining,
});
const handler = new OriginHandler(index, bodies, metrics, options, admin, log, (path, reason) => post({ type: 'read-error', path, reason }));
const route = options.ipv6Only ? refuseIPv4(handler.handle) : handler.handle;

interface Listener {
  readonly app: TemplatedApp;
  sockets: us_listen_socket[];
}
const listeners: Listener[] = [];

/** With --ipv6-only, uWS (which cannot set IPV6_V6ONLY) may still accept v4-mapped peers: close them. */
function refuseIPv4(next: OriginHandler['handle']): OriginHandler['handle'] {
  return (res, req) => {
    const a = new Uint8Array(res.getRemoteAddress());
    if (a.length === 4 || (a.length === 16 && a[10] === 0xff && a[11] === 0xff && a.subarray(0, 10).every((b) => b === 0))) {
      res.close();
      return;
    }
    next(res, req);
  };
}

function makeApp(tls: boolean): TemplatedApp {
  const t = options.tls;
  if (!tls || t === undefined) return uws.App().any('/*', route);
  const app = uws.SSLApp({ key_file_name: t.key, cert_file_name: t.cert });
  app.any('/*', route);
  for (const s of t.sni) app.addServerName(s.hostname, { key_file_name: s.key, cert_file_name: s.cert }).domain(s.hostname).any('/*', route);
  return app;
}

function listenAll(app: TemplatedApp, addresses: readonly ListenAddress[], wanted: readonly number[]): Promise<us_listen_socket[] | string> {
  return Promise.all(
    addresses.map(
      (a, i) =>
        new Promise<us_listen_socket | string>((resolve) => {
          app.listen(a.host, wanted[i] ?? a.port, (s) => resolve(s === false ? `${a.family === 6 ? `[${a.host}]` : a.host}:${wanted[i] ?? a.port}` : s));
        }),
    ),
  ).then((results) => {
    const failed = results.find((r): r is string => typeof r === 'string');
    return failed ?? results.filter((r): r is us_listen_socket => typeof r !== 'string');
  });
}

async function start(): Promise<void> {
  const plain = options.listen;
  const secure = options.tls?.listen ?? [];
  const wanted = data.ports ?? [...plain, ...secure].map((a) => a.port);
  const http = makeApp(false);
  const httpSockets = await listenAll(http, plain, wanted.slice(0, plain.length));
  if (typeof httpSockets === 'string') return post({ type: 'listen-failed', address: httpSockets });
  listeners.push({ app: http, sockets: httpSockets });
  if (secure.length > 0) {
    const https = makeApp(true);
    const tlsSockets = await listenAll(https, secure, wanted.slice(plain.length));
    if (typeof tlsSockets === 'string') return post({ type: 'listen-failed', address: tlsSockets });
    listeners.push({ app: https, sockets: tlsSockets });
  }
  for (const l of listeners) for (const s of l.sockets) ports.push(uws.us_socket_local_port(s));
  post({ type: 'listening', ports });
}

/** New certificates: a fresh SSLApp joins the TLS ports (SO_REUSEPORT), then the old one stops accepting. */
async function reloadTls(): Promise<void> {
  const old = listeners.find((l, i) => i > 0 && l.sockets.length > 0);
  if (old === undefined || options.tls === undefined || draining) return;
  let app: TemplatedApp;
  try {
    app = makeApp(true);
  } catch (e) {
    return post({ type: 'warn', message: `TLS certificates not reloaded: ${(e as Error).message}` });
  }
  const sockets = await listenAll(app, options.tls.listen, ports.slice(options.listen.length));
  if (typeof sockets === 'string') return post({ type: 'warn', message: `TLS certificates not reloaded: cannot listen on ${sockets}` });
  for (const s of old.sockets) uws.us_listen_socket_close(s);
  listeners.push({ app, sockets });
  old.sockets = [];
}

function drain(): void {
  draining = true;
  for (const l of listeners) {
    for (const s of l.sockets) uws.us_listen_socket_close(s);
    l.sockets = [];
  }
  const deadline = Date.now() + options.drainTimeout * 1000;
  const check = (): void => {
    if (metrics.get('inflight') > 0 && Date.now() < deadline) {
      setTimeout(check, 20);
      return;
    }
    // app.close() exists in this uWS build (it closes every socket) but is missing from its types.
    for (const l of listeners) (l.app as TemplatedApp & { close(): void }).close();
    log?.close();
    post({ type: 'closed' });
    port?.close();
  };
  check();
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'index':
      index = buildContentIndex(m.site, options.headers);
      handler.index = index;
      invalidRoot = false;
      break;
    case 'invalid-root':
      invalidRoot = true;
      break;
    case 'drain':
      drain();
      break;
    case 'reopen-log':
      log?.reopen();
      break;
    case 'tls-reload':
      void reloadTls();
      break;
  }
});

void start();
