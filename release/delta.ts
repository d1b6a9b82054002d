/**
 * Moving a release to a node that has an earlier one, sending only what changed:
 *
 * - `diffReleases` (the controller, `pi-origin release diff FROM TO --out DIR`) writes the
 *   manifest patch (`DIR/patch`) and the list of files the node lacks (`DIR/files`, relative
 *   paths for `rsync --files-from`);
 * - `stageRelease` (the node, `pi-origin release stage RELEASES_DIR --patch FILE`) rebuilds the
 *   new manifest from its copy of FROM and the patch, checks that it hashes to what the patch
 *   says (byte for byte the controller's), and hard-links from FROM every file the new release
 *   has with the same bytes at the same path, into `RELEASES_DIR/.incoming-<TO>`;
 * - the files in `DIR/files` are then copied into that directory (rsync), and it is verified
 *   with `release verify --parent FROM` and renamed into place, as any push.
 *
 * One rule decides what is linked and what is sent, on both sides: a file or variant is the
 * node's when FROM has one at the same path with the same SHA-256 (in its files or its carried
 * assets), as `verify --parent` decides what it need not hash.
 *
 * The patch, one JSON value per line: a header `{"patch":1,"from","to","sha256","bytes"}` (the
 * new manifest's hash and size), the new manifest's head, then in path order `+` and the new
 * entry for each file not written as FROM's entry with the cache tags swapped, `-` and the path
 * for each file of FROM the new release does not have, and last `=` and the new manifest's
 * tail (redirects, skew, preload, routes). For an incremental build of 1,000 files into a
 * million the patch is the 1,000 new lines, not the 350 MB manifest.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { isReleaseId } from '../content/release-id.js';
import { realDirectory } from '../content/real-dir.js';
import { ENCODINGS, VARIANT_SUFFIX } from '../content/site-index.js';
import { TreeLinker } from './link.js';
import { checkHead, ManifestError, MANIFEST_NAME, type Manifest, type ManifestFile, type ManifestVariant } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestLines, ManifestWriter, retagged, TagSwap, type EntryLine, type ManifestHead, type ManifestTail } from './manifest-text.js';

export const PATCH_FORMAT = 1;

interface PatchHeader {
  readonly patch: typeof PATCH_FORMAT;
  readonly from: string;
  readonly to: string;
  /** SHA-256 and size of the new manifest.json. */
  readonly sha256: string;
  readonly bytes: number;
}

export interface DiffResult {
  readonly from: string;
  readonly to: string;
  /** Files of the new release written out whole in the patch (added or changed entries). */
  readonly entries: number;
  /** Files of FROM the new release does not have. */
  readonly removed: number;
  /** Files and variants the node lacks, and their bytes. */
  readonly files: number;
  readonly bytes: number;
  /** Size of the patch. */
  readonly patchBytes: number;
  /** The directory holding `patch` and `files`. */
  readonly dir: string;
  /** It existed already (made by an earlier run or a concurrent one); nothing was written. */
  readonly reused: boolean;
}

/** A file's parts, the file and each variant, by relative path: their hash and size. */
type Parts = Map<string, ManifestVariant>;

function partsOf(f: Pick<ManifestFile, 'path' | 'size' | 'sha256' | 'variants'>): Parts {
  const parts: Parts = new Map([[f.path.slice(1), { size: f.size, sha256: f.sha256 }]]);
  for (const enc of ENCODINGS) {
    const v = f.variants[enc];
    if (v !== undefined) parts.set(f.path.slice(1) + VARIANT_SUFFIX[enc], v);
  }
  return parts;
}

function entryParts(reader: EntryReader, e: EntryLine): Parts {
  return partsOf({ path: e.path, size: e.size, sha256: e.sha256, variants: hasNoVariants(e) ? {} : reader.variants(e) });
}

/** The parts the node lacks: those `theirs` (the node's release, at the same paths) does not have with the same hash. */
function missing(parts: Parts, theirs: ReadonlyMap<string, string>): [string, ManifestVariant][] {
  return [...parts].filter(([rel, p]) => theirs.get(rel) !== p.sha256);
}

function hashes(parts: Parts): Map<string, string> {
  return new Map([...parts].map(([rel, p]) => [rel, p.sha256]));
}

/** The release directory `dir` and its manifest file, checked to be a release named by its id. */
function releaseAt(dir: string, what: string): { dir: string; id: string; file: string } {
  const d = realDirectory(dir);
  if ('problem' in d) throw new ReleaseError(`${what} ${dir} ${d.problem}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  const file = join(d.real, MANIFEST_NAME);
  if (!existsSync(file)) throw new ReleaseError(`${what} ${dir} has no ${MANIFEST_NAME}: not a release directory`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  const id = d.real.slice(d.real.lastIndexOf('/') + 1);
  if (!isReleaseId(id)) throw new ReleaseError(`${what} ${dir} is not named by a release id`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  return { dir: d.real, id, file };
}

/**
 * Writes `outDir/patch` and `outDir/files` for moving release `toDir` onto a node that has
 * `fromDir`. The directory appears whole (written under a temporary name, then renamed); when it
 * exists already it is kept as it is.
 */
export async function diffReleases(fromDir: string, toDir: string, outDir: string): Promise<DiffResult> {
  const from = releaseAt(fromDir, 'release');
  const to = releaseAt(toDir, 'release');
  if (existsSync(join(outDir, 'patch'))) return { ...readDiffSummary(outDir), reused: true };
  const fromLines = openLines(from.file);
  const toLines = openLines(to.file, createHash('sha256'));
  const fromReader = new EntryReader(from.file);
  const toReader = new EntryReader(to.file);
  const ops: string[] = [];
  const send: string[] = [];
  let bytes = 0;
  let entries = 0;
  let removed = 0;
  try {
    const head = checkedHead(toLines, to.id);
    checkedHead(fromLines, from.id);
    const swap = new TagSwap((text) => fromReader.headers(text), from.id);
    const need = (parts: Parts, theirs: ReadonlyMap<string, string>): void => {
      for (const [rel, p] of missing(parts, theirs)) {
        send.push(rel);
        bytes += p.size;
      }
    };
    let f = nextEntry(fromLines, fromReader);
    let last = Date.now();
    for (let json = toLines.next(); json !== undefined; json = toLines.next()) {
      if (Date.now() - last > 50) {
        // Let signals run during a long diff.
        await new Promise((resolve) => setImmediate(resolve));
        last = Date.now();
      }
      const t = toReader.entry(json);
      for (; f !== undefined && f.path < t.path; f = nextEntry(fromLines, fromReader)) {
        ops.push('-' + f.pathJson);
        removed++;
      }
      const same = f?.path === t.path ? f : undefined;
      if (same !== undefined) f = nextEntry(fromLines, fromReader);
      if (same !== undefined && retagged(same, swap, to.id) === t.json) continue;
      ops.push('+' + t.json);
      entries++;
      need(entryParts(toReader, t), same === undefined ? new Map() : hashes(entryParts(fromReader, same)));
    }
    for (; f !== undefined; f = nextEntry(fromLines, fromReader)) {
      ops.push('-' + f.pathJson);
      removed++;
    }
    const toRest = toLines.rest();
    const fromRest = fromLines.rest();
    const carried = toRest.skew?.files ?? [];
    if (carried.length > 0) {
      const theirs = partsAt(from.file, carriedPaths(carried), fromRest);
      for (const c of carried) need(partsOf(c), theirs);
    }
    const manifest = toLines.digest();
    const header: PatchHeader = { patch: PATCH_FORMAT, from: from.id, to: to.id, sha256: manifest.sha256, bytes: manifest.bytes };
    const patch = [JSON.stringify(header), JSON.stringify(head), ...ops, '=' + JSON.stringify(tailOf(toRest))].join('\n') + '\n';
    const summary = { from: from.id, to: to.id, entries, removed, files: send.length, bytes, patchBytes: Buffer.byteLength(patch) };
    writeDiffDir(outDir, patch, send, summary);
    return { ...summary, dir: outDir, reused: false };
  } catch (e) {
    if (e instanceof ManifestError) throw new ReleaseError(`cannot diff ${from.id} and ${to.id}: ${e.message}`, 'PI_ORIGIN_RELEASE_INVALID');
    throw e;
  } finally {
    fromLines.close();
    toLines.close();
  }
}

function openLines(file: string, hash?: ReturnType<typeof createHash>): ManifestLines {
  const lines = ManifestLines.open(file, hash);
  if (lines === undefined) throw new ReleaseError(`${file} is missing`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  return lines;
}

function nextEntry(lines: ManifestLines, reader: EntryReader): EntryLine | undefined {
  const json = lines.next();
  return json === undefined ? undefined : reader.entry(json);
}

/** The manifest's head, checked, and naming the release its directory is named after. */
function checkedHead(lines: ManifestLines, id: string): ManifestHead {
  const fail = (what: string): ManifestError => new ManifestError(`${lines.file}: ${what}`);
  const head = checkHead({ ...lines.head(), files: [] }, fail);
  if (head.id !== id) throw fail(`id ${head.id as string} is not the directory's name ${id}`);
  return { format: head.format as ManifestHead['format'], id, created: head.created as string, ...(head.parent === undefined ? {} : { parent: head.parent }) };
}

/** Everything after the files: what the patch's last line carries. */
function tailOf(rest: Omit<Manifest, 'files'>): ManifestTail {
  const { format: _f, id: _i, created: _c, parent: _p, ...tail } = rest;
  return tail;
}

function carriedPaths(files: readonly ManifestFile[]): Set<string> {
  const paths = new Set<string>();
  for (const f of files) for (const rel of partsOf(f).keys()) paths.add(rel);
  return paths;
}

/** The hashes a release has at `wanted` paths (relative), from its files (one more read) and its own carried assets. */
function partsAt(file: string, wanted: ReadonlySet<string>, rest: Omit<Manifest, 'files'>): Map<string, string> {
  const out = new Map<string, string>();
  const note = (parts: Parts): void => {
    for (const [rel, p] of parts) if (wanted.has(rel)) out.set(rel, p.sha256);
  };
  const lines = openLines(file);
  const reader = new EntryReader(file);
  try {
    lines.head();
    for (let e = nextEntry(lines, reader); e !== undefined; e = nextEntry(lines, reader)) note(entryParts(reader, e));
  } finally {
    lines.close();
  }
  for (const f of rest.skew?.files ?? []) note(partsOf(f));
  return out;
}

function writeDiffDir(outDir: string, patch: string, send: readonly string[], summary: Omit<DiffResult, 'dir' | 'reused'>): void {
  const tmp = `${outDir}.tmp-${process.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o755 });
    writeFileSync(join(tmp, 'patch'), patch, { mode: 0o644 });
    writeFileSync(join(tmp, 'files'), filesFromText(send), { mode: 0o644 });
    writeFileSync(join(tmp, 'summary.json'), JSON.stringify(summary) + '\n', { mode: 0o644 });
    try {
      renameSync(tmp, outDir);
    } catch (e) {
      // The same diff made meanwhile by another run: keep that one.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
  } catch (e) {
    throw new ReleaseError(`cannot write the diff to ${outDir}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readDiffSummary(outDir: string): Omit<DiffResult, 'reused'> {
  try {
    return { ...(JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')) as Omit<DiffResult, 'dir' | 'reused'>), dir: outDir };
  } catch (e) {
    throw new ReleaseError(`${outDir} holds a patch but no readable summary.json (${errnoText(e)}): remove the directory and diff again`, 'PI_ORIGIN_RELEASE_IO');
  }
}

/**
 * A list for `rsync --files-from`: one relative path per line. rsync skips an entry that starts
 * with `#` or `;` as a comment; `./` in front keeps such a name a file (a top-level `#notes.txt`).
 */
export function filesFromText(rels: readonly string[]): string {
  return rels.map((rel) => (rel.startsWith('#') || rel.startsWith(';') ? './' : '') + rel + '\n').join('');
}

export interface StageResult {
  readonly from: string;
  readonly to: string;
  /** The staging directory: `RELEASES_DIR/.incoming-<to>`. */
  readonly dir: string;
  /** Files and variants hard-linked from FROM. */
  readonly linked: number;
  /** The files and variants still to receive (relative paths): the diff's `files`, found again from the patch. */
  readonly receive: readonly string[];
  /** The release was in place already: nothing was staged. */
  readonly present: boolean;
}

/** The staging directory a push fills and renames into place (ansible/roles/origin_release). */
export function stagingDir(releasesDir: string, id: string): string {
  return join(releasesDir, `.incoming-${id}`);
}

/**
 * Makes `RELEASES_DIR/.incoming-<to>` from release `from` of RELEASES_DIR and the patch: the new
 * manifest (refused unless it hashes to the patch's promise) and a hard link for every file and
 * variant the new release shares with `from`. What is left to copy is the diff's `files`. A
 * staging directory left by an earlier attempt is replaced.
 */
export async function stageRelease(releasesDir: string, patchFile: string): Promise<StageResult> {
  const releases = realDirectory(releasesDir);
  if ('problem' in releases) throw new ReleaseError(`releases directory ${releasesDir} ${releases.problem}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  const patch = readPatch(patchFile);
  const staging = stagingDir(releases.real, patch.header.to);
  if (existsSync(join(releases.real, patch.header.to, MANIFEST_NAME))) return { from: patch.header.from, to: patch.header.to, dir: join(releases.real, patch.header.to), linked: 0, receive: [], present: true };
  const from = releaseAt(join(releases.real, patch.header.from), 'release');
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o755 });
  const linker = new TreeLinker(from.dir, staging);
  let linked = 0;
  const receive: string[] = [];
  const link = (rel: string): void => {
    linker.add(rel);
    linked++;
  };
  try {
    const lines = openLines(from.file);
    const reader = new EntryReader(from.file);
    const writer = new ManifestWriter(join(staging, MANIFEST_NAME), patch.head);
    const swap = new TagSwap((text) => reader.headers(text), from.id);
    const toReader = new EntryReader(patchFile);
    const wanted = carriedPaths(patch.tail.skew?.files ?? []);
    const carried = new Map<string, string>();
    let written: { sha256: string; bytes: number };
    try {
      checkedHead(lines, from.id);
      let j = 0;
      const ops = patch.ops;
      const added = (op: PatchOp, theirs: ReadonlyMap<string, string>): void => {
        const t = toReader.entry(op.json as string);
        writer.entry(t.json);
        for (const [rel, p] of entryParts(toReader, t)) {
          if (theirs.get(rel) === p.sha256) link(rel);
          else receive.push(rel);
        }
      };
      for (let f = nextEntry(lines, reader); f !== undefined; f = nextEntry(lines, reader)) {
        const parts = hashes(entryParts(reader, f));
        for (const [rel, sha256] of parts) if (wanted.has(rel)) carried.set(rel, sha256);
        for (; j < ops.length && (ops[j] as PatchOp).path < f.path; j++) added(ops[j] as PatchOp, new Map());
        const op = j < ops.length && (ops[j] as PatchOp).path === f.path ? (ops[j++] as PatchOp) : undefined;
        if (op === undefined) {
          writer.entry(retagged(f, swap, patch.header.to));
          for (const rel of parts.keys()) link(rel);
        } else if (op.json !== undefined) added(op, parts);
      }
      for (; j < ops.length; j++) added(ops[j] as PatchOp, new Map());
      for (const f of lines.rest().skew?.files ?? []) for (const [rel, p] of partsOf(f)) if (wanted.has(rel)) carried.set(rel, p.sha256);
      for (const c of patch.tail.skew?.files ?? [])
        for (const [rel, p] of partsOf(c)) {
          if (carried.get(rel) === p.sha256) link(rel);
          else receive.push(rel);
        }
      written = writer.finish(patch.tail);
    } catch (e) {
      writer.abort();
      throw e;
    } finally {
      lines.close();
    }
    if (written.sha256 !== patch.header.sha256 || written.bytes !== patch.header.bytes)
      throw new ReleaseError(
        `the manifest rebuilt from ${from.id} and ${patchFile} is not the one the patch describes (sha256 ${written.sha256}, ${written.bytes} bytes; expected ${patch.header.sha256}, ${patch.header.bytes} bytes): copy the whole release instead`,
        'PI_ORIGIN_RELEASE_INVALID',
      );
    const outcome = await linker.finish();
    if (outcome.failures > 0) throw new ReleaseError(`release ${from.id} does not have files the patch says it shares (${outcome.failed.join(', ')}): copy the whole release instead`, 'PI_ORIGIN_RELEASE_INVALID');
    return { from: from.id, to: patch.header.to, dir: staging, linked, receive, present: false };
  } catch (e) {
    await linker.stop();
    rmSync(staging, { recursive: true, force: true });
    if (e instanceof ManifestError) throw new ReleaseError(`cannot stage ${patch.header.to} from ${from.id}: ${e.message}`, 'PI_ORIGIN_RELEASE_INVALID');
    throw e;
  }
}

/** A `+` (new entry) or `-` (removed path) line of a patch. */
interface PatchOp {
  readonly path: string;
  /** The new entry; undefined for a removal. */
  readonly json: string | undefined;
}

interface Patch {
  readonly header: PatchHeader;
  readonly head: ManifestHead;
  readonly ops: readonly PatchOp[];
  readonly tail: ManifestTail;
}

/** Reads and checks a patch file: its header, the new head, operations in path order, the tail. */
function readPatch(file: string): Patch {
  const fail = (what: string): ReleaseError => new ReleaseError(`${file}: ${what}`, 'PI_ORIGIN_RELEASE_INVALID');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReleaseError(`cannot read the patch ${file}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const json = (line: string | undefined, what: string): unknown => {
    try {
      return JSON.parse(line ?? '');
    } catch {
      throw fail(`${what} is not valid JSON`);
    }
  };
  const header = json(lines[0], 'the header') as Partial<PatchHeader> | null;
  if (header?.patch !== PATCH_FORMAT || !isReleaseId(String(header.from)) || !isReleaseId(String(header.to)) || !/^[0-9a-f]{64}$/.test(String(header.sha256)) || !Number.isSafeInteger(header.bytes))
    throw fail(`is not a release patch (format ${PATCH_FORMAT}: made by pi-origin release diff)`);
  const manifestFail = (what: string): ManifestError => new ManifestError(`${file}: ${what}`);
  const headData = checkHead({ ...(json(lines[1], 'the head') as object), files: [] }, manifestFail);
  if (headData.id !== header.to) throw fail(`the head names ${String(headData.id)}, the header ${String(header.to)}`);
  const last = lines[lines.length - 1];
  if (lines.length < 3 || last?.startsWith('=') !== true) throw fail('has no tail line (=): it was cut short');
  const tail = json(last.slice(1), 'the tail') as ManifestTail;
  const ops: PatchOp[] = [];
  let previous = '';
  for (const [i, line] of lines.slice(2, -1).entries()) {
    const kind = line[0];
    let path: string;
    if (kind === '+') path = (json(line.slice(1), `line ${i + 3}`) as { path?: unknown }).path as string;
    else if (kind === '-') path = json(line.slice(1), `line ${i + 3}`) as string;
    else throw fail(`line ${i + 3} is neither + nor -`);
    if (typeof path !== 'string' || !(previous < path)) throw fail(`line ${i + 3}: paths must be in order, each once`);
    previous = path;
    ops.push({ path, json: kind === '+' ? line.slice(1) : undefined });
  }
  const { format, id, created, parent } = headData as ManifestHead;
  return { header: header as PatchHeader, head: { format, id, created, ...(parent === undefined ? {} : { parent }) }, ops, tail };
}

