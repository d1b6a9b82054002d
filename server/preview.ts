/**
 * Preview releases: any release beside the served one (`<releases>/<id>`) answered under a
 * preview host (`<id>.<suffix>`) or path prefix (`<prefix><id>/...`), for people to look at before
 * `activate`. Every answer is private: `Cache-Control: private, no-store`, no purge tags (a CDN
 * must neither keep it nor tie it to a release), `X-Robots-Tag: noindex`.
 *
 * A worker builds a preview's lookup the first time it is asked for and keeps a few, least
 * recently used first out, each for a while: previews cost nothing until used and never hold
 * every release in every worker. Pure apart from reading a manifest; uWS-free.
 */
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { isReleaseId } from '../content/release-id.js';
import type { HeaderRule } from '../content/header-rules.js';
import type { SiteIndex } from '../content/site-index.js';
import { loadRelease } from '../index/load-site.js';
import { buildLookup, type Lookup } from '../index/lookup.js';
import type { PreviewOptions } from './config.js';

/** What a preview answer carries in place of the release's caching headers. */
export const PREVIEW_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'Cache-Control': 'private, no-store', 'X-Robots-Tag': 'noindex' });

/** Headers a release's rules may set that would let a shared cache keep or tag a preview. */
const SHARED_CACHE_HEADERS = new Set(['cache-control', 'surrogate-control', 'surrogate-key', 'cache-tag', 'cdn-cache-control', 'cloudflare-cdn-cache-control', 'expires']);

/** Lookups one worker keeps at most, and how long one is kept unused (a pruned release drops out). */
export const PREVIEW_CACHE_ENTRIES = 4;
export const PREVIEW_CACHE_TTL_MS = 5 * 60 * 1000;

/** A request for a preview: the release, the path inside it, and what to put before a redirect's Location. */
export interface PreviewTarget {
  readonly id: string;
  readonly url: string;
  readonly base: string;
}

/**
 * The preview a request asks for, or undefined when it asks for the live site. `host` is the Host
 * header as sent (any case, maybe with a port); `url` the request path.
 */
export function previewTarget(options: PreviewOptions, host: string, url: string): PreviewTarget | undefined {
  if (options.host !== '') {
    const id = idOfHost(options.host, host);
    if (id !== undefined) return { id, url, base: '' };
  }
  if (options.path !== '' && url.startsWith(options.path)) {
    const end = url.indexOf('/', options.path.length);
    const id = url.slice(options.path.length, end === -1 ? undefined : end);
    // `<prefix><id>` alone asks for the release's root.
    if (isReleaseId(id)) return { id, url: end === -1 ? '/' : url.slice(end), base: options.path + id };
  }
  return undefined;
}

/** `<id>.<suffix>` (port and a trailing dot allowed, any case) to `<id>`; undefined otherwise. */
function idOfHost(suffix: string, host: string): string | undefined {
  let name = host.toLowerCase();
  const colon = name.lastIndexOf(':');
  if (colon !== -1 && !name.endsWith(']')) name = name.slice(0, colon);
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length !== 13 + suffix.length || !name.endsWith(suffix) || name[12] !== '.') return undefined;
  const id = name.slice(0, 12);
  return isReleaseId(id) ? id : undefined;
}

/** The site index of a preview: the release's own headers without those that a shared cache acts on. */
export function previewSite(site: SiteIndex): SiteIndex {
  const strip = (headers: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined =>
    headers === undefined ? undefined : Object.fromEntries(Object.entries(headers).filter(([n]) => !SHARED_CACHE_HEADERS.has(n.toLowerCase())));
  return { ...site, files: site.files.map((f) => ({ ...f, headers: strip(f.headers) })) };
}

/** The rules a preview is built with: the operator's, then the preview's own, which win. */
export function previewRules(rules: readonly HeaderRule[]): HeaderRule[] {
  return [...rules, { pattern: '*', headers: PREVIEW_HEADERS }];
}

/** A worker's previews: lookups built on first use, a bounded few kept. */
export class Previews {
  private readonly cache = new LRUCache<string, Lookup>({ max: PREVIEW_CACHE_ENTRIES, ttl: PREVIEW_CACHE_TTL_MS });
  private readonly rules: readonly HeaderRule[];

  constructor(
    readonly options: PreviewOptions,
    rules: readonly HeaderRule[],
    /** Reads a release directory's index; undefined when it holds no release. Replaced in tests. */
    private readonly load: (dir: string) => SiteIndex | undefined = loadRelease,
  ) {
    this.rules = previewRules(rules);
  }

  target(host: string, url: string): PreviewTarget | undefined {
    return previewTarget(this.options, host, url);
  }

  /**
   * The lookup of release `id`, built now if no recent request asked for it; undefined when there
   * is no such release or its manifest is not that release's (a directory renamed by hand).
   * Throws ManifestError for a manifest that is invalid.
   */
  lookup(id: string): Lookup | undefined {
    const kept = this.cache.get(id);
    if (kept !== undefined) return kept;
    const site = this.load(join(this.options.releasesDir, id));
    if (site?.releaseId !== id) return undefined;
    const lookup = buildLookup(previewSite(site), this.rules, true);
    this.cache.set(id, lookup);
    return lookup;
  }
}
