/** `list` and `prune`: what releases exist, and removing old ones (never `current` or `previous`). */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { newerFirst, POINTERS, readPointer, removeRelease, resolveReleasesDir, type Pointer } from './dir.js';
import { checkHead, checkRest, ManifestError, MANIFEST_NAME, readManifest, type Manifest } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestLines, PathTypes } from './manifest-text.js';
import { ReleaseError } from '../content/release-error.js';
import { isReleaseId } from '../content/release-id.js';
import { ENCODINGS } from '../content/site-index.js';

export interface ReleaseSummary {
  readonly id: string;
  readonly created: string;
  /** Bytes of the files and their variants (hard-linked files are counted in every release). */
  readonly bytes: number;
  readonly files: number;
  readonly current: boolean;
  readonly previous: boolean;
}

/** Every release, newest first by `created`. Directories without a valid manifest named by their id are not releases. */
export function listReleases(releasesDir: string): Promise<ReleaseSummary[]> {
  // The work is synchronous (a readdir and small JSON files); a throw in the executor rejects.
  return new Promise((resolve) => resolve(summaries(resolveReleasesDir(releasesDir))));
}

function summaries(releases: string): ReleaseSummary[] {
  const current = pointerOrNone(releases, 'current');
  const previous = pointerOrNone(releases, 'previous');
  const found: Totals[] = [];
  for (const e of readdirSync(releases, { withFileTypes: true })) {
    if (e.name.startsWith('.') || !e.isDirectory() || !isReleaseId(e.name)) continue;
    const summary = summaryOf(join(releases, e.name));
    if (summary?.id === e.name) found.push(summary);
  }
  found.sort((a, b) => newerFirst(a.id, a.created, b.id, b.created));
  return found.map(({ id, created, bytes, files }) => ({
    id,
    created,
    bytes,
    files,
    current: id === current,
    previous: id === previous,
  }));
}

/**
 * Removes every release beyond the `keep` newest, except current and previous; returns the
 * removed ids, oldest first. With `dryRun`, returns the same ids and removes nothing.
 */
export function pruneReleases(releasesDir: string, keep: number, options: { readonly dryRun?: boolean } = {}): Promise<string[]> {
  return new Promise((resolve) => resolve(prune(releasesDir, keep, options.dryRun === true)));
}

function prune(releasesDir: string, keep: number, dryRun: boolean): string[] {
  if (!Number.isSafeInteger(keep) || keep < 0) throw new ReleaseError(`keep must be a non-negative integer (got ${String(keep)})`, 'PI_ORIGIN_RELEASE_USAGE');
  const releases = resolveReleasesDir(releasesDir);
  // Unlike list, prune refuses to guess: an unreadable pointer might protect a release.
  for (const name of POINTERS) readPointer(releases, name);
  const doomed = summaries(releases)
    .slice(keep)
    .filter((r) => !r.current && !r.previous)
    .map((r) => r.id)
    .reverse();
  if (!dryRun) for (const id of doomed) removeRelease(releases, id);
  return doomed;
}

type Totals = Pick<ReleaseSummary, 'id' | 'created' | 'bytes' | 'files'>;

/**
 * A release's id, build time and totals, its manifest read one line at a time and checked as
 * `readManifest` checks it (a million-file manifest is ~1 GB as objects, and past ~1.5 million
 * files more than one string may hold); undefined when it is not a valid manifest. Another
 * layout is read whole.
 */
function summaryOf(dir: string): Totals | undefined {
  const file = join(dir, MANIFEST_NAME);
  let lines: ManifestLines | undefined;
  try {
    lines = ManifestLines.open(file);
    if (lines === undefined) return undefined;
    const fail = (what: string): ManifestError => new ManifestError(`${file}: ${what}`);
    const head = checkHead({ ...lines.head(), files: [] }, fail);
    const reader = new EntryReader(file);
    const paths = new PathTypes();
    let files = 0;
    let bytes = 0;
    let previous: string | undefined;
    for (let json = lines.next(); json !== undefined; json = lines.next()) {
      const e = reader.entry(json);
      // Out of path order (not as the builder writes): the whole read judges duplicates.
      if (previous !== undefined && !(previous < e.path)) return wholeTotals(dir);
      previous = e.path;
      paths.file(e.path, e.typeJson);
      files++;
      bytes += e.size;
      if (!hasNoVariants(e)) for (const v of Object.values(reader.variants(e))) bytes += v.size;
    }
    checkRest({ ...lines.rest(), files: [] }, paths, fail);
    return { id: head.id as string, created: head.created as string, files, bytes };
  } catch (e) {
    // Another layout, or an invalid manifest: the whole read decides.
    if (e instanceof ManifestError) return wholeTotals(dir);
    throw e;
  } finally {
    lines?.close();
  }
}

function wholeTotals(dir: string): Totals | undefined {
  let m: Manifest | undefined;
  try {
    m = readManifest(dir);
  } catch (e) {
    if (e instanceof ManifestError) return undefined;
    throw e;
  }
  if (m === undefined) return undefined;
  const bytes = m.files.reduce((sum, f) => sum + f.size + ENCODINGS.reduce((s, e) => s + (f.variants[e]?.size ?? 0), 0), 0);
  return { id: m.id, created: m.created, files: m.files.length, bytes };
}

/** A pointer that is not a symlink names no release (and protects none): list still works. */
function pointerOrNone(releases: string, name: Pointer): string | undefined {
  try {
    return readPointer(releases, name);
  } catch {
    return undefined;
  }
}
