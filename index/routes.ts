/**
 * The `_redirects` rules (content/redirects-file.ts) compiled for the hot path, once per index.
 *
 * - Static rules (no placeholder, no splat) become entries of the lookup Map: a request for one
 *   costs what a file costs, one `Map.get`. Their place in the file order is kept by compiling
 *   them here: a static rule that an earlier dynamic rule already answers is dropped.
 * - Dynamic rules are tried in file order, only after the Map missed (or, for forced ones, on a
 *   hit). Each match walks the path once, left to right: literal segments are compared in
 *   place, a placeholder takes one whole segment up to the next `/`, a splat takes the rest.
 *   No rule can backtrack, so a match costs O(path length) per rule, at most 100 rules.
 * - A `200` rewrite or a `404` page resolves to an entry of the release's own files (a Map
 *   lookup, never a filesystem path): no rule can make the server read outside the release.
 *
 * Semantics, after Netlify (docs.netlify.com/routing/redirects/rewrites-proxies/#shadowing):
 * first match wins; a file (or a directory's index) at the path shadows a rule unless the rule
 * is forced with `!`; `/a` and `/a/` match the same rules.
 */
import { isStaticRoute, routeParams, type RouteRule, type RouteStatus } from '../content/redirects-file.js';
import { encodeLocation, normalisePath } from './path.js';

export type RedirectStatus = Exclude<RouteStatus, 200 | 404>;

/** What the lookup gives the compiler: its entries before any rule, and how to make one. */
export interface RouteTargets<E> {
  /** True when a file, a directory or a `_headers` redirect answers `key`: a rule without `!` yields to it. */
  answers(key: string): boolean;
  /** The entry serving the release's file at decoded URL path `path`, as itself (200) or as a 404 page. */
  page(path: string, status: 200 | 404): E | undefined;
  redirect(location: string, status: RedirectStatus): E;
}

/** The dynamic rules of a release: consulted only where the Map has no answer (or for `!` rules). */
export interface Routes<E> {
  /** True when some dynamic rule is forced: a hit must ask `hit` too. */
  readonly forced: boolean;
  /** The entry of the first dynamic rule that matches `key`, a normalised path no entry answers. */
  miss(key: string): E | undefined;
  /** The entry of the first forced dynamic rule that matches `key`, a path a file answers. */
  hit(key: string): E | undefined;
}

export interface CompiledRoutes<E> {
  /** Static rules by request key (both `/a` and `/a/`), to set into the lookup Map over what they force. */
  readonly statics: ReadonlyMap<string, E>;
  /** Undefined when the site has no dynamic rule: nothing more to try on a miss. */
  readonly dynamic: Routes<E> | undefined;
}

interface DynamicRule<E> {
  /** The leading literal segments (`/blog` of `/blog/:id`): a path without it is passed over at once. */
  readonly prefix: string;
  /** Per segment: its decoded literal text, or null for a placeholder. */
  readonly segments: readonly (string | null)[];
  readonly splat: boolean;
  /** A splat 200 rewrite (SPA fallback) without `!`: leaves paths whose last segment has an extension alone. */
  readonly skipsExtensions: boolean;
  readonly force: boolean;
  readonly status: RouteStatus;
  /** The target: literal text and capture indexes, in order. */
  readonly to: readonly (string | number)[];
  /** The entry when the target uses no capture (built once). */
  readonly fixed: E | undefined;
}

/** Captures of the match in progress: the hot path is one thread, and a match never nests. */
const captures: string[] = [];

export function compileRoutes<E>(rules: readonly RouteRule[], targets: RouteTargets<E>): CompiledRoutes<E> {
  const statics = new Map<string, E>();
  const dynamic: DynamicRule<E>[] = [];
  for (const rule of rules) {
    if (!isStaticRoute(rule)) {
      dynamic.push(compileDynamic(rule, targets));
      continue;
    }
    const key = normalisePath(rule.from);
    if (typeof key === 'number') continue;
    const bare = stripSlash(key);
    // An earlier dynamic rule that applies here wins (first match), as does an earlier static one.
    if (dynamic.some((d) => (d.force || !targets.answers(bare)) && matches(d, bare))) continue;
    const entry = staticEntry(rule, targets);
    if (entry === undefined) continue;
    for (const k of bare === '/' ? [bare] : [bare, `${bare}/`]) {
      if (!statics.has(k) && (rule.force || !targets.answers(k))) statics.set(k, entry);
    }
  }
  return { statics, dynamic: dynamic.length === 0 ? undefined : dynamicRoutes(dynamic, statics, targets) };
}

function dynamicRoutes<E>(rules: readonly DynamicRule<E>[], statics: ReadonlyMap<string, E>, targets: RouteTargets<E>): Routes<E> {
  const forced = rules.filter((r) => r.force);
  // A rewrite's target is a file of the release, never a path another rule made.
  const file = (path: string): E | undefined => (statics.has(path) ? undefined : targets.page(path, 200));
  const first = (list: readonly DynamicRule<E>[], key: string): E | undefined => {
    const path = stripSlash(key);
    for (const rule of list) {
      if (!matches(rule, path)) continue;
      if (rule.skipsExtensions && lastSegmentHasExtension(path)) continue;
      return rule.fixed ?? resolve(rule, file, targets);
    }
    return undefined;
  };
  return Object.freeze({
    forced: forced.length > 0,
    miss: (key: string) => first(rules, key),
    // A path a static rule took is answered by that rule, which came first.
    hit: (key: string) => (statics.has(key) ? undefined : first(forced, key)),
  });
}

function compileDynamic<E>(rule: RouteRule, targets: RouteTargets<E>): DynamicRule<E> {
  const parts = rule.from.split('/').slice(1);
  const splat = parts[parts.length - 1] === '*';
  if (splat) parts.pop();
  const segments = parts.map((s) => (s.startsWith(':') ? null : decodeSegment(s)));
  const params = routeParams(rule.from);
  const to: (string | number)[] = [];
  let last = 0;
  for (const m of rule.to.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)) {
    to.push(rule.to.slice(last, m.index), params.indexOf(m[1] as string));
    last = m.index + m[0].length;
  }
  to.push(rule.to.slice(last));
  const leading = segments.indexOf(null);
  const prefix = (leading === -1 ? segments : segments.slice(0, leading)).map((x) => `/${x as string}`).join('');
  const compiled = { prefix, segments, splat, skipsExtensions: splat && rule.status === 200 && !rule.force, force: rule.force, status: rule.status, to, fixed: undefined };
  return { ...compiled, fixed: to.length === 1 ? staticEntry(rule, targets) : undefined };
}

/** The entry of a rule whose target uses no capture. */
function staticEntry<E>(rule: RouteRule, targets: RouteTargets<E>): E | undefined {
  if (rule.status === 200 || rule.status === 404) {
    const path = normalisePath(rule.to);
    return typeof path === 'number' ? undefined : targets.page(path, rule.status);
  }
  return targets.redirect(rule.to, rule.status);
}

/** A dynamic rule's entry for the captures just made. */
function resolve<E>(rule: DynamicRule<E>, file: (path: string) => E | undefined, targets: RouteTargets<E>): E | undefined {
  const rewrite = rule.status === 200;
  let out = '';
  for (const part of rule.to) {
    if (typeof part === 'string') out += rewrite ? decodeSegment(part) : part;
    else out += rewrite ? (captures[part] as string) : encodeLocation(captures[part] as string);
  }
  // A 404 target is fixed (the parser refuses placeholders there), so only these two remain.
  return rewrite ? file(out) : targets.redirect(out, rule.status as RedirectStatus);
}

/**
 * Whether `path` (normalised, no trailing `/` but the root) matches `rule`, filling `captures`.
 * One pass, left to right, never revisiting a character.
 */
function matches<E>(rule: DynamicRule<E>, path: string): boolean {
  if (!path.startsWith(rule.prefix)) return false;
  captures.length = 0;
  let pos = 0;
  const end = path.length;
  for (const literal of rule.segments) {
    if (path.charCodeAt(pos) !== 47 /* / */) return false;
    pos++;
    if (literal !== null) {
      if (!path.startsWith(literal, pos)) return false;
      pos += literal.length;
      if (pos !== end && path.charCodeAt(pos) !== 47) return false;
    } else {
      let next = path.indexOf('/', pos);
      if (next === -1) next = end;
      if (next === pos) return false;
      captures.push(path.slice(pos, next));
      pos = next;
    }
  }
  if (!rule.splat) return pos === end;
  if (pos === end) captures.push('');
  else if (path.charCodeAt(pos) === 47) captures.push(path.slice(pos + 1));
  else return false;
  return true;
}

function stripSlash(key: string): string {
  return key.length > 1 && key.charCodeAt(key.length - 1) === 47 ? key.slice(0, -1) : key;
}

function lastSegmentHasExtension(path: string): boolean {
  return path.indexOf('.', path.lastIndexOf('/') + 1) !== -1;
}

function decodeSegment(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
