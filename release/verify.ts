/**
 * `verify`: a release directory is exactly what its manifest says: every file and variant with
 * its size and SHA-256 (the bytes are hashed), nothing else, and no symlinks anywhere.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { ManifestError, MANIFEST_NAME, readManifest, type Manifest } from './manifest.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { releaseIdFor, withoutCacheTags } from '../content/release-id.js';
import { ENCODINGS, VARIANT_SUFFIX } from '../content/site-index.js';
import { realDirectory } from '../content/real-dir.js';

export interface VerifyOptions {
  /** Called after each file with the count checked so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * false: every file present, readable and of its size, without reading its bytes (for a
   * release hashed when it was placed; `release activate --quick`). Default true.
   */
  readonly hash?: boolean;
}

interface Expected {
  readonly size: number;
  readonly sha256: string;
}

/** One read buffer for hashing: verification is synchronous per file, so never shared. */
const READ_BUFFER = Buffer.allocUnsafe(1 << 20);

/**
 * Every problem with the release at `releaseDir`, one line each (`missing: /a.txt`,
 * `size: ...`, `sha256: ...`, `extra: ...`, `symlink: ...`); `[]` when it is sound.
 * Throws ReleaseError only when the directory itself does not exist.
 */
export async function verifyRelease(releaseDir: string, options: VerifyOptions = {}): Promise<string[]> {
  const root = resolveReleaseDir(releaseDir);
  let manifest: Manifest | undefined;
  try {
    manifest = readManifest(root);
  } catch (e) {
    if (e instanceof ManifestError) return [`manifest: ${e.message}`];
    throw e;
  }
  if (manifest === undefined) return [`missing: /${MANIFEST_NAME}`];
  const head: string[] = [];
  const expected = expectedFiles(manifest, head);
  const recomputed = releaseIdFor(
    manifest.files.map((f) => ({ path: f.path, sha256: f.sha256, headers: withoutCacheTags(f.headers, manifest.id) })),
    manifest.redirects,
    manifest.routes,
  );
  if (recomputed !== manifest.id) head.push(`id: the manifest's files, headers and redirects give ${recomputed}, manifest says ${manifest.id}`);
  const dirs = parentDirectories(expected.keys());
  const found: [string, string][] = [];
  const seen = new Set<string>();
  const total = expected.size;
  let last = Date.now();
  const pending: string[] = [''];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    let entries: Dirent[];
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch (e) {
      found.push([rel + '/', `unreadable: ${rel}/ (${errnoText(e)})`]);
      continue;
    }
    for (const e of entries) {
      const path = `${rel}/${e.name}`;
      if (rel === '' && e.name === MANIFEST_NAME && e.isFile()) continue;
      if (e.isSymbolicLink()) {
        // Reported once, as a symlink, even where the manifest expects a file.
        if (expected.has(path)) seen.add(path);
        found.push([path, `symlink: ${path}`]);
      } else if (e.isDirectory()) {
        if (dirs.has(path)) pending.push(path);
        else found.push([path, `extra: ${path}/`]);
      } else if (!e.isFile()) found.push([path, `extra: ${path} (not a regular file)`]);
      else {
        const want = expected.get(path);
        if (want === undefined) found.push([path, `extra: ${path}`]);
        else {
          seen.add(path);
          const problem = checkFile(join(root, path), path, want, options.hash ?? true);
          if (problem !== undefined) found.push([path, problem]);
          options.onProgress?.(seen.size, total);
          if (Date.now() - last > 50) {
            // Let timers (progress) and signals run during a long verification.
            await new Promise((resolve) => setImmediate(resolve));
            last = Date.now();
          }
        }
      }
    }
  }
  for (const path of expected.keys()) if (!seen.has(path)) found.push([path, `missing: ${path}`]);
  found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return [...head, ...found.map(([, problem]) => problem)];
}

function resolveReleaseDir(releaseDir: string): string {
  const d = realDirectory(releaseDir);
  if ('problem' in d) throw new ReleaseError(`release directory ${releaseDir} ${d.problem}${d.problem === 'does not exist' ? ` (${d.detail})` : ''}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  return d.real;
}

/** URL path → size and hash, for files and their variants; a path claimed twice is a manifest problem. */
function expectedFiles(manifest: Manifest, problems: string[]): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  const add = (path: string, e: Expected): void => {
    if (expected.has(path) || path === `/${MANIFEST_NAME}`) problems.push(`manifest: ${path} is listed twice (as a file and as a variant, or as the manifest)`);
    else expected.set(path, e);
  };
  // Carried assets (skew protection) are hashed like the release's own files.
  for (const f of [...manifest.files, ...(manifest.skew?.files ?? [])]) {
    add(f.path, f);
    for (const encoding of ENCODINGS) {
      const v = f.variants[encoding];
      if (v !== undefined) add(f.path + VARIANT_SUFFIX[encoding], v);
    }
  }
  return expected;
}

function parentDirectories(paths: Iterable<string>): Set<string> {
  const dirs = new Set<string>();
  for (const path of paths) for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) dirs.add(path.slice(0, i));
  return dirs;
}

function checkFile(abs: string, path: string, want: Expected, hash: boolean): string | undefined {
  let fd: number;
  try {
    fd = openSync(abs, 'r');
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  }
  try {
    const actual = fstatSync(fd).size;
    if (actual !== want.size) return `size: ${path} is ${actual} bytes, manifest says ${want.size}`;
    if (!hash) return undefined;
    const h = createHash('sha256');
    let size = 0;
    for (let n = 0; (n = readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, size)) > 0; size += n) h.update(READ_BUFFER.subarray(0, n));
    if (size !== want.size) return `size: ${path} is ${size} bytes, manifest says ${want.size}`;
    const sha256 = h.digest('hex');
    return sha256 === want.sha256 ? undefined : `sha256: ${path} is ${sha256}, manifest says ${want.sha256}`;
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  } finally {
    closeSync(fd);
  }
}
