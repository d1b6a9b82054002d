/**
 * Releases: immutable, content-addressed directories built from a site, verified against their
 * manifest, and made live by re-pointing the `current` symlink. The public API of `pi-origin
 * release`; see docs/releases.md.
 */
export { activateRelease, rollbackRelease, type Pointers } from './activate.js';
export { diffReleases, filesFromText, stageRelease, stagingDir, type DiffResult, type StageResult } from './delta.js';
export { buildIncremental, type IncrementalOptions, type IncrementalResult } from './incremental.js';
export { CHANGE_OPS, parseChanges, type Change, type ChangeOp } from './changes.js';
export { buildRelease, MAX_PRECOMPRESS_BYTES, MIN_SAVING_BYTES, MIN_SAVING_RATIO, type BuildOptions, type BuildResult } from './build.js';
export { ReleaseError, type ReleaseErrorCode } from '../content/release-error.js';
export { isReleaseId, releaseIdFor, releaseTag } from '../content/release-id.js';
export { listReleases, pruneReleases, type ReleaseSummary } from './list.js';
export { verifyRelease, type VerifyOptions, type VerifySummary, type VerifyTally } from './verify.js';
export { MAX_SKEW_RELEASES, SKEW_ASSETS, SKEW_DEFAULTS, type SkewAssets, type SkewOptions } from './skew.js';
