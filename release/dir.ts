/**
 * The releases directory: one directory per release named by its id, the `current` and
 * `previous` symlinks, and dot-named temporaries (`.tmp-*`, `.current.tmp-*`) that only exist
 * while a command runs. Everything that reads or re-points those names lives here.
 */
import { lstatSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ManifestError, readManifest, type Manifest } from './manifest.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import { isReleaseId } from '../content/release-id.js';
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

/**
 * Every release directory: a non-dot directory (not a symlink) whose valid manifest carries its
 * own name as id. Anything else is not a release and is left alone by list and prune.
 */
export function releaseEntries(releasesDir: string): ReleaseEntry[] {
  const out: ReleaseEntry[] = [];
  for (const e of readdirSync(releasesDir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || !e.isDirectory() || !isReleaseId(e.name)) continue;
    const dir = join(releasesDir, e.name);
    let manifest: Manifest | undefined;
    try {
      manifest = readManifest(dir);
    } catch (err) {
      if (err instanceof ManifestError) continue;
      throw err;
    }
    if (manifest?.id === e.name) out.push({ id: e.name, dir, manifest });
  }
  return out.sort(newestFirst);
}

export function newestFirst(a: ReleaseEntry, b: ReleaseEntry): number {
  return a.manifest.created < b.manifest.created ? 1 : a.manifest.created > b.manifest.created ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Where unchanged files are linked from: the release `current` names, else the newest by created. */
export function previousRelease(releasesDir: string): ReleaseEntry | undefined {
  return releasesLiveFirst(releasesDir)[0];
}

/**
 * Every release, the one `current` names first (the one a new build replaces), then the others
 * newest first by `created`.
 */
export function releasesLiveFirst(releasesDir: string): ReleaseEntry[] {
  let current: string | undefined;
  try {
    current = readPointer(releasesDir, 'current');
  } catch {
    current = undefined;
  }
  const all = releaseEntries(releasesDir);
  const live = all.find((r) => r.id === current);
  return live === undefined ? all : [live, ...all.filter((r) => r !== live)];
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
