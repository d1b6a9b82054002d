/**
 * A worker thread: one uWS app (plus a TLS app when configured) listening on every address,
 * sharing the ports with the other workers through SO_REUSEPORT and sharing nothing else but
 * the metrics buffer. Closes its listen sockets and connections itself before it ends: a
 * thread that ends while holding uWS sockets aborts Node ("uv_loop_close() while having open
 * handles"), all threads with it. So nothing may end it abruptly: an exception nothing caught
 * (in a timer, a callback, a promise) is reported, the sockets are closed, and only then does
 * the thread end, with code 1, for the main thread to start a new one; a request handler that
 * throws gets its connection closed (uWS would abort on a handler that returns unanswered), and so
 * does a response whose callback throws after the handler returned (a body read's `then`).
 */
import { inspect } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { AccessLog } from './access-log.js';
import { adminEndpoints } from './admin.js';
import { BodyStore } from './body-store.js';
import type { ListenAddress, ServeOptions } from './config.js';
import { buildLookup, type Lookup } from '../index/lookup.js';
import type { ServedSite } from '../index/load-site.js';
import { tableLookup } from '../index/table-lookup.js';
import { OriginHandler } from './handler.js';
import { Previews } from './preview.js';
import type { FromWorker, ToWorker, WorkerData } from './messages.js';
import { methodIndex, OTHER_METHOD, WorkerMetrics, type MethodIndex } from './metrics.js';
import { loadUws } from './uws.js';
import { workerCache } from '../common/worker-cache.js';

const data = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('server/worker.js must run as a worker thread');
const uws = loadUws();
const options: ServeOptions = data.options;
const post = (m: FromWorker): void => port.postMessage(m);

const metrics = new WorkerMetrics(data.metrics, data.worker);
metrics.resetGauges();
const cacheBudget = workerCache(options.cacheSize, options.workers, options.cacheMaxFile);
const bodies = new BodyStore(cacheBudget, metrics);
const log = options.accessLog === 'off' ? undefined : new AccessLog(options.accessLog, options.logFormat);
let index: Lookup = lookupOf(data.site);
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
  workerCache: cacheBudget,
  metrics: data.metrics,
  served: () => index,
  invalidRoot: () => invalidRoot,
  draining: () => draining,
});
const previews = options.preview === undefined ? undefined : new Previews(options.preview, options.headers);
const handler = new OriginHandler(index, bodies, metrics, options, admin, log, (path, reason) => post({ type: 'read-error', path, reason }), responseFault, previews);
const route = guarded(options.ipv6Only ? refuseIPv4(handler.handle) : handler.handle);
const routeTls = guarded(options.ipv6Only ? refuseIPv4(handler.handleTls) : handler.handleTls);

/** After a fault, responses in flight get this long before every connection is closed. */
const FAULT_GRACE_MS = 1000;
/** A thread that closed its sockets but still has not ended this long after a fault is ended. */
const FAULT_EXIT_MS = FAULT_GRACE_MS + 2000;

interface Listener {
  readonly app: TemplatedApp;
  sockets: us_listen_socket[];
}
const listeners: Listener[] = [];

type Route = OriginHandler['handle'];

/**
 * A handler that throws has not answered, and uWS then aborts the process ("Returning from a
 * request handler without responding ... is forbidden"). The connection is closed instead:
 * never a 500, since the status line and headers of a 200 may already be written and a cache
 * would keep the wrong body under them. The worker carries on serving.
 */
/** A release held as objects gets the Map lookup; a large one's shared file table, the table's. */
function lookupOf(site: ServedSite): Lookup {
  return 'kind' in site ? tableLookup(site, options.headers) : buildLookup(site, options.headers);
}

function guarded(next: Route): Route {
  return (res, req) => {
    try {
      next(res, req);
    } catch (e) {
      let url = '(unknown)';
      let method: MethodIndex = OTHER_METHOD;
      try {
        url = req.getUrl();
        method = methodIndex(req.getMethod());
      } catch {
        // Nothing to name the request by; the fault is still contained and reported.
      }
      responseFault(res, url, e, method);
    }
  };
}

const handlerFaults = new Map<string, number>();

/**
 * One response's code threw, in the handler or in a callback after it (a body read's `then`):
 * its connection is closed, counted as a 5xx and reported; the worker serves on.
 */
function responseFault(res: HttpResponse, url: string, e: unknown, method: MethodIndex): void {
  try {
    res.close();
  } catch {
    // The response was already completed before the throw: nothing is left to close.
  }
  metrics.fault(method);
  // Reported the 1st, 2nd, 4th, 8th ... time per message: a request that keeps hitting the same
  // bug cannot flood the log.
  // Past 100 distinct messages (one may quote the request), the rest share one count.
  const message = describeError(e);
  const key = handlerFaults.has(message) || handlerFaults.size < 100 ? message : '';
  const seen = (handlerFaults.get(key) ?? 0) + 1;
  handlerFaults.set(key, seen);
  if ((seen & (seen - 1)) === 0) post({ type: 'warn', message: `worker ${data.worker}: request ${JSON.stringify(url.slice(0, 200))} failed (connection closed): ${message}${seen > 1 ? ` (${seen} times so far)` : ''}` });
}

/** `TypeError: x is undefined (at handler.js:120:7)`: the message and where, never the whole stack. */
function describeError(e: unknown): string {
  if (!(e instanceof Error)) return typeof e === 'string' ? e : inspect(e, { depth: 1, breakLength: Infinity });
  const frame = /^\s+at (?:.*\()?(.*?)\)?$/m.exec(e.stack ?? '')?.[1];
  const where = frame === undefined ? '' : ` (at ${frame.replace(/^.*\//, '')})`;
  return `${e.name}: ${e.message}${where}`;
}

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
  app.any('/*', routeTls);
  for (const s of t.sni) app.addServerName(s.hostname, { key_file_name: s.key, cert_file_name: s.cert }).domain(s.hostname).any('/*', routeTls);
  return app;
}

/**
 * Listens on every address, or on none: when one fails, the sockets that did bind are closed
 * before the failure is returned. Nothing else knows of them, and a thread that ends holding a
 * uWS socket aborts the process (or never ends).
 */
function listenAll(app: TemplatedApp, addresses: readonly ListenAddress[], wanted: readonly number[]): Promise<us_listen_socket[] | string> {
  return Promise.all(
    addresses.map(
      (a, i) =>
        new Promise<us_listen_socket | string>((resolve) => {
          app.listen(a.host, wanted[i] ?? a.port, (s) => resolve(s === false ? `${a.family === 6 ? `[${a.host}]` : a.host}:${wanted[i] ?? a.port}` : s));
        }),
    ),
  ).then((results) => {
    const sockets = results.filter((r): r is us_listen_socket => typeof r !== 'string');
    const failed = results.find((r): r is string => typeof r === 'string');
    if (failed === undefined) return sockets;
    for (const s of sockets) uws.us_listen_socket_close(s);
    return failed;
  });
}

/** Closes every socket of an app, connections included. */
function closeApp(app: TemplatedApp): void {
  // app.close() exists in this uWS build but is missing from its types.
  (app as TemplatedApp & { close(): void }).close();
}

/** Listens with a new app; the app joins `listeners` either way, so drain closes it. */
async function listenWith(app: TemplatedApp, addresses: readonly ListenAddress[], wanted: readonly number[]): Promise<string | undefined> {
  const sockets = await listenAll(app, addresses, wanted);
  listeners.push({ app, sockets: typeof sockets === 'string' ? [] : sockets });
  return typeof sockets === 'string' ? sockets : undefined;
}

async function start(): Promise<void> {
  const plain = options.listen;
  const secure = options.tls?.listen ?? [];
  const wanted = data.ports ?? [...plain, ...secure].map((a) => a.port);
  const httpFailed = await listenWith(makeApp(false), plain, wanted.slice(0, plain.length));
  if (httpFailed !== undefined) return post({ type: 'listen-failed', address: httpFailed });
  if (secure.length > 0) {
    const tlsFailed = await listenWith(makeApp(true), secure, wanted.slice(plain.length));
    if (tlsFailed !== undefined) return post({ type: 'listen-failed', address: tlsFailed });
  }
  for (const l of listeners) for (const s of l.sockets) ports.push(uws.us_socket_local_port(s));
  metrics.set('serving', 1);
  post({ type: 'listening', ports });
}

/**
 * New certificates: a fresh SSLApp joins the TLS ports (SO_REUSEPORT), then the old one stops
 * accepting, and once its responses in flight have had --drain-timeout it is closed and dropped:
 * a node whose certificates are renewed for years keeps one TLS app, not one per renewal.
 */
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
  if (typeof sockets === 'string') {
    closeApp(app);
    return post({ type: 'warn', message: `TLS certificates not reloaded: cannot listen on ${sockets}` });
  }
  for (const s of old.sockets) uws.us_listen_socket_close(s);
  old.sockets = [];
  listeners.push({ app, sockets });
  setTimeout(() => retire(old), options.drainTimeout * 1000).unref();
}

/** Closes a replaced listener's app (its remaining connections) and forgets it; drain may have done so already. */
function retire(old: Listener): void {
  const at = listeners.indexOf(old);
  if (at === -1 || draining) return;
  listeners.splice(at, 1);
  closeApp(old.app);
}

let deadline = Number.POSITIVE_INFINITY;

/**
 * Stops accepting, lets responses in flight finish for up to `graceMs` (a second call may only
 * shorten that), then closes every connection and lets the thread end.
 */
function drain(graceMs: number): void {
  deadline = Math.min(deadline, Date.now() + graceMs);
  if (draining) return;
  draining = true;
  metrics.set('serving', 0);
  for (const l of listeners) {
    for (const s of l.sockets) uws.us_listen_socket_close(s);
    l.sockets = [];
  }
  const check = (): void => {
    if (metrics.get('inflight') > 0 && Date.now() < deadline) {
      setTimeout(check, 20);
      return;
    }
    for (const l of listeners) closeApp(l.app);
    log?.close();
    post({ type: 'closed' });
    port?.close();
  };
  check();
}

let faulted = false;

/**
 * An exception nothing caught. The thread's state can no longer be trusted, but ending it now
 * would abort the process: report it, drain briefly, and end with code 1 once the sockets are
 * closed. The main thread starts a new worker in its place.
 */
function fault(what: string, e: unknown): void {
  process.exitCode = 1;
  if (faulted) return;
  faulted = true;
  post({ type: 'fault', message: `${what}: ${describeError(e)}` });
  drain(FAULT_GRACE_MS);
  // Something else may keep the thread alive (a pending read): by then the sockets are closed.
  setTimeout(() => process.exit(1), FAULT_EXIT_MS).unref();
}

// In a worker thread these are the thread's own: the other threads keep serving.
process.on('uncaughtException', (e) => fault('uncaught exception', e));
process.on('unhandledRejection', (e) => fault('unhandled promise rejection', e));

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'index':
      index = lookupOf(m.site);
      handler.index = index;
      invalidRoot = false;
      break;
    case 'invalid-root':
      invalidRoot = true;
      break;
    case 'drain':
      drain(options.drainTimeout * 1000);
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
