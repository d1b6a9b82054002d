import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { windowCandidates } from '../release/window.js';

const DEMO_RELEASES = fileURLToPath(new URL('../demo-releases', import.meta.url));

/**
 * The bundled demo site as a release, built and activated by `npm run build`: its `current`
 * pointer in a checkout. npm pack leaves symlinks out, so an installed package holds the release
 * directory without the pointer: then the demo root is that directory, the newest release there.
 * The node artifact holds no demo at all; the path is still named in help.
 */
function demoRoot(): string {
  const current = join(DEMO_RELEASES, 'current');
  if (existsSync(current) || !existsSync(DEMO_RELEASES)) return current;
  // Newest first, by the manifests' heads (window.ts); no release is excluded.
  return windowCandidates(DEMO_RELEASES, '', 'immutable')[0]?.dir ?? current;
}

export const DEMO_ROOT = demoRoot();
