/** `list` and `prune`: what releases exist, and removing old ones (never `current` or `previous`). */
import { POINTERS, readPointer, releaseEntries, removeRelease, resolveReleasesDir, type Pointer } from './dir.js';
import { ReleaseError } from '../content/release-error.js';
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
  return releaseEntries(releases).map(({ id, manifest }) => ({
    id,
    created: manifest.created,
    bytes: manifest.files.reduce((sum, f) => sum + f.size + ENCODINGS.reduce((s, e) => s + (f.variants[e]?.size ?? 0), 0), 0),
    files: manifest.files.length,
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

/** A pointer that is not a symlink names no release (and protects none): list still works. */
function pointerOrNone(releases: string, name: Pointer): string | undefined {
  try {
    return readPointer(releases, name);
  } catch {
    return undefined;
  }
}
