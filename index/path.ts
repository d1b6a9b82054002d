/**
 * Request path normalisation: the first defence, pure and uWS-free.
 *
 * Checks run in a fixed order (as in pillarjs/send): bad percent-encoding (400), NUL or other
 * control bytes (400), backslashes (400), dot segments that climb above the root (400),
 * dotfiles other than `/.well-known/` (404). The result is a key for the in-memory index, so a
 * path that survives still never reaches the filesystem unless the index holds it.
 */

/** A normalised index key, or the status to answer with. */
export type PathResult = string | 400 | 404;

// eslint-disable-next-line no-control-regex -- control bytes are exactly what this refuses
const CONTROL_OR_BACKSLASH = /[\x00-\x1f\x7f\\]/;

/** Normalises the path part of a request target (no query string) into an index key. */
export function normalisePath(raw: string): PathResult {
  if (raw.charCodeAt(0) !== 47 /* / */) return 400;
  let decoded: string;
  if (raw.indexOf('%') === -1) {
    decoded = raw;
  } else {
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return 400;
    }
  }
  if (CONTROL_OR_BACKSLASH.test(decoded)) return 400;
  return resolveSegments(decoded);
}

/**
 * Collapses empty and `.` segments, resolves `..` (400 when it would leave the root), and
 * refuses dotfile segments. Keeps a trailing slash, since `/dir/` and `/dir` differ.
 */
function resolveSegments(path: string): PathResult {
  const parts = path.split('/');
  const out: string[] = [];
  const last = parts.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = parts[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return 400;
      out.pop();
      continue;
    }
    out.push(seg);
  }
  // Dotfiles are judged on the resolved path, after `..` had its chance to be a 400.
  for (let i = 0; i < out.length; i++) {
    const seg = out[i] as string;
    if (seg.charCodeAt(0) === 46 /* . */ && !(i === 0 && seg === '.well-known')) return 404;
  }
  const lastSeg = parts[last] as string;
  const trailing = out.length > 0 && (lastSeg === '' || lastSeg === '.' || lastSeg === '..');
  return '/' + out.join('/') + (trailing ? '/' : '');
}

/** Location header value for a decoded path: percent-encode what is not safe in a URL path. */
export function encodeLocation(path: string): string {
  return encodeURI(path).replace(/[?#]/g, encodeURIComponent);
}
