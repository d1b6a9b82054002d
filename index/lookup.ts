/**
 * Turns a SiteIndex (plain data) into the lookup the hot path uses: one Map from request key to
 * a frozen entry holding, per encoding, the validators and pre-joined header values.
 * All string building happens here, once per index, never per request.
 *
 * Memory: header blocks are interned (a few distinct per site), so a file costs its key, its
 * ETag and one small object; Last-Modified strings are interned too.
 */
import { isCompressible } from '../common/compressible.js';
import type { Alternates, Encoding, IndexedFile, SiteIndex } from '../content/site-index.js';
import { CACHE_NOT_FOUND, compileRules, type HeaderRule } from '../content/header-rules.js';
import { routeTarget, type RouteRule, type TrailingSlashPolicy } from '../content/redirects-file.js';
import { HeadBlock } from './head-block.js';
import { encodeLocation, normalisePath } from './path.js';
import { compileRoutes, type RedirectStatus, type Routes } from './routes.js';
import { MediaChooser } from './negotiate.js';

export class Representation {
  constructor(
    /** Index key of the resource, also the path relative to the root. */
    readonly file: string,
    readonly size: number,
    /** Quoted strong ETag: 32 hex digits of the representation's sha256. Also its cache key. */
    readonly etag: string,
    readonly mtimeSec: number,
    readonly lastModified: string,
    readonly head: HeadBlock,
    /** Change time seen when indexed, or NaN when unknown (from a manifest). */
    readonly ctimeMs: number,
  ) {}
}

export class FileEntry {
  constructor(
    readonly identity: Representation,
    readonly br: Representation | undefined,
    readonly gzip: Representation | undefined,
    /** True for compressible types: Accept-Encoding is read and Vary is sent. */
    readonly negotiate: boolean,
    /** Set only on a page's directory URL when the page has another media type (alternates); one slot, undefined for every other file. */
    readonly alternate: Alternate | undefined = undefined,
  ) {}
}

/**
 * The same resource in a second media type (a PEP 691 page's JSON beside its HTML), held by the
 * page's entry the way it holds its br and gzip representations. Both entries send
 * `Vary: Accept`; the chooser is shared by every page with the same pair of types.
 */
export class Alternate {
  constructor(
    readonly entry: FileEntry,
    private readonly chooser: MediaChooser,
  ) {}

  /** `page` (the entry holding this) or the alternate, as the request's Accept header prefers. */
  pick(page: FileEntry, accept: string): FileEntry {
    return this.chooser.choose(accept) === 0 ? page : this.entry;
  }
}

/** `/dir` answered with a redirect to `/dir/` (301), or a release's redirect rule. */
export class Redirect {
  constructor(
    readonly location: string,
    readonly status: RedirectStatus = 301,
  ) {}
}

/** A `_redirects` 404 rule: a file of the release served with status 404 (its Cache-Control that of a 404). */
export class StatusPage {
  constructor(
    readonly page: FileEntry,
    readonly status: 404,
  ) {}
}

export type Entry = FileEntry | Redirect | StatusPage;

/** Request key to entry: a Map for a site held as objects, the file table's lookup for a large one (index/table-lookup.ts). */
export interface Entries {
  get(key: string): Entry | undefined;
}

export interface Lookup {
  readonly root: string;
  readonly releaseId: string;
  readonly entries: Entries;
  readonly fileCount: number;
  readonly totalBytes: number;
  /** `objects`: an entry per key, built when the release loads; `table`: the shared file table, entries built for the hot set (index/table-lookup.ts). */
  readonly index: 'objects' | 'table';
  /** The root's `404.html`, served with status 404 when present. */
  readonly notFound: FileEntry | undefined;
  /** From a release manifest: disk times are not compared when streaming (see send.ts). */
  readonly fromManifest: boolean;
  /** A preview (server/preview.ts): no answer of it may be stored by a shared cache, its 404 page included. */
  readonly preview: boolean;
  /** The `_redirects` rules with placeholders or splats, tried after the Map missed; undefined when none. */
  readonly routes: Routes<Entry> | undefined;
  /** `routes` when one of them is forced (`!`), which a hit must ask too; else undefined. */
  readonly forcedRoutes: Routes<Entry> | undefined;
}

/** `preview`: the lookup of a release shown before it is live; its 404 page is `no-store` like its files (the rules say so). */
export function buildLookup(site: SiteIndex, rules: readonly HeaderRule[], preview = false): Lookup {
  const make = entryMaker(site.releaseId, rules, preview, true);
  const entries = new Map<string, Entry>();
  let totalBytes = 0;
  let notFound: FileEntry | undefined;
  const pages = site.alternates === undefined ? undefined : new NegotiatedPages(site.alternates);
  for (const f of site.files) {
    totalBytes += f.size;
    entries.set(f.path, make.file(f));
    if (f.path === '/404.html') notFound = make.page404(f);
    pages?.note(f);
  }
  addDirectoryKeys(entries, site.routes?.trailingSlash ?? 'redirect', pages?.build(make));
  for (const r of site.redirects ?? []) if (!entries.has(r.from)) entries.set(r.from, new Redirect(r.to, r.status));
  const files = new Map(site.files.map((f) => [f.path, f]));
  const answered = new Set(entries.keys());
  const routes = site.routes === undefined || site.routes.rules.length === 0 ? undefined : compileSiteRoutes(site.routes.rules, {
    fileOf: (path) => files.get(path),
    answers: (key) => answered.has(key),
    entryOf: (path) => entries.get(path),
    page404: (f) => new StatusPage(make.page404(f), 404),
  }, entries);
  assertNormalKeys(entries.keys());
  return Object.freeze({
    root: site.root, releaseId: site.releaseId, entries, fileCount: site.files.length, totalBytes, index: 'objects', notFound, fromManifest: site.fromManifest === true, preview,
    routes, forcedRoutes: routes?.forced === true ? routes : undefined,
  });
}

/** Builds the entries of one release: its header blocks interned, its operator rules compiled once. */
export interface EntryMaker {
  file(f: IndexedFile): FileEntry;
  /** A page's directory URL: the page, holding `alternate` to choose by Accept; both send `Vary: Accept`. */
  negotiated(page: IndexedFile, alternate: IndexedFile, aliases: Alternates['aliases']): FileEntry;
  /** The file served as a 404 page: the short Cache-Control of a 404 (except in a preview, which stores nothing). */
  page404(f: IndexedFile): FileEntry;
}

/**
 * `internDates`: share Last-Modified strings between files of the same second (a few per site
 * held as objects; a large release's entries come and go, so there they are not kept).
 */
export function entryMaker(releaseId: string, rules: readonly HeaderRule[], preview: boolean, internDates: boolean): EntryMaker {
  const compiled = compileRules(rules);
  const heads = new Map<string, HeadBlock>();
  const dates = new Map<number, string>();
  const choosers = new Map<string, MediaChooser>();
  // A few distinct blocks per site: one per type, encoding and set of rule lines.
  const internHead: InternHead = (lines, type, vary, encoding, varyAccept) => {
    const key = JSON.stringify([type, encoding ?? '', vary, varyAccept, lines]);
    let head = heads.get(key);
    if (head === undefined) {
      head = HeadBlock.build({ type, encoding, vary, varyAccept, releaseId, lines });
      heads.set(key, head);
    }
    return head;
  };
  const dateOf: DateOf = (ms) => {
    const sec = Math.floor(ms / 1000);
    let text = internDates ? dates.get(sec) : undefined;
    if (text === undefined) {
      text = new Date(sec * 1000).toUTCString();
      if (internDates) dates.set(sec, text);
    }
    return [sec, text];
  };
  const linesOf = (f: IndexedFile): [string, string][] => compiled.headersFor(f.path, f.type, f.headers);
  // One chooser per pair of types (and aliases), shared by every page that has that pair.
  const chooserOf = (types: [string, string], aliases: Alternates['aliases']): MediaChooser => {
    const key = JSON.stringify([types, aliases]);
    let chooser = choosers.get(key);
    if (chooser === undefined) choosers.set(key, (chooser = new MediaChooser(types, aliases)));
    return chooser;
  };
  return {
    file: (f) => buildEntry(f, linesOf(f), internHead, dateOf),
    negotiated: (page, other, aliases) => {
      const alternate = new Alternate(buildEntry(other, linesOf(other), internHead, dateOf, true), chooserOf([page.type, other.type], aliases));
      return buildEntry(page, linesOf(page), internHead, dateOf, true, alternate);
    },
    page404: (f) => buildEntry(f, preview ? linesOf(f) : withCacheControl(linesOf(f), CACHE_NOT_FOUND), internHead, dateOf),
  };
}

/** What compiling a site's `_redirects` rules asks of its files and answered keys. */
export interface RouteSources {
  fileOf(path: string): IndexedFile | undefined;
  /** A file, directory key or redirect answers `key` before any rule. */
  answers(key: string): boolean;
  entryOf(path: string): Entry | undefined;
  page404(f: IndexedFile): StatusPage;
}

/**
 * Sets the static `_redirects` rules into `statics` (over the files they force) and returns the
 * dynamic ones. A 200 target is the file's own entry (its ETag, encodings and headers); a 404
 * page is built once per target file.
 */
export function compileSiteRoutes(rules: readonly RouteRule[], sources: RouteSources, statics: Map<string, Entry>): Routes<Entry> | undefined {
  const isFile = (path: string): boolean => sources.fileOf(path) !== undefined;
  const pages = new Map<string, StatusPage>();
  const compiled = compileRoutes<Entry>(rules, {
    answers: (key) => sources.answers(key),
    page: (path, status) => {
      const file = routeTarget(path, isFile);
      if (file === undefined) return undefined;
      if (status === 200) return sources.entryOf(file);
      let page = pages.get(file);
      if (page === undefined) pages.set(file, (page = sources.page404(sources.fileOf(file) as IndexedFile)));
      return page;
    },
    redirect: (location, status) => new Redirect(location, status),
  });
  for (const [key, entry] of compiled.statics) statics.set(key, entry);
  return compiled.dynamic;
}

type InternHead = (lines: [string, string][], type: string, vary: boolean, encoding: Encoding | undefined, varyAccept: boolean) => HeadBlock;
type DateOf = (ms: number) => [number, string];

/** `varyAccept`: for a negotiated page's entries (the page, holding its `alternate`, and the alternate's own). */
function buildEntry(f: IndexedFile, lines: [string, string][], internHead: InternHead, dateOf: DateOf, varyAccept = false, alternate?: Alternate): FileEntry {
  const negotiate = f.variants.length > 0 || isCompressible(f.type);
  const [sec, date] = dateOf(f.mtimeMs);
  const rep = (file: string, size: number, sha256: string, encoding: Encoding | undefined, ctimeMs: number): Representation =>
    new Representation(file, size, etagOf(sha256), sec, date, internHead(lines, f.type, negotiate, encoding, varyAccept), ctimeMs);
  const variant = (enc: Encoding): Representation | undefined => {
    const v = f.variants.find((x) => x.encoding === enc);
    return v === undefined ? undefined : rep(v.file, v.size, v.sha256, enc, NaN);
  };
  return Object.freeze(new FileEntry(rep(f.file, f.size, f.sha256, undefined, f.ctimeMs ?? NaN), variant('br'), variant('gzip'), negotiate, alternate));
}

/**
 * The site's negotiated pages: collects each page's and alternate's file while the files are
 * indexed (one Map lookup per file, only on sites that have any), then builds the entry each
 * page's directory URL serves. The files' own URLs keep their plain entries: a URL that names a
 * format (`index.html`, `index.json`) always answers that format.
 */
class NegotiatedPages {
  private readonly wanted = new Map<string, IndexedFile | undefined>();

  constructor(private readonly alternates: Alternates) {
    for (const [page, alternate] of Object.entries(alternates.pages)) {
      this.wanted.set(page, undefined);
      this.wanted.set(alternate, undefined);
    }
  }

  note(f: IndexedFile): void {
    if (this.wanted.has(f.path)) this.wanted.set(f.path, f);
  }

  /** Page path -> the entry of its directory URL. A manifest names only files it has (validateManifest). */
  build(make: EntryMaker): Map<string, FileEntry> {
    const out = new Map<string, FileEntry>();
    for (const [pagePath, alternatePath] of Object.entries(this.alternates.pages)) {
      const page = this.wanted.get(pagePath);
      const other = this.wanted.get(alternatePath);
      if (page === undefined || other === undefined) throw new Error(`alternates: ${pagePath} -> ${alternatePath} names a file the index does not have`);
      out.set(pagePath, make.negotiated(page, other, this.alternates.aliases));
    }
    return out;
  }
}

/**
 * The 404 page's headers: its own rules (CSP, X-Frame-Options ... protect an error page as much as
 * any page) with a short shared cache lifetime in place of the page's Cache-Control.
 */
function withCacheControl(lines: readonly [string, string][], cacheControl: string): [string, string][] {
  return [...lines.filter(([n]) => n.toLowerCase() !== 'cache-control'), ['Cache-Control', cacheControl]];
}

/**
 * `/` serves `/index.html`. By the site's trailing-slash policy: `redirect` (the default) serves
 * `/dir/` from `/dir/index.html` and redirects `/dir` there; `always` does the same for a page
 * `/page.html` at `/page/`; `never` serves `/dir` and `/page` and redirects `/dir/` and `/page/`
 * to them. A file at a key always keeps it. A page in `negotiated` is served there by its
 * negotiated entry.
 */
function addDirectoryKeys(entries: Map<string, Entry>, policy: TrailingSlashPolicy, negotiated: ReadonlyMap<string, FileEntry> | undefined): void {
  const serve = (canonical: string, other: string, entry: Entry): void => {
    if (!entries.has(canonical)) entries.set(canonical, entry);
    if (!entries.has(other)) entries.set(other, new Redirect(encodeLocation(canonical)));
  };
  for (const [key, file] of [...entries]) {
    let bare: string;
    if (key.endsWith('/index.html')) bare = key.slice(0, -'/index.html'.length);
    else if (policy !== 'redirect' && key.endsWith('.html') && !key.endsWith('/.html')) bare = key.slice(0, -'.html'.length);
    else continue;
    // A negotiated page's directory URL answers by Accept; its file URL stays plain HTML.
    const entry = negotiated?.get(key) ?? file;
    if (bare === '') entries.set('/', entry);
    else if (policy === 'never') serve(bare, `${bare}/`, entry);
    else serve(`${bare}/`, bare, entry);
  }
}

/**
 * The handler looks a request target without `%` up as it is, and everything else after
 * normalisePath: both reach the same entry only if every key is what normalisePath makes of a
 * request for it (its `%` escaped). The scanner and the manifest reader admit only such paths
 * (content/servable.ts); a key that is not is a bug there, refused before it can be served.
 */
export function assertNormalKeys(keys: Iterable<string>): void {
  for (const key of keys) {
    if (normalisePath(key.replaceAll('%', '%25')) !== key) throw new Error(`index key ${JSON.stringify(key)} is not a normalised path (content/servable.ts let it through)`);
  }
}

export function etagOf(sha256: string): string {
  return `"${sha256.slice(0, 32)}"`;
}
