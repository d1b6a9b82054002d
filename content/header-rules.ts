/**
 * Response header rules: which Cache-Control (and other headers) a path gets.
 * Rules are data (from config, later from a release's header file) compiled once per index.
 *
 * Precedence, lowest first: built-in defaults by kind (HTML, fingerprinted asset, other), the
 * file's own headers from a release manifest, then operator rules in order (later wins).
 */

export interface HeaderRule {
  /** `/assets/*`, `*.html`, `/exact/path`. `*` matches any run of characters, `/` included. */
  readonly pattern: string;
  readonly headers: Readonly<Record<string, string>>;
}

export const CACHE_HTML = 'public, max-age=60, must-revalidate';
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_DEFAULT = 'public, max-age=3600';
export const CACHE_NOT_FOUND = 'public, max-age=60';

/**
 * A name carrying a content hash: `app.3f9a1c2b.js`, `chunk-5d41402a.css` (8+ hex digits
 * mixing digits and letters, so dates like `report-20240101.pdf` do not count), or
 * `main.Ab3x9QzK.js` (8-16 characters mixing upper case, lower case and digits, as Vite and
 * esbuild emit). Ordinary words such as
 * `started-v2` or `version12` do not qualify; a miss only costs a shorter cache lifetime.
 */
const FINGERPRINT = /[.-](?:(?=[a-f]*[0-9])(?=[0-9]*[a-f])[0-9a-f]{8,}|(?=[A-Za-z_]*[0-9])(?=[a-z0-9_]*[A-Z])(?=[A-Z0-9_]*[a-z])[A-Za-z0-9_]{8,16})\.[A-Za-z0-9]+$/;

/** Headers the server owns: a rule may not set them. */
const RESERVED = new Set([
  'content-length', 'content-encoding', 'content-range', 'content-type', 'etag', 'last-modified', 'vary',
  'transfer-encoding', 'connection', 'date', 'accept-ranges', 'keep-alive', 'upgrade', 'trailer',
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** True for a field value with no control characters (no CR/LF: it cannot split a header). */
export function isHeaderValue(value: string): boolean {
  return VALUE.test(value);
}

/** Why a header name/value is unusable in a rule, or undefined when fine. Values may not hold CR/LF. */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  if (RESERVED.has(name.toLowerCase())) return `header ${name} is set by the server and cannot be configured`;
  if (!isHeaderValue(value)) return `header ${name} has a value with control characters`;
  return undefined;
}

export function isFingerprinted(path: string): boolean {
  return FINGERPRINT.test(path);
}

/** Built-in Cache-Control by kind of file. */
export function defaultCacheControl(path: string, type: string): string {
  // HTML names are URLs people type and link to: never immutable by default, whatever they look like.
  if (type.startsWith('text/html')) return CACHE_HTML;
  if (isFingerprinted(path)) return CACHE_IMMUTABLE;
  return CACHE_DEFAULT;
}

/** A compiled rule pattern: true when it matches the path. */
export type PathMatcher = (path: string) => boolean;

/**
 * `*` matches any run of characters, `/` included; every other character is literal. A pattern
 * starting with `/` matches the whole path; any other (`*.html` from `--cache-control`) matches
 * from the start of the path or of a segment to the end.
 *
 * No regular expression: `.*` per star backtracks exponentially (`/*a*a*a*a*a*a*b` took seconds
 * on a 65-character path). Here the literal pieces between the stars are placed leftmost-first,
 * each after the one before, and the last piece at the end. With only `*` as a wildcard the
 * leftmost place of a piece always leaves the most room for the rest, so one forward pass
 * decides: at worst O(path × pattern) character comparisons, however many stars.
 */
export function compilePattern(pattern: string): PathMatcher {
  const pieces = pattern.split('*');
  const first = pieces[0] as string;
  const anchored = pattern.startsWith('/');
  if (pieces.length === 1) return anchored ? (path) => path === pattern : (path) => path === pattern || path.endsWith('/' + pattern);
  const middle = pieces.slice(1, -1);
  const last = pieces[pieces.length - 1] as string;
  return (path) => {
    const start = anchored ? (path.startsWith(first) ? 0 : -1) : segmentStart(path, first);
    return start !== -1 && piecesFit(path, start + first.length, middle, last);
  };
}

/** Where the earliest match of `first` that begins the path or a segment starts; -1 when none. */
function segmentStart(path: string, first: string): number {
  if (path.startsWith(first)) return 0;
  const at = path.indexOf('/' + first);
  return at === -1 ? -1 : at + 1;
}

/** Do `middle` (in order, each leftmost) and then `last` (at the very end) fit in `path` from `from` on? */
function piecesFit(path: string, from: number, middle: readonly string[], last: string): boolean {
  const end = path.length - last.length;
  let at = from;
  for (const piece of middle) {
    const found = path.indexOf(piece, at);
    if (found === -1 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return at <= end && path.endsWith(last);
}

export interface CompiledRules {
  /** Final header list for a path: name → value, names in the case first given. */
  headersFor(path: string, type: string, fileHeaders?: Readonly<Record<string, string>>): [string, string][];
}

export function compileRules(rules: readonly HeaderRule[]): CompiledRules {
  const compiled = rules.map((r) => ({ matches: compilePattern(r.pattern), headers: Object.entries(r.headers) }));
  return {
    headersFor(path, type, fileHeaders) {
      const out = new Map<string, [string, string]>();
      const put = (name: string, value: string): void => void out.set(name.toLowerCase(), [name, value]);
      put('Cache-Control', defaultCacheControl(path, type));
      if (fileHeaders !== undefined) for (const [n, v] of Object.entries(fileHeaders)) put(n, v);
      for (const r of compiled) if (r.matches(path)) for (const [n, v] of r.headers) put(n, v);
      return [...out.values()];
    },
  };
}
