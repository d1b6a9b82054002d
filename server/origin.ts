/**
 * The origin node's main thread: claims the ports, loads the content root, and composes the
 * owners that do the rest: the worker pool (server/worker-pool.ts), the content and certificate
 * watchers (server/watchers.ts), and the rescans the content watcher asks for. It serves
 * nothing itself.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { fileCount, loadSite, type ServedSite } from '../index/load-site.js';
import type { ScanCache } from '../content/scan.js';
import type { ListenAddress, ServeOptions } from './config.js';
import { sampleConnections } from './connections.js';
import type { FromWorker, ToWorker, WorkerData } from './messages.js';
import { allocateMetrics, WorkerMetrics } from './metrics.js';
import { loadUws } from './uws.js';
import { watchCertificates, watchContent, type CertWatcher, type ContentWatcher } from './watchers.js';
import { createWorkerPool, StartError } from './worker-pool.js';

export { StartError };

export interface OriginEvents {
  /** One-line operational messages (index swaps, warnings). */
  info?(message: string): void;
  warn?(message: string): void;
}

export interface OriginNode {
  /** Bound ports, one per --listen address, then one per --tls-listen address. */
  readonly ports: readonly number[];
  /** A URL per listen address, `http://[::1]:8080/` for `[::]:8080`. */
  readonly urls: readonly string[];
  releaseId(): string;
  /** Re-scans the root now and swaps every worker to the new index. */
  reindex(): Promise<void>;
  /** Reopens the access log file in every worker (after logrotate moved it). */
  reopenLog(): void;
  /** Drains: stop accepting, finish in-flight responses (up to --drain-timeout), close. */
  close(): Promise<void>;
}

/**
 * What a test may replace in the node, never set from the command line, the environment or a
 * configuration file (resolveOptions knows nothing of it).
 */
export interface OriginInternals {
  /** The worker thread's module: a test fixture that imports server/worker.js and injects a fault. */
  readonly workerUrl?: URL;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function startOrigin(options: ServeOptions, events: OriginEvents = {}, internals: OriginInternals = {}): Promise<OriginNode> {
  const workerUrl = internals.workerUrl ?? WORKER_URL;
  loadUws();
  checkAccessLog(options.accessLog);
  const addresses = [...options.listen, ...(options.tls?.listen ?? [])];
  // Concrete ports before any worker starts: uSockets sets SO_REUSEPORT only for a non-zero
  // port, so workers could not share a port-0 socket.
  const wanted: number[] = [];
  for (const a of addresses) wanted.push(await claimPort(a));
  let cache: ScanCache | undefined;
  let site: ServedSite;
  try {
    const scanned = await loadSite(options.root);
    site = scanned.index;
    cache = scanned.cache;
  } catch (e) {
    throw new StartError(`cannot serve ${options.root}: ${(e as Error).message}`, 'PI_ORIGIN_BAD_ROOT');
  }
  reportSkipped(site, events);
  const metrics = allocateMetrics(options.workers);
  const startedAt = Date.now();
  const version = packageVersion();
  const reportReadError = oncePerPath(events);
  let invalidRoot: string | undefined;

  const pool = createWorkerPool({
    size: options.workers,
    events,
    // A restarted worker starts on the current index, and learns the root is invalid if it is.
    spawn: (i, ports) => {
      const data: WorkerData = { options, worker: i, metrics, startedAt, version, ports, site };
      const w = new Worker(workerUrl, { workerData: data });
      if (invalidRoot !== undefined) w.postMessage({ type: 'invalid-root', reason: invalidRoot } satisfies ToWorker);
      return w;
    },
    onMessage: (i, m: FromWorker) => {
      if (m.type === 'warn') events.warn?.(m.message);
      else if (m.type === 'read-error') reportReadError(m.path, m.reason);
      else if (m.type === 'fault') events.warn?.(`worker ${i} failed: ${m.message}; it closes its connections and ends`);
    },
    // It may have died without a word: its gauges are no longer true.
    onExit: (i) => new WorkerMetrics(metrics, i).resetGauges(),
    onRestart: (i) => new WorkerMetrics(metrics, i).add('restarts', 1),
  });
  const ports = await pool.start(wanted);

  const stopSampling = sampleConnections(metrics, ports);
  let rootReal = site.root;
  let content: ContentWatcher | undefined;
  const rescan = async (): Promise<void> => {
    try {
      const scanned = await loadSite(options.root, { cache });
      cache = scanned.cache;
      const changed = scanned.index.releaseId !== site.releaseId || scanned.index.root !== site.root;
      site = scanned.index;
      invalidRoot = undefined;
      pool.broadcast({ type: 'index', site });
      if (changed) events.info?.(`re-indexed ${options.root}: release ${site.releaseId}, ${fileCount(site)} files`);
      if (site.root !== rootReal) {
        rootReal = site.root;
        await content?.follow(rootReal);
        // Changes made while the new watcher was starting are seen by one more scan.
        reindex.again();
      }
    } catch (e) {
      events.warn?.(`content root invalid, health reports 503: ${(e as Error).message}`);
      invalidRoot = (e as Error).message;
      pool.broadcast({ type: 'invalid-root', reason: invalidRoot });
    }
  };
  const reindex = coalesce(rescan);
  let certs: CertWatcher | undefined;
  if (options.watch) {
    content = watchContent(options.root, rootReal, () => void reindex.run());
    const tls = options.tls;
    const files = tls === undefined ? [] : [tls.cert, tls.key, ...tls.sni.flatMap((s) => [s.cert, s.key])];
    if (files.length > 0)
      certs = watchCertificates(files, () => {
        events.info?.('TLS certificate files changed: reloading');
        pool.broadcast({ type: 'tls-reload' });
      });
    // The watchers report nothing until their initial walk is done: wait, then catch up once.
    await Promise.all([content.ready, certs?.ready]);
    await reindex.run();
  }

  let closed: Promise<void> | undefined;
  return {
    ports,
    urls: options.listen.map((a, i) => urlFor(a, ports[i] ?? a.port, 'http')).concat((options.tls?.listen ?? []).map((a, i) => urlFor(a, ports[options.listen.length + i] ?? a.port, 'https'))),
    releaseId: () => site.releaseId,
    reindex: reindex.run,
    reopenLog: () => pool.broadcast({ type: 'reopen-log' }),
    close() {
      closed ??= (async () => {
        stopSampling();
        await Promise.all([content?.close(), certs?.close()]);
        await pool.close();
      })();
      return closed;
    },
  };
}

interface Coalesced {
  /** Runs now, or, while a run is under way, once more after it; resolves when this run ends. */
  readonly run: () => Promise<void>;
  /** Asks for one more run after the current one. */
  readonly again: () => void;
}

/** Serialises `fn`: never two at once, and any number of requests during a run make one more. */
function coalesce(fn: () => Promise<void>): Coalesced {
  let current: Promise<void> | undefined;
  let wanted = false;
  const run = (): Promise<void> => {
    if (current !== undefined) {
      wanted = true;
      return current;
    }
    current = fn().finally(() => {
      current = undefined;
      if (wanted) {
        wanted = false;
        void run();
      }
    });
    return current;
  };
  return { run, again: () => void (wanted = true) };
}

/** Every worker reports a file that cannot be read; the operator is told once per file. */
function oncePerPath(events: OriginEvents): (path: string, reason: string) => void {
  const unreadable = new Set<string>();
  return (path, reason) => {
    if (unreadable.has(path)) return;
    unreadable.add(path);
    events.warn?.(`cannot read ${path}: ${reason} (answered 500, or cut once streaming began; logged once, every failure counted in pi_origin_read_errors_total)`);
  };
}

/**
 * Each worker opens the access log itself; a path none of them can open must stop the start
 * here, naming the option, rather than crash every worker with a stack trace.
 */
function checkAccessLog(destination: string): void {
  if (destination === 'off' || destination === 'stdout') return;
  try {
    closeSync(openSync(destination, 'a', 0o640));
  } catch (e) {
    throw new StartError(`--access-log: cannot open ${destination}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'PI_ORIGIN_ACCESS_LOG');
  }
}

/**
 * uWS listens with SO_REUSEPORT, so a second origin on the same port would silently share it.
 * A plain bind without SO_REUSEPORT fails if anything holds the port: we refuse to start then.
 * Port 0 becomes a free concrete port here. Resolves to the port to give the workers.
 */
function claimPort(a: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        new StartError(
          e.code === 'EADDRINUSE' ? `${show(a)} is already in use (another pi-origin or web server?)` : `cannot listen on ${show(a)}: ${e.code ?? e.message}`,
          'PI_ORIGIN_LISTEN',
        ),
      );
    });
    probe.listen({ host: a.host, port: a.port, exclusive: true, ipv6Only: a.family === 6 && a.host === '::' ? false : undefined }, () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

function show(a: ListenAddress): string {
  return a.family === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A URL a person can paste: the wildcard addresses become loopback. */
export function urlFor(a: ListenAddress, port: number, scheme: 'http' | 'https'): string {
  const host = a.host === '::' ? '[::1]' : a.host === '0.0.0.0' ? '127.0.0.1' : a.family === 6 ? `[${a.host}]` : a.host;
  return `${scheme}://${host}:${port}/`;
}

function reportSkipped(site: ServedSite, events: OriginEvents): void {
  if (site.skipped.length > 0) events.warn?.(`skipped ${site.skipped.length} entries (symlinks leaving the root or unreadable): ${site.skipped.slice(0, 5).join(', ')}${site.skipped.length > 5 ? ', ...' : ''}`);
}
