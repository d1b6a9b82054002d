/** Builds content trees for tests (inside tap's t.testdir) with precompressed siblings. */
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `name.br` and `name.gz` next to `dir/name` holding `body`, with the source's mtime. */
export function precompress(dir: string, name: string, body: Buffer | string, mtime = new Date('2026-01-02T03:04:05Z')): void {
  const src = join(dir, name);
  writeFileSync(src + '.br', brotliCompressSync(body));
  writeFileSync(src + '.gz', gzipSync(body, { level: 9 }));
  for (const f of [src, src + '.br', src + '.gz']) utimesSync(f, mtime, mtime);
}

/** Deterministic bytes (xorshift32), incompressible. */
export function pseudoRandom(size: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
