/**
 * Accept-Encoding negotiation (RFC 9110 §12.5.3) among identity, br and gzip. Pure and uWS-free.
 * Parsed preferences are memoised per header string in a small bounded map: browsers and CDNs
 * send a handful of distinct values, and an attacker sending many only resets the memo.
 */

export const IDENTITY = 0;
export const BR = 1;
export const GZIP = 2;
/** Index of the chosen coding, or NONE when the client accepts none we have (406). */
export type Choice = typeof IDENTITY | typeof BR | typeof GZIP | typeof NONE;
export const NONE = -1;

/** q-values for [identity, br, gzip]. */
export type Preferences = readonly [number, number, number];

const MEMO_MAX = 256;
const memo = new Map<string, Preferences>();
const IDENTITY_ONLY: Preferences = [1, 0, 0];
/** q of an unlisted identity: below any q a client can write (the smallest is 0.001). */
export const IDENTITY_FALLBACK_Q = 0.0001;

export function parseAcceptEncoding(header: string): Preferences {
  if (header === '') return IDENTITY_ONLY;
  let prefs = memo.get(header);
  if (prefs === undefined) {
    prefs = computePreferences(header);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(header, prefs);
  }
  return prefs;
}

function computePreferences(header: string): Preferences {
  let star = -1;
  const q = [-1, -1, -1];
  for (const item of header.split(',')) {
    const [nameRaw, ...params] = item.split(';');
    const name = (nameRaw as string).trim().toLowerCase();
    let value = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) value = Math.min(1, Math.max(0, Number(m[1]) || 0));
    }
    if (name === '*') star = value;
    else if (name === 'identity') q[IDENTITY] = value;
    else if (name === 'br') q[BR] = value;
    else if (name === 'gzip' || name === 'x-gzip') q[GZIP] = value;
  }
  const fallback = star === -1 ? 0 : star;
  // Unlisted identity stays acceptable unless `*;q=0` excludes it (RFC 9110 §12.5.3), but only
  // as the fallback: `gzip;q=0.5` means "gzip please", not "identity preferred".
  const identity = q[IDENTITY] !== -1 ? (q[IDENTITY] as number) : star !== -1 ? star : IDENTITY_FALLBACK_Q;
  return [identity, q[BR] === -1 ? fallback : (q[BR] as number), q[GZIP] === -1 ? fallback : (q[GZIP] as number)];
}

/**
 * Picks the highest-q coding among those available; ties prefer br, then gzip, then identity
 * (smaller bodies). Identity is always available.
 */
export function chooseEncoding(prefs: Preferences, hasBr: boolean, hasGzip: boolean): Choice {
  let best: Choice = NONE;
  let bestQ = 0;
  if (hasBr && prefs[BR] > bestQ) {
    best = BR;
    bestQ = prefs[BR];
  }
  if (hasGzip && prefs[GZIP] > bestQ) {
    best = GZIP;
    bestQ = prefs[GZIP];
  }
  if (prefs[IDENTITY] > bestQ) best = IDENTITY;
  return best;
}
