/**
 * Hard links between releases: how a release shares the bytes of files it has in common with
 * another (unchanged files at build, carried assets for skew protection) without copying them.
 */
import { linkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ENCODINGS, VARIANT_SUFFIX, type Encoding } from '../content/site-index.js';
import type { ManifestFile, ManifestVariant } from './manifest.js';

/**
 * Hard-links a file of the release at `fromDir` (and whichever of its variants link) to `target`.
 * Undefined when the file cannot be linked (missing there, another size, another filesystem).
 * The linked inode is left as it is: a release never changes another's files.
 */
export function linkFrom(fromDir: string, file: ManifestFile, target: string): Partial<Record<Encoding, ManifestVariant>> | undefined {
  const from = join(fromDir, file.path.slice(1));
  if (!tryLink(from, target, file.size)) return undefined;
  const variants: Partial<Record<Encoding, ManifestVariant>> = {};
  for (const encoding of ENCODINGS) {
    const v = file.variants[encoding];
    if (v !== undefined && tryLink(from + VARIANT_SUFFIX[encoding], target + VARIANT_SUFFIX[encoding], v.size)) variants[encoding] = { size: v.size, sha256: v.sha256 };
  }
  return variants;
}

function tryLink(from: string, to: string, size: number): boolean {
  try {
    const st = lstatSync(from);
    if (!st.isFile() || st.size !== size) return false;
    linkSync(from, to);
    return true;
  } catch {
    return false;
  }
}
