/**
 * What a site or a release may put on the wire: URL paths, media types and redirect rules
 * (header names and values: `headerProblem` in header-rules.ts). One rule each, applied where
 * rules are written (`_headers`, the scanner, `release build`) and again where a manifest is
 * read (every node, `release verify`): the reader is the trust boundary, since anyone who can
 * write a release directory can write its manifest.
 */

export const REDIRECT_STATUSES = [301, 302, 307, 308] as const;
export type RedirectStatus = (typeof REDIRECT_STATUSES)[number];

export interface RedirectRule {
  /** Exact URL path that redirects (a file at the same path wins). */
  readonly from: string;
  /** Path or absolute URL. */
  readonly to: string;
  readonly status: RedirectStatus;
}

/** True when `text` holds a C0 control character or DEL (CR, LF and NUL among them). */
export function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Dotfiles are never content, except `/.well-known/` (RFC 8615); `depth` 0 is a path's first segment. */
export function isHiddenSegment(segment: string, depth: number): boolean {
  return segment.charCodeAt(0) === 46 /* . */ && !(depth === 0 && segment === '.well-known');
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Why `path` cannot be an index key (a file's URL path, a directory's with its trailing `/`, or
 * a redirect source), or undefined: it starts with `/`, holds no control character, `\` or lone
 * surrogate, and no empty (but a last one), `.`, `..` or dotfile segment other than a first
 * `.well-known`. These are exactly the paths `normalisePath` (index/path.ts) returns unchanged
 * once their `%` are escaped, so a request for one finds it and nothing else does.
 */
export function pathProblem(path: string): string | undefined {
  return INDEX_KEY.test(path) ? undefined : (keyProblem(path) ?? 'is not a normalised path');
}

/**
 * The same rule as one expression, for the common case (a manifest holds up to 100,000 paths):
 * an optional first `/.well-known`, then `/segment`s that start with no `.`, then an optional
 * `/`; no control character, `\` or lone surrogate (in `u` mode a surrogate range matches
 * only an unpaired one). keyProblem explains a refusal; the property test holds both to
 * normalisePath.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const INDEX_KEY = /^(?=\/)(?:\/\.well-known(?=\/|$))?(?:\/[^/.\\\x00-\x1f\x7f\uD800-\uDFFF][^/\\\x00-\x1f\x7f\uD800-\uDFFF]*)*\/?$/u;

function keyProblem(path: string): string | undefined {
  if (path.charCodeAt(0) !== 47 /* / */) return 'does not start with /';
  if (hasControl(path)) return 'holds a control character';
  if (path.includes('\\')) return 'holds a backslash';
  if (LONE_SURROGATE.test(path)) return 'is not valid Unicode';
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    if (s === '') {
      if (i < segments.length - 1) return 'has an empty segment (//)';
    } else if (s === '.' || s === '..') return `has a ${s} segment`;
    else if (isHiddenSegment(s, i - 1)) return `has a dotfile segment ${s} (only /.well-known/ is served)`;
  }
  return undefined;
}

/** Why `path` cannot be a published file's URL path, or undefined: an index key that names no directory. */
export function filePathProblem(path: string): string | undefined {
  return pathProblem(path) ?? (path.endsWith('/') ? 'ends with / (a file path names a file)' : undefined);
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t\\x20-\\x7e\\x80-\\xff])*"';
/** RFC 9110 media-type: `type/subtype *( OWS ";" OWS name=value )`. */
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*$`);

const ESSENCE = new RegExp(`^${TOKEN}/${TOKEN}$`);

/** True for a bare media type in lower case, as Accept negotiation compares them (`text/html`); no wildcard. */
export function isMediaEssence(text: string): boolean {
  return ESSENCE.test(text) && text === text.toLowerCase() && !text.includes('*');
}

/** The media type without its parameters, in lower case: `text/html; charset=utf-8` -> `text/html`. */
export function essenceOf(type: string): string {
  const semi = type.indexOf(';');
  return (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase();
}

/** Why `type` cannot be a Content-Type value, or undefined. */
export function mediaTypeProblem(type: string): string | undefined {
  return MEDIA_TYPE.test(type) ? undefined : `${JSON.stringify(type)} is not a media type (type/subtype[; name=value]...)`;
}

/**
 * One validation for every source of redirects (`_headers` text, rules JSON, a manifest): an
 * exact index key without query, fragment or whitespace; a target path on this site or an
 * http(s) URL, without whitespace or control characters; a redirect status.
 */
export function checkRedirect(from: string, to: string, status: number, fail: (message: string) => Error): RedirectRule {
  if (!from.startsWith('/')) throw fail(`redirect source ${JSON.stringify(from)} must start with /`);
  if (from.includes('*')) throw fail(`redirect source ${JSON.stringify(from)} must be an exact path (no *)`);
  const problem = /[?#\s]/.test(from) ? 'holds a query, fragment or whitespace' : pathProblem(from);
  if (problem !== undefined) throw fail(`redirect source ${JSON.stringify(from)} must be a normalised path without query or fragment: it ${problem}`);
  if (!(to.startsWith('/') || /^https?:\/\/[^/\s]/.test(to))) throw fail(`redirect target ${JSON.stringify(to)} must start with /, http:// or https://`);
  if (/\s/.test(to) || hasControl(to)) throw fail(`redirect target ${JSON.stringify(to)} has whitespace or control characters`);
  // Browsers read `//host` (and `/\host`) as another host: a path target stays on this site.
  if (/^\/[/\\]/.test(to)) throw fail(`redirect target ${JSON.stringify(to)} is protocol-relative (another host): write https://host/ for that`);
  if (!(REDIRECT_STATUSES as readonly number[]).includes(status)) throw fail(`redirect status must be 301, 302, 307 or 308 (got ${String(status)})`);
  return { from, to, status: status as RedirectStatus };
}
