/**
 * `build`: turns a site directory into an immutable release directory named by its content id.
 *
 * Steps: scan and hash the site (content/scan.ts), apply the rules file, compute the id; if that
 * release already exists and verifies, stop. Otherwise write every file into
 * `RELEASES_DIR/.tmp-<id>-<pid>`, hard-linking files unchanged since the previous release and
 * precompressing text, write `manifest.json`, and rename the directory into place. A build that
 * fails or is interrupted leaves nothing behind but its temporary, which it removes.
 */
import { createHash } from 'node:crypto';
import {
  closeSync, existsSync, fstatSync, futimesSync, mkdirSync, openSync, readSync, realpathSync, renameSync, rmSync, statSync, writeSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { isCompressible } from '../common/compressible.js';
import { readRulesFile, readSiteRules, ruleHeaderSets, type HeaderSet, type ReleaseRules } from '../content/header-file.js';
import { readRedirectsFile, readSiteRedirects, type SiteRoutes, type TrailingSlashPolicy } from '../content/redirects-file.js';
import { MANIFEST_FORMAT, MANIFEST_NAME, manifestTotals, readManifest, type Manifest, type ManifestVariant } from './manifest.js';
import { ManifestWriter } from './manifest-text.js';
import { removeStaleTemporaries } from './dir.js';
import { PreviousFiles } from './previous-files.js';
import { windowCandidates } from './window.js';
import { carryAssets, releasesInWindow, resolveSkew, type SkewOptions } from './skew.js';
import { preloadLinks } from './preload.js';
import { planPackageIndex, type GeneratedFile, type PackageIndex } from './package-index.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { byPath, ReleaseIdHash, withCacheTags } from '../content/release-id.js';
import { verifyRelease } from './verify.js';
import { linkFrom } from './link.js';
import { ScanError, scanTree } from '../content/scan.js';
import { ENCODINGS, VARIANT_SUFFIX, variantBase, type Alternates, type Encoding, type IndexedFile } from '../content/site-index.js';
import { realDirectory } from '../content/real-dir.js';
import { SortedPaths } from '../content/sorted-paths.js';

export interface BuildOptions {
  /** Rules file (`_headers` text or JSON); default: `_headers` at the site root, if present. */
  readonly headersFile?: string;
  /** `_redirects` file; default: `_redirects` at the site root, if present. */
  readonly redirectsFile?: string;
  /** How URLs with and without a trailing `/` are served (content/redirects-file.ts); default `redirect`. */
  readonly trailingSlash?: TrailingSlashPolicy;
  /** Build time recorded as `created` (not part of the id). */
  readonly now?: Date;
  /** Called after each file is placed, with the count so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Skew protection: which earlier releases' assets stay servable (release/skew.ts). On by default. */
  readonly skew?: SkewOptions;
  /** Add `Link` preload headers to HTML pages from their stylesheets and scripts (release/preload.ts). */
  readonly preload?: boolean;
  /** Generate a package index at `/simple/` from the wheels under this site directory (release/package-index.ts). */
  readonly packageIndex?: string;
}

export interface BuildResult {
  readonly id: string;
  readonly dir: string;
  /** Read from the release when first asked for: a million-file manifest is ~1 GB as objects. */
  readonly manifest: Manifest;
  /** Files, their bytes and their variants, as `release verify` counts them. */
  readonly totals: { readonly files: number; readonly bytes: number; readonly variants: number };
  /** Files (and their variants) written from the site. */
  readonly copied: number;
  /** Files hard-linked from the previous release. */
  readonly linked: number;
  /** Assets of earlier releases carried for skew protection (hard links). */
  readonly carried: number;
  /** The release already existed and verified; nothing was written. */
  readonly reused: boolean;
  /** What `packageIndex` indexed; undefined without it. */
  readonly packageIndex: { readonly projects: number; readonly wheels: number } | undefined;
}

/** Larger files are copied as they are: brotli 11 over them would take minutes and the memory of the whole file. */
export const MAX_PRECOMPRESS_BYTES = 64 * 1024 * 1024;
/** A variant is kept only if it saves at least this share of the source... */
export const MIN_SAVING_RATIO = 0.05;
/** ...and at least this many bytes. */
export const MIN_SAVING_BYTES = 64;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
const COPY_BUFFER = Buffer.allocUnsafe(1 << 20);

/** Temporaries of builds running in this process: never taken for stale. */
export const building = new Set<string>();

export async function buildRelease(siteDir: string, releasesDir: string, options: BuildOptions = {}): Promise<BuildResult> {
  const site = resolveSite(siteDir);
  const releases = ensureReleasesDir(releasesDir, site);
  const skew = resolveSkew(options.skew);
  if (options.preload !== undefined && typeof options.preload !== 'boolean') throw new ReleaseError(`preload must be true or false (got ${JSON.stringify(options.preload)})`, 'PI_ORIGIN_RELEASE_USAGE');
  if (options.packageIndex !== undefined && typeof options.packageIndex !== 'string') throw new ReleaseError(`packageIndex must be a directory of the site (got ${JSON.stringify(options.packageIndex)})`, 'PI_ORIGIN_RELEASE_USAGE');
  const rules = options.headersFile !== undefined ? readRulesFile(options.headersFile) : readSiteRules(site);
  const plan = await planRelease(site, rules, options);
  const dir = join(releases, plan.id);
  removeStaleTemporaries(releases, building);
  const packageIndex = plan.packageIndex === undefined ? undefined : { projects: plan.packageIndex.projects, wheels: plan.packageIndex.wheels };
  if (existsSync(dir)) return reuse(dir, plan.id, packageIndex);
  const tmp = join(releases, `.tmp-${plan.id}-${process.pid}`);
  if (building.has(tmp)) throw new ReleaseError(`release ${plan.id} is already being built into ${releases} by this process`, 'PI_ORIGIN_RELEASE_BUSY');
  building.add(tmp);
  const signals = removeOnSignal(tmp);
  let writer: ManifestWriter | undefined;
  try {
    mkdirSync(tmp, { mode: 0o755 });
    // Heads only: the skew window reads the few files it needs of the releases it takes.
    const earlier = windowCandidates(releases, plan.id, skew.assets);
    const now = options.now ?? new Date();
    writer = new ManifestWriter(join(tmp, MANIFEST_NAME), { format: MANIFEST_FORMAT, id: plan.id, created: now.toISOString() });
    const placed = await placeAll(plan, site, tmp, earlier[0]?.dir, writer, options.onProgress, signals.check);
    const carried = carryAssets(releasesInWindow(earlier, skew, now), plan.paths, tmp, skew.assets, makeParent);
    writer.finish({
      redirects: plan.redirects,
      ...(carried.files.length > 0 ? { skew: carried } : {}),
      ...(plan.preload !== undefined ? { preload: plan.preload } : {}),
      ...(plan.routes === undefined ? {} : { routes: plan.routes }),
      ...(plan.packageIndex === undefined ? {} : { alternates: plan.packageIndex.alternates }),
    });
    writer = undefined;
    if (!moveIntoPlace(tmp, dir)) return reuse(dir, plan.id, packageIndex);
    return built({ id: plan.id, dir, totals: placed.totals, copied: placed.copied, linked: placed.linked, carried: carried.files.length, reused: false, packageIndex });
  } catch (e) {
    writer?.abort();
    signals.check();
    throw e instanceof ReleaseError ? e : new ReleaseError(`cannot build release ${plan.id} in ${releases}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  } finally {
    signals.stop();
    rmSync(tmp, { recursive: true, force: true });
    building.delete(tmp);
  }
}

export function resolveSite(siteDir: string): string {
  const d = realDirectory(siteDir);
  if ('problem' in d) throw new ReleaseError(`site directory ${siteDir} ${d.problem}${d.problem === 'does not exist' ? ` (${d.detail})` : ''}`, 'PI_ORIGIN_RELEASE_SITE');
  return d.real;
}

/** Creates the releases directory; refuses one the site scan would publish (inside the site, not under a dot-directory). */
export function ensureReleasesDir(releasesDir: string, site: string): string {
  let real: string;
  try {
    mkdirSync(releasesDir, { recursive: true, mode: 0o755 });
    real = realpathSync(releasesDir);
  } catch (e) {
    throw new ReleaseError(`cannot create releases directory ${releasesDir}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  }
  if (!statSync(real).isDirectory()) throw new ReleaseError(`releases directory ${releasesDir} is not a directory`, 'PI_ORIGIN_RELEASE_USAGE');
  const inside = relative(site, real);
  if (inside === '' || (!inside.startsWith('..') && !inside.split(sep).some((s) => s.startsWith('.'))))
    throw new ReleaseError(`releases directory ${releasesDir} is inside the site ${site}: it would be published`, 'PI_ORIGIN_RELEASE_USAGE');
  return real;
}

/** A result whose manifest is read from the release when first asked for. */
function built(fields: Omit<BuildResult, 'manifest'>): BuildResult {
  let manifest: Manifest | undefined;
  return {
    ...fields,
    get manifest(): Manifest {
      manifest ??= readManifest(fields.dir);
      if (manifest === undefined) throw new ReleaseError(`release ${fields.id} is no longer at ${fields.dir}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
      return manifest;
    },
  };
}

interface Plan {
  readonly id: string;
  /** Files of the site, or ones the package index generates (their bytes from `generate`), in path order. */
  readonly files: readonly (IndexedFile | GeneratedFile)[];
  /** Each file's rule headers and default Cache-Control, without the cache tags; one object per distinct set. */
  readonly headers: readonly HeaderSet[];
  /** Every published path. */
  readonly paths: SortedPaths;
  readonly redirects: ReleaseRules['redirects'];
  /** Each HTML page's preload Link values, when asked for and any were found. */
  readonly preload: Record<string, string[]> | undefined;
  readonly routes: SiteRoutes | undefined;
  /** The generated package index, when asked for. */
  readonly packageIndex: PackageIndex | undefined;
}

/** Scans the site, drops what is not published, and derives every file's headers, its routes and the id. */
async function planRelease(site: string, rules: ReleaseRules, options: BuildOptions): Promise<Plan> {
  let index;
  try {
    index = (await scanTree(site, { oneOff: true })).index;
  } catch (e) {
    if (e instanceof ScanError) throw new ReleaseError(e.message, 'PI_ORIGIN_RELEASE_SITE');
    throw e;
  }
  if (index.skipped.length > 0) {
    const shown = index.skipped.slice(0, 5).join(', ') + (index.skipped.length > 5 ? `, and ${index.skipped.length - 5} more` : '');
    throw new ReleaseError(`cannot publish ${site}: symlinks leaving the site, dangling or unreadable, or names no URL can reach: ${shown}`, 'PI_ORIGIN_RELEASE_SITE');
  }
  const scanned = new SortedPaths(index.files);
  const headersFor = ruleHeaderSets(rules);
  const fromSite = index.files.filter((f) => !isSiblingVariant(f.path, scanned));
  const packageIndex = options.packageIndex === undefined ? undefined : planPackageIndex(site, fromSite, options.packageIndex);
  const published: (IndexedFile | GeneratedFile)[] = packageIndex === undefined ? fromSite : [...fromSite, ...packageIndex.files].sort(byPath);
  const publishedPaths = new SortedPaths(published);
  const isPublished = (path: string): boolean => publishedPaths.has(path);
  const preload = options.preload === true;
  // Generated pages link no stylesheet or script, and are not on disk to be read.
  const links = preload ? pagePreloads(site, fromSite, isPublished) : new Map<string, string[]>();
  const cachedLike = cachedLikePages(packageIndex?.alternates, published);
  const headers = published.map((source) => withLinkSet(headersFor(source.path, cachedLike.get(source.path) ?? source.type), links.get(source.path)));
  const routes = siteRoutes(site, options, isPublished);
  // `published` is in path order, as the id hashes it (releaseIdFor).
  const hash = new ReleaseIdHash();
  for (const [i, f] of published.entries()) hash.file(f.path, f.sha256, (headers[i] as HeaderSet).json);
  const id = hash.finish(rules.redirects, routes, packageIndex?.alternates);
  return { id, files: published, headers, paths: publishedPaths, redirects: rules.redirects, preload: preload ? Object.fromEntries(links) : undefined, routes, packageIndex };
}

/**
 * Alternate path -> its page's type: an alternate takes its page's default Cache-Control (a
 * JSON index page is as short-lived as its HTML), so neither outlives the other in a cache.
 */
function cachedLikePages(alternates: Alternates | undefined, files: readonly IndexedFile[]): Map<string, string> {
  if (alternates === undefined) return new Map();
  const pages = new Map(Object.entries(alternates.pages));
  const out = new Map<string, string>();
  for (const f of files) {
    const alternate = pages.get(f.path);
    if (alternate !== undefined) out.set(alternate, f.type);
  }
  return out;
}

/** Every HTML page's preload links (pages with none left out), read from the bytes the scan hashed. */
export function pagePreloads(site: string, files: readonly Pick<IndexedFile, 'path' | 'file' | 'size' | 'sha256' | 'type'>[], isPublished: (path: string) => boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of files) {
    if (!f.type.startsWith('text/html') || f.size > MAX_PRECOMPRESS_BYTES) continue;
    const fd = openFile(join(site, f.file), f.path);
    let body: Buffer;
    try {
      body = readAll(fd, f.size);
    } finally {
      closeSync(fd);
    }
    if (sha256(body) !== f.sha256) throw changed(f.path);
    const links = preloadLinks(body.toString('utf8'), f.path, isPublished);
    if (links.length > 0) out.set(f.path, links);
  }
  return out;
}

/** {@link withLinks} for a shared header set: a page with preload links gets a set of its own. */
function withLinkSet(set: HeaderSet, links: readonly string[] | undefined): HeaderSet {
  if (links === undefined) return set;
  const headers = withLinks(set.headers, links);
  return { headers, json: JSON.stringify(headers) };
}

/** The rules' own `Link` value first, then the preload links. */
export function withLinks(headers: Readonly<Record<string, string>>, links: readonly string[] | undefined): Readonly<Record<string, string>> {
  if (links === undefined) return headers;
  const name = Object.keys(headers).find((k) => k.toLowerCase() === 'link') ?? 'Link';
  const own = headers[name];
  return { ...headers, [name]: [...(own === undefined ? [] : [own]), ...links].join(', ') };
}

/** The `_redirects` rules (checked against the published files) and the policy; undefined when the site has neither. */
export function siteRoutes(site: string, options: BuildOptions, isFile: (path: string) => boolean): SiteRoutes | undefined {
  const rules = options.redirectsFile !== undefined ? readRedirectsFile(options.redirectsFile, isFile) : readSiteRedirects(site, isFile);
  const trailingSlash = options.trailingSlash ?? 'redirect';
  return rules.length === 0 && trailingSlash === 'redirect' ? undefined : { trailingSlash, rules };
}

/** `x.br` / `x.gz` beside a source `x`: the builder makes its own variants. */
function isSiblingVariant(path: string, paths: SortedPaths): boolean {
  const base = variantBase(path);
  return base !== undefined && paths.has(base);
}

export async function reuse(dir: string, id: string, packageIndex: BuildResult['packageIndex'], parent?: string): Promise<BuildResult> {
  const problems = await verifyRelease(dir, parent === undefined ? {} : { parent });
  if (problems.length > 0) throw new ReleaseError(`release ${id} already exists at ${dir} but does not verify (${problems.length} problem${problems.length === 1 ? '' : 's'}); remove it and build again`, 'PI_ORIGIN_RELEASE_INVALID', problems);
  const manifest = readReleaseManifest(dir);
  return { id, dir, manifest, totals: manifestTotals(manifest), copied: 0, linked: 0, carried: 0, reused: true, packageIndex };
}

function readReleaseManifest(dir: string): Manifest {
  // verifyRelease has just read and validated it.
  return readManifest(dir) as Manifest;
}

/** Renames the finished temporary into place; false when the same release appeared meanwhile. */
export function moveIntoPlace(tmp: string, dir: string): boolean {
  try {
    renameSync(tmp, dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * On SIGINT/SIGTERM the temporary is removed at once. With nobody else listening, the signal is
 * raised again so the process ends as it would have; otherwise (a host application, a test
 * harness) the build stops at the next file and rejects with PI_ORIGIN_RELEASE_INTERRUPTED.
 */
export function removeOnSignal(tmp: string): { check: () => void; stop: () => void } {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    received = signal;
    rmSync(tmp, { recursive: true, force: true });
    stop();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const stop = (): void => {
    for (const s of signals) process.off(s, onSignal);
  };
  for (const s of signals) process.on(s, onSignal);
  return {
    check: () => {
      if (received !== undefined) throw new ReleaseError(`build interrupted by ${received}; the unfinished release was removed`, 'PI_ORIGIN_RELEASE_INTERRUPTED');
    },
    stop,
  };
}

export function makeParent(target: string): void {
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
}

interface Placed {
  readonly totals: BuildResult['totals'];
  readonly copied: number;
  readonly linked: number;
}

/**
 * Writes every planned file into `tmp`, one at a time so memory stays bounded by the largest file
 * compressed, and its manifest entry as it goes: entries are never held as objects. Unchanged
 * files are hard-linked from the release at `previous`, read beside the plan in path order.
 */
async function placeAll(
  plan: Plan,
  site: string,
  tmp: string,
  previous: string | undefined,
  writer: ManifestWriter,
  onProgress: BuildOptions['onProgress'],
  checkInterrupted: () => void,
): Promise<Placed> {
  const before = previous === undefined ? undefined : PreviousFiles.open(previous);
  const tagged = new Map<HeaderSet, Readonly<Record<string, string>>>();
  const totals = { files: 0, bytes: 0, variants: 0 };
  let copied = 0;
  let linked = 0;
  let last = Date.now();
  // Files come in path order: a directory's files follow one another, so it is made once.
  let parent = '';
  try {
    for (const [i, source] of plan.files.entries()) {
      const set = plan.headers[i] as HeaderSet;
      checkInterrupted();
      const target = join(tmp, source.file);
      const dir = dirname(target);
      if (dir !== parent) {
        makeParent(target);
        parent = dir;
      }
      const old = before?.find(source.path);
      const variants = previous !== undefined && old?.sha256 === source.sha256 && old.size === source.size ? linkFrom(previous, old, target) : undefined;
      if (variants !== undefined) linked++;
      else copied++;
      let headers = tagged.get(set);
      if (headers === undefined) tagged.set(set, (headers = withCacheTags(set.headers, plan.id)));
      const placed = variants ?? (await ('generate' in source ? writeGenerated(target, source) : copyFile(join(site, source.file), target, source)));
      writer.entry(JSON.stringify({ path: source.path, size: source.size, sha256: source.sha256, type: source.type, mtime: source.mtimeMs, headers, variants: placed }));
      totals.files++;
      totals.bytes += source.size;
      for (const e of ENCODINGS) if (placed[e] !== undefined) totals.variants++;
      onProgress?.(totals.files, plan.files.length);
      if (Date.now() - last > 50) {
        // Let signals and progress timers run between files that need no asynchronous work.
        await new Promise((resolve) => setImmediate(resolve));
        last = Date.now();
      }
    }
  } finally {
    before?.close();
  }
  return { totals, copied, linked };
}

/**
 * Copies one source file, checking that its bytes still hash to what the scan saw (the id names
 * those bytes), sets its mtime, and writes the precompressed variants worth keeping.
 */
export async function copyFile(abs: string, target: string, source: IndexedFile): Promise<Partial<Record<Encoding, ManifestVariant>>> {
  const fd = openFile(abs, source.path);
  let body: Buffer | undefined;
  try {
    if (fstatSync(fd).size !== source.size) throw changed(source.path);
    if (source.size <= MAX_PRECOMPRESS_BYTES) {
      body = readAll(fd, source.size);
      if (sha256(body) !== source.sha256) throw changed(source.path);
      writeNew(target, body, source.mtimeMs);
    } else {
      streamCopy(fd, target, source);
    }
  } finally {
    closeSync(fd);
  }
  return finishPlaced(target, source, body);
}

/** Writes a generated file, whose bytes must hash as they did when the id was computed (a wheel may have changed since). */
async function writeGenerated(target: string, source: GeneratedFile): Promise<Partial<Record<Encoding, ManifestVariant>>> {
  const body = source.generate();
  if (body.length !== source.size || sha256(body) !== source.sha256) throw changed(source.path);
  writeNew(target, body, source.mtimeMs);
  return finishPlaced(target, source, body);
}

/** Writes the variants worth keeping of a placed file (none for a streamed copy: `body` undefined). */
async function finishPlaced(target: string, source: IndexedFile, body: Buffer | undefined): Promise<Partial<Record<Encoding, ManifestVariant>>> {
  return body !== undefined && shouldPrecompress(source) ? writeVariants(body, target, source.mtimeMs) : {};
}

/**
 * Creates `target` (never over another file) with `body` and the mtime `mtimeMs`, through one
 * descriptor: at a million files each system call saved is seconds of a build.
 */
function writeNew(target: string, body: Buffer, mtimeMs: number): void {
  const fd = openSync(target, 'wx', 0o644);
  try {
    for (let w = 0; w < body.length; ) w += writeSync(fd, body, w, body.length - w);
    futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000);
  } finally {
    closeSync(fd);
  }
}

function openFile(abs: string, path: string): number {
  try {
    return openSync(abs, 'r');
  } catch (e) {
    throw new ReleaseError(`cannot read ${path} from the site: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_SITE');
  }
}

function changed(path: string): ReleaseError {
  return new ReleaseError(`${path} changed while the release was being built; build again`, 'PI_ORIGIN_RELEASE_CHANGED');
}

/** Reads exactly `size` bytes; a file that grew or shrank meanwhile is reported as changed by the caller's hash. */
function readAll(fd: number, size: number): Buffer {
  const body = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let n = 0; pos < size && (n = readSync(fd, body, pos, size - pos, pos)) > 0; pos += n);
  return pos === size ? body : body.subarray(0, pos);
}

function streamCopy(fd: number, target: string, source: IndexedFile): void {
  const out = openSync(target, 'wx', 0o644);
  try {
    const h = createHash('sha256');
    let pos = 0;
    for (let n = 0; (n = readSync(fd, COPY_BUFFER, 0, COPY_BUFFER.length, pos)) > 0; pos += n) {
      h.update(COPY_BUFFER.subarray(0, n));
      for (let w = 0; w < n; ) w += writeSync(out, COPY_BUFFER, w, n - w);
    }
    if (pos !== source.size || h.digest('hex') !== source.sha256) throw changed(source.path);
    futimesSync(out, source.mtimeMs / 1000, source.mtimeMs / 1000);
  } finally {
    closeSync(out);
  }
}

function shouldPrecompress(f: IndexedFile): boolean {
  return f.size > MIN_SAVING_BYTES && (isCompressible(f.type) || f.type.startsWith('application/wasm') || f.path.endsWith('.map'));
}

/** True when a variant of `size` bytes is worth serving instead of `original` bytes. */
export function worthKeeping(size: number, original: number): boolean {
  return size <= original * (1 - MIN_SAVING_RATIO) && size <= original - MIN_SAVING_BYTES;
}

/** brotli 11 and gzip 9, in parallel on the thread pool (the event loop stays free for signals). */
async function writeVariants(body: Buffer, target: string, mtimeMs: number): Promise<Partial<Record<Encoding, ManifestVariant>>> {
  const [br, gz] = await Promise.all([
    brotli(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }),
    gzipAsync(body, { level: 9 }),
  ]);
  const variants: Partial<Record<Encoding, ManifestVariant>> = {};
  const made: Record<Encoding, Buffer> = { br, gzip: gz };
  for (const encoding of ENCODINGS) {
    const bytes = made[encoding];
    if (!worthKeeping(bytes.length, body.length)) continue;
    const file = target + VARIANT_SUFFIX[encoding];
    writeNew(file, bytes, mtimeMs);
    variants[encoding] = { size: bytes.length, sha256: sha256(bytes) };
  }
  return variants;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
