/**
 * The dashboard's poller: every interval it asks each node for `/_origin/status` and
 * `/_origin/metrics` (HTTP only, as `cluster status` does), HAProxy for `show stat` when a
 * source is configured, and lists the latest gate/bench reports; the view
 * (cluster/dashboard-view.ts) turns that into one {@link DashboardState}, computed once per
 * poll and served as JSON as is.
 */
import { listReports } from './dashboard-reports.js';
import type { DashboardState, HistoryPoint, ProxyServer, ProxyView } from './dashboard-state.js';
import { buildView, type NodeMemory, type Reading } from './dashboard-view.js';
import { describeSource, readProxy, type ProxySource } from './haproxy-stat.js';
import type { InventoryHost } from './inventory.js';
import { METRICS_PATH, nodeMetrics } from './node-metrics.js';
import { getText, probeNode } from './node-probe.js';
import { inParallel, MAX_IN_FLIGHT } from './parallel.js';

/** How far back the cluster chart goes. */
export const HISTORY_MS = 10 * 60_000;

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
