/**
 * `release build --parent ID --changes FILE`: a release built from its parent plus a change set,
 * in time proportional to the change for everything that touches the site: the site is never
 * scanned and no unchanged file is read or hashed. The parent's manifest is read one line at a
 * time (no object per file), its files are hard-linked on a worker thread while the main thread
 * computes the id, and the new manifest is written as a stream.
 *
 * The result is the release a full build of the same site would make (same id, same manifest but
 * `created` and `parent`), provided the change set names every path that changed: headers,
 * redirects and routes are derived again for every file from the current rules (so a changed
 * `_headers` is applied to unchanged files too), skew protection reads the releases in its window
 * as a full build does, and `--preload` reads every HTML page (from the parent for unchanged
 * ones). What is taken from the parent for an unchanged file: its bytes (a hard link), size,
 * SHA-256, mtime (Last-Modified) and variants.
 *
 * What a change can do to a file beside it, a full build's rule applied to the paths the change
 * set names: `x.br` and `x.gz` are published only where the site has no `x`, so adding or
 * removing `x` can hide or publish them.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { readRulesFile, readSiteRules, ruleHeaderSets, SITE_REDIRECTS_FILE, type HeaderSet } from '../content/header-file.js';
import { contentTypeFor } from '../content/mime.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { byPath, isReleaseId, ReleaseIdHash, withCacheTags } from '../content/release-id.js';
import { hashSiteFile, siteFile, type SiteFile } from '../content/scan.js';
import { ENCODINGS, VARIANT_SUFFIX, variantBase, type Encoding, type IndexedFile } from '../content/site-index.js';
import {
  building, copyFile, ensureReleasesDir, makeParent, MAX_PRECOMPRESS_BYTES, moveIntoPlace, pagePreloads, removeOnSignal, resolveSite, reuse, siteRoutes, withLinks,
  type BuildOptions, type BuildResult,
} from './build.js';
import type { Change } from './changes.js';
import { readPointer, removeStaleTemporaries } from './dir.js';
import { TreeLinker } from './link.js';
import { checkHead, ManifestError, MANIFEST_FORMAT, MANIFEST_NAME, type Manifest, type ManifestFile, type ManifestVariant } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestWriter, readManifestLines, retype, TagSwap, type EntryLine, type ManifestTail, type SplitLine } from './manifest-text.js';
import { carryAssets, releasesInWindow, resolveSkew, type SkewAssets } from './skew.js';
import { windowCandidates, windowRelevant } from './window.js';

export interface IncrementalOptions extends BuildOptions {
  /** The release to build from: an id in the releases directory, or `current`. */
  readonly parent: string;
  /** What changed in the site since the parent was built (release/changes.ts). */
  readonly changes: readonly Change[];
}

export interface IncrementalResult extends Omit<BuildResult, 'manifest'> {
  /** The parent's id. */
  readonly parent: string;
  /** Paths published now that the parent did not have. */
  readonly added: number;
  /** Paths of the parent published with the site's new bytes. */
  readonly replaced: number;
  /** Paths of the parent no longer published. */
  readonly removed: number;
  /** Named changes that publish nothing: dotfiles, `_headers`, a precompressed sibling of a file. */
  readonly ignored: number;
}

/** A path the change set names, or a `.br`/`.gz` beside one (whose publication it may change). */
interface Affected {
  readonly path: string;
  readonly change: Change | undefined;
  /** Published in the new release; when so, the site's file (hashed), used unless the parent has the path unchanged. */
  readonly source: IndexedFile | undefined;
}

interface Parent {
  readonly id: string;
  readonly dir: string;
}

export async function buildIncremental(siteDir: string, releasesDir: string, options: IncrementalOptions): Promise<IncrementalResult> {
  const site = resolveSite(siteDir);
  const releases = ensureReleasesDir(releasesDir, site);
  const skew = resolveSkew(options.skew);
  if (options.preload !== undefined && typeof options.preload !== 'boolean') throw new ReleaseError(`preload must be true or false (got ${JSON.stringify(options.preload)})`, 'PI_ORIGIN_RELEASE_USAGE');
  const parent = resolveParent(releases, options.parent);
  if (options.packageIndex !== undefined || (await hasAlternates(parent.dir)))
    throw new ReleaseError(`release ${parent.id} has a package index: its pages and metadata are generated from every wheel, so build it in full (without --parent)`, 'PI_ORIGIN_RELEASE_USAGE');
  const rules = options.headersFile !== undefined ? readRulesFile(options.headersFile) : readSiteRules(site);
  const { affected, ignored } = resolveChanges(site, options.changes);
  removeStaleTemporaries(releases, building);
  const tmp = join(releases, `.tmp-from-${parent.id}-${process.pid}`);
  if (building.has(tmp)) throw new ReleaseError(`a release from ${parent.id} is already being built into ${releases} by this process`, 'PI_ORIGIN_RELEASE_BUSY');
  building.add(tmp);
  const signals = removeOnSignal(tmp);
  let linker: TreeLinker | undefined;
  try {
    mkdirSync(tmp, { mode: 0o755 });
    linker = new TreeLinker(parent.dir, tmp);
    const merge = new ParentMerge(parent, affected);
    // Paths of the new release: asked by --preload (a hint only to a file of the release), the
    // _redirects rules (a 200 or 404 target must be one) and skew protection (never over one).
    const wantPaths = options.preload === true || skew.releases > 0 || options.redirectsFile !== undefined || existsSync(join(site, SITE_REDIRECTS_FILE));
    const links = options.preload === true ? await preloads(merge, site, parent.dir) : undefined;
    const sets = ruleHeaderSets(rules);
    const headersFor = (path: string, type: string): HeaderSet => {
      const set = sets(path, type);
      const pageLinks = links?.links.get(path);
      if (pageLinks === undefined) return set;
      const headers = withLinks(set.headers, pageLinks);
      return { headers, json: JSON.stringify(headers) };
    };
    const plan = await planChild(merge, headersFor, linker, wantPaths && links === undefined, skew.releases > 0 ? skew.assets : undefined);
    signals.check();
    const paths = links?.paths ?? plan.paths;
    const isPublished = (path: string): boolean => (paths as Set<string>).has(path);
    const routes = siteRoutes(site, options, isPublished);
    const id = plan.hash.finish(rules.redirects, routes);
    const dir = join(releases, id);
    if (existsSync(dir)) {
      await linker.stop();
      return reused(await reuse(dir, id, undefined, parent.dir), parent.id, plan.counts, ignored);
    }
    const fresh = await copyFresh(plan.fresh, site, tmp, options.onProgress, signals.check);
    const now = options.now ?? new Date();
    const earlier = skew.releases === 0 ? [] : windowCandidates(releases, id, skew.assets, { id: parent.id, files: plan.parentWindow });
    const carried = carryAssets(releasesInWindow(earlier, skew, now), paths ?? new Set(), tmp, skew.assets, makeParent);
    const tail: ManifestTail = {
      redirects: rules.redirects,
      ...(carried.files.length > 0 ? { skew: carried } : {}),
      ...(links !== undefined ? { preload: Object.fromEntries([...links.links].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) } : {}),
      ...(routes === undefined ? {} : { routes }),
    };
    const head = { format: MANIFEST_FORMAT as typeof MANIFEST_FORMAT, id, created: now.toISOString(), parent: parent.id };
    const totals = await writeChild(merge, join(tmp, MANIFEST_NAME), head, tail, plan, fresh);
    const outcome = await linker.finish();
    if (outcome.failures > 0)
      throw new ReleaseError(
        `parent release ${parent.id} does not verify: ${outcome.failures} of its files could not be linked (${outcome.failed.join(', ')}); check it with pi-origin release verify ${parent.dir}`,
        'PI_ORIGIN_RELEASE_PARENT',
      );
    signals.check();
    if (!moveIntoPlace(tmp, dir)) return reused(await reuse(dir, id, undefined, parent.dir), parent.id, plan.counts, ignored);
    const { added, replaced, removed, kept } = plan.counts;
    return { id, dir, totals, copied: plan.fresh.length, linked: kept, carried: carried.files.length, reused: false, packageIndex: undefined, parent: parent.id, added, replaced, removed, ignored };
  } catch (e) {
    signals.check();
    if (e instanceof ManifestError) throw new ReleaseError(`parent release ${parent.id} does not verify: ${e.message}`, 'PI_ORIGIN_RELEASE_PARENT');
    throw e instanceof ReleaseError ? e : new ReleaseError(`cannot build a release from ${parent.id} in ${releases}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  } finally {
    await linker?.stop();
    signals.stop();
    rmSync(tmp, { recursive: true, force: true });
    building.delete(tmp);
  }
}

/** The result when the release existed already (and verified). */
function reused(r: BuildResult, parent: string, counts: Counts, ignored: number): IncrementalResult {
  const { manifest, ...rest } = r;
  let bytes = 0;
  let variants = 0;
  for (const f of manifest.files) {
    bytes += f.size;
    variants += Object.keys(f.variants).length;
  }
  const { added, replaced, removed } = counts;
  return { ...rest, totals: { files: manifest.files.length, bytes, variants }, parent, added, replaced, removed, ignored };
}

/** `current` (what the pointer names) or an id; the release directory must exist. */
/** True when the release's manifest has `alternates` (a package index): its tail says so. */
async function hasAlternates(dir: string): Promise<boolean> {
  return (await readManifestLines(join(dir, MANIFEST_NAME), () => undefined))?.alternates !== undefined;
}

function resolveParent(releases: string, parent: string): Parent {
  let id: string | undefined = parent;
  if (parent === 'current') {
    id = readPointer(releases, 'current');
    if (id === undefined) throw new ReleaseError(`parent current: ${releases} has no current release`, 'PI_ORIGIN_RELEASE_PARENT');
  }
  if (!isReleaseId(id)) throw new ReleaseError(`parent must be a release id (12 hex digits) or current (got ${JSON.stringify(parent)})`, 'PI_ORIGIN_RELEASE_USAGE');
  const dir = join(releases, id);
  if (!existsSync(join(dir, MANIFEST_NAME))) throw new ReleaseError(`parent release ${id} is not in ${releases}`, 'PI_ORIGIN_RELEASE_PARENT');
  return { id, dir };
}

/**
 * The paths whose publication the change set can change, each with the site's verdict: the
 * named paths and the `.br`/`.gz` beside each. Checks each change against the site (an added or
 * replaced file must be there, a removed one gone) and hashes what will be copied.
 */
function resolveChanges(site: string, changes: readonly Change[]): { affected: Affected[]; ignored: number } {
  const verdicts = new Map<string, SiteFile>();
  const verdict = (rel: string, at: string): SiteFile => {
    let v = verdicts.get(rel);
    if (v === undefined) {
      v = siteFile(site, rel);
      verdicts.set(rel, v);
    }
    if (v.kind === 'problem') throw new ReleaseError(`${at}: /${rel} ${v.problem}`, 'PI_ORIGIN_RELEASE_SITE');
    return v;
  };
  const named = new Map<string, Change>();
  let ignored = 0;
  for (const c of changes) {
    const v = verdict(c.rel, c.at);
    if (v.kind === 'never') {
      ignored++;
      continue;
    }
    if (c.op !== 'D' && v.kind !== 'file') throw new ReleaseError(`${c.at}: /${c.rel} is not a file of the site ${site}`, 'PI_ORIGIN_RELEASE_CHANGES');
    if (c.op === 'D' && v.kind === 'file') throw new ReleaseError(`${c.at}: /${c.rel} is listed as removed, but the site ${site} still has it`, 'PI_ORIGIN_RELEASE_CHANGES');
    named.set(c.rel, c);
  }
  const rels = new Set<string>();
  for (const rel of named.keys()) {
    rels.add(rel);
    for (const e of ENCODINGS) rels.add(rel + VARIANT_SUFFIX[e]);
  }
  const affected: Affected[] = [];
  for (const rel of rels) {
    const change = named.get(rel);
    const at = change?.at ?? `/${rel}, beside a changed file,`;
    const v = verdict(rel, at);
    if (v.kind === 'never') continue;
    const base = variantBase(rel);
    const published = v.kind === 'file' && (base === undefined || verdict(base, at).kind !== 'file');
    affected.push({ path: '/' + rel, change, source: published && v.kind === 'file' ? hashed(v.abs, rel) : undefined });
  }
  return { affected: affected.sort(byPath), ignored };
}

function hashed(abs: string, rel: string): IndexedFile {
  const h = hashSiteFile(abs);
  if (h === undefined) throw new ReleaseError(`cannot read /${rel} from the site: unreadable, or still being written`, 'PI_ORIGIN_RELEASE_SITE');
  return { path: '/' + rel, file: rel, size: h.size, sha256: h.sha256, mtimeMs: h.mtimeMs, type: contentTypeFor(rel), variants: [] };
}

/** What the merge of the parent's files with the change set does at each path, in path order. */
interface MergeVisitor<L> {
  /** A file of the parent, unchanged (`index`: its place in the parent's list). */
  keep(e: L, index: number): void;
  /** A file of the parent replaced by the site's (`a.source`). */
  replace(e: L, index: number, a: Affected): void;
  /** A file of the parent no longer published. */
  drop(e: L, index: number): void;
  /** A file the parent did not have. */
  add(a: Affected): void;
}

/**
 * Walks the parent's manifest and the affected paths together, both in path order, checking the
 * change set against the parent (an added path must be new, a replaced or removed one the
 * parent's). Deterministic: every pass over the same parent and change set sees the same calls.
 * The first pass checks each entry as `validateManifest` does (`checked`); later passes only
 * split the lines (`split`), after making sure the file is the one the first pass read.
 */
class ParentMerge {
  readonly reader: EntryReader;
  readonly file: string;
  private readonly identity: string;

  constructor(
    readonly parent: Parent,
    private readonly affected: readonly Affected[],
  ) {
    this.file = join(parent.dir, MANIFEST_NAME);
    this.reader = new EntryReader(this.file);
    this.identity = fileIdentity(this.file);
  }

  checked(visit: MergeVisitor<EntryLine>): Promise<Omit<Manifest, 'files'>> {
    return this.run((json) => this.reader.entry(json), visit);
  }

  split(visit: MergeVisitor<SplitLine>): Promise<Omit<Manifest, 'files'>> {
    return this.run((json) => this.reader.split(json), visit);
  }

  private async run<L extends { readonly path: string }>(parse: (json: string) => L, visit: MergeVisitor<L>): Promise<Omit<Manifest, 'files'>> {
    let j = 0;
    let index = 0;
    let previous: string | undefined;
    const affected = this.affected;
    const added = (a: Affected): void => {
      const op = a.change?.op;
      if ((op === 'M' || op === 'D') && variantBase(a.path.slice(1)) === undefined)
        throw new ReleaseError(`${a.change?.at}: ${a.path} is listed as ${op === 'M' ? 'replaced' : 'removed'}, but the parent release ${this.parent.id} does not have it`, 'PI_ORIGIN_RELEASE_CHANGES');
      if (a.source !== undefined) visit.add(a);
    };
    const rest = await readManifestLines(this.file, (json) => {
      const e = parse(json);
      if (previous !== undefined && !(previous < e.path)) throw new ManifestError(`${this.file}: files[${JSON.stringify(e.path)}]: files are not sorted by path, or a path is listed twice`);
      previous = e.path;
      while (j < affected.length && (affected[j] as Affected).path < e.path) added(affected[j++] as Affected);
      const a = j < affected.length && (affected[j] as Affected).path === e.path ? (affected[j++] as Affected) : undefined;
      if (a === undefined || (a.change === undefined && a.source !== undefined)) visit.keep(e, index);
      else if (a.change?.op === 'A') throw new ReleaseError(`${a.change.at}: ${a.path} is listed as added, but the parent release ${this.parent.id} has it (replaced: M)`, 'PI_ORIGIN_RELEASE_CHANGES');
      else if (a.source === undefined) visit.drop(e, index);
      else visit.replace(e, index, a);
      index++;
    });
    if (rest === undefined) throw new ManifestError(`${this.file} is missing`);
    while (j < affected.length) added(affected[j++] as Affected);
    if (fileIdentity(this.file) !== this.identity) throw new ManifestError(`${this.file} changed while the release was being built`);
    return rest;
  }
}

function fileIdentity(file: string): string {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return 'missing';
  }
}

interface Counts {
  added: number;
  replaced: number;
  removed: number;
  /** Files of the parent linked unchanged. */
  kept: number;
}

/** A file of the new release with bytes from the site: its headers before the cache tags. */
interface Fresh {
  readonly source: IndexedFile;
  readonly headers: Readonly<Record<string, string>>;
}

/** A header set and type shared by unchanged files of the new release, as the id and the manifest need them. */
interface SharedHeaders {
  readonly typeJson: string;
  readonly set: HeaderSet;
  /** JSON with the new release's tags, once its id is known. */
  tagged?: string;
}

interface ChildPlan {
  readonly hash: ReleaseIdHash;
  readonly fresh: readonly Fresh[];
  /** Per parent entry: 1 + index into `shared` when kept, 0 otherwise. */
  readonly kept: Uint32Array<ArrayBuffer>;
  readonly shared: readonly SharedHeaders[];
  readonly counts: Counts;
  /** Files, bytes and variants of the kept files. */
  readonly totals: IncrementalResult['totals'];
  readonly paths: Set<string> | undefined;
  /** The parent's files a skew window may need (window.ts), gathered on the way. */
  readonly parentWindow: readonly ManifestFile[];
}

/**
 * The first pass: the new release's files in order, their headers under the current rules, the
 * id's hash over them, and the parent's own id checked (its entries, headers and redirects must
 * give its id: a parent whose manifest was edited is refused). Unchanged files go to the linker.
 */
async function planChild(
  merge: ParentMerge,
  headersFor: (path: string, type: string) => HeaderSet,
  linker: TreeLinker,
  wantPaths: boolean,
  skewAssets: SkewAssets | undefined,
): Promise<ChildPlan> {
  const hash = new ReleaseIdHash();
  const parentHash = new ReleaseIdHash();
  const untag = new TagSwap((text) => merge.reader.headers(text), merge.parent.id);
  const shared: SharedHeaders[] = [];
  const sharedBy = new Map<string, number>();
  let last: { set: HeaderSet; type: string; at: number } | undefined;
  const types = new Map<string, string>();
  let kept: Uint32Array<ArrayBuffer> = new Uint32Array(1024);
  const fresh: Fresh[] = [];
  const paths = wantPaths ? new Set<string>() : undefined;
  const counts: Counts = { added: 0, replaced: 0, removed: 0, kept: 0 };
  const totals = { files: 0, bytes: 0, variants: 0 };
  const parentWindow: ManifestFile[] = [];
  const parentLine = (e: EntryLine): void => {
    parentHash.file(e.path, e.sha256, untag.without(e.headersJson));
    const f = skewAssets === undefined ? undefined : windowRelevant(e, merge.reader, skewAssets);
    if (f !== undefined) parentWindow.push(f);
  };
  const addFresh = (source: IndexedFile): void => {
    const { headers, json } = headersFor(source.path, source.type);
    hash.file(source.path, source.sha256, json);
    fresh.push({ source, headers });
    paths?.add(source.path);
  };
  const rest = await merge.checked({
    keep(e, index) {
      parentLine(e);
      // The type as a full build gives it today (the parent may predate a MIME table update).
      const ext = extname(e.path);
      let type = types.get(ext);
      if (type === undefined) {
        type = contentTypeFor(e.path);
        types.set(ext, type);
      }
      const set = headersFor(e.path, type);
      let at: number;
      if (last !== undefined && last.set === set && last.type === type) at = last.at;
      else {
        const key = type + '\0' + set.json;
        at = sharedBy.get(key) ?? shared.push({ typeJson: JSON.stringify(type), set }) - 1;
        sharedBy.set(key, at);
        last = { set, type, at };
      }
      hash.file(e.path, e.sha256, set.json);
      if (index >= kept.length) kept = grow(kept);
      kept[index] = at + 1;
      counts.kept++;
      paths?.add(ownString(e));
      const rel = e.path.slice(1);
      linker.add(rel);
      totals.files++;
      totals.bytes += e.size;
      if (hasNoVariants(e)) return;
      const variants = merge.reader.variants(e);
      for (const enc of ENCODINGS) {
        if (variants[enc] === undefined) continue;
        linker.add(rel + VARIANT_SUFFIX[enc]);
        totals.variants++;
      }
    },
    replace(e, _index, a) {
      parentLine(e);
      counts.replaced++;
      addFresh(a.source as IndexedFile);
    },
    drop(e) {
      parentLine(e);
      counts.removed++;
    },
    add(a) {
      counts.added++;
      addFresh(a.source as IndexedFile);
    },
  });
  checkParentId(merge, rest, parentHash);
  return { hash, fresh, kept, shared, counts, totals, paths, parentWindow };
}

/** The entry's path as a string of its own: a slice would keep the whole manifest line alive in a set of a million paths. */
function ownString(e: EntryLine): string {
  return JSON.parse(e.pathJson) as string;
}

function grow(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The parent's head and its own id, recomputed from what its manifest says. */
function checkParentId(merge: ParentMerge, rest: Omit<Manifest, 'files'>, parentHash: ReleaseIdHash): void {
  const fail = (what: string): ManifestError => new ManifestError(`${merge.file}: ${what}`);
  const head = checkHead(rest, fail);
  if (head.id !== merge.parent.id) throw fail(`id ${head.id as string} is not the directory's name ${merge.parent.id}`);
  if (!Array.isArray(rest.redirects)) throw fail('redirects must be a list');
  let id: string;
  try {
    id = parentHash.finish(rest.redirects, rest.routes);
  } catch {
    throw fail('routes must be an object with a trailingSlash policy and a list of rules');
  }
  if (id !== merge.parent.id) throw fail(`the manifest's files, headers and redirects give ${id}, manifest says ${merge.parent.id}`);
}

/**
 * With `--preload`, a pass before the id: every HTML page of the new release is read (unchanged
 * ones from the parent, whose bytes verify against its manifest; changed ones from the site),
 * and the release's paths are gathered, since a hint names only a file of the release.
 */
async function preloads(merge: ParentMerge, site: string, parentDir: string): Promise<{ links: Map<string, string[]>; paths: Set<string> }> {
  const paths = new Set<string>();
  const fromParent: Pick<IndexedFile, 'path' | 'file' | 'size' | 'sha256' | 'type'>[] = [];
  const fromSite: IndexedFile[] = [];
  const isPage = (path: string, size: number): boolean => size <= MAX_PRECOMPRESS_BYTES && contentTypeFor(path).startsWith('text/html');
  const fresh = (a: Affected): void => {
    const source = a.source as IndexedFile;
    paths.add(source.path);
    if (isPage(source.path, source.size)) fromSite.push(source);
  };
  await merge.checked({
    keep(e) {
      const path = ownString(e);
      paths.add(path);
      if (isPage(path, e.size)) fromParent.push({ path, file: path.slice(1), size: e.size, sha256: e.sha256, type: contentTypeFor(path) });
    },
    replace: (_e, _i, a) => fresh(a),
    drop: () => undefined,
    add: fresh,
  });
  const isPublished = (path: string): boolean => paths.has(path);
  return { links: new Map([...pagePreloads(parentDir, fromParent, isPublished), ...pagePreloads(site, fromSite, isPublished)]), paths };
}

/** Copies the files whose bytes come from the site (checked against the hash taken before), with their variants. */
async function copyFresh(
  fresh: readonly Fresh[],
  site: string,
  tmp: string,
  onProgress: BuildOptions['onProgress'],
  checkInterrupted: () => void,
): Promise<Map<string, Partial<Record<Encoding, ManifestVariant>>>> {
  const variants = new Map<string, Partial<Record<Encoding, ManifestVariant>>>();
  for (const [i, { source }] of fresh.entries()) {
    checkInterrupted();
    const target = join(tmp, source.file);
    makeParent(target);
    variants.set(source.path, await copyFile(join(site, source.file), target, source));
    onProgress?.(i + 1, fresh.length);
  }
  return variants;
}

/**
 * The second pass: the manifest, the parent's lines with the new type, headers and tags, the
 * site's files in between (in the order the first pass saw them). Returns the totals.
 */
async function writeChild(
  merge: ParentMerge,
  file: string,
  head: { format: typeof MANIFEST_FORMAT; id: string; created: string; parent: string },
  tail: ManifestTail,
  plan: ChildPlan,
  variants: ReadonlyMap<string, Partial<Record<Encoding, ManifestVariant>>>,
): Promise<IncrementalResult['totals']> {
  const writer = new ManifestWriter(file, head);
  const totals = { ...plan.totals };
  let next = 0;
  const freshLine = (): void => {
    const { source, headers } = plan.fresh[next++] as Fresh;
    const v = variants.get(source.path) ?? {};
    writer.entry(JSON.stringify({ path: source.path, size: source.size, sha256: source.sha256, type: source.type, mtime: source.mtimeMs, headers: withCacheTags(headers, head.id), variants: v }));
    totals.files++;
    totals.bytes += source.size;
    totals.variants += Object.keys(v).length;
  };
  try {
    await merge.split({
      keep(e, index) {
        const s = plan.shared[(plan.kept[index] as number) - 1] as SharedHeaders;
        s.tagged ??= JSON.stringify(withCacheTags(s.set.headers, head.id));
        writer.entry(retype(e, s.typeJson, s.tagged));
      },
      replace: freshLine,
      drop: () => undefined,
      add: freshLine,
    });
    writer.finish(tail);
  } catch (e) {
    writer.abort();
    throw e;
  }
  return totals;
}
