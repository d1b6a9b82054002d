/**
 * Releases: immutable, content-addressed directories built from a site, verified against their
 * manifest, and made live by re-pointing the `current` symlink. The public API of `pi-origin
 * release`; see docs/releases.md.
 */
export { activateRelease, rollbackRelease, type Pointers } from './release-activate.js';
export { buildRelease, MAX_PRECOMPRESS_BYTES, MIN_SAVING_BYTES, MIN_SAVING_RATIO, type BuildOptions, type BuildResult } from './release-build.js';
export { ReleaseError, type ReleaseErrorCode } from './release-error.js';
export { isReleaseId, releaseIdFor, releaseTag } from './release-id.js';
export { listReleases, pruneReleases, type ReleaseSummary } from './release-list.js';
export { verifyRelease, type VerifyOptions } from './release-verify.js';
