import t from 'tap';
import { readFileSync } from 'node:fs';
import { buildInfo } from '../dist/common/build-info.js';

t.test('build info names the package, uWS, Node and the CPU', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const uws = JSON.parse(readFileSync(new URL('../node_modules/uWebSockets.js/package.json', import.meta.url), 'utf8')) as { version: string };
  t.same(buildInfo(), { version: pkg.version, uws: uws.version, node: process.versions.node, arch: process.arch });
  t.equal(buildInfo(), buildInfo(), 'read once');
  t.end();
});
