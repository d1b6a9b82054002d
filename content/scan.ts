/**
 * Scans a plain content directory into a SiteIndex: the same shape a release manifest gives,
 * so development trees and releases are served by the same code.
 *
 * Invariants: nothing outside the real root is indexed (symlinks leaving it are skipped);
 * dotfiles are skipped except `/.well-known/`, and so is a symlink whose target is one or lies
 * in one (the target's path is judged, not only the link's name); the site's control files at
 * the root (`_headers`, `_redirects`) are never content, nor are links to them; a name no URL
 * can reach (control characters, `\`) is skipped and reported; a precompressed sibling (`x.br`,
 * `x.gz`) is a variant of `x` only if it is not older than `x` and decompresses to exactly `x`'s
 * bytes.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { sep } from 'node:path';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { contentTypeFor } from './mime.js';
import { ENCODINGS, VARIANT_SUFFIX, variantBase, type Encoding, type IndexedFile, type IndexedVariant, type SiteIndex } from './site-index.js';
import { realDirectory } from './real-dir.js';
import { ReleaseIdHash } from './release-id.js';
import { SITE_CONTROL_FILES } from './header-file.js';
import { isHiddenSegment, pathProblem } from './servable.js';

/** Hashes remembered between scans, keyed by relative file path; reused while the stat signature holds. */
export type ScanCache = Map<string, { readonly sig: string; readonly sha256: string; readonly variantOf?: Map<string, boolean> }>;

export interface ScanOptions {
  /** Hashes from the previous scan of the same tree: unchanged files are not read again. */
  readonly cache?: ScanCache;
  /**
   * A one-off scan (a release build): no hashes kept for a next scan (at a million files the
   * cache alone is ~150 MB) and no change times (only a server that scans again compares them).
   */
  readonly oneOff?: boolean;
  /** Called every few hundred files with the count so far. */
  readonly onProgress?: (files: number) => void;
}

export interface ScanResult {
  readonly index: SiteIndex;
  readonly cache: ScanCache;
}

/** Only the numbers the index needs: a Stats object per file would be kept alive otherwise. */
interface FileStat {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** A regular file the walk found. */
interface Found {
  readonly file: string;
  /** Where to read it when not at root + file (under a symlinked directory, or a symlink itself). */
  readonly abs: string | undefined;
}

/** One read buffer for all hashing: the scan is synchronous, so it is never shared. */
const READ_BUFFER = Buffer.allocUnsafe(1 << 20);

export class ScanError extends Error {
  override readonly name = 'ScanError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/**
 * Walks `root` and returns its index. Throws ScanError when the root is missing or not a
 * directory. Walking and hashing are synchronous on purpose: for many small files, sync
 * open/fstat/read is about ten times faster than the promise API (100,000 files: ~1 s vs
 * ~11 s here), and the main thread that scans serves no requests.
 */
export async function scanTree(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  const realRoot = resolveRoot(root);
  const skipped: string[] = [];
  const previous: ScanCache = options.cache ?? (new Map() as ScanCache);
  const cache: ScanCache = new Map();
  const keep = options.oneOff !== true;
  const files: IndexedFile[] = [];
  /** Files read through a symlinked directory: where they are (the rest are at root + path). */
  const elsewhere = new Map<string, string>();
  const absOf = (file: string): string => elsewhere.get(file) ?? realRoot + sep + (sep === '/' ? file : file.split('/').join(sep));
  let siblings = false;
  for (const f of walk(realRoot, skipped)) {
    if (f.abs !== undefined) elsewhere.set(f.file, f.abs);
    const hashed = hashIfChanged({ abs: absOf(f.file) }, previous.get(f.file));
    if (hashed === undefined) {
      skipped.push(f.file);
      continue;
    }
    const path = '/' + f.file;
    files.push({
      path,
      // A slice of the path shares its characters: one string per file, not two.
      file: path.slice(1),
      size: hashed.stats.size,
      sha256: hashed.sha256,
      mtimeMs: Math.floor(hashed.stats.mtimeMs),
      ...(keep ? { ctimeMs: hashed.stats.ctimeMs } : {}),
      type: contentTypeFor(f.file),
      variants: NO_VARIANTS,
    });
    if (keep) cache.set(f.file, hashed.entry);
    siblings ||= variantBase(f.file) !== undefined;
    if (options.onProgress !== undefined && files.length % 1000 === 0) options.onProgress(files.length);
  }
  // Only a tree with a `.br` or `.gz` file needs the lookup by name that finds variants.
  if (siblings) await addVariants(files, cache, absOf);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { index: { root: realRoot, releaseId: plainTreeId(files), files, skipped }, cache };
}

/** A plain tree's files carry no headers (a `_headers` file is applied later, by load-site.ts): `releaseIdFor` with `{}` for each, over files already in path order. */
function plainTreeId(sorted: readonly IndexedFile[]): string {
  const h = new ReleaseIdHash();
  for (const f of sorted) h.file(f.path, f.sha256, '{}');
  return h.finish([]);
}

type CacheEntry = ScanCache extends Map<string, infer V> ? V : never;

/** Tries to hash a file that is being written this many times before skipping it for this scan. */
const HASH_ATTEMPTS = 3;

/**
 * Opens the file once: fstat for the signature, then reads and hashes only if it changed. A
 * file written while it is hashed (bytes read differ from its size, or its signature moved) is
 * hashed again: an index must never pair one version's size with another version's hash. One
 * still changing after HASH_ATTEMPTS is skipped; the write's own watch event brings it back.
 */
function hashIfChanged(f: { readonly abs: string }, old: CacheEntry | undefined): { stats: FileStat; sha256: string; entry: CacheEntry } | undefined {
  let fd: number;
  try {
    fd = openSync(f.abs, 'r');
  } catch {
    return undefined;
  }
  try {
    let st = fstatSync(fd);
    if (old !== undefined && old.sig === signature(st)) return { stats: statsOf(st), sha256: old.sha256, entry: old };
    for (let attempt = 1; attempt <= HASH_ATTEMPTS; attempt++) {
      const sig = signature(st);
      const h = createHash('sha256');
      let pos = 0;
      // Up to the size fstat gave, not to end of file: a file that grew meanwhile shows in `after`.
      for (let n = 0; pos < st.size && (n = readSync(fd, READ_BUFFER, 0, Math.min(READ_BUFFER.length, st.size - pos), pos)) > 0; pos += n) h.update(READ_BUFFER.subarray(0, n));
      const after = fstatSync(fd);
      if (pos === st.size && signature(after) === sig) {
        const sha256 = h.digest('hex');
        return { stats: statsOf(st), sha256, entry: { sig, sha256 } };
      }
      st = after;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function statsOf(st: Stats): FileStat {
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function resolveRoot(root: string): string {
  const d = realDirectory(root);
  if ('problem' in d) throw new ScanError(`content root ${root} ${d.problem}`, d.problem === 'does not exist' ? 'ENOENT' : 'ENOTDIR');
  return d.real;
}

interface PendingDir {
  readonly rel: string;
  readonly real: string;
  /** `real` is the root plus `rel`: no symlink on the way, so a file's path tells where it is. */
  readonly plain: boolean;
  /** Real paths of this directory and its ancestors: a symlink back into them is a cycle. */
  readonly chain: readonly string[];
}

/** Directory depth beyond which nothing is indexed (bounds overlapping-symlink blow-up). */
const MAX_DEPTH = 64;

/**
 * Yields every regular file under the root. Real directories are always entered; a symlinked
 * directory inside the root is entered too unless it points at itself or an ancestor (a cycle),
 * so a link never hides the directory it points to, nor the other way round.
 */
function* walk(realRoot: string, skipped: string[]): Generator<Found> {
  const pending: PendingDir[] = [{ rel: '', real: realRoot, plain: true, chain: [realRoot] }];
  while (pending.length > 0) {
    const dir = pending.pop() as PendingDir;
    let entries: Dirent[];
    try {
      entries = readdirSync(dir.real, { withFileTypes: true });
    } catch {
      skipped.push(dir.rel + '/');
      continue;
    }
    for (const e of entries) {
      const file = dir.rel === '' ? e.name : dir.rel + '/' + e.name;
      if (isNeverContent(file)) continue;
      if (pathProblem('/' + file) !== undefined) {
        skipped.push(file);
        continue;
      }
      const abs = dir.real + sep + e.name;
      if (e.isFile()) {
        yield { file, abs: dir.plain ? undefined : abs };
        continue;
      }
      const target = e.isSymbolicLink() ? followInside(abs, realRoot) : e.isDirectory() ? abs : undefined;
      if (target === undefined) {
        if (e.isSymbolicLink()) skipped.push(file);
        continue;
      }
      // `ln -s .git gitlink` must not publish what the name .git would not.
      if (e.isSymbolicLink() && target !== realRoot && isNeverContent(target.slice(realRoot.length + 1).split(sep).join('/'))) continue;
      let s: Stats;
      try {
        s = statSync(target);
      } catch {
        skipped.push(file);
        continue;
      }
      if (s.isDirectory()) {
        if (dir.chain.length > MAX_DEPTH) skipped.push(file);
        else if (!dir.chain.includes(target)) pending.push({ rel: file, real: target, plain: dir.plain && target === abs, chain: [...dir.chain, target] });
      } else if (s.isFile()) {
        yield { file, abs: target };
      }
    }
  }
}

/** What a scan makes of one path of the site (see {@link siteFile}). */
export type SiteFile =
  /** A file the scan publishes at the path, read from `abs` (the path itself, or a symlink's target inside the site). */
  | { readonly kind: 'file'; readonly abs: string }
  /** Nothing there (or nothing a scan indexes: a socket, a fifo). */
  | { readonly kind: 'none' }
  /** A name that is never content: a dotfile (`/.well-known/` aside), a control file (`_headers`), a symlink to one. */
  | { readonly kind: 'never' }
  /** What a scan reports as skipped, which stops a build: a symlink leaving the site or dangling, a directory, an unreadable entry, a name no URL reaches. */
  | { readonly kind: 'problem'; readonly problem: string };

/**
 * The scan's verdict on one relative path (`/` separators) of the site at `realRoot`, without
 * walking the tree: an incremental build asks this of the paths its change set names, so that
 * it publishes exactly what a scan of the whole site would.
 */
export function siteFile(realRoot: string, rel: string): SiteFile {
  if (isNeverContent(rel)) return { kind: 'never' };
  const problem = pathProblem('/' + rel);
  if (problem !== undefined) return { kind: 'problem', problem: `its name ${problem}` };
  const abs = realRoot + sep + rel.split('/').join(sep);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !isLink(abs)) return { kind: 'none' };
    return { kind: 'problem', problem: code === 'ENOENT' ? 'is a dangling symlink' : `cannot be read (${code ?? String(e)})` };
  }
  if (real !== abs) {
    if (!real.startsWith(realRoot + sep)) return { kind: 'problem', problem: 'is a symlink leaving the site' };
    // `ln -s .git gitlink` must not publish what the name .git would not (as in walk).
    if (isNeverContent(real.slice(realRoot.length + 1).split(sep).join('/'))) return { kind: 'never' };
  }
  let st: Stats;
  try {
    st = statSync(real);
  } catch (e) {
    return { kind: 'problem', problem: `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})` };
  }
  if (st.isDirectory()) return { kind: 'problem', problem: 'is a directory' };
  return st.isFile() ? { kind: 'file', abs: real } : { kind: 'none' };
}

function isLink(abs: string): boolean {
  try {
    return lstatSync(abs).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Hashes one file as the scan does (retrying one being written): its size, floored mtime and
 * SHA-256, or undefined when it cannot be read or keeps changing.
 */
export function hashSiteFile(abs: string): { readonly size: number; readonly mtimeMs: number; readonly sha256: string } | undefined {
  const hashed = hashIfChanged({ abs }, undefined);
  return hashed === undefined ? undefined : { size: hashed.stats.size, mtimeMs: Math.floor(hashed.stats.mtimeMs), sha256: hashed.sha256 };
}

/** A relative path that is never content: one with a dotfile segment (except a first `.well-known`), or a site control file. */
function isNeverContent(rel: string): boolean {
  const segments = rel.split('/');
  return segments.some(isHiddenSegment) || (segments.length === 1 && SITE_CONTROL_FILES.includes(rel));
}

/** Resolves a symlink; undefined when it dangles or points outside the root. */
function followInside(abs: string, realRoot: string): string | undefined {
  try {
    const target = realpathSync(abs);
    return target === realRoot || target.startsWith(realRoot + sep) ? target : undefined;
  } catch {
    return undefined;
  }
}

const NO_VARIANTS: readonly IndexedVariant[] = Object.freeze([]);

function hasSibling(file: string, byFile: ReadonlyMap<string, IndexedFile>): boolean {
  for (const encoding of ENCODINGS) if (byFile.has(file + VARIANT_SUFFIX[encoding])) return true;
  return false;
}

/** Gives each file with a `.br`/`.gz` sibling the variants that hold its exact bytes. */
async function addVariants(files: IndexedFile[], cache: ScanCache, absOf: (file: string) => string): Promise<void> {
  const byFile = new Map(files.map((f) => [f.file, f]));
  for (const [i, f] of files.entries()) if (hasSibling(f.file, byFile)) files[i] = { ...f, variants: await findVariants(f, byFile, cache, absOf) };
}

async function findVariants(f: IndexedFile, byFile: ReadonlyMap<string, IndexedFile>, cache: ScanCache, absOf: (file: string) => string): Promise<readonly IndexedVariant[]> {
  const variants: IndexedVariant[] = [];
  for (const encoding of ENCODINGS) {
    const v = byFile.get(f.file + VARIANT_SUFFIX[encoding]);
    if (v === undefined || v.mtimeMs < f.mtimeMs) continue;
    if (!(await isVariantOf(v.file, absOf(v.file), encoding, f.sha256, f.file, cache))) continue;
    variants.push({ encoding, file: v.file, size: v.size, sha256: v.sha256 });
  }
  return variants;
}

/** True when the variant decompresses to the source's exact bytes; remembered per variant signature. */
async function isVariantOf(file: string, abs: string, encoding: Encoding, sourceSha: string, source: string, cache: ScanCache): Promise<boolean> {
  const entry = cache.get(file);
  const key = source + '\0' + sourceSha;
  const known = entry?.variantOf?.get(key);
  if (known !== undefined) return known;
  const decompress = encoding === 'br' ? createBrotliDecompress() : createGunzip();
  let ok: boolean;
  try {
    ok = (await hashStream(createReadStream(abs).pipe(decompress))) === sourceSha;
  } catch {
    ok = false;
  }
  if (entry !== undefined) {
    const variantOf = entry.variantOf ?? new Map<string, boolean>();
    variantOf.set(key, ok);
    cache.set(file, { ...entry, variantOf });
  }
  return ok;
}

function signature(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

async function hashStream(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}
