/**
 * The lookup of a large release: entries are built from the shared file table (index/table.ts)
 * when first asked for and kept in a bounded LRU, so a worker holds objects for its hot set
 * only. Answers exactly as `buildLookup` does for the same release (test/table-lookup.test.ts
 * compares the two): a file at a key, else the directory keys of the trailing-slash policy,
 * else a redirect rule; static `_redirects` rules over all of them.
 */
import { LRUCache } from 'lru-cache';
import type { HeaderRule } from '../content/header-rules.js';
import type { TrailingSlashPolicy } from '../content/redirects-file.js';
import type { IndexedFile } from '../content/site-index.js';
import { assertNormalKeys, compileSiteRoutes, entryMaker, Redirect, StatusPage, type Entries, type Entry, type FileEntry, type Lookup } from './lookup.js';
import { encodeLocation } from './path.js';
import { FileTable, type SiteTable } from './table.js';

/** Entries each worker keeps built: the hot set of a package index fits many times over. */
export const HOT_ENTRIES = 65_536;

export function tableLookup(data: SiteTable, rules: readonly HeaderRule[], preview = false, hot = HOT_ENTRIES): Lookup {
  const table = new FileTable(data);
  const make = entryMaker(data.releaseId, rules, preview, false);
  const policy = data.routes?.trailingSlash ?? 'redirect';
  const redirects = new Map<string, Entry>(data.redirects.map((r) => [r.from, new Redirect(r.to, r.status)]));
  const fileOf = (path: string): IndexedFile | undefined => {
    const i = table.find(path);
    return i === -1 ? undefined : table.file(i, path);
  };
  const cache = new LRUCache<string, Entry>({ max: hot });
  const resolve = (key: string): Entry | undefined => {
    const f = fileOf(key);
    if (f !== undefined) return make.file(f);
    const dir = directoryKey(key, policy, (path) => table.find(path) !== -1);
    if (dir === undefined) return redirects.get(key);
    if (typeof dir !== 'string') return dir;
    // A negotiated page's directory URL answers by Accept; its file URL stays plain (above).
    const page = table.find(dir);
    const alternate = table.alternateOf(page);
    return alternate === -1 ? make.file(table.file(page, dir)) : make.negotiated(table.file(page, dir), table.file(alternate, table.pathAt(alternate)), data.aliases ?? {});
  };
  const known = (key: string): Entry | undefined => {
    let entry = cache.get(key);
    if (entry === undefined) {
      entry = resolve(key);
      if (entry !== undefined) cache.set(key, entry);
    }
    return entry;
  };
  const statics = new Map<string, Entry>();
  const routes = data.routes === undefined || data.routes.rules.length === 0 ? undefined : compileSiteRoutes(data.routes.rules, {
    fileOf,
    answers: (key) => known(key) !== undefined,
    entryOf: known,
    page404: (f) => new StatusPage(make.page404(f), 404),
  }, statics);
  assertNormalKeys(statics.keys());
  assertNormalKeys(redirects.keys());
  const entries: Entries = statics.size === 0 ? { get: known } : { get: (key) => statics.get(key) ?? known(key) };
  const notFoundFile = fileOf('/404.html');
  const notFound: FileEntry | undefined = notFoundFile === undefined ? undefined : make.page404(notFoundFile);
  return Object.freeze({
    root: data.root, releaseId: data.releaseId, entries, fileCount: data.count, totalBytes: data.totalBytes, index: 'table', notFound, fromManifest: true, preview,
    routes, forcedRoutes: routes?.forced === true ? routes : undefined,
  });
}

/**
 * What a key that is no file answers by the trailing-slash policy, as `buildLookup`'s
 * addDirectoryKeys sets it: the path of the page it serves, a redirect, or undefined. `/`
 * serves `/index.html`; `redirect` serves `/dir/` from `/dir/index.html` and redirects `/dir`;
 * `always` also serves `/page/` from `/page.html`; `never` serves `/dir` and `/page` and
 * redirects `/dir/` and `/page/`. Where both `/x.html` and `/x/index.html` exist, `/x.html`
 * wins (it sorts first, and the first file to claim a key keeps it).
 */
export function directoryKey(key: string, policy: TrailingSlashPolicy, isFile: (path: string) => boolean): string | Redirect | undefined {
  if (key === '/') return isFile('/index.html') ? '/index.html' : undefined;
  const slash = key.endsWith('/');
  const bare = slash ? key.slice(0, -1) : key;
  const page = (): string | undefined => {
    // `/x/index.html` makes only `/x/` and `/x`: never `/x/index/` or `/x/index`.
    if (policy !== 'redirect' && !bare.endsWith('/index') && isFile(`${bare}.html`)) return `${bare}.html`;
    return isFile(`${bare}/index.html`) ? `${bare}/index.html` : undefined;
  };
  const canonicalHasSlash = policy !== 'never';
  if (slash === canonicalHasSlash) return page();
  return page() === undefined ? undefined : new Redirect(encodeLocation(canonicalHasSlash ? `${bare}/` : bare));
}
