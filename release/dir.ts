/**
 * The releases directory: one directory per release named by its id, the `current` and
 * `previous` symlinks, and dot-named temporaries (`.tmp-*`, `.current.tmp-*`) that only exist
 * while a command runs. Everything that reads or re-points those names lives here.
 */
import { lstatSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Manifest } from './manifest.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { realDirectory } from '../content/real-dir.js';

export const POINTERS = ['current', 'previous'] as const;
export type Pointer = (typeof POINTERS)[number];

/** Real path of an existing releases directory. */
export function resolveReleasesDir(releasesDir: string): string {
  const d = realDirectory(releasesDir);
  if ('problem' in d) throw new ReleaseError(`releases directory ${releasesDir} ${d.problem}${d.problem === 'does not exist' ? ` (${d.detail})` : ''}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
  return d.real;
}

/**
 * The release id a pointer symlink names, or undefined when there is none. A `current` that is
 * not a symlink (a directory someone made by hand) is refused rather than replaced.
 */
export function readPointer(releasesDir: string, name: Pointer): string | undefined {
  const path = join(releasesDir, name);
  try {
    if (!lstatSync(path).isSymbolicLink()) throw new ReleaseError(`${path} is not a symlink; move it out of the way first`, 'PI_ORIGIN_RELEASE_POINTER');
    return basename(readlinkSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Points `RELEASES_DIR/<name>` at `<id>` atomically: a fresh symlink under a temporary name is
 * renamed over the old one, so readers see the old target or the new one and never no link.
 */
export function writePointer(releasesDir: string, name: Pointer, id: string): void {
  const tmp = join(releasesDir, `.${name}.tmp-${process.pid}`);
  try {
    rmSync(tmp, { force: true });
    symlinkSync(id, tmp);
    renameSync(tmp, join(releasesDir, name));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ReleaseError(`cannot point ${join(releasesDir, name)} at ${id}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  }
}

export interface ReleaseEntry {
  readonly id: string;
  readonly dir: string;
  readonly manifest: Manifest;
}

/** Newest first by `created`, then by id: the order of `release list` and of the skew window. */
export function newestFirst(a: ReleaseEntry, b: ReleaseEntry): number {
  return newerFirst(a.id, a.manifest.created, b.id, b.manifest.created);
}

/** {@link newestFirst} of two releases by their ids and build times. */
export function newerFirst(aId: string, aCreated: string, bId: string, bCreated: string): number {
  return aCreated < bCreated ? 1 : aCreated > bCreated ? -1 : aId < bId ? 1 : aId > bId ? -1 : 0;
}

/** Temporaries end in the pid of the process that made them: `.tmp-<id>-<pid>`, `.current.tmp-<pid>`. */
const TEMPORARY = /^\.(?:tmp-.+|current\.tmp|previous\.tmp)-(\d+)$/;

/** Removes temporaries left by processes that no longer run (or by this one, outside `inUse`). */
export function removeStaleTemporaries(releasesDir: string, inUse: ReadonlySet<string>): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(releasesDir)) {
    const m = TEMPORARY.exec(name);
    if (m === null) continue;
    const pid = Number(m[1]);
    const path = join(releasesDir, name);
    if (pid === process.pid ? inUse.has(path) : isRunning(pid)) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes a release so that it never appears half-deleted: renamed to a temporary first. */
export function removeRelease(releasesDir: string, id: string): void {
  const doomed = join(releasesDir, `.tmp-prune-${id}-${process.pid}`);
  try {
    renameSync(join(releasesDir, id), doomed);
    rmSync(doomed, { recursive: true, force: true });
  } catch (e) {
    throw new ReleaseError(`cannot remove release ${join(releasesDir, id)}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_IO');
  }
}
