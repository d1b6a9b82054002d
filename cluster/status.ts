/**
 * Asks every node for `/_origin/status` (cluster/node-probe.ts), concurrently, each within one
 * deadline, and sums up: which nodes answer, whether they are healthy, and whether they serve one
 * release; then the table, the summary line and the JSON of `cluster status`.
 */
import { humanUptime, mebibytes } from './format.js';
import type { InventoryHost } from './inventory.js';
import { probeNode, type NodeProbe, type NodeUp } from './node-probe.js';
import { inParallel, MAX_IN_FLIGHT } from './parallel.js';

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
