/**
 * The benchmark's releases: A of `files` files of random bytes adding up to `sizeBytes` (random,
 * so nothing is precompressed and rsync's delta finds nothing to reuse inside a file), and its
 * successor B in which a share of the files is rewritten; the rest are the same bytes, so the
 * push hard-links them on the nodes and sends only what changed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRelease } from '../../release/release.js';

export interface BenchReleases {
  readonly a: { readonly id: string; readonly dir: string };
  readonly b: { readonly id: string; readonly dir: string };
  /** Bytes of the files that differ in B. */
  readonly changedBytes: number;
  readonly changedFiles: number;
}

/** The files that differ between A and B: at least one. */
export function changedFileCount(files: number, share: number): number {
  return Math.min(files, Math.max(1, Math.round(files * share)));
}

export async function buildBenchReleases(work: string, sizeBytes: number, files: number, share: number): Promise<BenchReleases> {
  const site = join(work, 'site');
  const releases = join(work, 'releases');
  mkdirSync(join(site, 'data'), { recursive: true });
  const per = Math.floor(sizeBytes / files);
  const name = (i: number): string => join(site, 'data', `f${String(i).padStart(6, '0')}.bin`);
  for (let i = 0; i < files; i++) writeFileSync(name(i), randomBytes(per));
  writeFileSync(join(site, 'index.html'), '<!doctype html><h1>fleet A</h1>\n');
  const a = await buildRelease(site, releases);
  const changedFiles = changedFileCount(files, share);
  // Spread over the tree: every `step`-th file.
  const step = Math.floor(files / changedFiles);
  for (let k = 0; k < changedFiles; k++) writeFileSync(name(k * step), randomBytes(per));
  writeFileSync(join(site, 'index.html'), '<!doctype html><h1>fleet B</h1>\n');
  const b = await buildRelease(site, releases);
  return { a: { id: a.id, dir: a.dir }, b: { id: b.id, dir: b.dir }, changedBytes: changedFiles * per, changedFiles };
}
