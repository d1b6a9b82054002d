/**
 * The capacity plan: a launch's traffic and a node's measured capacity in, a number of Pis out.
 * Pure arithmetic, no I/O; `cli/plan.ts` parses flags and prints. Every formula is stated next to
 * the line that computes it and again in docs/capacity.md.
 *
 * Units: requests per second (req/s), megabits per second (Mbit/s = 10⁶ bit/s), bytes (B).
 */
import { workerCache } from '../common/worker-cache.js';
import type { Report } from '../load-tests/report/model.js';

export const SECONDS_PER_DAY = 86_400;
/** 1 Mbit/s = 10⁶ bit/s = 125,000 B/s. */
export const BYTES_PER_SEC_PER_MBPS = 125_000;

/** The limits a node runs into, in the order ties are reported. */
export const LIMITS = ['cpu', 'nic', 'memory'] as const;
export type Limit = (typeof LIMITS)[number];

export interface PlanOptions {
  /** Visitors in the planned day. */
  readonly visitorsPerDay: number;
  /** Busiest hour's rate / the day's average rate (5: the peak hour holds 5/24 ≈ 21% of the day). */
  readonly peakFactor: number;
  /** Requests one visit makes (page, assets, API). */
  readonly requestsPerVisit: number;
  /** Bytes one visit downloads; give this or `responseBytes`. */
  readonly bytesPerVisit?: number;
  /** Average response size; `bytesPerVisit` = `responseBytes` × `requestsPerVisit`. */
  readonly responseBytes?: number;
  /** Share of requests the CDN answers from its cache (0 without a CDN). */
  readonly cdnHitRatio: number;
  /** Share of bytes the CDN answers; defaults to `cdnHitRatio`. */
  readonly cdnByteHitRatio?: number;
  /** Requests per second one node served at saturation (measured: CPU-bound). */
  readonly nodeReqPerSec: number;
  /** Line rate of the node's NIC, Mbit/s (Pi 4: 1000). */
  readonly nicMbps: number;
  /** Share of the line rate planned for (TCP/IP and TLS overhead, bursts). */
  readonly nicCeiling: number;
  /** The node's body cache (`serve --cache-size`), split evenly between its workers. */
  readonly cacheBytes: number;
  /** Worker threads per node (`serve --workers`; a Pi 4 has 4 cores). Each caches its own share. */
  readonly workers: number;
  /** Bytes of distinct content requested at the origin in the busy period; absent: fits the cache. */
  readonly workingSetBytes?: number;
  /** Rate the node reads files from its storage, Mbit/s. */
  readonly diskMbps: number;
  /** Share of a measured capacity (CPU, disk) a node is planned to use at peak. */
  readonly targetUtilisation: number;
  /** Spare nodes on top of those the peak needs (1: N+1). */
  readonly headroom: number;
  /** HTTPS req/s one proxy core carries on kept-alive connections, small responses (`bench:front`). */
  readonly proxyCoreReqPerSec: number;
  /** HTTPS response Mbit/s one proxy core encrypts and sends (`bench:front`, large files). */
  readonly proxyCoreMbps: number;
  /** New TLS connections (full handshakes) one proxy core accepts per second (`bench:front`). */
  readonly proxyCoreHandshakes: number;
  /** New TLS connections a visit opens at the front (a browser: one HTTP/2 connection). */
  readonly connectionsPerVisit: number;
  /** Cores of one proxy host; 0: no proxy in the origin path (a CDN fetching from the nodes). */
  readonly proxyCores: number;
  /** Uplink of one proxy host, Mbit/s. */
  readonly proxyUplinkMbps: number;
}

export type PlanInput = Partial<PlanOptions> & Pick<PlanOptions, 'visitorsPerDay' | 'requestsPerVisit'>;

/**
 * Defaults, each justified in docs/capacity.md. The disk rate is a Pi 4 reading from a good SD
 * card (about 40 MB/s; the Pi 4's SD interface tops out near 50 MB/s); a USB 3 SSD is about
 * 300 MB/s (`--disk-mbps 2400`).
 */
export const PLAN_DEFAULTS = Object.freeze({
  peakFactor: 5,
  cdnHitRatio: 0,
  nicMbps: 1000,
  nicCeiling: 0.7,
  cacheBytes: 1024 ** 3,
  workers: 4,
  diskMbps: 320,
  targetUtilisation: 0.6,
  headroom: 1,
  // Measured by `npm run bench:front` (load-tests/RESULTS.md, "TLS at the front"): HAProxy 2.6,
  // one thread, Mozilla intermediate, ECDSA P-256, on the 2-core AMD EPYC this project is tested
  // on; the lower of two runs, rounded down. Not a Pi: measure the proxy host and pass the flags.
  proxyCoreReqPerSec: 9000,
  proxyCoreMbps: 2100,
  proxyCoreHandshakes: 900,
  connectionsPerVisit: 1,
  proxyCores: 4,
  proxyUplinkMbps: 1000,
});

/** The CLI flag for each option: every message names the option as the person typed it. */
export const PLAN_FLAGS: Readonly<Record<keyof PlanOptions, string>> = {
  visitorsPerDay: '--visitors',
  peakFactor: '--peak-factor',
  requestsPerVisit: '--requests-per-visit',
  bytesPerVisit: '--bytes-per-visit',
  responseBytes: '--response-bytes',
  cdnHitRatio: '--cdn-hit-ratio',
  cdnByteHitRatio: '--cdn-byte-hit-ratio',
  nodeReqPerSec: '--node-rps',
  nicMbps: '--nic-mbps',
  nicCeiling: '--nic-ceiling',
  cacheBytes: '--cache-size',
  workers: '--workers',
  workingSetBytes: '--working-set',
  diskMbps: '--disk-mbps',
  targetUtilisation: '--target-utilisation',
  headroom: '--headroom',
  proxyCoreReqPerSec: '--proxy-core-rps',
  proxyCoreMbps: '--proxy-core-mbps',
  proxyCoreHandshakes: '--proxy-core-handshakes',
  connectionsPerVisit: '--connections-per-visit',
  proxyCores: '--proxy-cores',
  proxyUplinkMbps: '--proxy-uplink-mbps',
};

export type PlanErrorCode = 'PI_ORIGIN_PLAN_INVALID_OPTION' | 'PI_ORIGIN_PLAN_BAD_REPORT';

export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    message: string,
    readonly code: PlanErrorCode = 'PI_ORIGIN_PLAN_INVALID_OPTION',
  ) {
    super(message);
  }
}

type Resolved = Readonly<Required<Omit<PlanOptions, 'workingSetBytes'>> & { workingSetBytes: number | undefined }>;

/** One defaults object, one validator; the result is frozen. */
export function resolvePlanOptions(input: PlanInput): Resolved {
  const o = { ...PLAN_DEFAULTS, ...stripUndefined(input) };
  positive(o, 'visitorsPerDay');
  atLeast(o, 'peakFactor', 1);
  positive(o, 'requestsPerVisit');
  if (o.bytesPerVisit !== undefined && o.responseBytes !== undefined) throw new PlanError('give --bytes-per-visit or --response-bytes, not both');
  if (o.bytesPerVisit === undefined && o.responseBytes === undefined) throw new PlanError('--bytes-per-visit (or --response-bytes) is required');
  if (o.bytesPerVisit !== undefined) positive(o, 'bytesPerVisit');
  if (o.responseBytes !== undefined) positive(o, 'responseBytes');
  ratio(o, 'cdnHitRatio');
  if (o.cdnByteHitRatio !== undefined) ratio(o, 'cdnByteHitRatio');
  if (o.nodeReqPerSec === undefined) throw new PlanError('--node-rps is required (or --from REPORT.json)');
  positive(o, 'nodeReqPerSec');
  positive(o, 'nicMbps');
  share(o, 'nicCeiling');
  positive(o, 'cacheBytes');
  if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 256) throw new PlanError(`--workers must be a whole number of worker threads from 1 to 256 (got ${String(o.workers)})`);
  if (o.workingSetBytes !== undefined) positive(o, 'workingSetBytes');
  positive(o, 'diskMbps');
  share(o, 'targetUtilisation');
  if (!Number.isInteger(o.headroom) || o.headroom < 0 || o.headroom > 10) throw new PlanError(`--headroom must be a whole number of spare nodes from 0 to 10 (got ${String(o.headroom)})`);
  for (const key of ['proxyCoreReqPerSec', 'proxyCoreMbps', 'proxyCoreHandshakes', 'proxyUplinkMbps'] as const) positive(o, key);
  atLeast(o, 'connectionsPerVisit', 0);
  if (!Number.isInteger(o.proxyCores) || o.proxyCores < 0 || o.proxyCores > 1024) throw new PlanError(`--proxy-cores must be a whole number of cores from 0 (no proxy) to 1024 (got ${String(o.proxyCores)})`);
  const v = o as PlanOptions; // every field checked above
  // Derived, so both are always present: bytes per visit = average response × requests per visit.
  const bytesPerVisit = v.bytesPerVisit ?? (v.responseBytes as number) * v.requestsPerVisit;
  const responseBytes = v.responseBytes ?? bytesPerVisit / v.requestsPerVisit;
  const ordered = Object.fromEntries(Object.keys(PLAN_FLAGS).map((k) => [k, v[k as keyof PlanOptions]])) as unknown as PlanOptions; // in PLAN_FLAGS order, for --json
  return Object.freeze({ ...ordered, bytesPerVisit, responseBytes, cdnByteHitRatio: v.cdnByteHitRatio ?? v.cdnHitRatio, workingSetBytes: v.workingSetBytes });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function numberOf(o: Partial<PlanOptions>, key: keyof PlanOptions): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new PlanError(`${PLAN_FLAGS[key]} must be a number (got ${typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v))})`);
  return v;
}
function positive(o: Partial<PlanOptions>, key: keyof PlanOptions): void {
  const v = numberOf(o, key);
  if (!(v > 0)) throw new PlanError(`${PLAN_FLAGS[key]} must be greater than 0 (got ${v})`);
}
function atLeast(o: Partial<PlanOptions>, key: keyof PlanOptions, min: number): void {
  const v = numberOf(o, key);
  if (v < min) throw new PlanError(`${PLAN_FLAGS[key]} must be at least ${min} (got ${v})`);
}
/** A ratio: 0 and 1 included. */
function ratio(o: Partial<PlanOptions>, key: keyof PlanOptions): void {
  const v = numberOf(o, key);
  if (v < 0 || v > 1) throw new PlanError(`${PLAN_FLAGS[key]} must be from 0 to 1 (got ${v})`);
}
/** A share of a capacity to use: 0 would plan infinitely many nodes. */
function share(o: Partial<PlanOptions>, key: keyof PlanOptions): void {
  const v = numberOf(o, key);
  if (!(v > 0 && v <= 1)) throw new PlanError(`${PLAN_FLAGS[key]} must be greater than 0 and at most 1 (got ${v})`);
}

/** What the origin must serve: the day's traffic, spread over seconds, minus what the CDN keeps. */
export interface Demand {
  /** visitors / 86,400 s. */
  readonly avgVisitsPerSec: number;
  /** avgVisitsPerSec × requestsPerVisit: what the CDN (or the origin without one) receives. */
  readonly avgEdgeReqPerSec: number;
  /** avgEdgeReqPerSec × peakFactor. */
  readonly peakEdgeReqPerSec: number;
  /** avgVisitsPerSec × bytesPerVisit × 8 / 10⁶. */
  readonly avgEdgeMbps: number;
  readonly peakEdgeMbps: number;
  /** 1 − cdnHitRatio. */
  readonly originRequestShare: number;
  /** 1 − cdnByteHitRatio. */
  readonly originByteShare: number;
  /** avgEdgeReqPerSec × originRequestShare. */
  readonly avgOriginReqPerSec: number;
  /** avgOriginReqPerSec × peakFactor. */
  readonly peakOriginReqPerSec: number;
  /** avgEdgeMbps × originByteShare. */
  readonly avgOriginMbps: number;
  /** avgOriginMbps × peakFactor. */
  readonly peakOriginMbps: number;
}

/** What one node offers once the planning margins are taken off. */
export interface NodeCapacity {
  /** nodeReqPerSec × targetUtilisation. */
  readonly usableReqPerSec: number;
  /** nicMbps × nicCeiling. */
  readonly usableNicMbps: number;
  /** What one worker caches: ⌊cacheBytes / workers⌋ (common/worker-cache.ts). */
  readonly workerCacheBytes: number;
  /** Share of origin bytes the body cache serves: min(1, workerCacheBytes / workingSetBytes); 1 when no working set is given. */
  readonly cacheByteShare: number;
  /** 1 − cacheByteShare: read from storage. */
  readonly diskByteShare: number;
  /** diskMbps × targetUtilisation. */
  readonly usableDiskMbps: number;
}

export interface LimitFigures {
  readonly limit: Limit;
  /** The cluster's demand on this resource at peak, in `unit`. */
  readonly peakDemand: number;
  /** One node's usable capacity, in `unit`. */
  readonly perNode: number;
  readonly unit: 'req/s' | 'Mbit/s';
  /** peakDemand / perNode: nodes needed, unrounded. */
  readonly load: number;
  /** ⌈load⌉. */
  readonly nodes: number;
}

export interface Plan {
  readonly options: Resolved;
  readonly demand: Demand;
  readonly node: NodeCapacity;
  /** In LIMITS order. */
  readonly limits: readonly LimitFigures[];
  /** The limit with the highest load; null when the origin sees no traffic. */
  readonly binding: Limit | null;
  /** max(1, nodes of every limit). */
  readonly nodesForPeak: number;
  readonly headroom: number;
  /** nodesForPeak + headroom. */
  readonly totalNodes: number;
  /** Each node's share of the peak when only nodesForPeak nodes are up (the headroom is spent). */
  readonly perNodeAtPeak: { readonly reqPerSec: number; readonly mbps: number; readonly cpuShare: number; readonly nicShare: number };
  /** The HTTPS front in front of the nodes: a capacity limit of its own. */
  readonly proxy: ProxyPlan;
  readonly notes: readonly string[];
}

/**
 * The front (dualstack_proxy) terminating TLS for the origin traffic. Its CPU is a sum of three
 * costs measured by `bench:front`: a fixed cost per request, a cost per byte encrypted and a full
 * handshake per new connection. Taken as carrying all of the origin traffic (what a CDN passes
 * on, or every visitor without one).
 */
export interface ProxyPlan {
  /** peakVisitsPerSec × connectionsPerVisit × originRequestShare: a CDN keeps its connections open. */
  readonly peakHandshakesPerSec: number;
  /** peakOriginReqPerSec / proxyCoreReqPerSec + peakOriginMbps / proxyCoreMbps + peakHandshakesPerSec / proxyCoreHandshakes. */
  readonly coresBusy: number;
  /** coresBusy / targetUtilisation. */
  readonly coresNeeded: number;
  /** proxyUplinkMbps × nicCeiling. */
  readonly usableUplinkMbps: number;
  /** ⌈coresNeeded / proxyCores⌉. */
  readonly hostsForCpu: number;
  /** ⌈peakOriginMbps / usableUplinkMbps⌉. */
  readonly hostsForUplink: number;
  /** max(1, hostsForCpu, hostsForUplink); 0 with --proxy-cores 0. */
  readonly hosts: number;
  /** peakOriginMbps > usableUplinkMbps: one proxy cannot carry the origin traffic. */
  readonly uplinkExceeded: boolean;
}

function proxyPlan(o: Resolved, demand: Demand): ProxyPlan {
  const peakHandshakesPerSec = demand.avgVisitsPerSec * o.peakFactor * o.connectionsPerVisit * demand.originRequestShare;
  const coresBusy = demand.peakOriginReqPerSec / o.proxyCoreReqPerSec + demand.peakOriginMbps / o.proxyCoreMbps + peakHandshakesPerSec / o.proxyCoreHandshakes;
  const coresNeeded = coresBusy / o.targetUtilisation;
  const usableUplinkMbps = o.proxyUplinkMbps * o.nicCeiling;
  if (o.proxyCores === 0) return { peakHandshakesPerSec, coresBusy, coresNeeded, usableUplinkMbps, hostsForCpu: 0, hostsForUplink: 0, hosts: 0, uplinkExceeded: false };
  const hostsForCpu = nodesFor(coresNeeded / o.proxyCores);
  const hostsForUplink = nodesFor(demand.peakOriginMbps / usableUplinkMbps);
  return { peakHandshakesPerSec, coresBusy, coresNeeded, usableUplinkMbps, hostsForCpu, hostsForUplink, hosts: Math.max(1, hostsForCpu, hostsForUplink), uplinkExceeded: demand.peakOriginMbps > usableUplinkMbps };
}

/**
 * `x` rounded up, tolerating floating-point dust: a demand of exactly 3 nodes' capacity needs 3
 * nodes, not 4, even when the division yields 3.0000000000000004.
 */
export function nodesFor(load: number): number {
  return load <= 0 ? 0 : Math.max(1, Math.ceil(load - 1e-9));
}

export function plan(input: PlanInput): Plan {
  const o = resolvePlanOptions(input);

  const avgVisitsPerSec = o.visitorsPerDay / SECONDS_PER_DAY;
  const avgEdgeReqPerSec = avgVisitsPerSec * o.requestsPerVisit;
  const avgEdgeMbps = (avgVisitsPerSec * o.bytesPerVisit) / BYTES_PER_SEC_PER_MBPS;
  const originRequestShare = 1 - o.cdnHitRatio;
  const originByteShare = 1 - o.cdnByteHitRatio;
  const avgOriginReqPerSec = avgEdgeReqPerSec * originRequestShare;
  const avgOriginMbps = avgEdgeMbps * originByteShare;
  const demand: Demand = {
    avgVisitsPerSec,
    avgEdgeReqPerSec,
    peakEdgeReqPerSec: avgEdgeReqPerSec * o.peakFactor,
    avgEdgeMbps,
    peakEdgeMbps: avgEdgeMbps * o.peakFactor,
    originRequestShare,
    originByteShare,
    avgOriginReqPerSec,
    peakOriginReqPerSec: avgOriginReqPerSec * o.peakFactor,
    avgOriginMbps,
    peakOriginMbps: avgOriginMbps * o.peakFactor,
  };

  // The memory model: every node sees the whole working set (the proxy spreads requests, not
  // files), so a node's cache holds the same share of it however many nodes there are. Inside a
  // node the same holds for its workers (the kernel spreads connections, not files): each worker
  // caches its own share of --cache-size, and a node caches what one worker does. Access is
  // taken as uniform over the working set, so the cache serves workerCacheBytes / workingSetBytes
  // of the bytes and storage the rest. Misses split across nodes: more nodes, less disk per node.
  const workerCacheBytes = workerCache(o.cacheBytes, o.workers, o.cacheBytes).bytes;
  const cacheByteShare = o.workingSetBytes === undefined ? 1 : Math.min(1, workerCacheBytes / o.workingSetBytes);
  const node: NodeCapacity = {
    usableReqPerSec: o.nodeReqPerSec * o.targetUtilisation,
    usableNicMbps: o.nicMbps * o.nicCeiling,
    workerCacheBytes,
    cacheByteShare,
    diskByteShare: 1 - cacheByteShare,
    usableDiskMbps: o.diskMbps * o.targetUtilisation,
  };

  const limits: LimitFigures[] = [
    figures('cpu', demand.peakOriginReqPerSec, node.usableReqPerSec, 'req/s'),
    figures('nic', demand.peakOriginMbps, node.usableNicMbps, 'Mbit/s'),
    figures('memory', demand.peakOriginMbps * node.diskByteShare, node.usableDiskMbps, 'Mbit/s'),
  ];
  // Strictly greater: on a tie the earlier limit (cpu, nic, memory) is reported.
  let top: LimitFigures | undefined;
  for (const l of limits) if (l.load > 0 && (top === undefined || l.load > top.load)) top = l;
  const nodesForPeak = Math.max(1, ...limits.map((l) => l.nodes));
  const notes: string[] = [];
  if (o.workingSetBytes === undefined) notes.push('memory: no --working-set given, so the content is taken to fit the cache and storage is never read');
  else if (cacheByteShare < 1) notes.push('memory: access taken as uniform over the working set (pessimistic when a few files are most of the traffic); the OS page cache is not counted');
  if (top === undefined) notes.push('the origin sees no traffic at peak (every request a CDN hit): one node serves the misses and revalidations');
  const proxy = proxyPlan(o, demand);

  return {
    options: o,
    demand,
    node,
    limits,
    binding: top?.limit ?? null,
    nodesForPeak,
    headroom: o.headroom,
    totalNodes: nodesForPeak + o.headroom,
    perNodeAtPeak: {
      reqPerSec: demand.peakOriginReqPerSec / nodesForPeak,
      mbps: demand.peakOriginMbps / nodesForPeak,
      cpuShare: demand.peakOriginReqPerSec / nodesForPeak / o.nodeReqPerSec,
      nicShare: demand.peakOriginMbps / nodesForPeak / o.nicMbps,
    },
    proxy,
    notes,
  };
}

function figures(limit: Limit, peakDemand: number, perNode: number, unit: LimitFigures['unit']): LimitFigures {
  const load = peakDemand / perNode;
  return { limit, peakDemand, perNode, unit, load, nodes: nodesFor(load) };
}

export const LIMIT_NAMES: Readonly<Record<Limit, string>> = { cpu: 'CPU', nic: 'NIC', memory: 'memory' };

/** `4 Pis (3 for CPU at peak + 1 headroom); the binding limit is CPU`. */
export function summaryLine(p: Plan): string {
  const pis = `${p.totalNodes} Pi${p.totalNodes === 1 ? '' : 's'}`;
  const spare = p.headroom === 0 ? 'no headroom' : `${p.headroom} headroom`;
  if (p.binding === null) return `${pis} (${p.nodesForPeak} minimum + ${spare}); no limit binds: the origin sees no traffic`;
  const why = p.binding === 'memory' ? 'memory (cache misses read from storage)' : LIMIT_NAMES[p.binding];
  return `${pis} (${p.nodesForPeak} for ${LIMIT_NAMES[p.binding]} at peak + ${spare}); the binding limit is ${why}`;
}

/** `1 proxy host (2.1 of 4 cores at peak)`, and the uplink warning when one proxy cannot carry the traffic. */
export function proxyLine(p: Plan): string {
  const x = p.proxy;
  if (x.hosts === 0) return 'none in the origin path (--proxy-cores 0: the CDN fetches from the nodes)';
  const hosts = `${x.hosts} proxy host${x.hosts === 1 ? '' : 's'}`;
  const why = x.hostsForUplink > x.hostsForCpu ? 'for the uplink' : `for ${+x.coresNeeded.toFixed(1)} cores at ${+(p.options.targetUtilisation * 100).toFixed(2)}%, ${p.options.proxyCores} a host`;
  return `${hosts} (${why})`;
}

/** Where `--from` found the per-node capacity. */
export interface ReportCapacity {
  readonly reqPerSec: number;
  readonly run: string;
  readonly kind: 'gate' | 'bench';
  readonly title: string;
  /** `cpu, N cores`: the machine the run measured, which may not be a Pi. */
  readonly machine: string;
  /** bytesPerSec / achievedRate: the run's average response size. */
  readonly responseBytes: number;
}

/**
 * The highest `achievedRate` in a gate or bench report (load-tests/report/model.ts): a bench
 * compares servers, so only its `pi-origin ...` runs count; every run of a gate is pi-origin.
 */
export function capacityFromReport(report: unknown, file: string): ReportCapacity {
  const bad = (why: string): PlanError => new PlanError(`${file}: ${why}`, 'PI_ORIGIN_PLAN_BAD_REPORT');
  if (typeof report !== 'object' || report === null) throw bad('not a gate or bench report (expected a JSON object)');
  const r = report as Partial<Report>;
  if (r.schema !== 1 || (r.kind !== 'gate' && r.kind !== 'bench') || !Array.isArray(r.runs)) throw bad('not a gate or bench report (expected schema 1, kind "gate" or "bench" and runs)');
  const kind = r.kind;
  let best: ReportCapacity | undefined;
  for (const run of r.runs as readonly unknown[]) {
    if (typeof run !== 'object' || run === null) continue;
    const { name, achievedRate, bytesPerSec } = run as Partial<Report['runs'][number]>;
    if (typeof name !== 'string' || typeof achievedRate !== 'number' || !Number.isFinite(achievedRate) || achievedRate <= 0) continue;
    if (kind === 'bench' && !name.startsWith('pi-origin')) continue;
    if (best !== undefined && achievedRate <= best.reqPerSec) continue;
    const m = r.machine;
    best = {
      reqPerSec: achievedRate,
      run: name,
      kind,
      title: typeof r.title === 'string' ? r.title : '',
      machine: m === undefined ? 'unknown machine' : `${m.cpu}, ${m.cores} cores`,
      responseBytes: typeof bytesPerSec === 'number' && Number.isFinite(bytesPerSec) ? bytesPerSec / achievedRate : 0,
    };
  }
  if (best === undefined) throw bad(kind === 'bench' ? 'no "pi-origin ..." run with an achievedRate above 0' : 'no run with an achievedRate above 0');
  return best;
}
