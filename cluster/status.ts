/**
 * Asks every node for `/_origin/status` over HTTP, concurrently, each within one deadline, and
 * sums up: which nodes answer, whether they are healthy, and whether they serve one release.
 * Nodes are reached over HTTP only; the status shape is copied here, not imported from server/.
 */
import { isReleaseId } from '../content/release-id.js';
import { hostPort, nodeUrl } from './address.js';
import { DOCUMENT_MAX_BYTES, httpOnce } from '../common/http-once.js';
import type { InventoryHost } from './inventory.js';

export const STATUS_PATH = '/_origin/status';
/** Enough sockets for any Pi cluster at once, without opening thousands for a huge inventory. */
export const MAX_IN_FLIGHT = 64;

export const NODE_HEALTH = ['ok', 'draining', 'invalid-root'] as const;
export type NodeHealth = (typeof NODE_HEALTH)[number];

/** The part of a node's `/_origin/status` answer (server/admin.ts `Status`) that the cluster commands read. */
export interface NodeStatus {
  readonly node: string;
  readonly version: string;
  readonly release: string | null;
  readonly health: NodeHealth;
  readonly files: number;
  readonly contentBytes: number;
  readonly cacheBytes: number;
  readonly uptimeSeconds: number;
  readonly workers: number;
  readonly requests: number;
  readonly bytesOut: number;
  readonly connections: number;
}

interface ProbeBase {
  readonly name: string;
  /** Canonical address (RFC 5952 for IPv6): `fd00:cafe::11`. */
  readonly address: string;
  readonly port: number;
  /** The inventory's HTTPS port for the node (InventoryHost.tlsPort); absent without origin TLS. */
  readonly tlsPort?: number;
  /** Address and port as a person reads them: `[fd00:cafe::11]:8080`. */
  readonly endpoint: string;
  readonly url: string;
}
export interface NodeUp extends ProbeBase {
  readonly up: true;
  readonly status: NodeStatus;
}
export interface NodeDown extends ProbeBase {
  readonly up: false;
  /** `timeout`, `refused`, `HTTP 404`, ...: short enough for a table cell. */
  readonly error: string;
}
export type NodeProbe = NodeUp | NodeDown;

export interface ClusterStatus {
  readonly nodes: readonly NodeProbe[];
  readonly up: number;
  readonly total: number;
  /** Release id → names of the nodes (that answered) serving it. */
  readonly releases: Readonly<Record<string, string[]>>;
  /** Every node up, healthy and on the same release. */
  readonly ok: boolean;
}

/** Asks every host, at most {@link MAX_IN_FLIGHT} at a time, and summarises; never rejects. */
export async function clusterStatus(hosts: readonly InventoryHost[], timeoutMs: number): Promise<ClusterStatus> {
  return summarise(await inParallel(hosts, MAX_IN_FLIGHT, (host) => probeNode(host, timeoutMs)));
}

/** `fn` over every item, at most `limit` at once; results in the items' order. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function summarise(nodes: readonly NodeProbe[]): ClusterStatus {
  const releases: Record<string, string[]> = {};
  let up = 0;
  let healthy = 0;
  for (const n of nodes) {
    if (!n.up) continue;
    up++;
    if (n.status.health === 'ok') healthy++;
    if (n.status.release !== null) (releases[n.status.release] ??= []).push(n.name);
  }
  return { nodes, up, total: nodes.length, releases, ok: nodes.length > 0 && healthy === nodes.length && Object.keys(releases).length === 1 };
}

/** One GET of `/_origin/status` with a deadline covering connect, response and body. Never rejects. */
export async function probeNode(host: InventoryHost, timeoutMs: number, signal?: AbortSignal): Promise<NodeProbe> {
  const base: ProbeBase = { name: host.name, address: host.address.text, port: host.port, ...(host.tlsPort === undefined ? {} : { tlsPort: host.tlsPort }), endpoint: hostPort(host.address, host.port), url: nodeUrl(host.address, host.port, STATUS_PATH) };
  const answer = await getText(host, STATUS_PATH, 'application/json', timeoutMs, signal);
  if (!answer.ok) return { ...base, up: false, error: answer.error };
  const status = parseStatus(answer.body);
  if (typeof status === 'string') return { ...base, up: false, error: status };
  return { ...base, up: true, status };
}

/** A node's answer to one GET: the body of a 200, or a reason short enough for a table cell. */
export type TextAnswer = { readonly ok: true; readonly body: string } | { readonly ok: false; readonly error: string };

/**
 * GETs `path` from the node with a deadline covering connect, response and body; anything but a
 * 200 is an error (`HTTP 404 (not in --admin-allow?)`, `refused`, `timeout`). Never rejects.
 */
export async function getText(host: InventoryHost, path: string, accept: string, timeoutMs: number, signal?: AbortSignal): Promise<TextAnswer> {
  // A literal is never looked up; a host name resolves to whichever family it has.
  const family = host.address.kind === 'ipv6' ? 6 : host.address.kind === 'ipv4' ? 4 : undefined;
  try {
    const a = await httpOnce({ host: host.address.text, port: host.port, family }, path, { headers: { Accept: accept, 'User-Agent': 'pi-origin-cluster' }, timeoutMs, maxBodyBytes: DOCUMENT_MAX_BYTES, signal });
    if (a.status !== 200) return { ok: false, error: `HTTP ${a.status}${a.status === 404 || a.status === 403 ? ' (not in --admin-allow?)' : ''}` };
    return { ok: true, body: a.body.toString('utf8') };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The status document, or why the answer is not one. */
export function parseStatus(body: string): NodeStatus | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return 'invalid status (not JSON)';
  }
  if (typeof v !== 'object' || v === null) return 'invalid status (not an object)';
  const o = v as Record<string, unknown>;
  const numbers = ['files', 'contentBytes', 'cacheBytes', 'uptimeSeconds', 'workers', 'requests', 'bytesOut', 'connections'] as const;
  for (const k of numbers) if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) return `invalid status (${k})`;
  if (typeof o.node !== 'string' || typeof o.version !== 'string') return 'invalid status (node, version)';
  if (!(NODE_HEALTH as readonly unknown[]).includes(o.health)) return 'invalid status (health)';
  if (o.release !== null && !(typeof o.release === 'string' && isReleaseId(o.release))) return 'invalid status (release)';
  const n = (k: (typeof numbers)[number]): number => o[k] as number;
  return {
    node: o.node,
    version: o.version,
    release: o.release,
    health: o.health as NodeHealth,
    files: n('files'),
    contentBytes: n('contentBytes'),
    cacheBytes: n('cacheBytes'),
    uptimeSeconds: n('uptimeSeconds'),
    workers: n('workers'),
    requests: n('requests'),
    bytesOut: n('bytesOut'),
    connections: n('connections'),
  };
}

// ---------------------------------------------------------------------------------------------
// Presentation

/** `45s`, `12m`, `2h 5m`, `3d 4h`: the two largest units, enough to tell a restart from a long run. */
export function humanUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Bytes as MiB with one decimal (`0.0 MiB`, `12.3 MiB`). */
export function mebibytes(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

export function healthCell(n: NodeProbe): string {
  return n.up ? n.status.health : `DOWN (${n.error})`;
}

/** A fixed-width table (numbers right-aligned), one row per node in inventory order. */
export function renderTable(report: ClusterStatus): string {
  const header = ['NODE', 'ADDRESS', 'HEALTH', 'RELEASE', 'UPTIME', 'REQUESTS', 'CACHE'];
  const rows = report.nodes.map((n) =>
    n.up
      ? [n.name, n.endpoint, n.status.health, n.status.release ?? '-', humanUptime(n.status.uptimeSeconds), String(n.status.requests), mebibytes(n.status.cacheBytes)]
      : [n.name, n.endpoint, healthCell(n), '-', '-', '-', '-'],
  );
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] as string).length)));
  const right = new Set([4, 5, 6]);
  return all.map((r) => r.map((cell, c) => (right.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ').trimEnd()).join('\n') + '\n';
}

/**
 * `3/3 up, release 5465a1a40e71 on all`, or `2/3 up; releases disagree: X on node1,node2; Y on
 * node3`, plus the nodes that answered but are not healthy.
 */
export function summaryLine(report: ClusterStatus): string {
  const head = `${report.up}/${report.total} up`;
  const entries = Object.entries(report.releases).sort(([, a], [, b]) => b.length - a.length);
  let line: string;
  if (entries.length === 0) line = report.up === 0 ? head : `${head}; no node serves a release`;
  else if (entries.length === 1) {
    const [id, names] = entries[0] as [string, string[]];
    line = names.length === report.total ? `${head}, release ${id} on all` : `${head}; release ${id} on ${names.join(',')}`;
  } else line = `${head}; releases disagree: ${entries.map(([id, names]) => `${id} on ${names.join(',')}`).join('; ')}`;
  const unhealthy = report.nodes.filter((n): n is NodeUp => n.up && n.status.health !== 'ok').map((n) => `${n.name} (${n.status.health})`);
  return unhealthy.length === 0 ? line : `${line}; not ok: ${unhealthy.join(', ')}`;
}

/** The `--json` document: `{ nodes, up, total, releases, ok }`, one entry per node in inventory order. */
export function statusJson(report: ClusterStatus): unknown {
  return {
    nodes: report.nodes.map((n) => ({
      name: n.name,
      address: n.address,
      port: n.port,
      endpoint: n.endpoint,
      url: n.url,
      up: n.up,
      health: n.up ? n.status.health : null,
      release: n.up ? n.status.release : null,
      error: n.up ? null : n.error,
      status: n.up ? n.status : null,
    })),
    up: report.up,
    total: report.total,
    releases: report.releases,
    ok: report.ok,
  };
}
