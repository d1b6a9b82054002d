/**
 * The demo build (`npm run build`: dist/demo-site, then a release of it in dist/demo-releases).
 * Runs against the built dist/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

t.test('the demo tree holds only the site; the release makes the precompressed variants', (t) => {
  const siblings = readdirSync(join('dist', 'demo-site'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(br|gz)$/.test(f));
  t.same(siblings, [], 'no .br/.gz siblings that `release build` would discard');
  const manifest = JSON.parse(readFileSync(join('dist', 'demo-releases', 'current', 'manifest.json'), 'utf8')) as {
    files: { path: string; variants: Record<string, unknown> }[];
  };
  const index = manifest.files.find((f) => f.path === '/index.html');
  t.same(Object.keys(index?.variants ?? {}).sort(), ['br', 'gzip'], '/index.html has its variants in the release');
  t.end();
});
