/**
 * Conditional request evaluation (RFC 9110 §13). Pure and uWS-free.
 * If-None-Match uses weak comparison and, when present, makes If-Modified-Since ignored.
 * If-Range needs a strong match: an exact strong ETag or the exact Last-Modified date.
 */

/** Weak comparison of an If-None-Match list (or `*`) against our strong ETag. */
export function noneMatch(header: string, etag: string): boolean {
  if (header === etag || header === '*') return true;
  if (header.indexOf(etag) === -1) return header.trim() === '*';
  for (const raw of header.split(',')) {
    const tag = raw.trim();
    if (tag === etag || tag === '*' || (tag.startsWith('W/') && tag.slice(2) === etag)) return true;
  }
  return false;
}

const HAS_ZONE = /\b(?:GMT|UTC|Z)\b|[+-]\d{4}\b/;
let lastDateText = '';
let lastDateSec = NaN;

/** HTTP-date to whole seconds; NaN when unparseable. Remembers the last one (CDNs repeat it). */
export function parseHttpDate(text: string): number {
  if (text !== lastDateText) {
    lastDateText = text;
    // asctime dates carry no zone; HTTP dates are always GMT, never the server's local time.
    lastDateSec = Math.floor(Date.parse(HAS_ZONE.test(text) ? text : `${text} GMT`) / 1000);
  }
  return lastDateSec;
}

/** True when the resource was not modified after the If-Modified-Since date. */
export function notModifiedSince(header: string, mtimeSec: number): boolean {
  const since = parseHttpDate(header);
  return since === since /* not NaN */ && mtimeSec <= since;
}

/** True when an If-Range validator still matches, so the Range may be honoured. */
export function ifRangeMatches(header: string, etag: string, mtimeSec: number): boolean {
  const c = header.charCodeAt(0);
  if (c === 34 /* " */) return header === etag;
  if (c === 87 /* W */ && header.charCodeAt(1) === 47 /* / */) return false;
  return parseHttpDate(header) === mtimeSec;
}
