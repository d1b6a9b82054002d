/**
 * What a node serves from a content root: the release manifest when there is one (validated
 * but not hashed: index cost is reading one JSON file), otherwise a scan of the plain tree with
 * the tree's own `_headers` applied as `release build` would apply it.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { NO_RULES, readSiteRules, ruleHeaders } from '../content/header-file.js';
import { readSiteRedirects } from '../content/redirects-file.js';
import { ManifestError, manifestToSiteIndex, MANIFEST_NAME, readManifest } from '../release/manifest.js';
import type { SiteTable } from './table.js';
import type { TableAnswer } from './table-worker.js';
import type { SiteIndex } from '../content/site-index.js';
import { releaseIdFor } from '../content/release-id.js';
import { scanTree, ScanError, type ScanCache, type ScanOptions, type ScanResult } from '../content/scan.js';
import { realDirectory } from '../content/real-dir.js';

/** What a node serves from: a site index of objects, or for a large release the shared file table. */
export type ServedSite = SiteIndex | SiteTable;

export interface LoadedSite {
  readonly index: ServedSite;
  readonly cache: ScanCache;
}

/**
 * From this size on a manifest is streamed into the file table (index/table.ts) instead of read
 * as objects: about 25,000 files. Below it nothing changes for a small site's hot path.
 */
export const TABLE_FROM_BYTES = 8 * 1024 * 1024;

export interface LoadOptions extends ScanOptions {
  /** Manifest size from which the file table is used (default TABLE_FROM_BYTES). */
  readonly tableFrom?: number;
}

export async function loadSite(root: string, options: LoadOptions = {}): Promise<LoadedSite> {
  const d = realDirectory(root);
  if ('problem' in d) throw new ScanError(`content root ${root} ${d.problem}`, d.problem === 'does not exist' ? 'ENOENT' : 'ENOTDIR');
  const cache = options.cache ?? (new Map() as ScanCache);
  if (manifestSize(d.real) >= (options.tableFrom ?? TABLE_FROM_BYTES)) {
    const table = await loadTableOffThread(d.real);
    if (table !== undefined) return { index: table, cache };
  }
  const manifest = readManifest(d.real);
  if (manifest === undefined) return withSiteRules(await scanTree(root, options));
  return { index: manifestToSiteIndex(manifest, d.real), cache };
}

/** How many files a served site has. */
export function fileCount(site: ServedSite): number {
  return 'kind' in site ? site.count : site.files.length;
}

/** Bytes of `dir/manifest.json`, or -1 when there is none. */
function manifestSize(dir: string): number {
  try {
    return statSync(join(dir, MANIFEST_NAME)).size;
  } catch {
    return -1;
  }
}

const TABLE_WORKER = new URL('./table-worker.js', import.meta.url);

/**
 * `loadTable` in a thread of its own, which ends when the table is made: what parsing a large
 * manifest leaves on the heap (~200 MB at 1,000,000 files) goes with the thread instead of
 * staying in this process, and the main thread stays free for signals and watchers meanwhile.
 * The table's buffers are shared, so receiving it copies nothing. Runs from dist/ (the worker is
 * compiled JavaScript).
 */
function loadTableOffThread(dir: string): Promise<SiteTable | undefined> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(TABLE_WORKER, { workerData: dir });
    worker.once('message', (m: TableAnswer) => {
      if ('table' in m) resolve(m.table);
      else reject(m.manifest ? new ManifestError(m.error) : new Error(m.error));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the thread reading ${dir}/${MANIFEST_NAME} ended with code ${code}`)));
  });
}

/**
 * A release directory's site index from its manifest alone (synchronous: one JSON file); undefined
 * when `dir` holds no manifest. Throws ManifestError (release/manifest.ts) for an invalid one.
 */
export function loadRelease(dir: string): SiteIndex | undefined {
  const d = realDirectory(dir);
  if ('problem' in d) return undefined;
  const manifest = readManifest(d.real);
  return manifest === undefined ? undefined : manifestToSiteIndex(manifest, d.real);
}

/**
 * A plain tree's `_headers` gives each file its headers and the site its redirects, and its
 * `_redirects` the site its routes, as in a release built from the tree; the id then covers them
 * too. Read at every scan, so an edit to them is picked up like any other change. Throws
 * ReleaseError naming the file and line when invalid.
 */
function withSiteRules(scanned: ScanResult): ScanResult {
  const rules = readSiteRules(scanned.index.root);
  const paths = new Set(scanned.index.files.map((f) => f.path));
  const routeRules = readSiteRedirects(scanned.index.root, (path) => paths.has(path));
  if (rules === NO_RULES && routeRules.length === 0) return scanned;
  const routes = routeRules.length === 0 ? undefined : { trailingSlash: 'redirect' as const, rules: routeRules };
  const headersFor = ruleHeaders(rules);
  const files = scanned.index.files.map((f) => ({ ...f, headers: headersFor(f.path, f.type) }));
  const releaseId = releaseIdFor(files.map((f) => ({ path: f.path, sha256: f.sha256, headers: f.headers })), rules.redirects, routes);
  return { index: { ...scanned.index, releaseId, files, redirects: rules.redirects, ...(routes === undefined ? {} : { routes }) }, cache: scanned.cache };
}
