/**
 * One node's `/_origin/status` (and any other text document) over HTTP, within a deadline, and
 * the status shape checked where it is read. Nodes are reached over HTTP only; the status shape
 * is copied here, not imported from server/.
 */
import { isReleaseId } from '../content/release-id.js';
import { hostPort, nodeUrl } from './address.js';
import { DOCUMENT_MAX_BYTES, httpOnce } from '../common/http-once.js';
import type { InventoryHost } from './inventory.js';

export const STATUS_PATH = '/_origin/status';

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

export interface ProbeBase {
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
