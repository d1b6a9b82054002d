/**
 * `activate` and `rollback`: re-point `RELEASES_DIR/current` (and `previous`) with atomic
 * renames, after verifying the release that is about to go live.
 */
import { join } from 'node:path';
import { readManifestId } from './manifest-text.js';
import { readPointer, resolveReleasesDir, writePointer } from './dir.js';
import { ReleaseError } from '../content/release-error.js';
import { isReleaseId } from '../content/release-id.js';
import { verifyRelease } from './verify.js';

export interface SwitchOptions {
  /**
   * false: check the release's files by presence and size only, not by hashing them (`release
   * activate --quick`: the rollout's push hashed the copy before it placed it). Default true.
   */
  readonly hash?: boolean;
}

export interface Pointers {
  readonly current: string;
  readonly previous: string | undefined;
}

/**
 * Verifies `RELEASES_DIR/<id>`, then points `previous` at what `current` named (if anything
 * else) and `current` at `<id>`. Activating the current release again changes nothing.
 */
export async function activateRelease(releasesDir: string, id: string, options: SwitchOptions = {}): Promise<Pointers> {
  const releases = resolveReleasesDir(releasesDir);
  await assertSound(releases, id, options);
  const current = readPointer(releases, 'current');
  if (current === id) return { current: id, previous: readPointer(releases, 'previous') };
  // previous first: a crash between the two renames leaves current as it was.
  if (current !== undefined) writePointer(releases, 'previous', current);
  writePointer(releases, 'current', id);
  return { current: id, previous: current ?? readPointer(releases, 'previous') };
}

/** Swaps `current` and `previous`, after verifying the previous release. */
export async function rollbackRelease(releasesDir: string, options: SwitchOptions = {}): Promise<Pointers> {
  const releases = resolveReleasesDir(releasesDir);
  const previous = readPointer(releases, 'previous');
  if (previous === undefined) throw new ReleaseError(`no previous release recorded in ${releases} (${join(releases, 'previous')} does not exist)`, 'PI_ORIGIN_RELEASE_NO_PREVIOUS');
  await assertSound(releases, previous, options);
  const current = readPointer(releases, 'current');
  if (current !== undefined && current !== previous) writePointer(releases, 'previous', current);
  writePointer(releases, 'current', previous);
  return { current: previous, previous: current !== previous ? current : undefined };
}

/** The release exists under its own id and verifies; otherwise a ReleaseError listing every problem. */
async function assertSound(releases: string, id: string, options: SwitchOptions): Promise<void> {
  if (!isReleaseId(id)) throw new ReleaseError(`release id must be 12 hex digits (got ${JSON.stringify(id)})`, 'PI_ORIGIN_RELEASE_USAGE');
  const dir = join(releases, id);
  let problems: string[];
  try {
    problems = await verifyRelease(dir, { hash: options.hash ?? true });
  } catch (e) {
    if (e instanceof ReleaseError && e.code === 'PI_ORIGIN_RELEASE_NOT_FOUND') throw new ReleaseError(`no release ${id} in ${releases}`, 'PI_ORIGIN_RELEASE_NOT_FOUND');
    throw e;
  }
  if (problems.length === 0) {
    const manifestId = readManifestId(dir);
    if (manifestId !== id) problems = [`id: directory is ${id}, manifest says ${String(manifestId)}`];
  }
  if (problems.length > 0)
    throw new ReleaseError(`release ${id} does not verify (${problems.length} problem${problems.length === 1 ? '' : 's'}); current unchanged`, 'PI_ORIGIN_RELEASE_INVALID', problems);
}
