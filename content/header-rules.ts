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

/** Why a header name/value is unusable in a rule, or undefined when fine. Values may not hold CR/LF. */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return `${JSON.stringify(name)} is not a valid header name`;
  if (RESERVED.has(name.toLowerCase())) return `header ${name} is set by the server and cannot be configured`;
  if (!VALUE.test(value)) return `header ${name} has a value with control characters`;
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

export function compilePattern(pattern: string): RegExp {
  const body = pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(pattern.startsWith('/') ? `^${body}$` : `(?:^|/)${body}$`);
}

export interface CompiledRules {
  /** Final header list for a path: name → value, names in the case first given. */
  headersFor(path: string, type: string, fileHeaders?: Readonly<Record<string, string>>): [string, string][];
}

export function compileRules(rules: readonly HeaderRule[]): CompiledRules {
  const compiled = rules.map((r) => ({ re: compilePattern(r.pattern), headers: Object.entries(r.headers) }));
  return {
    headersFor(path, type, fileHeaders) {
      const out = new Map<string, [string, string]>();
      const put = (name: string, value: string): void => void out.set(name.toLowerCase(), [name, value]);
      put('Cache-Control', defaultCacheControl(path, type));
      if (fileHeaders !== undefined) for (const [n, v] of Object.entries(fileHeaders)) put(n, v);
      for (const r of compiled) if (r.re.test(path)) for (const [n, v] of r.headers) put(n, v);
      return [...out.values()];
    },
  };
}
