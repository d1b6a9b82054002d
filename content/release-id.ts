/**
 * The release id and the cache tags derived from it. The id is a content address: the same
 * files, headers and redirects give the same id on any machine, whenever built.
 */
import { createHash } from 'node:crypto';
import type { SiteRoutes } from './redirects-file.js';
import type { Alternates } from './site-index.js';
import type { RedirectRule } from './servable.js';

/** 12 lower-case hex digits: the name of a release directory. */
export const RELEASE_ID = /^[0-9a-f]{12}$/;

export function isReleaseId(text: string): boolean {
  return RELEASE_ID.test(text);
}

export interface IdInput {
  readonly path: string;
  readonly sha256: string;
  /** The file's headers before the cache tags are added (tags name the id, so they cannot be in it). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Code-unit order, as the scanner sorts: the same on every machine and locale. */
export function byPath(a: { readonly path: string }, b: { readonly path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * sha256 over `path\0sha256\0JSON(headers)\n` for every file in path order, then the JSON of
 * the redirects (as `{from, to, status}`), then, when the site has any, the routes (`_redirects`
 * rules and trailing-slash policy: a site without keeps the id it had before they existed), then
 * the pages negotiated by Accept (likewise only when there are any), truncated to 12 hex digits.
 */
export function releaseIdFor(files: readonly IdInput[], redirects: readonly RedirectRule[], routes?: SiteRoutes, alternates?: Alternates): string {
  const h = new ReleaseIdHash();
  for (const f of [...files].sort(byPath)) h.file(f.path, f.sha256, JSON.stringify(f.headers));
  return h.finish(redirects, routes, alternates);
}

/**
 * {@link releaseIdFor} one file at a time, for a manifest read or written as a stream (an
 * incremental build, `verify --parent`): the caller feeds the files in path order, each with its
 * headers (without the cache tags) already as JSON, so a header set shared by many files is
 * serialised once.
 */
export class ReleaseIdHash {
  private readonly h = createHash('sha256');
  /** Text not hashed yet: one `update` per 64 KiB instead of one per file (a call costs more than its bytes). */
  private pending = '';

  file(path: string, sha256: string, headersJson: string): void {
    this.pending += `${path}\0${sha256}\0${headersJson}\n`;
    if (this.pending.length > 65536) {
      this.h.update(this.pending);
      this.pending = '';
    }
  }

  finish(redirects: readonly RedirectRule[], routes?: SiteRoutes, alternates?: Alternates): string {
    this.h.update(this.pending);
    this.pending = '';
    this.h.update(JSON.stringify(redirects.map((r) => ({ from: r.from, to: r.to, status: r.status }))));
    if (routes !== undefined) this.h.update(`\0routes${JSON.stringify(routesData(routes))}`);
    if (alternates !== undefined) this.h.update(`\0alternates${JSON.stringify(alternatesData(alternates))}`);
    return this.h.digest('hex').slice(0, 12);
  }
}

/** The alternates with their keys in code-unit order: what the id covers and the manifest holds. */
export function alternatesData(alternates: Alternates): Alternates {
  const sorted = (m: Readonly<Record<string, string>>): Record<string, string> => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { aliases: sorted(alternates.aliases), pages: sorted(alternates.pages) };
}

/** The routes with their fields in a fixed order: what the id covers and the manifest holds. */
export function routesData(routes: SiteRoutes): SiteRoutes {
  return { trailingSlash: routes.trailingSlash, rules: routes.rules.map((r) => ({ from: r.from, to: r.to, status: r.status, force: r.force })) };
}

/** Purge handles: Fastly-style `Surrogate-Key` (space-separated) and Cloudflare `Cache-Tag` (comma-separated). */
const TAG_HEADERS = [
  { name: 'Surrogate-Key', separator: ' ' },
  { name: 'Cache-Tag', separator: ',' },
] as const;

export function releaseTag(id: string): string {
  return `release-${id}`;
}

/** The headers with `release-<id>` appended to Surrogate-Key and Cache-Tag (kept in the rule's spelling, or added). */
export function withCacheTags(headers: Readonly<Record<string, string>>, id: string): Record<string, string> {
  const out = { ...headers };
  const tag = releaseTag(id);
  for (const { name, separator } of TAG_HEADERS) {
    const key = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key === undefined) out[name] = tag;
    else out[key] = `${out[key] as string}${separator}${tag}`;
  }
  return out;
}

/** The exact inverse of withCacheTags: what the id was computed over. */
export function withoutCacheTags(headers: Readonly<Record<string, string>>, id: string): Record<string, string> {
  const out = { ...headers };
  const tag = releaseTag(id);
  for (const { name, separator } of TAG_HEADERS) {
    const key = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase());
    if (key === undefined) continue;
    const value = out[key] as string;
    if (value === tag) delete out[key];
    else if (value.endsWith(separator + tag)) out[key] = value.slice(0, -(separator.length + tag.length));
  }
  return out;
}
