/**
 * IP address literals, the one parser and the one RFC 5952 formatter of the project, and
 * prefixes (CIDRs). Addresses are eight 16-bit groups as text goes, and 16-byte arrays (IPv4
 * mapped into ::ffff:0:0/96) where prefixes are matched. Pure: no imports of the project.
 */

/** A prefix in IPv6 form; IPv4 prefixes are stored mapped (10.0.0.0/8 is ::ffff:10.0.0.0/104). */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly bits: number;
  /** As configured, for messages and `--help`. */
  readonly text: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** The four octets of a dotted-quad IPv4 literal (no leading zeros, which some resolvers read as octal). */
export function parseIPv4(text: string): [number, number, number, number] | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split('.').map(Number) as [number, number, number, number];
}

/** The eight 16-bit groups of an IPv6 literal (without zone or brackets), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parts = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = parts(halves[0] as string);
  const tail = halves.length === 2 ? parts(halves[1] as string) : [];
  const groups: number[] = [];
  const all = [...head, ...tail];
  // An embedded IPv4 address may only end the literal: `::ffff:192.0.2.1`.
  const last = all[all.length - 1];
  let v4: number[] = [];
  if (last !== undefined && last.includes('.')) {
    if (halves.length === 2 && tail.length === 0) return undefined;
    const octets = parseIPv4(last);
    if (octets === undefined) return undefined;
    v4 = [(octets[0] << 8) | octets[1], (octets[2] << 8) | octets[3]];
    if (tail.length > 0) tail.pop();
    else head.pop();
  }
  for (const g of [...head, ...tail]) if (!HEX_GROUP.test(g)) return undefined;
  const explicit = head.length + tail.length + v4.length;
  if (halves.length === 2 ? explicit > 7 : explicit !== 8) return undefined;
  groups.push(...head.map((g) => parseInt(g, 16)));
  if (halves.length === 2) for (let i = explicit; i < 8; i++) groups.push(0);
  groups.push(...tail.map((g) => parseInt(g, 16)), ...v4);
  return groups;
}

/**
 * RFC 5952: lower-case hex without leading zeros; the longest run of two or more zero groups
 * (the first of equal runs) becomes `::`. IPv4-mapped addresses (`::ffff:0:0/96`) are printed
 * as the IPv4 address they carry, which is what a server sees as its peer.
 */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError(`an IPv6 address has 8 groups (got ${groups.length})`);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6] as number, groups[7] as number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestAt, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt === -1) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`;
}

/**
 * Parses an IPv4 or IPv6 literal into 16 bytes; undefined when invalid. Brackets are URL syntax
 * for IPv6 (`[2001:db8::1]`) and are refused around IPv4; zone ids are refused.
 */
export function parseAddress(text: string): Uint8Array | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return mapV4(v4);
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const groups = parseIPv6(t);
  return groups === undefined ? undefined : bytesOf(groups);
}

/** 16 bytes of an IPv4 address mapped into ::ffff:0:0/96. */
export function mapV4(octets: readonly number[]): Uint8Array {
  return Uint8Array.from([...V4_MAPPED_PREFIX, ...octets]);
}

function bytesOf(groups: readonly number[]): Uint8Array {
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** RFC 5952 text of 16 bytes; IPv4-mapped addresses print as dotted IPv4. */
export function formatAddress(addr: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] as number) << 8) | (addr[i + 1] as number));
  return formatIPv6(groups);
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
  if (addrText.startsWith('[') && addrText.endsWith(']') && parseIPv4(addrText.slice(1, -1)) !== undefined) return `brackets are for IPv6 only (write ${addrText.slice(1, -1)}${slash === -1 ? '' : text.slice(slash)})`;
  const bytes = parseAddress(addrText);
  if (bytes === undefined) return `${JSON.stringify(addrText)} is not an IPv4 or IPv6 address`;
  const v4 = parseIPv4(addrText) !== undefined;
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

function isV4Mapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) if (addr[i] !== V4_MAPPED_PREFIX[i]) return false;
  return true;
}
