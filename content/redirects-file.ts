/**
 * The `_redirects` file (`--redirects FILE`, or `_redirects` at the site root) in the Netlify /
 * Cloudflare Pages format: one rule per line, `FROM TO [STATUS][!]`, first match wins. Parsed
 * once per build into route rules the manifest records (`routes`); the file is never content.
 *
 * ```
 * /home          /                301
 * /blog/*        /posts/:splat    308
 * /u/:id         /users/:id
 * /en/*          /en/404.html     404
 * /app/*         /app/index.html  200
 * /legacy.html   /new.html        301!
 * ```
 *
 * What is supported and refused (each refusal names the file and line):
 * - FROM is a path: literal segments, whole-segment `:name` placeholders, and at most one `*`,
 *   as its last segment (`/blog/*`); no host (domain-level rules), no query conditions.
 * - TO is a path on this site or an http(s) URL; it may use `:splat` and FROM's placeholders.
 *   A `200` rewrite or a `404` page names a path of this site (proxying is not supported).
 * - STATUS is 200, 301 (the default, as on Netlify), 302, 303, 307, 308 or 404; a trailing `!`
 *   forces the rule over a file at the same path.
 * - Limits as on Cloudflare Pages: 2,000 static rules (no splat or placeholder), 100 dynamic
 *   ones, 1,000 characters per rule.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SITE_REDIRECTS_FILE } from './header-file.js';
import { errnoText, ReleaseError } from './release-error.js';
import { hasControl, pathProblem } from './servable.js';

export const ROUTE_STATUSES = [200, 301, 302, 303, 307, 308, 404] as const;
export type RouteStatus = (typeof ROUTE_STATUSES)[number];

export const TRAILING_SLASH_POLICIES = ['redirect', 'never', 'always'] as const;
/**
 * What a URL ending (or not) in `/` does: `redirect` (the default) serves `/dir/` and redirects
 * `/dir` to it; `never` serves `/dir` and `/page` (from `page.html`) and redirects `/dir/` to
 * `/dir`; `always` serves `/dir/` and `/page/` (from `page.html`) and redirects the bare form.
 */
export type TrailingSlashPolicy = (typeof TRAILING_SLASH_POLICIES)[number];

/** Cloudflare Pages' limits (developers.cloudflare.com/pages/configuration/redirects/#per-file). */
export const MAX_STATIC_ROUTES = 2000;
export const MAX_DYNAMIC_ROUTES = 100;
export const MAX_ROUTE_CHARS = 1000;

export interface RouteRule {
  /** Path pattern: literal segments, `:name` segments, an optional final `*`. */
  readonly from: string;
  /** Path or http(s) URL, with `:splat` and FROM's placeholders. */
  readonly to: string;
  readonly status: RouteStatus;
  /** `!`: applies even where a file (or directory) answers the path. */
  readonly force: boolean;
}

/** What the manifest records: the rules in file order and the site's trailing-slash policy. */
export interface SiteRoutes {
  readonly trailingSlash: TrailingSlashPolicy;
  readonly rules: readonly RouteRule[];
}

const DEFAULT_STATUS: RouteStatus = 301;
const PLACEHOLDER = /^:[A-Za-z_][A-Za-z0-9_]*$/;
const TO_PLACEHOLDER = /:([A-Za-z_][A-Za-z0-9_]*)/g;
const HAS_PLACEHOLDER = /:[A-Za-z_]/;

/** A rule without placeholder or splat: answered by one Map lookup. */
export function isStaticRoute(rule: Pick<RouteRule, 'from'>): boolean {
  return !rule.from.includes('*') && !rule.from.split('/').some((s) => s.startsWith(':'));
}

/** The names FROM binds, `splat` last when it ends in `*`. */
export function routeParams(from: string): string[] {
  const names = from.split('/').filter((s) => s.startsWith(':')).map((s) => s.slice(1));
  if (from.endsWith('/*') || from === '*') names.push('splat');
  return names;
}

/**
 * Why one rule cannot be served, or undefined. The one check for every source: a `_redirects`
 * line at build, and each `routes.rules[]` entry where a manifest is read.
 */
export function routeProblem(rule: RouteRule): string | undefined {
  const { from, to, status } = rule;
  if (!(ROUTE_STATUSES as readonly number[]).includes(status)) return `status must be one of ${ROUTE_STATUSES.join(', ')} (got ${String(status)})`;
  if (typeof rule.force !== 'boolean') return 'force must be true or false';
  if (from.length + to.length > MAX_ROUTE_CHARS) return `rule is longer than ${MAX_ROUTE_CHARS} characters`;
  const source = fromProblem(from);
  if (source !== undefined) return `source ${JSON.stringify(from)} ${source}`;
  if (/\s/.test(to) || hasControl(to)) return `target ${JSON.stringify(to)} has whitespace or control characters`;
  const params = new Set(routeParams(from));
  for (const [, name] of to.matchAll(TO_PLACEHOLDER)) {
    if (!params.has(name as string)) return `target ${JSON.stringify(to)} uses :${name as string}, which the source does not bind`;
  }
  const absolute = /^https?:\/\/[^/\s]/.test(to);
  if (!absolute && !to.startsWith('/')) return `target ${JSON.stringify(to)} must start with /, http:// or https://`;
  // Browsers read `//host` (and `/\host`) as another host: a path target stays on this site.
  if (/^\/[/\\]/.test(to)) return `target ${JSON.stringify(to)} is protocol-relative (another host): write https://host/ for that`;
  if (status === 200 || status === 404) {
    if (absolute) return `target ${JSON.stringify(to)}: a ${status} rule serves a file of this site (proxying to another host is not supported)`;
    const path = to.replace(TO_PLACEHOLDER, 'x');
    const problem = /[?#]/.test(path) ? 'holds a query or fragment' : pathProblem(path);
    if (problem !== undefined) return `target ${JSON.stringify(to)} must name a file of this site: it ${problem}`;
    if (status === 404 && path !== to) return `target ${JSON.stringify(to)}: a 404 page is a fixed path (no placeholders)`;
  }
  return undefined;
}

/**
 * Why a rule's fixed 200/404 target is not a page of the site (`isFile` answers for decoded URL
 * paths), or undefined: a file, or a directory's `index.html` (`/app/` or `/app`).
 */
export function routeTargetProblem(rule: RouteRule, isFile: (path: string) => boolean): string | undefined {
  if ((rule.status !== 200 && rule.status !== 404) || HAS_PLACEHOLDER.test(rule.to)) return undefined;
  const path = decodePath(rule.to);
  if (path !== undefined && routeTarget(path, isFile) !== undefined) return undefined;
  return `target ${rule.to} of a ${rule.status} rule is not a file of the site`;
}

/** The file a fixed target path serves: itself, or its directory's `index.html`. */
export function routeTarget(path: string, isFile: (path: string) => boolean): string | undefined {
  if (isFile(path)) return path;
  const index = (path.endsWith('/') ? path : `${path}/`) + 'index.html';
  return isFile(index) ? index : undefined;
}

/** A URL path with its %-escapes decoded, or undefined when they are malformed. */
export function decodePath(path: string): string | undefined {
  try {
    return decodeURIComponent(path);
  } catch {
    return undefined;
  }
}

function fromProblem(from: string): string | undefined {
  if (/^[a-z]+:\/\//i.test(from)) return 'names a host: domain-level rules are not supported';
  if (!from.startsWith('/')) return 'must start with /';
  if (/[?#]/.test(from)) return 'holds a query or fragment';
  const segments = from.split('/');
  const seen = new Set<string>();
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i] as string;
    if (s.includes('*')) {
      if (s !== '*' || i !== segments.length - 1) return 'may hold * only as its whole last segment (/blog/*)';
    } else if (s.startsWith(':')) {
      if (!PLACEHOLDER.test(s)) return `has a bad placeholder ${JSON.stringify(s)} (:name, letters, digits and _)`;
      if (s === ':splat') return 'binds :splat, the name * binds';
      if (seen.has(s)) return `binds ${s} twice`;
      seen.add(s);
    }
  }
  const literal = decodePath(from.replace(/\/:[^/]+/g, '/x').replace(/\/\*$/, '/'));
  if (literal === undefined) return 'has a malformed %-escape';
  const problem = pathProblem(literal);
  return problem === undefined ? undefined : `is not a normalised path: it ${problem}`;
}

/** The rules of the site at `root`: its `_redirects` when there is one, else none. `isFile` as for parseRedirects. */
export function readSiteRedirects(root: string, isFile: (path: string) => boolean): RouteRule[] {
  const file = join(root, SITE_REDIRECTS_FILE);
  return existsSync(file) ? readRedirectsFile(file, isFile) : [];
}

export function readRedirectsFile(file: string, isFile: (path: string) => boolean): RouteRule[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReleaseError(`cannot read redirects file ${file}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_REDIRECTS');
  }
  return parseRedirects(text, file, isFile);
}

/**
 * Parses `_redirects` text; `where` (the file name) and the line start every error message.
 * `isFile` tells whether a decoded URL path is a file of the site: a fixed 200/404 target must be.
 */
export function parseRedirects(text: string, where: string, isFile: (path: string) => boolean): RouteRule[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rules: RouteRule[] = [];
  let statics = 0;
  let dynamics = 0;
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = (lines[i] as string).trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const rule = ruleOf(trimmed, where, i + 1);
    const target = routeTargetProblem(rule, isFile);
    if (target !== undefined) throw redirectsError(where, i + 1, target);
    if (isStaticRoute(rule)) {
      if (++statics > MAX_STATIC_ROUTES) throw redirectsError(where, i + 1, `more than ${MAX_STATIC_ROUTES} static rules (the Cloudflare Pages limit): use a splat or placeholder`);
    } else if (++dynamics > MAX_DYNAMIC_ROUTES) throw redirectsError(where, i + 1, `more than ${MAX_DYNAMIC_ROUTES} dynamic rules (the Cloudflare Pages limit)`);
    rules.push(rule);
  }
  return rules;
}

function ruleOf(line: string, where: string, n: number): RouteRule {
  if (line.length > MAX_ROUTE_CHARS) throw redirectsError(where, n, `rule is longer than ${MAX_ROUTE_CHARS} characters`);
  const tokens = line.split(/\s+/);
  if (tokens.length < 2) throw redirectsError(where, n, `expected "FROM TO [STATUS]", got ${JSON.stringify(line)}`);
  const condition = tokens.slice(1).find((x) => /^[^/:]*=/.test(x));
  if (condition !== undefined) throw redirectsError(where, n, `${tokens[1] === condition ? 'query conditions' : 'conditions'} (${condition}) are not supported`);
  if (tokens.length > 3) throw redirectsError(where, n, `expected "FROM TO [STATUS]", got ${tokens.length} fields`);
  const [from = '', to = '', code] = tokens;
  const parsed = code === undefined ? { status: DEFAULT_STATUS, force: false } : statusOf(code);
  if (parsed === undefined) throw redirectsError(where, n, `status must be one of ${ROUTE_STATUSES.join(', ')}, optionally followed by ! (got ${JSON.stringify(code)})`);
  const rule: RouteRule = { from, to, ...parsed };
  const problem = routeProblem(rule);
  if (problem !== undefined) throw redirectsError(where, n, problem);
  return rule;
}

function statusOf(code: string): { status: RouteStatus; force: boolean } | undefined {
  const m = /^(\d{3})(!?)$/.exec(code);
  const status = m === null ? NaN : Number(m[1]);
  return (ROUTE_STATUSES as readonly number[]).includes(status) ? { status: status as RouteStatus, force: m?.[2] === '!' } : undefined;
}

function redirectsError(where: string, line: number, message: string): ReleaseError {
  return new ReleaseError(`${where}:${line}: ${message}`, 'PI_ORIGIN_RELEASE_REDIRECTS');
}

/** Why `value` is not a trailing-slash policy, or undefined. */
export function trailingSlashProblem(value: unknown): string | undefined {
  return (TRAILING_SLASH_POLICIES as readonly unknown[]).includes(value) ? undefined : `must be one of ${TRAILING_SLASH_POLICIES.join(', ')} (got ${JSON.stringify(value)})`;
}

/** Why a list of rules exceeds the limits, or undefined (the parser names the line instead). */
export function routeLimitProblem(rules: readonly RouteRule[]): string | undefined {
  const statics = rules.filter(isStaticRoute).length;
  if (statics > MAX_STATIC_ROUTES) return `${statics} static rules, more than ${MAX_STATIC_ROUTES}`;
  const dynamics = rules.length - statics;
  return dynamics > MAX_DYNAMIC_ROUTES ? `${dynamics} dynamic rules, more than ${MAX_DYNAMIC_ROUTES}` : undefined;
}
