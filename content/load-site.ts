/**
 * What a node serves from a content root: the release manifest when there is one (trusted: no
 * hashing, index cost is reading one JSON file), otherwise a scan of the plain tree.
 */
import { manifestToSiteIndex, readManifest } from './manifest.js';
import { scanTree, ScanError, type ScanCache, type ScanOptions, type ScanResult } from './scan.js';
import { realDirectory } from './real-dir.js';

export async function loadSite(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  const d = realDirectory(root);
  if ('problem' in d) throw new ScanError(`content root ${root} ${d.problem}`, d.problem === 'does not exist' ? 'ENOENT' : 'ENOTDIR');
  const manifest = readManifest(d.real);
  if (manifest === undefined) return scanTree(root, options);
  return { index: manifestToSiteIndex(manifest, d.real), cache: options.cache ?? (new Map() as ScanCache) };
}
