/**
 * Response-header policy shared by the raw-uws baseline and the nginx config: pi-origin's own
 * defaults (content/header-rules.ts), so that every server under test sends a comparable header
 * block. The harness records each server's actual header bytes in RESULTS.md, so any drift
 * stays visible.
 */
import { CACHE_DEFAULT, CACHE_HTML } from '../../content/header-rules.js';

export { CACHE_DEFAULT, CACHE_HTML };

/** pi-origin's default max-age for other, non-fingerprinted files, seconds (sirv takes a number). */
export const CACHE_DEFAULT_MAX_AGE_S = Number(/max-age=(\d+)/.exec(CACHE_DEFAULT)?.[1]);

export function cacheControlFor(contentType: string): string {
  return contentType.startsWith('text/html') ? CACHE_HTML : CACHE_DEFAULT;
}
