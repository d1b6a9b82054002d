/**
 * `Range: bytes=` parsing (RFC 9110 §14). Pure and uWS-free.
 *
 * One range is served as 206. Several ranges are answered with the full 200 body: multipart
 * byteranges cost a lot to build, CDNs fetch whole objects, and a correct 200 is always a
 * valid answer. More than MAX_RANGES ranges is refused with 416, as RFC 9110 §14.2 allows for
 * "many small ranges" (a denial-of-service pattern).
 */

export const MAX_RANGES = 16;

/** Inclusive byte positions of a satisfiable single range. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** `ignore`: serve the full body (absent, invalid or multi-range); `unsatisfiable`: 416. */
export type RangeResult = ByteRange | 'ignore' | 'unsatisfiable';

const PART = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

export function parseRange(header: string, size: number): RangeResult {
  if (header.length < 7 || header.slice(0, 6).toLowerCase() !== 'bytes=') return 'ignore';
  const specs = header.slice(6).split(',');
  if (specs.length > MAX_RANGES) return 'unsatisfiable';
  let single: RangeResult = 'unsatisfiable';
  for (const spec of specs) {
    const m = PART.exec(spec);
    if (m === null) return 'ignore';
    const first = m[1] as string;
    const last = m[2] as string;
    if (first === '' && last === '') return 'ignore';
    if (first !== '' && last !== '' && compareDigits(first, last) > 0) return 'ignore';
    single = resolve(first, last, size);
  }
  return specs.length === 1 ? single : 'ignore';
}

/** Compares decimal digit strings exactly (Number() rounds above 2^53). */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
}

function resolve(first: string, last: string, size: number): RangeResult {
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { start, end };
}
