/**
 * The origin node's main thread: scans the content root, starts the worker threads, watches
 * for content and certificate changes, and drains on shutdown. It serves nothing itself.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { watch, type FSWatcher } from 'chokidar';
import { loadSite } from '../index/load-site.js';
import type { ScanCache } from '../content/scan.js';
import type { SiteIndex } from '../content/site-index.js';
import type { ListenAddress, ServeOptions } from './config.js';
import { sampleConnections } from './connections.js';
import type { FromWorker, ToWorker, WorkerData } from './messages.js';
import { allocateMetrics, WorkerMetrics } from './metrics.js';
import { loadUws } from './uws.js';

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

export class StartError extends Error {
  override readonly name = 'StartError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

const WORKER_URL = new URL('./worker.js', import.meta.url);
const DEBOUNCE_MS = 100;
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that served this long before it died starts the backoff over. */
const RESTART_RESET_MS = 60_000;

/** One worker's place: the thread serving it, and its deaths for the restart backoff. */
interface Slot {
  /** Undefined between a death and the restart. */
  worker: Worker | undefined;
  startedAt: number;
  /** Deaths in a row, each less than RESTART_RESET_MS after its start. */
  deaths: number;
  timer: NodeJS.Timeout | undefined;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function startOrigin(options: ServeOptions, events: OriginEvents = {}, internals: OriginInternals = {}): Promise<OriginNode> {
  const workerUrl = internals.workerUrl ?? WORKER_URL;
  loadUws();
  const addresses = [...options.listen, ...(options.tls?.listen ?? [])];
  // Concrete ports before any worker starts: uSockets sets SO_REUSEPORT only for a non-zero
  // port, so workers could not share a port-0 socket.
  const wanted: number[] = [];
  for (const a of addresses) wanted.push(await claimPort(a));
  let cache: ScanCache | undefined;
  let site: SiteIndex;
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
  const slots: Slot[] = Array.from({ length: options.workers }, () => ({ worker: undefined, startedAt: 0, deaths: 0, timer: undefined }));
  let serving = false;
  let closing = false;
  // Every worker reports a file that cannot be read; the operator is told once per file.
  const unreadable = new Set<string>();
  const reportReadError = (path: string, reason: string): void => {
    if (unreadable.has(path)) return;
    unreadable.add(path);
    events.warn?.(`cannot read ${path}: ${reason} (answered 500, or cut once streaming began; logged once, every failure counted in pi_origin_read_errors_total)`);
  };
  let invalidRoot: string | undefined;

  /** Starts worker `i`; resolves when it listens, rejects when it cannot listen or dies first. */
  const spawn = (i: number, ports: readonly number[] | undefined): Promise<{ worker: Worker; ports: readonly number[] }> =>
    new Promise((resolve, reject) => {
      const data: WorkerData = { options, worker: i, metrics, startedAt, version, ports, site };
      const w = new Worker(workerUrl, { workerData: data });
      const slot = slots[i] as Slot;
      slot.worker = w;
      slot.startedAt = Date.now();
      if (invalidRoot !== undefined) w.postMessage({ type: 'invalid-root', reason: invalidRoot } satisfies ToWorker);
      let listened = false;
      w.on('message', (m: FromWorker) => {
        if (m.type === 'listening') {
          listened = true;
          resolve({ worker: w, ports: m.ports });
        }
        else if (m.type === 'listen-failed') reject(new StartError(`cannot listen on ${m.address} (in use, or not an address of this host)`, 'PI_ORIGIN_LISTEN'));
        else if (m.type === 'warn') events.warn?.(m.message);
        else if (m.type === 'read-error') reportReadError(m.path, m.reason);
        else if (m.type === 'fault') events.warn?.(`worker ${i} failed: ${m.message}; it closes its connections and ends`);
      });
      w.on('error', (e) => (closing ? undefined : events.warn?.(`worker ${i} failed: ${e.message}`)));
      w.on('exit', (code) => {
        reject(new StartError(`worker ${i} exited with code ${code} while starting`, 'PI_ORIGIN_WORKER'));
        if (slot.worker !== w) return;
        slot.worker = undefined;
        // It may have died without a word: its gauges are no longer true.
        new WorkerMetrics(metrics, i).resetGauges();
        // A worker that never listened during the node's start fails the start instead.
        if (!closing && (serving || listened)) scheduleRestart(i, code);
      });
    });

  /**
   * A worker that died is started again after a backoff: 100 ms, doubling with each death in a
   * row up to 10 s, so a worker that dies at once does not spin a core. One that served for a
   * minute starts over at 100 ms.
   */
  const scheduleRestart = (i: number, code: number): void => {
    const slot = slots[i] as Slot;
    slot.deaths = Date.now() - slot.startedAt >= RESTART_RESET_MS ? 1 : slot.deaths + 1;
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (slot.deaths - 1));
    const times = slot.deaths > 1 ? ` (${slot.deaths} times in a row)` : '';
    events.warn?.(`worker ${i} exited with code ${code}${times}; restarting it in ${delay < 1000 ? `${delay} ms` : `${delay / 1000} s`}`);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (closing) return;
      new WorkerMetrics(metrics, i).add('restarts', 1);
      spawn(i, resolvedPorts).then(
        () => events.info?.(`worker ${i} restarted: ${options.workers - slots.filter((s) => s.worker === undefined).length} of ${options.workers} workers running`),
        (e: Error) => {
          events.warn?.(`worker ${i} could not be restarted: ${e.message}`);
          // Alive but not listening: end it, and its exit schedules the next try.
          const w = slot.worker;
          if (w !== undefined) void drainWorker(w);
        },
      );
    }, delay);
  };

  const running = (): Worker[] => slots.flatMap((s) => (s.worker === undefined ? [] : [s.worker]));
  let resolvedPorts: readonly number[];
  try {
    const first = await spawn(0, wanted);
    resolvedPorts = first.ports;
    await Promise.all(Array.from({ length: options.workers - 1 }, (_, k) => spawn(k + 1, resolvedPorts)));
    serving = true;
  } catch (e) {
    closing = true;
    for (const slot of slots) clearTimeout(slot.timer);
    await Promise.all(running().map((w) => drainWorker(w)));
    throw e;
  }

  const stopSampling = sampleConnections(metrics, resolvedPorts);
  const broadcast = (m: ToWorker): void => running().forEach((w) => w.postMessage(m));
  let rootReal = site.root;
  let scanning: Promise<void> | undefined;
  let rescanWanted = false;
  const rescan = async (): Promise<void> => {
    try {
      const scanned = await loadSite(options.root, { cache });
      cache = scanned.cache;
      const changed = scanned.index.releaseId !== site.releaseId || scanned.index.root !== site.root;
      site = scanned.index;
      invalidRoot = undefined;
      broadcast({ type: 'index', site });
      if (changed) events.info?.(`re-indexed ${options.root}: release ${site.releaseId}, ${site.files.length} files`);
      if (site.root !== rootReal) {
        rootReal = site.root;
        await contentWatcher?.close();
        contentWatcher = watchContent();
        // Changes made while the new watcher was starting are seen by one more scan.
        await ready(contentWatcher);
        rescanWanted = true;
      }
    } catch (e) {
      events.warn?.(`content root invalid, health reports 503: ${(e as Error).message}`);
      invalidRoot = (e as Error).message;
      broadcast({ type: 'invalid-root', reason: invalidRoot });
    }
  };
  const reindex = async (): Promise<void> => {
    if (scanning !== undefined) {
      rescanWanted = true;
      return scanning;
    }
    scanning = rescan().finally(() => {
      scanning = undefined;
      if (rescanWanted) {
        rescanWanted = false;
        void reindex();
      }
    });
    return scanning;
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => void reindex(), DEBOUNCE_MS);
  };
  // The root may be a symlink (releases/current): watch the target tree, and the parent
  // directory for the link itself being re-pointed by rename(2).
  const watchContent = (): FSWatcher => watch(rootReal, { ignoreInitial: true, followSymlinks: false }).on('all', schedule).on('error', schedule);
  let contentWatcher: FSWatcher | undefined = options.watch ? watchContent() : undefined;
  const linkWatcher = options.watch
    ? watch(dirname(options.root), { ignoreInitial: true, depth: 0, followSymlinks: false })
        .on('all', (_event, path) => (basename(path) === basename(options.root) ? schedule() : undefined))
        .on('error', schedule)
    : undefined;
  const tlsFiles = options.tls === undefined ? [] : [options.tls.cert, options.tls.key, ...options.tls.sni.flatMap((s) => [s.cert, s.key])];
  let tlsTimer: NodeJS.Timeout | undefined;
  const tlsWatcher =
    options.watch && tlsFiles.length > 0
      ? watch(tlsFiles, { ignoreInitial: true }).on('all', () => {
          clearTimeout(tlsTimer);
          tlsTimer = setTimeout(() => {
            events.info?.('TLS certificate files changed: reloading');
            broadcast({ type: 'tls-reload' });
          }, 500);
        })
      : undefined;

  // A watcher reports nothing until its initial walk is done: wait, then catch up once.
  await Promise.all([contentWatcher, linkWatcher, tlsWatcher].filter((w) => w !== undefined).map(ready));
  if (options.watch) await reindex();

  let closed: Promise<void> | undefined;
  return {
    ports: resolvedPorts,
    urls: options.listen.map((a, i) => urlFor(a, resolvedPorts[i] ?? a.port, 'http')).concat((options.tls?.listen ?? []).map((a, i) => urlFor(a, resolvedPorts[options.listen.length + i] ?? a.port, 'https'))),
    releaseId: () => site.releaseId,
    reindex,
    reopenLog: () => broadcast({ type: 'reopen-log' }),
    close() {
      closed ??= (async () => {
        closing = true;
        stopSampling();
        clearTimeout(timer);
        clearTimeout(tlsTimer);
        for (const slot of slots) clearTimeout(slot.timer);
        await Promise.all([contentWatcher?.close(), linkWatcher?.close(), tlsWatcher?.close()]);
        await Promise.all(running().map((w) => drainWorker(w)));
      })();
      return closed;
    },
  };
}

/** Asks a worker to drain and resolves when it has closed its sockets and ended. */
function drainWorker(w: Worker): Promise<void> {
  return new Promise((resolve) => {
    w.once('exit', () => resolve());
    w.postMessage({ type: 'drain' } satisfies ToWorker);
  });
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

function ready(w: FSWatcher): Promise<void> {
  return new Promise((resolve) => w.once('ready', () => resolve()));
}

function show(a: ListenAddress): string {
  return a.family === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A URL a person can paste: the wildcard addresses become loopback. */
export function urlFor(a: ListenAddress, port: number, scheme: 'http' | 'https'): string {
  const host = a.host === '::' ? '[::1]' : a.host === '0.0.0.0' ? '127.0.0.1' : a.family === 6 ? `[${a.host}]` : a.host;
  return `${scheme}://${host}:${port}/`;
}

function reportSkipped(site: SiteIndex, events: OriginEvents): void {
  if (site.skipped.length > 0) events.warn?.(`skipped ${site.skipped.length} entries (symlinks leaving the root or unreadable): ${site.skipped.slice(0, 5).join(', ')}${site.skipped.length > 5 ? ', ...' : ''}`);
}
