/**
 * The release manifest (`manifest.json` at the top of a release directory): the one description
 * of a release that every node trusts for sizes and hashes. Reading it replaces scanning and
 * hashing at start; its values are still checked when read (validateManifest), since they go
 * into response heads.
 *
 * Layout of a release directory: every file at its path; precompressed variants beside their
 * source as `<path>.br` and `<path>.gz`; `manifest.json`. Nothing else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { headerProblem } from '../content/header-rules.js';
import { routeLimitProblem, routeProblem, routeTargetProblem, trailingSlashProblem, type RouteRule, type SiteRoutes } from '../content/redirects-file.js';
import { checkRedirect, essenceOf, filePathProblem, isMediaEssence, mediaTypeProblem, type RedirectRule } from '../content/servable.js';
import { ENCODINGS, VARIANT_SUFFIX, type Alternates, type Encoding, type IndexedFile, type IndexedVariant, type SiteIndex } from '../content/site-index.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 1;

export interface ManifestVariant {
  readonly size: number;
  readonly sha256: string;
}

export interface ManifestFile {
  /** URL path: `/`, then the path relative to the release root with `/` separators. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Content-Type with charset for text types. */
  readonly type: string;
  /** Modification time in ms since the epoch: Last-Modified on every node. */
  readonly mtime: number;
  /** Response headers from the release's rules (Cache-Control, Surrogate-Key, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** Precompressed variants stored at `<path>.br` / `<path>.gz`. */
  readonly variants: Readonly<Partial<Record<Encoding, ManifestVariant>>>;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  /** Derived from the content and rules: the same site gives the same id on any machine. */
  readonly id: string;
  /** ISO 8601 build time (informational; not part of the id). */
  readonly created: string;
  /**
   * The release an incremental build started from (`release build --parent`): informational,
   * not part of the id; absent on a full build and on releases built before it existed.
   */
  readonly parent?: string;
  /** Sorted by path. */
  readonly files: readonly ManifestFile[];
  readonly redirects: readonly RedirectRule[];
  /** Assets carried from earlier releases for skew protection (release/skew.ts); absent when none. */
  readonly skew?: Skew;
  /** `Link` preload values built from each HTML page's stylesheets and scripts (release/preload.ts); absent unless asked for. */
  readonly preload?: Readonly<Record<string, readonly string[]>>;
  /** The `_redirects` rules and trailing-slash policy; absent when the site has neither. */
  readonly routes?: SiteRoutes;
  /** Pages answered by Accept at their directory URL (a package index's HTML and JSON); absent when none. */
  readonly alternates?: Alternates;
}

/** A file of an earlier release, hard-linked at its path, served with that release's headers. */
export interface SkewFile extends ManifestFile {
  /** The release it belongs to (one of `skew.releases`). */
  readonly release: string;
}

export interface Skew {
  /** The releases whose assets are carried, newest first. */
  readonly releases: readonly string[];
  /** Sorted by path; no path is also in `files`. */
  readonly files: readonly SkewFile[];
}

/** At most this many preload links per page: a Link header stays well under header size limits. */
export const MAX_PRELOAD_LINKS = 16;
/** At most this many media type aliases: each is compared once per distinct Accept header. */
export const MAX_MEDIA_ALIASES = 16;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly code = 'PI_ORIGIN_BAD_MANIFEST';
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID = /^[0-9a-f]{12}$/;
/** `Date.prototype.toISOString()`, with or without milliseconds. */
const CREATED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/** Reads and validates `dir/manifest.json`; undefined when the file does not exist. */
export function readManifest(dir: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_NAME), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestError(`cannot read ${join(dir, MANIFEST_NAME)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${join(dir, MANIFEST_NAME)} is not valid JSON: ${(e as Error).message}`);
  }
  return validateManifest(data, join(dir, MANIFEST_NAME));
}

/**
 * Checks a manifest read from disk with the rules its values were built under, since the server
 * joins paths, types, headers and redirect targets verbatim into response heads: paths are index
 * keys (servable.ts), `type` a media type, headers pass `headerProblem` (token names, no
 * server-owned names, no control characters), redirects the builder's own check. Throws
 * ManifestError naming the first problem, its file or redirect and the field.
 */
export function validateManifest(data: unknown, where: string): Manifest {
  const fail = (what: string): ManifestError => new ManifestError(`${where}: ${what}`);
  const m = checkHead(data, fail);
  if (!Array.isArray(m.files)) throw fail('files must be a list');
  const paths = new FilePaths();
  for (const f of m.files as unknown[]) {
    const file = f as Partial<ManifestFile> | null;
    const at = `files[${JSON.stringify(file?.path)}]`;
    const problem = manifestFileProblem(file);
    if (problem !== undefined) throw fail(`${at}: ${problem}`);
    if (paths.has(file?.path as string)) throw fail(`${at}: duplicate path`);
    paths.file(file?.path as string, file?.type as string);
  }
  checkRest(m, paths, fail);
  return m as Manifest;
}

/** The fields a manifest starts with: format, id, created and (optional) parent. */
export function checkHead(data: unknown, fail: (what: string) => ManifestError): Partial<Manifest> {
  const m = data as Partial<Manifest> | null;
  if (typeof m !== 'object' || m === null) throw fail('not a JSON object');
  if (m.format !== MANIFEST_FORMAT) throw fail(`format must be ${MANIFEST_FORMAT} (got ${JSON.stringify(m.format)})`);
  if (typeof m.id !== 'string' || !ID.test(m.id)) throw fail(`id must be 12 hex digits (got ${JSON.stringify(m.id)})`);
  // `release list` prints it and `prune` orders by it: the builder's own form only.
  if (typeof m.created !== 'string' || !CREATED.test(m.created)) throw fail(`created must be an ISO 8601 UTC time (got ${JSON.stringify(m.created)})`);
  // `verify --parent` and the rollout name a release by it: an id, and not this release's own.
  if (m.parent !== undefined && (typeof m.parent !== 'string' || !ID.test(m.parent) || m.parent === m.id)) throw fail(`parent must be the id of another release (got ${JSON.stringify(m.parent)})`);
  return m;
}

/** The set of paths a manifest's files take, as the checks after `files` need it. */
export interface PathSet {
  has(path: string): boolean;
  /** A carried (skew) file's path, taken after the files'. */
  add(path: string): unknown;
  /** The type of a file of this release (not a carried one), or undefined. */
  typeOf(path: string): string | undefined;
}

/** The PathSet of a manifest held as objects: its files' paths and types, plus carried paths. */
class FilePaths implements PathSet {
  private readonly types = new Map<string, string>();
  private readonly carried = new Set<string>();
  has(path: string): boolean {
    return this.types.has(path) || this.carried.has(path);
  }
  file(path: string, type: string): void {
    this.types.set(path, type);
  }
  add(path: string): void {
    this.carried.add(path);
  }
  typeOf(path: string): string | undefined {
    return this.types.get(path);
  }
}

/**
 * Everything after `files`, given the set of their paths: redirects, routes (whose targets
 * must be files of this release), skew (whose files join `paths`) and preload.
 */
export function checkRest(m: Partial<Manifest>, paths: PathSet, fail: (what: string) => ManifestError): void {
  if (!Array.isArray(m.redirects)) throw fail('redirects must be a list');
  const froms = new Set<string>();
  (m.redirects as unknown[]).forEach((r, i) => {
    const rule = r as Partial<RedirectRule> | null;
    const at = `redirects[${i}]`;
    if (typeof rule?.from !== 'string' || typeof rule.to !== 'string' || typeof rule.status !== 'number') throw fail(`${at}: needs from and to strings and a status`);
    checkRedirect(rule.from, rule.to, rule.status, (message) => fail(`${at}: ${message}`));
    if (froms.has(rule.from)) throw fail(`${at}: redirect from ${rule.from} is already defined`);
    froms.add(rule.from);
  });
  // routes and preload before skew: a rule's target and a page must be files of this release, not carried ones.
  if (m.routes !== undefined) {
    const problem = routesProblem(m.routes, paths);
    if (problem !== undefined) throw fail(`routes${problem}`);
  }
  if (m.preload !== undefined) checkPreload(m.preload, paths, fail);
  // alternates before skew: a page and its alternate are files of this release, not carried ones.
  if (m.alternates !== undefined) {
    const problem = alternatesProblem(m.alternates, paths);
    if (problem !== undefined) throw fail(`alternates${problem}`);
  }
  if (m.skew !== undefined) checkSkew(m.skew, m.id as string, paths, fail);
}

/** `skew`: carried files pass the same checks as files, belong to a listed release, and take no path twice. */
function checkSkew(skew: unknown, id: string, paths: PathSet, fail: (what: string) => ManifestError): void {
  const s = skew as Partial<Skew> | null;
  if (typeof s !== 'object' || s === null || !Array.isArray(s.releases) || !Array.isArray(s.files)) throw fail('skew must be an object with releases and files lists');
  const releases = new Set<unknown>();
  for (const r of s.releases as unknown[]) {
    if (typeof r !== 'string' || !ID.test(r) || r === id || releases.has(r)) throw fail(`skew.releases: ${JSON.stringify(r)} must be a release id other than this one, listed once`);
    releases.add(r);
  }
  for (const f of s.files as unknown[]) {
    const file = f as Partial<SkewFile> | null;
    const at = `skew.files[${JSON.stringify(file?.path)}]`;
    const problem = manifestFileProblem(file);
    if (problem !== undefined) throw fail(`${at}: ${problem}`);
    if (!releases.has(file?.release)) throw fail(`${at}: release ${JSON.stringify(file?.release)} is not in skew.releases`);
    if (paths.has(file?.path as string)) throw fail(`${at}: duplicate path`);
    paths.add(file?.path as string);
  }
}

/** `preload`: keys are HTML files of this release, values lists of header-safe Link values. */
function checkPreload(preload: unknown, pages: PathSet, fail: (what: string) => ManifestError): void {
  if (typeof preload !== 'object' || preload === null || Array.isArray(preload)) throw fail('preload must map page paths to lists of Link values');
  for (const [path, links] of Object.entries(preload as Record<string, unknown>)) {
    const at = `preload[${JSON.stringify(path)}]`;
    if (!pages.has(path)) throw fail(`${at}: not a file of this release`);
    if (!Array.isArray(links) || links.length > MAX_PRELOAD_LINKS) throw fail(`${at}: must be a list of at most ${MAX_PRELOAD_LINKS} Link values`);
    for (const link of links as unknown[]) if (typeof link !== 'string' || headerProblem('Link', link) !== undefined) throw fail(`${at}: ${JSON.stringify(link)} is not a Link value`);
  }
}

/**
 * What is wrong with the `alternates` field (as `.field: message`), or undefined. A page is a
 * directory index of this release (its directory URL is where it is negotiated), its alternate
 * another file of the release (not carried, not a page) of another media type; aliases are
 * bare media types naming another one, a few at most.
 */
function alternatesProblem(alternates: unknown, paths: PathSet): string | undefined {
  const a = alternates as Partial<Alternates> | null;
  const isMap = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isMap(a) || !isMap(a.aliases) || !isMap(a.pages)) return ': must be an object with aliases and pages objects';
  const aliases = Object.entries(a.aliases);
  if (aliases.length > MAX_MEDIA_ALIASES) return `.aliases: at most ${MAX_MEDIA_ALIASES}`;
  for (const [alias, type] of aliases) {
    if (!isMediaEssence(alias) || typeof type !== 'string' || !isMediaEssence(type) || alias === type) return `.aliases[${JSON.stringify(alias)}]: must map a media type (type/subtype, lower case) to another`;
  }
  for (const [page, alternate] of Object.entries(a.pages)) {
    const at = `.pages[${JSON.stringify(page)}]`;
    const pageType = paths.typeOf(page);
    if (pageType === undefined || !page.endsWith('/index.html')) return `${at}: must be a directory index (…/index.html) of this release`;
    const otherType = typeof alternate === 'string' ? paths.typeOf(alternate) : undefined;
    if (otherType === undefined || alternate === page || Object.hasOwn(a.pages, alternate)) return `${at}: ${JSON.stringify(alternate)} must be another file of this release, not a page`;
    if (essenceOf(otherType) === essenceOf(pageType)) return `${at}: ${JSON.stringify(alternate)} has the page's own media type`;
  }
  return undefined;
}

/** What is wrong with the `routes` field (as `.field: message`), or undefined: the parser's checks, on what a node reads. */
function routesProblem(routes: unknown, paths: PathSet): string | undefined {
  const r = routes as Partial<SiteRoutes> | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return ': must be an object';
  const policy = trailingSlashProblem(r.trailingSlash);
  if (policy !== undefined) return `.trailingSlash ${policy}`;
  if (!Array.isArray(r.rules)) return '.rules must be a list';
  const limit = routeLimitProblem(r.rules);
  if (limit !== undefined) return `.rules: ${limit}`;
  const isFile = (path: string): boolean => paths.has(path);
  for (const [i, x] of (r.rules as unknown[]).entries()) {
    const rule = x as Partial<RouteRule> | null;
    if (typeof rule?.from !== 'string' || typeof rule.to !== 'string' || typeof rule.status !== 'number') return `.rules[${i}]: needs from and to strings and a status`;
    const problem = routeProblem(rule as RouteRule) ?? routeTargetProblem(rule as RouteRule, isFile);
    if (problem !== undefined) return `.rules[${i}]: ${problem}`;
  }
  return undefined;
}

/** Files, their bytes and their variants: what `build` and `verify` print of a release. */
export function manifestTotals(m: Manifest): { files: number; bytes: number; variants: number } {
  let bytes = 0;
  let variants = 0;
  for (const f of m.files) {
    bytes += f.size;
    for (const e of ENCODINGS) if (f.variants[e] !== undefined) variants++;
  }
  return { files: m.files.length, bytes, variants };
}

/** Latest time a Date can hold (ms): Last-Modified is formatted from `mtime`. */
export const MAX_TIME = 8.64e15;

/** What is wrong with one `files[]` entry, naming the field, or undefined. */
export function manifestFileProblem(file: Partial<ManifestFile> | null): string | undefined {
  return manifestFieldsProblem(file) ?? headersProblem(file?.headers);
}

/**
 * Every field of a `files[]` entry but `headers`. `knownTypes` holds types already found valid
 * (a release has a few, shared by many files: checked once each).
 */
export function manifestFieldsProblem(file: Partial<ManifestFile> | null, knownTypes?: Set<string>): string | undefined {
  if (typeof file?.path !== 'string') return 'path must be a string';
  const path = filePathProblem(file.path);
  if (path !== undefined) return `path ${path}`;
  if (!Number.isSafeInteger(file.size) || (file.size as number) < 0) return 'size must be a non-negative integer';
  if (typeof file.sha256 !== 'string' || !HEX64.test(file.sha256)) return 'sha256 must be 64 hex digits';
  if (typeof file.type !== 'string') return 'type must be a string';
  if (knownTypes?.has(file.type) !== true) {
    const type = mediaTypeProblem(file.type);
    if (type !== undefined) return `type ${type}`;
    knownTypes?.add(file.type);
  }
  if (!Number.isSafeInteger(file.mtime) || Math.abs(file.mtime as number) > MAX_TIME) return 'mtime must be an integer time in ms';
  if (typeof file.variants !== 'object' || file.variants === null || Array.isArray(file.variants)) return 'variants must be an object';
  for (const [enc, v] of Object.entries(file.variants)) {
    if (!(ENCODINGS as readonly string[]).includes(enc)) return `variants: unknown encoding ${JSON.stringify(enc)}`;
    const variant = v as Partial<ManifestVariant> | null;
    if (!Number.isSafeInteger(variant?.size) || (variant?.size as number) < 0 || typeof variant?.sha256 !== 'string' || !HEX64.test(variant.sha256)) return `variants: ${enc} needs size and sha256`;
  }
  return undefined;
}

/** A `files[]` entry's `headers`: names to strings that pass `headerProblem`. */
export function headersProblem(headers: unknown): string | undefined {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return 'headers must map names to strings';
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof value !== 'string') return `headers: ${JSON.stringify(name)} must be a string`;
    const header = headerProblem(name, value);
    if (header !== undefined) return `headers: ${header}`;
  }
  return undefined;
}

/** The plain-data index a node serves from: the manifest as it is, no hashing. */
export function manifestToSiteIndex(manifest: Manifest, realRoot: string): SiteIndex {
  // Carried assets are served like files: only the manifest keeps them apart.
  const files: IndexedFile[] = (manifest.skew === undefined ? manifest.files : [...manifest.files, ...manifest.skew.files]).map((f) => ({
    path: f.path,
    file: f.path.slice(1),
    size: f.size,
    sha256: f.sha256,
    mtimeMs: f.mtime,
    type: f.type,
    headers: f.headers,
    variants: ENCODINGS.flatMap((encoding): IndexedVariant[] => {
      const v = f.variants[encoding];
      return v === undefined ? [] : [{ encoding, file: f.path.slice(1) + VARIANT_SUFFIX[encoding], size: v.size, sha256: v.sha256 }];
    }),
  }));
  return {
    root: realRoot, releaseId: manifest.id, files, skipped: [], redirects: manifest.redirects,
    ...(manifest.routes === undefined ? {} : { routes: manifest.routes }),
    ...(manifest.alternates === undefined ? {} : { alternates: manifest.alternates }),
    fromManifest: true,
  };
}
