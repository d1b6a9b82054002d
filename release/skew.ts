/**
 * Skew protection: a new release keeps serving the fingerprinted, immutable assets of the
 * releases before it, so that HTML a browser or a CDN still holds from an older release finds
 * its stylesheets and scripts after the switch.
 *
 * At build time the builder chooses the releases in the window (the `releases` newest before
 * this one, plus any older one whose HTML may still be cached), takes their own files that count
 * as fingerprinted and immutable, and hard-links each into the new release at its path, unless
 * the new release has a file there. The carried files are listed in the manifest's `skew`
 * field, never in `files`: they are served, verified and pushed like files, but they are not part
 * of the new release's content, its id or its navigation. Only a release's own files are
 * carried, never what it carried itself, so the window cannot grow from build to build.
 */
import { join } from 'node:path';
import { isFingerprinted } from '../content/header-rules.js';
import { ReleaseError } from '../content/release-error.js';
import { linkFrom } from './link.js';
import type { ManifestFile, SkewFile } from './manifest.js';
import type { ReleaseEntry } from './dir.js';

/** How a file is recognised as a fingerprinted, immutable asset. */
export const SKEW_ASSETS = ['immutable', 'hashed', 'both'] as const;
export type SkewAssets = (typeof SKEW_ASSETS)[number];

export interface SkewOptions {
  /**
   * How many releases before this one keep their assets servable (newest first: the one
   * `current` names, then by `created`); 0 turns skew protection off. Default 2.
   */
  readonly releases?: number;
  /**
   * `immutable` (default): the file's Cache-Control has the `immutable` directive (the default for
   * hashed names, or what `_headers` gives `/assets/*`); `hashed`: the name carries a content
   * hash (`app.3f9a1c2b.js`); `both`: both at once.
   */
  readonly assets?: SkewAssets;
}

export interface ResolvedSkew {
  readonly releases: number;
  readonly assets: SkewAssets;
}

export const SKEW_DEFAULTS: ResolvedSkew = Object.freeze({ releases: 2, assets: 'immutable' });
/** More would keep a whole history alive in every release: refused, as any unbounded setting. */
export const MAX_SKEW_RELEASES = 16;

/** How the options are spelt where they were given: `skew.releases` in code, `--skew-releases` on the command line. */
export interface SkewOptionNames {
  readonly releases: string;
  readonly assets: string;
}

const API_NAMES: SkewOptionNames = { releases: 'skew.releases', assets: 'skew.assets' };

/**
 * Defaults applied and every value checked (values may come straight from a command line);
 * a bad one is a PI_ORIGIN_RELEASE_USAGE error naming the option as the caller spells it.
 */
export function resolveSkew(options: { readonly releases?: unknown; readonly assets?: unknown } | undefined, names: SkewOptionNames = API_NAMES): ResolvedSkew {
  const releases = options?.releases ?? SKEW_DEFAULTS.releases;
  const assets = options?.assets ?? SKEW_DEFAULTS.assets;
  if (typeof releases !== 'number' || !Number.isSafeInteger(releases) || releases < 0 || releases > MAX_SKEW_RELEASES)
    throw new ReleaseError(`${names.releases} must be an integer from 0 to ${MAX_SKEW_RELEASES} (got ${JSON.stringify(releases)})`, 'PI_ORIGIN_RELEASE_USAGE');
  if (typeof assets !== 'string' || !(SKEW_ASSETS as readonly string[]).includes(assets))
    throw new ReleaseError(`${names.assets} must be one of ${SKEW_ASSETS.join(', ')} (got ${JSON.stringify(assets)})`, 'PI_ORIGIN_RELEASE_USAGE');
  return Object.freeze({ releases, assets: assets as SkewAssets });
}

/**
 * The releases whose assets the new one carries, newest first: the first `releases` of
 * `candidates` (which start with the one being replaced), then each older one while the release
 * that replaced it was built less than that older release's HTML cache lifetime before `now`.
 * A build cannot know when a release was activated; its successor's build time is the earliest
 * it can have stopped being served.
 */
export function releasesInWindow(candidates: readonly ReleaseEntry[], skew: ResolvedSkew, now: Date): ReleaseEntry[] {
  if (skew.releases === 0) return [];
  const chosen = candidates.slice(0, skew.releases);
  for (let i = skew.releases; i < candidates.length; i++) {
    const r = candidates[i] as ReleaseEntry;
    const successor = (candidates[i - 1] as ReleaseEntry).manifest.created;
    if (now.getTime() - Date.parse(successor) >= htmlMaxAgeMs(r.manifest.files)) break;
    chosen.push(r);
  }
  return chosen;
}

/** The longest time any HTML page of a release may be held by a cache: max-age or s-maxage, in ms. */
export function htmlMaxAgeMs(files: readonly ManifestFile[]): number {
  let longest = 0;
  for (const f of files) {
    if (!f.type.startsWith('text/html')) continue;
    const cc = cacheControlOf(f.headers);
    if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(cc)) continue;
    for (const m of cc.matchAll(/(?:^|,)\s*(?:max-age|s-maxage)\s*=\s*"?(\d+)"?/gi)) longest = Math.max(longest, Number(m[1]) * 1000);
  }
  return longest;
}

function cacheControlOf(headers: Readonly<Record<string, string>>): string {
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() === 'cache-control') return value;
  return '';
}

/** True when the file counts as a fingerprinted, immutable asset under `assets`. HTML never does: it is navigation. */
export function isSkewAsset(f: ManifestFile, assets: SkewAssets): boolean {
  if (f.type.startsWith('text/html')) return false;
  const immutable = /(?:^|,)\s*immutable\s*(?:,|$)/i.test(cacheControlOf(f.headers));
  const hashed = isFingerprinted(f.path);
  return assets === 'immutable' ? immutable : assets === 'hashed' ? hashed : immutable && hashed;
}

export interface Carried {
  readonly releases: string[];
  readonly files: SkewFile[];
}

/**
 * Hard-links the window's assets into `tmp` (the new release being built), newest release first
 * (a path two releases share is taken from the newer). Never overwrites a path in `taken` (the new
 * release's files). A file that cannot be linked (another filesystem, gone) is not carried: skew
 * protection never copies bytes.
 */
export function carryAssets(window: readonly ReleaseEntry[], taken: { has(path: string): boolean }, tmp: string, assets: SkewAssets, mkdirFor: (target: string) => void): Carried {
  // What this adds, beside `taken` (a million paths are not copied).
  const paths = new Set<string>();
  const files: SkewFile[] = [];
  const releases: string[] = [];
  for (const r of window) {
    let any = false;
    for (const f of r.manifest.files) {
      if (taken.has(f.path) || paths.has(f.path) || !isSkewAsset(f, assets)) continue;
      const target = join(tmp, f.path.slice(1));
      mkdirFor(target);
      const variants = linkFrom(r.dir, f, target);
      if (variants === undefined) continue;
      paths.add(f.path);
      files.push({ ...f, variants, release: r.id });
      any = true;
    }
    if (any) releases.push(r.id);
  }
  return { releases, files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}

