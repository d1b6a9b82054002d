/**
 * Node addresses as the inventory gives them: IPv6 literals (no brackets, as Ansible wants),
 * IPv4 literals and host names. IPv6 is parsed to its eight groups and printed in the RFC 5952
 * canonical form (common/address.ts), so the same node always looks the same however the
 * inventory spells it.
 */
import { formatIPv6, parseIPv4, parseIPv6 } from '../common/address.js';

export const ADDRESS_KINDS = ['ipv6', 'ipv4', 'hostname'] as const;
export type AddressKind = (typeof ADDRESS_KINDS)[number];

export interface NodeAddress {
  readonly kind: AddressKind;
  /** Canonical text: RFC 5952 for IPv6 (zone kept after `%`), dotted quad, lower-case name. */
  readonly text: string;
}

const ZONE = /^[0-9A-Za-z_.-]+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

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
export function parseNodeAddress(text: string): NodeAddress | undefined {
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
