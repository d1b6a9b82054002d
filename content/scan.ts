/**
 * Scans a plain content directory into a SiteIndex: the same shape a release manifest gives,
 * so development trees and releases are served by the same code.
 *
 * Invariants: nothing outside the real root is indexed (symlinks leaving it are skipped);
 * dotfiles are skipped except `/.well-known/`; a precompressed sibling (`x.br`, `x.gz`) is a
 * variant of `x` only if it is not older than `x` and decompresses to exactly `x`'s bytes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent, type Stats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { createBrotliDecompress, createGunzip } from 'node:zlib';
import { contentTypeFor } from './mime.js';
import { ENCODINGS, VARIANT_SUFFIX, type Encoding, type IndexedFile, type IndexedVariant, type SiteIndex } from './site-index.js';

/** Hashes remembered between scans, keyed by relative file path; reused while the stat signature holds. */
export type ScanCache = Map<string, { readonly sig: string; readonly sha256: string; readonly variantOf?: Map<string, boolean> }>;

export interface ScanOptions {
  /** Hashes from the previous scan of the same tree: unchanged files are not read again. */
  readonly cache?: ScanCache;
  /** Called every few hundred files with the count so far. */
  readonly onProgress?: (files: number) => void;
}

export interface ScanResult {
  readonly index: SiteIndex;
  readonly cache: ScanCache;
}

interface Found {
  readonly file: string;
  readonly abs: string;
  readonly stats: Stats;
}

const CONCURRENCY = 32;
const SMALL_FILE = 1 << 20;

export class ScanError extends Error {
  override readonly name = 'ScanError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** Walks `root` and returns its index. Throws ScanError when the root is missing or not a directory. */
export async function scanTree(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  const realRoot = await resolveRoot(root);
  const skipped: string[] = [];
  const found = await walk(realRoot, skipped);
  const previous = options.cache ?? new Map();
  const cache: ScanCache = new Map();
  const hashes = new Map<string, string>();
  let done = 0;
  await forEachLimited(found, CONCURRENCY, async (f) => {
    const sig = signature(f.stats);
    const old = previous.get(f.file);
    const sha256 = old !== undefined && old.sig === sig ? old.sha256 : await hashFile(f.abs, f.stats.size);
    hashes.set(f.file, sha256);
    cache.set(f.file, { sig, sha256, variantOf: old !== undefined && old.sig === sig ? old.variantOf : undefined });
    done++;
    if (options.onProgress !== undefined && done % 500 === 0) options.onProgress(done);
  });
  const byFile = new Map(found.map((f) => [f.file, f]));
  const files: IndexedFile[] = [];
  for (const f of found) {
    const sha256 = hashes.get(f.file) as string;
    files.push({
      path: '/' + f.file,
      file: f.file,
      size: f.stats.size,
      sha256,
      mtimeMs: Math.floor(f.stats.mtimeMs),
      type: contentTypeFor(f.file),
      variants: await findVariants(f, sha256, byFile, hashes, cache),
    });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { index: { root: realRoot, releaseId: releaseIdOf(files), files, skipped }, cache };
}

/** Content-derived release id: 12 hex digits of sha256 over every path and hash. */
export function releaseIdOf(files: readonly Pick<IndexedFile, 'path' | 'sha256'>[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path + '\0' + f.sha256 + '\n');
  return h.digest('hex').slice(0, 12);
}

async function resolveRoot(root: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(root);
  } catch {
    throw new ScanError(`content root ${root} does not exist`, 'ENOENT');
  }
  const s = await stat(real);
  if (!s.isDirectory()) throw new ScanError(`content root ${root} is not a directory`, 'ENOTDIR');
  return real;
}

async function walk(realRoot: string, skipped: string[]): Promise<Found[]> {
  const out: Found[] = [];
  const seenDirs = new Set<string>([realRoot]);
  const pending: string[] = [''];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    const dirAbs = rel === '' ? realRoot : realRoot + sep + rel;
    let entries: Dirent[];
    try {
      entries = await readdir(dirAbs, { withFileTypes: true });
    } catch {
      skipped.push(rel + '/');
      continue;
    }
    for (const e of entries) {
      if (isHidden(e.name, rel)) continue;
      const file = rel === '' ? e.name : rel + '/' + e.name;
      const abs = dirAbs + sep + e.name;
      const target = e.isSymbolicLink() ? await followInside(abs, realRoot) : abs;
      if (target === undefined) {
        skipped.push(file);
        continue;
      }
      let s: Stats;
      try {
        s = await stat(target);
      } catch {
        skipped.push(file);
        continue;
      }
      if (s.isDirectory()) {
        if (!seenDirs.has(target)) {
          seenDirs.add(target);
          pending.push(file);
        }
      } else if (s.isFile()) {
        out.push({ file, abs: target, stats: s });
      }
    }
  }
  return out;
}

/** Dotfiles are never served, except `/.well-known/` (RFC 8615). */
function isHidden(name: string, parent: string): boolean {
  return name.charCodeAt(0) === 46 /* . */ && !(parent === '' && name === '.well-known');
}

/** Resolves a symlink; undefined when it dangles or points outside the root. */
async function followInside(abs: string, realRoot: string): Promise<string | undefined> {
  try {
    const target = await realpath(abs);
    return target === realRoot || target.startsWith(realRoot + sep) ? target : undefined;
  } catch {
    return undefined;
  }
}

async function findVariants(
  f: Found,
  sha256: string,
  byFile: ReadonlyMap<string, Found>,
  hashes: ReadonlyMap<string, string>,
  cache: ScanCache,
): Promise<IndexedVariant[]> {
  const variants: IndexedVariant[] = [];
  for (const encoding of ENCODINGS) {
    const v = byFile.get(f.file + VARIANT_SUFFIX[encoding]);
    if (v === undefined || v.stats.mtimeMs < f.stats.mtimeMs) continue;
    if (!(await isVariantOf(v, encoding, sha256, f.file, cache))) continue;
    variants.push({ encoding, file: v.file, size: v.stats.size, sha256: hashes.get(v.file) as string });
  }
  return variants;
}

/** True when the variant decompresses to the source's exact bytes; remembered per variant signature. */
async function isVariantOf(v: Found, encoding: Encoding, sourceSha: string, source: string, cache: ScanCache): Promise<boolean> {
  const entry = cache.get(v.file);
  const key = source + '\0' + sourceSha;
  const known = entry?.variantOf?.get(key);
  if (known !== undefined) return known;
  const decompress = encoding === 'br' ? createBrotliDecompress() : createGunzip();
  let ok: boolean;
  try {
    ok = (await hashStream(createReadStream(v.abs).pipe(decompress))) === sourceSha;
  } catch {
    ok = false;
  }
  if (entry !== undefined) {
    const variantOf = entry.variantOf ?? new Map<string, boolean>();
    variantOf.set(key, ok);
    cache.set(v.file, { ...entry, variantOf });
  }
  return ok;
}

function signature(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/** Small files in one read (a stream costs more than the hashing); large ones streamed. */
async function hashFile(abs: string, size: number): Promise<string> {
  if (size > SMALL_FILE) return hashStream(createReadStream(abs));
  return createHash('sha256').update(await readFile(abs)).digest('hex');
}

async function hashStream(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
