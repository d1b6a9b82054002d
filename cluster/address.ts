/**
 * Node addresses as the inventory gives them: IPv6 literals (no brackets, as Ansible wants),
 * IPv4 literals and host names. IPv6 is parsed to its eight groups and printed in the RFC 5952
 * canonical form, so the same node always looks the same however the inventory spells it.
 */

export const ADDRESS_KINDS = ['ipv6', 'ipv4', 'hostname'] as const;
export type AddressKind = (typeof ADDRESS_KINDS)[number];

export interface NodeAddress {
  readonly kind: AddressKind;
  /** Canonical text: RFC 5952 for IPv6 (zone kept after `%`), dotted quad, lower-case name. */
  readonly text: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9A-Za-z_.-]+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

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
 * as the IPv4 address they carry, which is what the node will see as its peer.
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

function isHostname(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split('.');
  // A name whose last label is all digits is a mistyped IPv4 literal, not a host.
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return false;
  return labels.every((l) => LABEL.test(l));
}

/**
 * Classifies and canonicalises an address as written in an inventory. Undefined when it is
 * none of an IPv6 literal (optionally `%zone`), an IPv4 literal or an RFC 1123 host name.
 */
export function parseAddress(text: string): NodeAddress | undefined {
  if (text.includes(':')) {
    const pct = text.indexOf('%');
    const zone = pct === -1 ? undefined : text.slice(pct + 1);
    if (zone !== undefined && !ZONE.test(zone)) return undefined;
    const groups = parseIPv6(pct === -1 ? text : text.slice(0, pct));
    if (groups === undefined) return undefined;
    const formatted = formatIPv6(groups);
    if (!formatted.includes(':')) return { kind: 'ipv4', text: formatted };
    return { kind: 'ipv6', text: zone === undefined ? formatted : `${formatted}%${zone}` };
  }
  if (parseIPv4(text) !== undefined) return { kind: 'ipv4', text };
  if (isHostname(text)) return { kind: 'hostname', text: text.toLowerCase() };
  return undefined;
}

/** `[fd00:cafe::11]:8080`, `192.0.2.1:8080`, `pi1.lan:80`: the host part of a URL plus port, as a person reads it. */
export function hostPort(address: NodeAddress, port: number): string {
  return address.kind === 'ipv6' ? `[${address.text}]:${port}` : `${address.text}:${port}`;
}

/** The URL for `path` on a node; a zone's `%` is escaped as RFC 6874 requires. */
export function nodeUrl(address: NodeAddress, port: number, path: string): string {
  const host = address.kind === 'ipv6' ? `[${address.text.replace('%', '%25')}]` : address.text;
  return `http://${host}:${port}${path}`;
}
