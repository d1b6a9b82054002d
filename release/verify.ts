/**
 * `verify`: a release directory is exactly what its manifest says: every file and variant with
 * its size and SHA-256 (the bytes are hashed), nothing else, and no symlinks anywhere.
 */
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ManifestError, MANIFEST_NAME, manifestTotals, readManifest, type Manifest } from './manifest.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { releaseIdFor, withoutCacheTags } from '../content/release-id.js';
import { ENCODINGS, VARIANT_SUFFIX } from '../content/site-index.js';
import { realDirectory } from '../content/real-dir.js';
import { verifyWithParent } from './verify-parent.js';
import { byPathThenProblem, bytesProblem } from './verify-file.js';

export interface VerifyOptions {
  /** Called after each file with the count checked so far and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * false: every file present, readable and of its size, without reading its bytes (for a
   * release hashed when it was placed; `release activate --quick`). Default true.
   */
  readonly hash?: boolean;
  /**
   * A release verified before (the node's current one): a file that is the same inode as the
   * parent's file at its path, with the same SHA-256 in both manifests, is not hashed again (a
   * hard link shares the bytes the parent's verification read); every other file is. The cost
   * is the change, not the tree: for each unchanged file, its manifest line and two `lstat`
   * calls (release/verify-parent.ts). Default: none, every file hashed.
   */
  readonly parent?: string;
  /** Filled in as files are checked: how many were hashed and how many shared the parent's verified bytes. */
  readonly tally?: VerifyTally;
  /** Filled in when the release verifies (so that a caller need not read a large manifest again). */
  readonly summary?: Partial<VerifySummary>;
}

export interface VerifyTally {
  hashed: number;
  shared: number;
}

/** What `release verify` prints of a release that verifies: its id and its own files (not carried ones), bytes and variants. */
export interface VerifySummary {
  id: string;
  files: number;
  bytes: number;
  variants: number;
}

interface Expected {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Every problem with the release at `releaseDir`, one line each (`missing: /a.txt`,
 * `size: ...`, `sha256: ...`, `extra: ...`, `symlink: ...`); `[]` when it is sound.
 * Throws ReleaseError only when the directory itself does not exist.
 */
export async function verifyRelease(releaseDir: string, options: VerifyOptions = {}): Promise<string[]> {
  const root = resolveReleaseDir(releaseDir);
  const parent = options.parent === undefined ? undefined : realDirectory(options.parent);
  // A parent that is not a directory is reported below (sharedWith).
  if (parent === undefined || !('problem' in parent)) {
    const before = options.tally === undefined ? undefined : { ...options.tally };
    // Both manifests read one line at a time: no object per file, and no limit on the count.
    const problems = await verifyWithParent(root, parent?.real, options);
    if (problems !== undefined) return problems;
    // Another layout: verified below, from the start.
    if (before !== undefined && options.tally !== undefined) Object.assign(options.tally, before);
  }
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
    manifest.alternates,
  );
  if (recomputed !== manifest.id) head.push(`id: the manifest's files, headers and redirects give ${recomputed}, manifest says ${manifest.id}`);
  const shared = options.parent === undefined ? undefined : sharedWith(options.parent, head);
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
          const problem = checkFile(join(root, path), path, want, options.hash ?? true, shared, options.tally);
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
  found.sort(byPathThenProblem);
  const problems = [...head, ...found.map(([, problem]) => problem)];
  if (problems.length === 0 && options.summary !== undefined) Object.assign(options.summary, { id: manifest.id, ...manifestTotals(manifest) });
  return problems;
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

/**
 * For `--parent`: whether a file (its path, expected hash and stat) shares the parent's verified
 * bytes. A parent that is not a release whose manifest reads is a problem, not a reason to skip.
 */
function sharedWith(parentDir: string, problems: string[]): ((path: string, want: Expected, st: Stats) => boolean) | undefined {
  const d = realDirectory(parentDir);
  let manifest: Manifest | undefined;
  try {
    manifest = 'problem' in d ? undefined : readManifest(d.real);
  } catch {
    manifest = undefined;
  }
  if ('problem' in d || manifest === undefined) {
    problems.push(`parent: ${parentDir} is not a release with a readable manifest`);
    return undefined;
  }
  const root = d.real;
  const known = expectedFiles(manifest, []);
  return (path, want, st) => {
    if (known.get(path)?.sha256 !== want.sha256) return false;
    try {
      const p = lstatSync(join(root, path));
      return p.isFile() && p.ino === st.ino && p.dev === st.dev;
    } catch {
      return false;
    }
  };
}

function checkFile(abs: string, path: string, want: Expected, hash: boolean, shared?: (path: string, want: Expected, st: Stats) => boolean, tally?: VerifyTally): string | undefined {
  let fd: number;
  try {
    fd = openSync(abs, 'r');
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  }
  try {
    const st = fstatSync(fd);
    if (st.size !== want.size) return `size: ${path} is ${st.size} bytes, manifest says ${want.size}`;
    if (!hash) return undefined;
    if (shared?.(path, want, st) === true) {
      if (tally !== undefined) tally.shared++;
      return undefined;
    }
    if (tally !== undefined) tally.hashed++;
    return bytesProblem(fd, path, want);
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  } finally {
    closeSync(fd);
  }
}
