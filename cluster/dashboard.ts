/**
 * The dashboard's poller and aggregator: every interval it asks each node for `/_origin/status`
 * and `/_origin/metrics` (HTTP only, as `cluster status` does), HAProxy for `show stat` when a
 * source is configured, and lists the latest gate/bench reports; then it turns counters into
 * rates (the difference between two polls over the time between them) and sums up the cluster.
 * The result is one {@link DashboardState}, computed once per poll and served as JSON as is.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterView, DashboardState, HistoryPoint, NodeRow, ProxyServer, ProxyView, ReportLink, RowText } from './dashboard-state.js';
import { chooseRelease } from './dns.js';
import { describeSource, readProxy, type ProxySource } from './haproxy-stat.js';
import type { InventoryHost } from './inventory.js';
import { parsePrometheusText, sumOf } from './prometheus.js';
import { getText, humanUptime, inParallel, MAX_IN_FLIGHT, mebibytes, probeNode, summarise, summaryLine, type NodeProbe, type NodeStatus } from './status.js';

export const METRICS_PATH = '/_origin/metrics';
/** How far back the cluster chart goes. */
export const HISTORY_MS = 10 * 60_000;
/** Reports listed, newest first: enough for a launch day's gate runs without a wall of links. */
export const MAX_REPORTS = 12;
/** The names load-tests/report/write.ts gives reports: `gate-<time>`, `gate-latest`, `bench-report`. */
export const REPORT_FILE = /^(gate-[A-Za-z0-9-]+|bench-report)\.(html|json)$/;

// ---------------------------------------------------------------------------------------------
// A node's counters

/** The counters and gauges of one `/_origin/metrics` answer (names as server/admin.ts writes them). */
export interface NodeMetrics {
  /** Responses of every status class. */
  readonly requests: number;
  /** 5xx responses. */
  readonly errors: number;
  readonly bytesOut: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly cacheBytes: number;
  readonly connections: number;
}

/** The node's counters from its metrics text, or what is wrong with it. */
export function nodeMetrics(text: string): NodeMetrics | string {
  const samples = parsePrometheusText(text);
  if (typeof samples === 'string') return samples;
  const read = {
    requests: sumOf(samples, 'pi_origin_requests_total'),
    // A node that never answered a 5xx still writes the line with 0.
    errors: sumOf(samples, 'pi_origin_requests_total', { class: '5xx' }),
    bytesOut: sumOf(samples, 'pi_origin_bytes_out_total'),
    cacheHits: sumOf(samples, 'pi_origin_cache_hits_total'),
    cacheMisses: sumOf(samples, 'pi_origin_cache_misses_total'),
    cacheBytes: sumOf(samples, 'pi_origin_cache_bytes'),
    connections: sumOf(samples, 'pi_origin_active_connections'),
  };
  const missing = Object.entries(read).find(([, v]) => v === undefined || !Number.isFinite(v));
  if (missing !== undefined) return `metrics without ${missing[0]}`;
  return read as NodeMetrics;
}

/** A node's counters at one moment (`at`: a monotonic clock, ms) and its uptime then. */
export interface Counted {
  readonly at: number;
  readonly uptimeSeconds: number;
  readonly metrics: NodeMetrics;
}

export interface Rates {
  readonly requestsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly errorsPerSecond: number;
  readonly cacheHitRatio: number | null;
}

/**
 * Rates between two readings of one node. A counter that went down, or an uptime shorter than
 * the time since the previous reading, means the node restarted in between: its counters then
 * count from zero, so the increase is the current value (as Prometheus' `rate` treats resets).
 */
export function rates(previous: Counted, current: Counted): Rates | undefined {
  const ms = current.at - previous.at;
  if (!(ms > 0)) return undefined;
  const p = previous.metrics;
  const c = current.metrics;
  const keys = ['requests', 'errors', 'bytesOut', 'cacheHits', 'cacheMisses'] as const;
  const restarted = keys.some((k) => c[k] < p[k]) || current.uptimeSeconds * 1000 + 1000 < ms;
  const increase = (k: (typeof keys)[number]): number => (restarted ? c[k] : c[k] - p[k]);
  const lookups = increase('cacheHits') + increase('cacheMisses');
  return {
    requestsPerSecond: (increase('requests') * 1000) / ms,
    bytesPerSecond: (increase('bytesOut') * 1000) / ms,
    errorsPerSecond: (increase('errors') * 1000) / ms,
    cacheHitRatio: lookups > 0 ? increase('cacheHits') / lookups : null,
  };
}

// ---------------------------------------------------------------------------------------------
// One poll → rows and the cluster

/** What one poll learnt about one node. */
export interface Reading {
  readonly host: InventoryHost;
  readonly probe: NodeProbe;
  /** The metrics, or why they could not be read. */
  readonly metrics: NodeMetrics | string;
  /** Monotonic ms, for rates. */
  readonly at: number;
  /** Epoch ms, for people. */
  readonly wall: number;
}

/** What the dashboard keeps of a node between polls. */
export interface NodeMemory {
  /** The last reading with metrics: the base of the next rates. */
  readonly counted?: Counted;
  /** Epoch ms of the last answer. */
  readonly lastSeen?: number;
}

export interface View {
  readonly nodes: NodeRow[];
  readonly cluster: Omit<ClusterView, 'history' | 'historySeconds'>;
  readonly memory: Map<string, NodeMemory>;
}

/**
 * Rows in inventory order and the cluster totals, from this poll's readings and what was kept
 * of the previous ones. Pure: the same inputs give the same view.
 */
export function buildView(readings: readonly Reading[], memory: ReadonlyMap<string, NodeMemory>, proxy: readonly ProxyServer[] | null): View {
  const nextMemory = new Map<string, NodeMemory>();
  const rateOf = readings.map((r) => {
    const before = memory.get(r.host.name) ?? {};
    if (!r.probe.up) {
      nextMemory.set(r.host.name, before);
      return undefined;
    }
    const now: Counted | undefined = typeof r.metrics === 'string' ? undefined : { at: r.at, uptimeSeconds: r.probe.status.uptimeSeconds, metrics: r.metrics };
    nextMemory.set(r.host.name, { counted: now ?? before.counted, lastSeen: r.wall });
    return now === undefined || before.counted === undefined ? undefined : rates(before.counted, now);
  });
  const probes = readings.map((r) => r.probe);
  const served = probes.flatMap((p) => (p.up && p.status.release !== null ? [p.status.release] : []));
  const majority = served.length === 0 ? undefined : chooseRelease(served).release;
  const majorityId = typeof majority === 'string' ? majority : null;

  const nodes = readings.map((r, i): NodeRow => {
    const lastSeen = nextMemory.get(r.host.name)?.lastSeen;
    const common: RowCommon = {
      name: r.probe.name,
      address: r.probe.address,
      port: r.probe.port,
      lastSeen: lastSeen === undefined ? null : new Date(lastSeen).toISOString(),
      proxy: proxy?.find((s) => s.server === r.probe.name) ?? null,
    };
    return r.probe.up ? upRow(common, r.probe.status, r.metrics, rateOf[i], majorityId) : downRow(common, r.probe.error);
  });

  const sum = (f: (n: NodeRow) => number | null): number => nodes.reduce((a, n) => a + (f(n) ?? 0), 0);
  const status = summarise(probes);
  return {
    nodes,
    cluster: {
      up: status.up,
      total: status.total,
      requestsPerSecond: sum((n) => n.requestsPerSecond),
      bitsPerSecond: sum((n) => n.bytesPerSecond) * 8,
      release: majorityId === null ? null : { id: majorityId, nodes: status.releases[majorityId]?.length ?? 0 },
      releases: status.releases,
      summary: summaryLine(status),
    },
    memory: nextMemory,
  };
}

type RowCommon = Pick<NodeRow, 'name' | 'address' | 'port' | 'lastSeen' | 'proxy'>;

function upRow(common: RowCommon, s: NodeStatus, metrics: NodeMetrics | string, rate: Rates | undefined, majority: string | null): NodeRow {
  const m = typeof metrics === 'string' ? undefined : metrics;
  return {
    ...common,
    up: true,
    health: s.health,
    release: s.release,
    releaseAgrees: s.release !== null && s.release === majority,
    uptimeSeconds: s.uptimeSeconds,
    requestsPerSecond: rate?.requestsPerSecond ?? null,
    bytesPerSecond: rate?.bytesPerSecond ?? null,
    errorsPerSecond: rate?.errorsPerSecond ?? null,
    // Without metrics, the status document still has the cache and the connections.
    cacheBytes: m?.cacheBytes ?? s.cacheBytes,
    cacheHitRatio: rate?.cacheHitRatio ?? null,
    connections: m?.connections ?? s.connections,
    error: typeof metrics === 'string' ? metrics : null,
    text: rowText(s.uptimeSeconds, rate, m?.cacheBytes ?? s.cacheBytes),
  };
}

/** A node that did not answer its status: everything unknown but the error (it does not count against the release). */
function downRow(common: RowCommon, error: string): NodeRow {
  return {
    ...common,
    up: false,
    health: 'down',
    release: null,
    releaseAgrees: true,
    uptimeSeconds: null,
    requestsPerSecond: null,
    bytesPerSecond: null,
    errorsPerSecond: null,
    cacheBytes: null,
    cacheHitRatio: null,
    connections: null,
    error,
    text: { uptime: '–', requests: '–', bytes: '–', errors: '–', cache: '–' },
  };
}

// ---------------------------------------------------------------------------------------------
// Presentation: the strings the page shows

function rowText(uptimeSeconds: number, rate: Rates | undefined, cacheBytes: number): RowText {
  const hits = rate?.cacheHitRatio;
  return {
    uptime: humanUptime(uptimeSeconds),
    requests: rate === undefined ? '…' : perSecond(rate.requestsPerSecond),
    bytes: rate === undefined ? '…' : bytesPerSecond(rate.bytesPerSecond),
    errors: rate === undefined ? '…' : perSecond(rate.errorsPerSecond),
    cache: mebibytes(cacheBytes) + (hits === undefined || hits === null ? '' : ` · ${Math.floor(hits * 100)}% hits`),
  };
}

/** `0`, `0.4`, `12.5`, `1,234`: a decimal only where it says something. */
export function perSecond(n: number): string {
  if (n === 0) return '0';
  return n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

/** Bytes per second in SI units: `0 B/s`, `512 B/s`, `12.3 kB/s`, `4.56 MB/s`. */
export function bytesPerSecond(n: number): string {
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s'] as const;
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = u === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${units[u] as string}`;
}

// ---------------------------------------------------------------------------------------------
// Reports

/**
 * The gate and bench reports in `dirs` (not recursive), newest first, at most {@link MAX_REPORTS}.
 * A missing directory lists nothing: `load-tests/out` exists only once the gate has run.
 */
export function listReports(dirs: readonly string[]): ReportLink[] {
  const found: (ReportLink & { mtime: number })[] = [];
  dirs.forEach((dir, i) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = REPORT_FILE.exec(name);
      if (m === null || m[2] !== 'html') continue;
      let stat;
      try {
        stat = statSync(join(dir, name));
      } catch {
        continue;
      }
      if (!stat.isFile()) continue;
      const json = `${m[1] as string}.json`;
      found.push({
        kind: name.startsWith('gate-') ? 'gate' : 'bench',
        name,
        href: reportHref(i, name),
        jsonHref: existsSync(join(dir, json)) ? reportHref(i, json) : null,
        modified: stat.mtime.toISOString(),
        mtime: stat.mtimeMs,
      });
    }
  });
  found.sort((a, b) => b.mtime - a.mtime || (a.name < b.name ? -1 : 1));
  return found.slice(0, MAX_REPORTS).map(({ mtime: _, ...link }) => link);
}

/** `/reports/<index of the directory>/<file>`: the only paths the dashboard serves files from. */
export function reportHref(dirIndex: number, name: string): string {
  return `/reports/${dirIndex}/${encodeURIComponent(name)}`;
}

// ---------------------------------------------------------------------------------------------
// The poller

export interface DashboardOptions {
  readonly hosts: readonly InventoryHost[];
  readonly inventory: { readonly file: string; readonly group: string };
  readonly intervalMs: number;
  /** Per request to a node or to HAProxy. */
  readonly timeoutMs: number;
  readonly proxy?: ProxySource;
  readonly reportDirs: readonly string[];
  /** Monotonic milliseconds (default `performance.now`). */
  readonly now?: () => number;
  /** Epoch milliseconds (default `Date.now`). */
  readonly wallNow?: () => number;
}

/**
 * Polls every `intervalMs` (measured from the start of one poll to the next; a poll that takes
 * longer delays the next, so polls never overlap) and keeps the latest state and its JSON.
 */
export class Dashboard {
  private readonly options: DashboardOptions;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly stopper = new AbortController();
  private memory: ReadonlyMap<string, NodeMemory> = new Map();
  private history: HistoryPoint[] = [];
  private proxyServers: ProxyServer[] = [];
  private latest: DashboardState | undefined;
  private latestJson = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(options: DashboardOptions) {
    this.options = options;
    this.now = options.now ?? (() => performance.now());
    this.wallNow = options.wallNow ?? Date.now;
  }

  /** The state of the last poll (undefined before the first has finished). */
  state(): DashboardState | undefined {
    return this.latest;
  }

  /** The same as JSON, serialised once per poll. */
  stateJson(): string {
    return this.latestJson;
  }

  /** One poll of every node (and HAProxy); the new state. Never rejects. */
  async poll(): Promise<DashboardState> {
    const o = this.options;
    const signal = this.stopper.signal;
    const [readings, proxy] = await Promise.all([
      // Two requests per node: half as many nodes at once as `cluster status` asks.
      inParallel(o.hosts, MAX_IN_FLIGHT / 2, (host) => this.read(host, signal)),
      o.proxy === undefined ? undefined : readProxy(o.proxy, o.timeoutMs, signal),
    ]);
    let proxyView: ProxyView | null = null;
    if (o.proxy !== undefined) {
      if (Array.isArray(proxy)) this.proxyServers = proxy;
      proxyView = { source: describeSource(o.proxy), error: typeof proxy === 'string' ? proxy : null, servers: this.proxyServers };
    }
    const view = buildView(readings, this.memory, proxyView === null ? null : this.proxyServers);
    this.memory = view.memory;
    const wall = this.wallNow();
    if (view.nodes.some((n) => n.requestsPerSecond !== null)) this.history.push({ t: wall, requestsPerSecond: view.cluster.requestsPerSecond, bitsPerSecond: view.cluster.bitsPerSecond });
    this.history = this.history.filter((p) => p.t >= wall - HISTORY_MS);
    this.latest = {
      generated: new Date(wall).toISOString(),
      intervalMs: o.intervalMs,
      inventory: o.inventory,
      nodes: view.nodes,
      cluster: { ...view.cluster, history: this.history, historySeconds: HISTORY_MS / 1000 },
      proxy: proxyView,
      reports: listReports(o.reportDirs),
      reportDirs: o.reportDirs,
    };
    this.latestJson = JSON.stringify(this.latest);
    return this.latest;
  }

  /** Polls now and then every interval until stop(); resolves once the first poll is done. */
  start(): Promise<void> {
    const loop = async (): Promise<void> => {
      const started = this.now();
      await this.poll();
      if (!this.stopper.signal.aborted) this.timer = setTimeout(() => void loop(), Math.max(0, this.options.intervalMs - (this.now() - started)));
    };
    return loop();
  }

  /** No more polls; requests in flight are cut off. */
  stop(): void {
    this.stopper.abort();
    clearTimeout(this.timer);
  }

  private async read(host: InventoryHost, signal: AbortSignal): Promise<Reading> {
    const t = this.options.timeoutMs;
    const [probe, metrics] = await Promise.all([probeNode(host, t, signal), getText(host, METRICS_PATH, 'text/plain', t, signal)]);
    return { host, probe, metrics: metrics.ok ? nodeMetrics(metrics.body) : `metrics: ${metrics.error}`, at: this.now(), wall: this.wallNow() };
  }
}
