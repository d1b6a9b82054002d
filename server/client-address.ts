/**
 * The client's address as uWS hands it (4 or 16 bytes) and as trusted proxies relay it (PROXY
 * v2, X-Forwarded-For). Parsing, formatting and prefixes are common/address.ts. Pure and uWS-free.
 */
import { formatAddress, inAny, mapV4, parseAddress, type Cidr } from '../common/address.js';

/** uWS hands 4 or 16 bytes (or none for a PROXY header that carried no address); always 16 out. */
export function toV6Bytes(raw: ArrayBuffer): Uint8Array | undefined {
  if (raw.byteLength === 16) return new Uint8Array(raw.slice(0));
  if (raw.byteLength === 4) return mapV4([...new Uint8Array(raw)]);
  return undefined;
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
