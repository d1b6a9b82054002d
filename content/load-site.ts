/**
 * What a node serves from a content root: the release manifest when there is one (trusted: no
 * hashing, index cost is reading one JSON file), otherwise a scan of the plain tree.
 */
import { realpathSync } from 'node:fs';
import { manifestToSiteIndex, readManifest } from './manifest.js';
import { scanTree, ScanError, type ScanCache, type ScanOptions, type ScanResult } from './scan.js';

export async function loadSite(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    throw new ScanError(`content root ${root} does not exist`, 'ENOENT');
  }
  const manifest = readManifest(real);
  if (manifest === undefined) return scanTree(root, options);
  return { index: manifestToSiteIndex(manifest, real), cache: options.cache ?? (new Map() as ScanCache) };
}
