/** The two digests tests compare against: a file's sha256 and the ETag the origin derives from it. */
import { createHash } from 'node:crypto';

/** Lower-case hex sha256 of the bytes (a manifest's `sha256` field). */
export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The documented ETag: the quoted first 32 hex digits of the bytes' sha256. */
export function etagFor(bytes: Buffer | string): string {
  return `"${sha256(bytes).slice(0, 32)}"`;
}
