/**
 * Response-header policy shared by the raw-uws baseline and the nginx config,
 * mirroring pi-origin's defaults (server/header-rules.ts) so that every server
 * under test sends a comparable header block. The harness records each
 * server's actual header bytes in RESULTS.md, so any drift stays visible.
 */

/** pi-origin's default for HTML (CACHE_HTML). */
export const CACHE_HTML = 'public, max-age=60, must-revalidate';
/** pi-origin's default max-age for other, non-fingerprinted files, seconds. */
export const CACHE_DEFAULT_MAX_AGE_S = 3600;
/** pi-origin's default for other, non-fingerprinted files (CACHE_DEFAULT). */
export const CACHE_DEFAULT = `public, max-age=${CACHE_DEFAULT_MAX_AGE_S}`;

export function cacheControlFor(contentType: string): string {
  return contentType.startsWith('text/html') ? CACHE_HTML : CACHE_DEFAULT;
}

/** Types pi-origin would compress, and for which it therefore sends `Vary: Accept-Encoding`. */
export function isCompressible(contentType: string): boolean {
  return /^(text\/|application\/(json|javascript|xml|manifest\+json)|image\/svg\+xml)/.test(contentType);
}
