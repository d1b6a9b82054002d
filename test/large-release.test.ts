/**
 * A package-index-sized release (100,000 files, 1,000 per project directory, as piwheels lays
 * them out) built and served by the built dist/: the node holds it as the shared file table
 * (index/table.ts), and answers over a real socket with the exact bytes and headers the
 * manifest names, on every worker. The million-file figures are `npm run bench:index`'s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease } from '../dist/release/release.js';
import { request, startServer } from './helpers/server.js';

const PROJECTS = 100;
const PER_PROJECT = 1000;
const wheel = (d: number, i: number): string => `project_${d}-1.0.${i}-py3-none-any.whl`;
const body = (d: number, i: number): string => `wheel ${d} ${i} `.repeat(20);

t.test('a 100,000-file release is served from the file table', async (t) => {
  const dir = t.testdir({ site: {}, releases: {} });
  const site = join(dir, 'site');
  for (let d = 0; d < PROJECTS; d++) {
    const project = join(site, 'simple', `project-${d}`);
    mkdirSync(project, { recursive: true });
    for (let i = 0; i < PER_PROJECT; i++) writeFileSync(join(project, wheel(d, i)), body(d, i));
  }
  writeFileSync(join(site, 'simple', 'project-7', 'index.html'), '<!doctype html><title>project-7</title>\n');
  writeFileSync(join(site, '_headers'), '/simple/*.whl\n  Cache-Control: public, max-age=31536000, immutable\n');
  const built = await buildRelease(site, join(dir, 'releases'));
  t.equal(built.manifest.files.length, PROJECTS * PER_PROJECT + 1);
  const { port } = await startServer(t, built.dir, { workers: '2' });

  const status = await request(port, '/_origin/status');
  const s = JSON.parse(status.body.toString()) as { index: string; files: number; release: string };
  t.same({ index: s.index, files: s.files, release: s.release }, { index: 'table', files: PROJECTS * PER_PROJECT + 1, release: built.id }, 'held as the table');

  const byPath = new Map(built.manifest.files.map((f) => [f.path, f]));
  // Files from all over the table, each asked twice: the second answer comes from the hot set.
  for (const [d, i] of [[0, 0], [0, 999], [42, 17], [99, 999], [42, 17]] as const) {
    const path = `/simple/project-${d}/${wheel(d, i)}`;
    const f = byPath.get(path);
    if (f === undefined) throw new Error(`no ${path} in the manifest`);
    const r = await request(port, path);
    t.equal(r.status, 200, path);
    t.equal(r.body.toString(), body(d, i), `${path}: the bytes`);
    t.equal(r.headers['etag'], `"${f.sha256.slice(0, 32)}"`, `${path}: the content-hash ETag of the manifest`);
    t.equal(r.headers['last-modified'], new Date(Math.floor(f.mtime / 1000) * 1000).toUTCString());
    t.equal(r.headers['content-length'], String(f.size));
    t.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable', 'the rule\'s header');
    t.equal(r.headers['x-origin-release'], built.id);
    const again = await request(port, path, { headers: { 'If-None-Match': r.headers['etag'] as string } });
    t.equal(again.status, 304, `${path}: revalidated`);
  }
  const page = await request(port, '/simple/project-7/');
  t.equal(page.status, 200, 'a directory key serves its index.html');
  t.equal(page.body.toString(), '<!doctype html><title>project-7</title>\n');
  const bare = await request(port, '/simple/project-7');
  t.equal(bare.status, 301);
  t.equal(bare.headers['location'], '/simple/project-7/');
  t.equal((await request(port, '/simple/project-8/')).status, 404, 'no index.html: no directory key');
  t.equal((await request(port, `/simple/project-100/${wheel(100, 0)}`)).status, 404, 'a path not in the table');
  t.equal((await request(port, `/simple/project-1/${wheel(1, 5)}x`)).status, 404);
});
