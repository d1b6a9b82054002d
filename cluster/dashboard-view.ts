/**
 * One poll's readings turned into the dashboard's rows and cluster totals: pure, the same
 * inputs give the same view.
 */
import type { ClusterView, NodeRow, ProxyServer, RowText } from './dashboard-state.js';
import { chooseRelease } from './dns.js';
import { humanUptime, mebibytes } from './format.js';
import type { InventoryHost } from './inventory.js';
import { rates, type Counted, type NodeMetrics, type Rates } from './node-metrics.js';
import type { NodeProbe, NodeStatus } from './node-probe.js';
import { summarise, summaryLine } from './status.js';

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
