/**
 * The origin hostname's AAAA record set, built from a {@link clusterStatus} report: one record
 * per node that is up, `ok`, addressed by an IPv6 literal and serving the chosen release. A CDN
 * pointed at the hostname then only ever fetches from nodes that would pass its health check
 * and that serve the same bytes. Pure: no I/O, and the clock comes in with the options.
 */
import { isReleaseId } from '../content/release-id.js';
import { inAny, parseAddress as addressBytes, parseCidr, parseIPv6, type Cidr } from '../common/address.js';
import { parseNodeAddress } from './address.js';
import type { NodeProbe } from './node-probe.js';
import { healthCell, type ClusterStatus } from './status.js';

/** Short enough that a node taken out of the set stops getting traffic within a minute of the zone reload. */
export const DEFAULT_TTL = 60;
/** RFC 2181 §8: a TTL is an unsigned 31-bit number. */
export const MAX_TTL = 2147483647;
export const TTL_RULE = `must be an integer number of seconds from 1 to ${MAX_TTL}`;
export const NAME_RULE = 'must be a DNS name of two or more labels of 1-63 letters, digits and hyphens (no leading or trailing hyphen), at most 253 characters';
export const RELEASE_RULE = 'must be a release id (12 lower-case hex digits)';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export interface DnsOptions {
  /** The origin hostname, `origin.example.org` (a trailing dot is accepted). */
  readonly name: string;
  /** Seconds; default {@link DEFAULT_TTL}. */
  readonly ttl?: number;
  /** Publish only nodes serving this release; default: the release most healthy nodes serve. */
  readonly release?: string;
  /** The time stamped on the output; default now. */
  readonly now?: Date;
}

export interface ResolvedDnsOptions {
  /** Lower case, without the trailing dot. */
  readonly name: string;
  readonly ttl: number;
  readonly release: string | undefined;
  readonly now: Date;
}

/** A bad option: `option` names it, `problem` says what it must be and what it got. */
export class DnsOptionError extends TypeError {
  readonly code = 'PI_ORIGIN_DNS_OPTION';
  override readonly name = 'DnsOptionError';
  constructor(
    readonly option: 'name' | 'ttl' | 'release' | 'now',
    readonly problem: string,
  ) {
    super(`${option} option ${problem}`);
  }
}

/** The DNS name without its trailing dot, lower-cased, or undefined when it is not one (see {@link NAME_RULE}). */
export function dnsName(text: string): string | undefined {
  const name = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  if (name.length === 0 || name.length > 253) return undefined;
  const labels = name.split('.');
  // A top-level label of digits only makes the name read as an IPv4 literal (RFC 3696 §2).
  if (labels.length < 2 || /^\d+$/.test(labels[labels.length - 1] as string)) return undefined;
  return labels.every((l) => LABEL.test(l)) ? name : undefined;
}

/** Validates every option at once, before any node is asked; throws {@link DnsOptionError}. */
export function resolveDnsOptions(options: DnsOptions): ResolvedDnsOptions {
  const name = dnsName(options.name);
  if (name === undefined) throw new DnsOptionError('name', `${NAME_RULE} (got ${JSON.stringify(options.name)})`);
  const ttl = options.ttl ?? DEFAULT_TTL;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) throw new DnsOptionError('ttl', `${TTL_RULE} (got ${ttl})`);
  if (options.release !== undefined && !isReleaseId(options.release)) throw new DnsOptionError('release', `${RELEASE_RULE} (got ${JSON.stringify(options.release)})`);
  const now = options.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new DnsOptionError('now', 'must be a valid Date');
  return Object.freeze({ name, ttl, release: options.release, now });
}

export interface DnsRecord {
  readonly node: string;
  /** RFC 5952. */
  readonly address: string;
  /** The node's `origin_node_port`: an AAAA record carries no port, so the CDN must be configured with it. */
  readonly port: number;
  /** The node's HTTPS port when the inventory gives it origin TLS (`origin_node_tls_cert_src`), else null. */
  readonly tlsPort: number | null;
}

/**
 * What the CDN fetches from: one name has one scheme and port in a CDN's origin settings, so
 * this is the scheme and port every record shares (HTTPS when every node has origin TLS).
 */
export interface CdnOrigin {
  readonly scheme: 'https' | 'http';
  readonly port: number;
}

export interface SkippedNode {
  readonly node: string;
  readonly address: string;
  readonly reason: string;
}

export interface RecordSet {
  /** Without the trailing dot, as DNS provider APIs take it; the zone fragment adds it. */
  readonly name: string;
  readonly ttl: number;
  /** The release every record serves (or `--release`); null when no release could be chosen. */
  readonly release: string | null;
  /** The `now` option (the CLI passes the time the last answer came in), ISO 8601 UTC to the second. */
  readonly generated: string;
  /** Nodes in the inventory group: records plus skipped. */
  readonly nodes: number;
  /** Sorted by address (numerically), one per address. */
  readonly records: readonly DnsRecord[];
  /** In inventory order. */
  readonly skipped: readonly SkippedNode[];
  /** The scheme and port to give the CDN; null when there are no records or they disagree. */
  readonly cdn: CdnOrigin | null;
}

/**
 * Throws {@link DnsAddressError} when a node's address is one no CDN can reach (see
 * {@link refuseUnreachable}). Otherwise decides, node by node and in this order, why a node is
 * not published: its address is not an IPv6 literal DNS can carry, it is not up and `ok`, it
 * serves another release, or an earlier node already has its address (an RRset holds each
 * address once, RFC 2181 §5).
 */
export function originRecordSet(report: ClusterStatus, options: DnsOptions): RecordSet {
  const o = resolveDnsOptions(options);
  refuseUnreachable(report.nodes);
  const reasons = new Map<NodeProbe, string>();
  for (const n of report.nodes) {
    const problem = addressProblem(n.address) ?? (n.up ? (n.status.health === 'ok' ? undefined : `health ${n.status.health}`) : healthCell(n));
    if (problem !== undefined) reasons.set(n, problem);
  }
  const candidates = report.nodes.filter((n) => !reasons.has(n) && n.up);
  const releaseOf = (n: NodeProbe): string | null => (n.up ? n.status.release : null);
  const choice = o.release !== undefined ? { release: o.release, tied: [] } : chooseRelease(candidates.map(releaseOf));
  for (const n of candidates) {
    const r = releaseOf(n);
    if (choice.tied.length > 0) reasons.set(n, `release ${r ?? 'none'} ties with ${choice.tied.filter((t) => t !== r).map((t) => t ?? 'none').join(', ')} (pick one with --release)`);
    else if (r !== choice.release) reasons.set(n, r === null ? `no release, not ${choice.release ?? 'none'}` : `release ${r}, not ${choice.release ?? 'none'}`);
  }
  const byAddress = new Map<string, NodeProbe>();
  for (const n of report.nodes) {
    if (reasons.has(n)) continue;
    const first = byAddress.get(n.address);
    if (first === undefined) byAddress.set(n.address, n);
    else reasons.set(n, `same address as ${first.name}`);
  }
  const records = [...byAddress.values()].map((n) => ({ node: n.name, address: n.address, port: n.port, tlsPort: n.tlsPort ?? null })).sort((a, b) => compareIPv6(a.address, b.address));
  return {
    name: o.name,
    ttl: o.ttl,
    release: choice.release ?? null,
    generated: o.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    nodes: report.nodes.length,
    records,
    skipped: report.nodes.filter((n) => reasons.has(n)).map((n) => ({ node: n.name, address: n.address, reason: reasons.get(n) as string })),
    cdn: cdnOrigin(records),
  };
}

/** An inventory whose nodes include addresses no CDN can reach; one line naming each node and address. */
export class DnsAddressError extends Error {
  readonly code = 'PI_ORIGIN_DNS_ADDRESS';
  override readonly name = 'DnsAddressError';
  constructor(readonly refused: readonly SkippedNode[]) {
    super(
      `cannot publish ${refused.map((r) => `${r.node} ${r.address} (${r.reason})`).join(', ')}: a CDN cannot reach ${refused.length === 1 ? 'it' : 'them'}; set ansible_host to ${refused.length === 1 ? "the node's" : "each node's"} global IPv6 address`,
    );
  }
}

function prefix(text: string): Cidr {
  const c = parseCidr(text);
  if (c === undefined) throw new RangeError(`bad built-in prefix ${text}`);
  return c;
}

/** Special-purpose prefixes (RFC 6890 and its registry) a CDN can never fetch from, first match names it. */
const UNREACHABLE: readonly (readonly [Cidr, string])[] = [
  [prefix('::/128'), 'unspecified address'],
  [prefix('::1/128'), 'loopback address'],
  [prefix('::ffff:0:0/96'), 'IPv4-mapped address'],
  [prefix('fe80::/10'), 'link-local address'],
  [prefix('ff00::/8'), 'multicast address'],
  [prefix('2001:db8::/32'), 'documentation address, 2001:db8::/32'],
  [prefix('3fff::/20'), 'documentation address, 3fff::/20'],
];
/** RFC 4193: routed inside a site only. Published with a warning: an internal resolver may want them. */
const UNIQUE_LOCAL = [prefix('fc00::/7')];
/** Where IANA allocates global unicast addresses; the rest of the space is reserved or special. */
const GLOBAL_UNICAST = [prefix('2000::/3')];

/** The 16 bytes of an IPv6 literal (a `%zone` dropped), or undefined for anything else. */
function ipv6Bytes(text: string): Uint8Array | undefined {
  if (!text.includes(':')) return undefined;
  const pct = text.indexOf('%');
  return addressBytes(pct === -1 ? text : text.slice(0, pct));
}

/** Why an IPv6 literal can never be an origin a CDN reaches, or undefined (not IPv6, or global unicast). */
export function unreachableReason(address: string): string | undefined {
  const bytes = ipv6Bytes(address);
  if (bytes === undefined) return undefined;
  for (const [p, reason] of UNREACHABLE) if (inAny(bytes, [p])) return reason;
  if (inAny(bytes, UNIQUE_LOCAL) || inAny(bytes, GLOBAL_UNICAST)) return undefined;
  return 'not a global unicast address (outside 2000::/3)';
}

/** True for fc00::/7 (RFC 4193) literals. */
function isUniqueLocal(address: string): boolean {
  const bytes = ipv6Bytes(address);
  return bytes !== undefined && inAny(bytes, UNIQUE_LOCAL);
}

/**
 * Refuses the whole set when any node's address is one a CDN can never reach (loopback,
 * link-local, documentation, ...): such an inventory is a mistake to fix, not a node state to
 * skip, and a zone with `AAAA ::1` in it would send the CDN to itself. Checked before any node
 * is asked, so the answer does not depend on which nodes happen to be up.
 */
export function refuseUnreachable(nodes: readonly { readonly name: string; readonly address: string }[]): void {
  const refused: SkippedNode[] = [];
  for (const n of nodes) {
    const reason = unreachableReason(n.address);
    if (reason !== undefined) refused.push({ node: n.name, address: n.address, reason });
  }
  if (refused.length > 0) throw new DnsAddressError(refused);
}

/** One warning per record on a unique-local address: printed, but reachable only from inside the site. */
export function recordWarnings(set: RecordSet): string[] {
  return set.records
    .filter((r) => isUniqueLocal(r.address))
    .map((r) => `${set.name} AAAA ${r.address} (${r.node}) is a unique-local address (fc00::/7): only resolvers and CDNs inside your network can reach it`);
}

/** HTTPS when every record has the same TLS port; else plain HTTP when every record has the same port; else null. */
export function cdnOrigin(records: readonly DnsRecord[]): CdnOrigin | null {
  const first = records[0];
  if (first === undefined) return null;
  if (first.tlsPort !== null && records.every((r) => r.tlsPort === first.tlsPort)) return { scheme: 'https', port: first.tlsPort };
  if (records.every((r) => r.tlsPort === null && r.port === first.port)) return { scheme: 'http', port: first.port };
  return null;
}

/** Why an inventory address cannot be an AAAA record, or undefined when it can. */
function addressProblem(text: string): string | undefined {
  const a = parseNodeAddress(text);
  if (a === undefined || a.kind === 'hostname') return 'host name, not an IPv6 address (set ansible_host to the IPv6 literal)';
  if (a.kind === 'ipv4') return 'IPv4 address (AAAA records are IPv6 only)';
  // A zone index only means something on the machine that wrote it.
  if (a.text.includes('%')) return 'scoped address (a %zone cannot go in DNS)';
  return undefined;
}

/**
 * The release most candidates serve. During a rolling upgrade the majority side wins, so a CDN
 * never mixes HTML of one release with assets of another; an exact tie is not guessed at.
 */
export function chooseRelease(releases: readonly (string | null)[]): { release: string | null | undefined; tied: (string | null)[] } {
  const counts = new Map<string | null, number>();
  for (const r of releases) counts.set(r, (counts.get(r) ?? 0) + 1);
  const most = Math.max(0, ...counts.values());
  const top = [...counts.keys()].filter((r) => counts.get(r) === most).sort((a, b) => ((a ?? '') < (b ?? '') ? -1 : 1));
  if (top.length > 1) return { release: undefined, tied: top };
  return { release: top[0], tied: [] };
}

function compareIPv6(a: string, b: string): number {
  const x = parseIPv6(a) ?? [];
  const y = parseIPv6(b) ?? [];
  for (let i = 0; i < 8; i++) if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Presentation

/** Node names and error texts end up in `;` comments: a line break there would start a record. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/**
 * A zone-file fragment: comments saying where the set came from and which nodes were left out
 * and why, then `NAME. TTL IN AAAA ADDRESS` lines. With no records it is only comments.
 */
export function renderZone(set: RecordSet): string {
  const lines = [`; pi-origin cluster dns: ${set.name} AAAA from ${set.records.length} of ${set.nodes} node${set.nodes === 1 ? '' : 's'} (${set.generated})`];
  if (set.release !== null) lines.push(`; release ${set.release}`);
  if (set.records.length > 0) lines.push(cdnComment(set));
  for (const s of set.skipped) lines.push(oneLine(`; skipped ${s.node} ${s.address}: ${s.reason}`));
  for (const r of set.records) lines.push(`${set.name}. ${set.ttl} IN AAAA ${r.address}`);
  return lines.join('\n') + '\n';
}

/** The port to type into the CDN's origin settings, and why. */
function cdnComment(set: RecordSet): string {
  const c = set.cdn;
  if (c === null) return oneLine(`; CDN origin: the nodes differ (${set.records.map((r) => `${r.node} ${r.tlsPort === null ? `http ${r.port}` : `https ${r.tlsPort}`}`).join(', ')}): one name needs one scheme and port, give every node the same`);
  if (c.scheme === 'https') return `; CDN origin: https port ${c.port} (origin TLS on every node; plain http on port ${(set.records[0] as DnsRecord).port})`;
  return `; CDN origin: http port ${c.port} (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)`;
}

/** The `--json` document: `{ name, ttl, release, generated, nodes, records, skipped, cdn }`. */
export function recordSetJson(set: RecordSet): unknown {
  return { name: set.name, ttl: set.ttl, release: set.release, generated: set.generated, nodes: set.nodes, records: set.records, skipped: set.skipped, cdn: set.cdn };
}
