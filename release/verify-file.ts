/**
 * What both ways of verifying a release (verify.ts, verify-parent.ts) say about one file, worded
 * the same: its bytes against the manifest's size and SHA-256, and the order problems are listed in.
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

/** One read buffer for hashing: verification is synchronous per file, so never shared. */
const READ_BUFFER = Buffer.allocUnsafe(1 << 20);

/** Reads the open file `fd` to its end: a `size:` or `sha256:` problem line, or undefined when it is the manifest's. */
export function bytesProblem(fd: number, path: string, want: { readonly size: number; readonly sha256: string }): string | undefined {
  const h = createHash('sha256');
  let size = 0;
  for (let n = 0; (n = readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, size)) > 0; size += n) h.update(READ_BUFFER.subarray(0, n));
  if (size !== want.size) return `size: ${path} is ${size} bytes, manifest says ${want.size}`;
  const sha256 = h.digest('hex');
  return sha256 === want.sha256 ? undefined : `sha256: ${path} is ${sha256}, manifest says ${want.sha256}`;
}

/** Problems in path order, and for one path in the order of their text: the same list however the tree was walked. */
export function byPathThenProblem(a: readonly [string, string], b: readonly [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}
