/**
 * `release verify --parent`: a release checked against a verified parent in time proportional to
 * what changed. Both manifests are read one line at a time, side by side (both are in path
 * order), with no object per file and no map of every path to what it should be:
 *
 * - every entry of the release is checked as `validateManifest` checks it, and its id recomputed;
 * - a file (or variant) whose path and SHA-256 are the same in both manifests is checked by two
 *   `lstat` calls, the release's and the parent's, on worker threads while the manifests are
 *   read: the same inode, of the manifest's size, shares the bytes the parent's verification
 *   read, and is not read again;
 * - every other file is read and hashed;
 * - each directory is listed once, to find symlinks and entries the manifest does not name.
 *
 * Memory: the set of the release's paths (the `_redirects` targets, the preload pages and the
 * carried assets are checked against it) and a count per directory.
 *
 * Used when both manifests are in the layout `release build` writes (one file per line, sorted);
 * for any other, `verifyRelease` falls back to its own reading, which reaches the same verdict.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoText } from '../content/release-error.js';
import { ReleaseIdHash } from '../content/release-id.js';
import { ENCODINGS, VARIANT_SUFFIX } from '../content/site-index.js';
import { checkHead, checkRest, ManifestError, MANIFEST_NAME, type Manifest, type ManifestFile } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestLines, PathTypes, TagSwap, type EntryLine } from './manifest-text.js';
import type { VerifyOptions } from './verify.js';
import { byPathThenProblem, bytesProblem } from './verify-file.js';
import { BatchThreads } from './threads.js';

interface Dir {
  /** Entries the manifest puts here: files, variants and subdirectories. */
  expected: number;
  /** Of those, files that are not there as regular files (reported where they were expected). */
  absent: number;
}

/**
 * Every problem with the release at `root` (real path), checked against the verified release at
 * `parentRoot` (without one, every file is read, or with `hash: false` only its size checked: a
 * full verification as a stream); undefined when either manifest is not in the builder's layout
 * (the caller then verifies the other way).
 */
export async function verifyWithParent(root: string, parentRoot: string | undefined, options: VerifyOptions): Promise<string[] | undefined> {
  const childFile = join(root, MANIFEST_NAME);
  let child: ManifestLines | undefined;
  let parent: ManifestLines | undefined;
  try {
    child = ManifestLines.open(childFile);
    parent = parentRoot === undefined ? undefined : ManifestLines.open(join(parentRoot, MANIFEST_NAME));
    if (child === undefined || (parentRoot !== undefined && parent === undefined)) return undefined;
    const total = options.onProgress === undefined ? 0 : countExpected(childFile);
    const check = new ParentCheck(root, parentRoot, child, parent, options, total);
    try {
      return await check.run();
    } finally {
      await check.close();
    }
  } catch (e) {
    // Another layout, or a manifest the generic reader will name the problem of.
    if (e instanceof ManifestError || e instanceof NotInOrder) return undefined;
    throw e;
  } finally {
    child?.close();
    parent?.close();
  }
}

class NotInOrder extends Error {}

/**
 * Files and variants (own and carried) a manifest names, by a read ahead of the verification
 * (for progress: the stream does not know its end). A manifest that does not read counts 0; the
 * verification then reports why.
 */
function countExpected(file: string): number {
  const lines = ManifestLines.open(file);
  if (lines === undefined) return 0;
  const reader = new EntryReader(file);
  let n = 0;
  try {
    lines.head();
    for (let json = lines.next(); json !== undefined; json = lines.next()) {
      const e = reader.entry(json);
      n += 1 + (hasNoVariants(e) ? 0 : Object.keys(reader.variants(e)).length);
    }
    for (const f of lines.rest().skew?.files ?? []) n += 1 + Object.keys(f.variants).length;
  } catch (e) {
    if (e instanceof ManifestError) return 0;
    throw e;
  } finally {
    lines.close();
  }
  return n;
}

/** What a stat thread reports of a file that is not simply the parent's (or what `expect` finds itself). */
interface StatResult {
  readonly path: string;
  /** missing (or unreadable: `code`), a symlink, not a regular file, another size, or not the parent's inode (to hash). */
  readonly what: 'missing' | 'symlink' | 'other' | 'size' | 'hash';
  readonly code?: string;
  /** `size`: the file's size and the manifest's. */
  readonly size?: number;
  readonly expected?: number;
  /** `hash`: the manifest's hash. */
  readonly sha256?: string;
}

/**
 * The stat thread (threads.ts): for each `path\tsize\tsha256` of a batch, the release's file must
 * be a regular file of that size and the parent's inode: two lstat calls. Answers how many were,
 * and what the others are.
 */
const STAT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { lstatSync } = require('node:fs');
const { root, parent } = workerData;
parentPort.on('message', (batch) => {
  let shared = 0;
  const other = [];
  for (const line of batch.split('\\n')) {
    const [path, sizeText, sha256] = line.split('\\t');
    const expected = Number(sizeText);
    let st;
    try { st = lstatSync(root + path); } catch (e) { other.push({ path, what: 'missing', code: e.code || e.message }); continue; }
    if (!st.isFile()) { other.push({ path, what: st.isSymbolicLink() ? 'symlink' : 'other' }); continue; }
    if (st.size !== expected) { other.push({ path, what: 'size', size: st.size, expected }); continue; }
    let p;
    try { p = lstatSync(parent + path); } catch { p = undefined; }
    if (p !== undefined && p.isFile() && p.ino === st.ino && p.dev === st.dev) shared++;
    else other.push({ path, what: 'hash', sha256 });
  }
  parentPort.postMessage({ shared, other });
});
`;

class ParentCheck {
  private readonly childReader: EntryReader;
  private readonly parentReader: EntryReader;
  private readonly hash: boolean;
  private readonly found: [string, string][] = [];
  private readonly dirs = new Map<string, Dir>([['', { expected: 0, absent: 0 }]]);
  private readonly paths = new PathTypes();
  /** Variant paths (`/a.css.br`): a file may not take one. */
  private readonly variantPaths = new Set<string>();
  private readonly head: string[] = [];
  private readonly totals = { files: 0, bytes: 0, variants: 0 };
  private checked = 0;
  /** Files the parent has with the same hash: their inodes compared on the stat threads (none without a parent). */
  private readonly stats: BatchThreads<{ shared: number; other: StatResult[] }> | undefined;

  constructor(
    private readonly root: string,
    parentRoot: string | undefined,
    private readonly child: ManifestLines,
    private readonly parent: ManifestLines | undefined,
    private readonly options: VerifyOptions,
    /** Files and variants the manifest names, for progress. */
    private readonly total: number,
  ) {
    this.childReader = new EntryReader(child.file);
    this.parentReader = new EntryReader(parent?.file ?? child.file);
    this.hash = options.hash ?? true;
    this.stats = parentRoot === undefined ? undefined : new BatchThreads(STAT_WORKER, { root, parent: parentRoot });
  }

  async close(): Promise<void> {
    await this.stats?.stop();
  }

  async run(): Promise<string[]> {
    const fail = (what: string): ManifestError => new ManifestError(`${this.child.file}: ${what}`);
    const head = checkHead({ ...this.child.head(), files: [] }, fail);
    const id = head.id as string;
    const untag = new TagSwap((text) => this.childReader.headers(text), id);
    const idHash = new ReleaseIdHash();
    let p = this.nextParent();
    let previous: string | undefined;
    let last = Date.now();
    for (let json = this.child.next(); json !== undefined; json = this.child.next()) {
      const e = this.childReader.entry(json);
      if (previous !== undefined && !(previous < e.path)) throw new NotInOrder();
      previous = e.path;
      this.paths.file(JSON.parse(e.pathJson) as string, e.typeJson);
      idHash.file(e.path, e.sha256, untag.without(e.headersJson));
      while (p !== undefined && p.path < e.path) p = this.nextParent();
      const same = p?.path === e.path ? p : undefined;
      if (this.variantPaths.has(e.path) || e.path === `/${MANIFEST_NAME}`) this.head.push(`manifest: ${e.path} is listed twice (as a file and as a variant, or as the manifest)`);
      this.expect(e.path, e.size, e.sha256, same?.sha256);
      this.totals.files++;
      this.totals.bytes += e.size;
      if (!hasNoVariants(e)) {
        const variants = this.childReader.variants(e);
        const theirs = same === undefined ? {} : this.parentReader.variants(same);
        for (const enc of ENCODINGS) {
          const v = variants[enc];
          if (v === undefined) continue;
          this.totals.variants++;
          this.variantPaths.add(e.path + VARIANT_SUFFIX[enc]);
          this.expect(e.path + VARIANT_SUFFIX[enc], v.size, v.sha256, theirs[enc]?.sha256);
        }
      }
      if (Date.now() - last > 50) {
        // Let timers (progress) and signals run during a long verification.
        await new Promise((resolve) => setImmediate(resolve));
        last = Date.now();
      }
    }
    const rest = this.child.rest();
    const m = { ...rest, files: [] } as Partial<Manifest>;
    try {
      checkRest(m, this.paths, fail);
    } catch (e) {
      if (e instanceof ManifestError) return [`manifest: ${e.message}`];
      throw e;
    }
    const recomputed = idHash.finish(rest.redirects, rest.routes, rest.alternates);
    if (recomputed !== id) this.head.push(`id: the manifest's files, headers and redirects give ${recomputed}, manifest says ${id}`);
    const skew = rest.skew?.files ?? [];
    if (skew.length > 0) this.expectCarried(skew);
    for (const r of (await this.stats?.results()) ?? []) {
      if (this.options.tally !== undefined) this.options.tally.shared += r.shared;
      for (const o of r.other) this.settle(o);
    }
    this.walk();
    this.found.sort(byPathThenProblem);
    const problems = [...this.head, ...this.found.map(([, problem]) => problem)];
    if (problems.length === 0 && this.options.summary !== undefined) Object.assign(this.options.summary, { id, ...this.totals });
    return problems;
  }

  private nextParent(): EntryLine | undefined {
    const json = this.parent?.next();
    return json === undefined ? undefined : this.parentReader.entry(json);
  }

  /** Carried assets (skew protection): shared when the parent has the same bytes at the path, as a file or carried itself. */
  private expectCarried(files: readonly ManifestFile[]): void {
    const wanted = new Set<string>();
    for (const f of files) {
      wanted.add(f.path);
      for (const enc of ENCODINGS) if (f.variants[enc] !== undefined) wanted.add(f.path + VARIANT_SUFFIX[enc]);
    }
    // The parent's hashes at those paths: what is left of its files, then its own carried ones.
    const theirs = new Map<string, string>();
    const note = (path: string, sha256: string): void => void (wanted.has(path) && theirs.set(path, sha256));
    const noteFile = (f: Pick<ManifestFile, 'path' | 'sha256' | 'variants'>): void => {
      note(f.path, f.sha256);
      for (const enc of ENCODINGS) {
        const v = f.variants[enc];
        if (v !== undefined) note(f.path + VARIANT_SUFFIX[enc], v.sha256);
      }
    };
    const reread = this.parent === undefined ? undefined : ManifestLines.open(this.parent.file);
    if (reread !== undefined) {
      try {
        reread.head();
        for (let json = reread.next(); json !== undefined; json = reread.next()) {
          const e = this.parentReader.entry(json);
          noteFile({ path: e.path, sha256: e.sha256, variants: hasNoVariants(e) ? {} : this.parentReader.variants(e) });
        }
        for (const f of reread.rest().skew?.files ?? []) noteFile(f);
      } finally {
        reread.close();
      }
    }
    for (const f of files) {
      this.expect(f.path, f.size, f.sha256, theirs.get(f.path));
      for (const enc of ENCODINGS) {
        const v = f.variants[enc];
        if (v === undefined) continue;
        const path = f.path + VARIANT_SUFFIX[enc];
        if (this.variantPaths.has(path) || this.paths.has(path)) this.head.push(`manifest: ${path} is listed twice (as a file and as a variant, or as the manifest)`);
        this.variantPaths.add(path);
        this.expect(path, v.size, v.sha256, theirs.get(path));
      }
    }
  }

  /**
   * Checks one file the manifest names: present, regular, of its size, and its bytes. One the
   * parent has with the same hash goes to the stat threads (its inode is compared there); the
   * others are read and hashed here.
   */
  private expect(path: string, size: number, sha256: string, parentSha256: string | undefined): void {
    this.dirOf(path).expected++;
    this.options.onProgress?.(++this.checked, this.total);
    if (this.hash && parentSha256 === sha256 && this.stats !== undefined) {
      this.stats.add(`${path}\t${size}\t${sha256}`);
      return;
    }
    let st: Stats;
    try {
      st = lstatSync(this.root + path);
    } catch (e) {
      return this.settle({ path, what: 'missing', code: (e as NodeJS.ErrnoException).code ?? errnoText(e) });
    }
    if (!st.isFile()) return this.settle({ path, what: st.isSymbolicLink() ? 'symlink' : 'other' });
    if (st.size !== size) return this.settle({ path, what: 'size', size: st.size, expected: size });
    if (this.hash) this.hashFile(path, size, sha256, st);
  }

  /** What the stat threads (or `expect`) found wrong with a file, as a problem and a place left empty in its directory. */
  private settle(r: StatResult): void {
    if (r.what === 'hash') {
      let st: Stats | undefined;
      try {
        st = lstatSync(this.root + r.path);
      } catch {
        st = undefined;
      }
      if (st?.isFile() === true) return this.hashFile(r.path, st.size, r.sha256 as string, st);
      return this.settle(st === undefined ? { path: r.path, what: 'missing', code: 'ENOENT' } : { path: r.path, what: st.isSymbolicLink() ? 'symlink' : 'other' });
    }
    if (r.what === 'size') return void this.found.push([r.path, `size: ${r.path} is ${r.size as number} bytes, manifest says ${r.expected as number}`]);
    this.dirOf(r.path).absent++;
    // A symlink is reported once, as a symlink, by the walk; a directory there is an extra directory and a missing file.
    if (r.what === 'symlink') return;
    const unreadable = r.what === 'missing' && r.code !== 'ENOENT' && r.code !== 'ENOTDIR';
    this.found.push([r.path, unreadable ? `unreadable: ${r.path} (${r.code as string})` : `missing: ${r.path}`]);
  }

  private hashFile(path: string, size: number, sha256: string, st: Stats): void {
    if (this.options.tally !== undefined) this.options.tally.hashed++;
    const problem = hashProblem(this.root + path, path, size, sha256, st);
    if (problem !== undefined) this.found.push([path, problem]);
  }

  /** The directory of `path`, registered (with its ancestors) as an entry of its own parent. */
  private dirOf(path: string): Dir {
    const name = path.slice(0, path.lastIndexOf('/'));
    let dir = this.dirs.get(name);
    if (dir === undefined) {
      dir = { expected: 0, absent: 0 };
      this.dirs.set(name, dir);
      this.dirOf(name).expected++;
    }
    return dir;
  }

  /**
   * Lists each directory the manifest names: symlinks, directories it does not name and
   * anything else than a regular file are reported; more regular files than the manifest puts
   * there means extras, named by one more read of the manifest.
   */
  private walk(): void {
    // A directory the manifest names that is missing (or not a directory) leaves its place in its parent empty.
    for (const name of this.dirs.keys()) {
      if (name === '') continue;
      let isDir = false;
      try {
        isDir = lstatSync(this.root + name).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) (this.dirs.get(name.slice(0, name.lastIndexOf('/'))) as Dir).absent++;
    }
    const crowded: string[] = [];
    for (const [name, dir] of this.dirs) {
      const abs = this.root + name;
      let entries: Dirent[];
      try {
        if (name !== '' && !lstatSync(abs).isDirectory()) continue;
        entries = readdirSync(abs, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.found.push([name + '/', `unreadable: ${name}/ (${errnoText(e)})`]);
        continue;
      }
      let present = 0;
      for (const e of entries) {
        const path = `${name}/${e.name}`;
        if (name === '' && e.name === MANIFEST_NAME && e.isFile()) continue;
        if (e.isSymbolicLink()) this.found.push([path, `symlink: ${path}`]);
        else if (e.isDirectory()) {
          if (this.dirs.has(path)) present++;
          else this.found.push([path, `extra: ${path}/`]);
        } else if (e.isFile()) present++;
        else this.found.push([path, `extra: ${path} (not a regular file)`]);
      }
      if (present > dir.expected - dir.absent) crowded.push(name);
    }
    if (crowded.length > 0) this.nameExtras(new Set(crowded));
  }

  /** The regular files of `crowded` directories that the manifest does not name. */
  private nameExtras(crowded: ReadonlySet<string>): void {
    const named = new Set<string>();
    for (const path of this.paths) if (crowded.has(path.slice(0, path.lastIndexOf('/')))) named.add(path);
    for (const path of this.variantPaths) if (crowded.has(path.slice(0, path.lastIndexOf('/')))) named.add(path);
    for (const name of crowded) {
      for (const e of readdirSync(this.root + name, { withFileTypes: true })) {
        const path = `${name}/${e.name}`;
        if (e.isFile() && !named.has(path) && !(name === '' && e.name === MANIFEST_NAME)) this.found.push([path, `extra: ${path}`]);
      }
    }
  }
}

/** Reads and hashes one file (never through a symlink, and the inode `lstat` saw): a problem line, or undefined. */
function hashProblem(abs: string, path: string, size: number, sha256: string, st: Stats): string | undefined {
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  }
  try {
    const now = fstatSync(fd);
    if (now.ino !== st.ino || now.dev !== st.dev) return `unreadable: ${path} (replaced while it was verified)`;
    return bytesProblem(fd, path, { size, sha256 });
  } catch (e) {
    return `unreadable: ${path} (${errnoText(e)})`;
  } finally {
    closeSync(fd);
  }
}
