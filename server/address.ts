/**
 * IP addresses and prefixes as 16-byte arrays (IPv4 mapped into ::ffff:0:0/96), RFC 5952
 * formatting, and client-address resolution behind trusted proxies. Pure and uWS-free.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A prefix in IPv6 form; IPv4 prefixes are stored mapped (10.0.0.0/8 is ::ffff:10.0.0.0/104). */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly bits: number;
  /** As configured, for messages and `--help`. */
  readonly text: string;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Parses an IPv4 or IPv6 literal; undefined when invalid. Brackets are URL syntax for IPv6
 * (`[2001:db8::1]`) and are refused around IPv4; zone ids are refused.
 */
export function parseAddress(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return mapV4(text.split('.').map(Number));
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!isIPv6(t) || t.includes('%')) return undefined;
  return parseV6(t);
}

function mapV4(octets: readonly number[]): Uint8Array {
  return Uint8Array.from([...V4_MAPPED_PREFIX, ...octets]);
}

function parseV6(t: string): Uint8Array {
  let text = t;
  const out = new Uint8Array(16);
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  let v4Tail: number[] = [];
  if (isIPv4(tail)) {
    v4Tail = tail.split('.').map(Number);
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (v4Tail.length === 4) out.set(v4Tail, 12);
  return out;
}

/** Parses `2001:db8::/32`, `10.0.0.0/8` or a bare address (a host prefix); undefined when {@link checkCidr} refuses it. */
export function parseCidr(text: string): Cidr | undefined {
  const c = checkCidr(text);
  return typeof c === 'string' ? undefined : c;
}

/**
 * A prefix, or why the text is not one. Host bits are masked off (`10.1.2.3/8` is 10.0.0.0/8).
 * Every refusal guards against a prefix wider than the text says: an IPv4 address in
 * brackets is not read as IPv6 (`[127.0.0.1]/32` would be `::/32`), and an IPv4-mapped
 * address with a prefix shorter than /96 (`::ffff:10.0.0.0/8` is `::/8`, which holds every
 * IPv4 client and ::1) is refused rather than guessed at.
 */
export function checkCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  if (addrText.startsWith('[') && addrText.endsWith(']') && isIPv4(addrText.slice(1, -1))) return `brackets are for IPv6 only (write ${addrText.slice(1, -1)}${slash === -1 ? '' : text.slice(slash)})`;
  const bytes = parseAddress(addrText);
  if (bytes === undefined) return `${JSON.stringify(addrText)} is not an IPv4 or IPv6 address`;
  const v4 = isIPv4(addrText);
  const max = v4 ? 32 : 128;
  const bitsText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `the prefix length must be a number from 0 to ${max} (got ${JSON.stringify(bitsText)})`;
  const bits = Number(bitsText) + (v4 ? 96 : 0);
  if (!v4 && bits < 96 && isV4Mapped(bytes)) return `an IPv4-mapped prefix shorter than /96 holds more than IPv4 addresses (write the IPv4 prefix: ${formatAddress(bytes)}/N)`;
  return { bytes: maskTo(bytes, bits), bits, text };
}

function maskTo(bytes: Uint8Array, bits: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = (out[i] as number) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** True when `addr` (16 bytes) lies inside one of the prefixes. */
export function inAny(addr: Uint8Array, prefixes: readonly Cidr[]): boolean {
  for (const p of prefixes) if (inPrefix(addr, p)) return true;
  return false;
}

function inPrefix(addr: Uint8Array, p: Cidr): boolean {
  const full = p.bits >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== p.bytes[i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full] as number) & mask) === p.bytes[full];
}

const LOOPBACK_V6 = parseCidr('::1/128') as Cidr;
const LOOPBACK_V4 = parseCidr('127.0.0.0/8') as Cidr;

/** True when every address of the prefix is a loopback address (`::1`, `127.0.0.0/8`). */
export function isLoopbackPrefix(p: Cidr): boolean {
  return (p.bits >= LOOPBACK_V6.bits && inPrefix(p.bytes, LOOPBACK_V6)) || (p.bits >= LOOPBACK_V4.bits && inPrefix(p.bytes, LOOPBACK_V4));
}

/** uWS hands 4 or 16 bytes (or none for a PROXY header that carried no address); always 16 out. */
export function toV6Bytes(raw: ArrayBuffer): Uint8Array | undefined {
  if (raw.byteLength === 16) return new Uint8Array(raw.slice(0));
  if (raw.byteLength === 4) return mapV4([...new Uint8Array(raw)]);
  return undefined;
}

/** RFC 5952 text; IPv4-mapped addresses print as dotted IPv4. */
export function formatAddress(addr: Uint8Array): string {
  if (isV4Mapped(addr)) return `${addr[12]}.${addr[13]}.${addr[14]}.${addr[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] as number) << 8) | (addr[i + 1] as number));
  const [runStart, runLen] = longestZeroRun(groups);
  if (runLen < 2) return groups.map((g) => g.toString(16)).join(':');
  const left = groups.slice(0, runStart).map((g) => g.toString(16)).join(':');
  const right = groups.slice(runStart + runLen).map((g) => g.toString(16)).join(':');
  return `${left}::${right}`;
}

function isV4Mapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (addr[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}

/** First longest run of zero groups: [start, length]. */
function longestZeroRun(groups: readonly number[]): [number, number] {
  let best: [number, number] = [-1, 0];
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start === -1) start = i;
    } else if (start !== -1) {
      if (i - start > best[1]) best = [start, i - start];
      start = -1;
    }
  }
  return best;
}

/** Formats a 4- or 16-byte uWS address buffer; '-' when there is none. */
export function formatRaw(raw: ArrayBuffer): string {
  const a = toV6Bytes(raw);
  return a === undefined ? '-' : formatAddress(a);
}

/**
 * The client behind a chain of trusted proxies: X-Forwarded-For read from the right, skipping
 * addresses that are themselves trusted proxies. Undefined when the header holds nothing usable.
 */
export function clientFromForwardedFor(header: string, trusted: readonly Cidr[]): Uint8Array | undefined {
  const hops = header.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const addr = parseAddress((hops[i] as string).trim());
    if (addr === undefined) return undefined;
    if (!inAny(addr, trusted)) return addr;
  }
  return undefined;
}

/**
 * Stands for a client a trusted proxy forwarded without a usable address. Never the proxy's own
 * address: the proxy is often in --admin-allow (its health checks), and a client behind it must
 * not borrow that by sending `X-Forwarded-For: garbage`. Logged as `::`.
 */
export const UNKNOWN_CLIENT: Readonly<Uint8Array> = new Uint8Array(16);

/**
 * Resolves the client address: the socket peer, unless the peer is a trusted proxy; then the
 * PROXY v2 source (when uWS parsed one) or X-Forwarded-For (all of the request's lines, joined
 * with ','), or {@link UNKNOWN_CLIENT} when that header names no usable hop. A trusted peer
 * with neither is the proxy itself (a health check). Untrusted peers' claims are ignored.
 * Whenever no proxy relayed an address the result is `peer` itself (the same array), so a
 * caller can tell the socket peer from a relayed claim.
 */
export function resolveClient(peer: Uint8Array, proxied: ArrayBuffer, forwardedFor: string, trusted: readonly Cidr[]): Uint8Array {
  if (trusted.length === 0 || !inAny(peer, trusted)) return peer;
  const fromProxy = toV6Bytes(proxied);
  if (fromProxy !== undefined) return fromProxy;
  if (forwardedFor === '') return peer;
  return clientFromForwardedFor(forwardedFor, trusted) ?? UNKNOWN_CLIENT;
}
