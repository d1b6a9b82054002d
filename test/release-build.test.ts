/**
 * `buildRelease`: manifest contents, headers and cache tags, precompressed variants, the
 * content id, reuse, hard links to the previous release, and clean failure.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import t from 'tap';
import { CACHE_DEFAULT, CACHE_HTML, CACHE_IMMUTABLE } from '../content/header-rules.js';
import type { Manifest, ManifestFile } from '../release/manifest.js';
import { manifestJson, ManifestWriter } from '../release/manifest-text.js';
import { activateRelease, buildRelease, releaseIdFor, verifyRelease } from '../release/release.js';
import { precompress, pseudoRandom } from './helpers/site.js';
import { sha256 } from './helpers/hash.js';

// Half a second: exact in the double seconds utimes takes, so the mtime reads back unchanged.
const MTIME = new Date('2026-01-02T03:04:05.500Z');
const NOW = new Date('2026-03-04T05:06:07.000Z');

const HTML = '<!doctype html>\n' + '<p>Hello from the rack of Raspberry Pis, served over IPv6.</p>\n'.repeat(40);
const JS = 'export function hello(name) { return `hello ${name}`; }\n'.repeat(30);
const CSS = 'body { margin: 0; font-family: system-ui, sans-serif; }\n'.repeat(20);
const NOISE = pseudoRandom(3000);
const RULES = ['# site rules', '/assets/*', '  Surrogate-Key: assets static', '/*.html', '  Cache-Control: public, max-age=60, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400', '  Cache-Tag: html', '/old /index.html 308', ''].join('\n');

/** Every regular file under dir, relative with '/' separators, sorted. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => lstatSync(join(dir, p)).isFile()).map((p) => p.split('\\').join('/')).sort();
}

function touchAll(dir: string, mtime = MTIME): void {
  for (const f of filesUnder(dir)) utimesSync(join(dir, f), mtime, mtime);
}

type Tree = { [name: string]: string | Buffer | Tree };

/** Writes a fixture tree under `dir` (t.testdir may be called only once per test). */
function writeTree(dir: string, tree: Tree): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(tree)) {
    if (typeof value === 'string' || Buffer.isBuffer(value)) writeFileSync(join(dir, name), value);
    else writeTree(join(dir, name), value);
  }
  return dir;
}

/** The standard site at `dir`, every file with MTIME. */
function makeSite(dir: string): string {
  writeTree(dir, {
    'index.html': HTML,
    'small.txt': 'hi\n',
    'noise.txt': NOISE,
    'photo.png': NOISE,
    'style.css': CSS,
    '.env': 'SECRET=1\n',
    '.well-known': { 'security.txt': 'Contact: mailto:ops@example.org\n' },
    assets: { 'app.3f9a1c2b.js': JS },
    _headers: RULES,
  });
  touchAll(dir);
  // Stale hand-made siblings: skipped, the builder makes its own.
  precompress(dir, 'style.css', 'not the same bytes', MTIME);
  return dir;
}

const tags = (id: string): Record<string, string> => ({ 'Surrogate-Key': `release-${id}`, 'Cache-Tag': `release-${id}` });

t.test('builds the release directory and its manifest', async (t) => {
  const site = makeSite(join(t.testdir(), 'site'));
  const releases = join(t.testdirName, 'releases');
  const progress: [number, number][] = [];
  const r = await buildRelease(site, releases, { now: NOW, onProgress: (d, n) => progress.push([d, n]) });
  const id = r.id;
  t.match(id, /^[0-9a-f]{12}$/);
  t.equal(r.dir, join(releases, id));
  t.same({ copied: r.copied, linked: r.linked, reused: r.reused }, { copied: 7, linked: 0, reused: false });
  t.same(progress, [1, 2, 3, 4, 5, 6, 7].map((d) => [d, 7]), 'progress after each file');
  t.same(readdirSync(releases), [id], 'nothing else in RELEASES_DIR');

  const onDisk = JSON.parse(readFileSync(join(r.dir, 'manifest.json'), 'utf8')) as Manifest;
  t.same(onDisk, r.manifest, 'manifest.json is what build returned');
  const variantOf = (path: string, suffix: string): { size: number; sha256: string } => {
    const bytes = readFileSync(join(r.dir, path.slice(1) + suffix));
    return { size: bytes.length, sha256: sha256(bytes) };
  };
  const file = (path: string, body: string | Buffer, type: string, headers: Record<string, string>, variants: ManifestFile['variants']): ManifestFile => ({
    path, size: Buffer.byteLength(body), sha256: sha256(body), type, mtime: MTIME.getTime(), headers, variants,
  });
  const both = (path: string): ManifestFile['variants'] => ({ br: variantOf(path, '.br'), gzip: variantOf(path, '.gz') });
  const expected: Manifest = {
    format: 1,
    id,
    created: NOW.toISOString(),
    files: [
      file('/.well-known/security.txt', 'Contact: mailto:ops@example.org\n', 'text/plain; charset=utf-8', { 'Cache-Control': CACHE_DEFAULT, ...tags(id) }, {}),
      file('/assets/app.3f9a1c2b.js', JS, 'text/javascript; charset=utf-8', { 'Cache-Control': CACHE_IMMUTABLE, 'Surrogate-Key': `assets static release-${id}`, 'Cache-Tag': `release-${id}` }, both('/assets/app.3f9a1c2b.js')),
      file('/index.html', HTML, 'text/html; charset=utf-8', { 'Cache-Control': 'public, max-age=60, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400', 'Cache-Tag': `html,release-${id}`, 'Surrogate-Key': `release-${id}` }, both('/index.html')),
      file('/noise.txt', NOISE, 'text/plain; charset=utf-8', { 'Cache-Control': CACHE_DEFAULT, ...tags(id) }, {}),
      file('/photo.png', NOISE, 'image/png', { 'Cache-Control': CACHE_DEFAULT, ...tags(id) }, {}),
      file('/small.txt', 'hi\n', 'text/plain; charset=utf-8', { 'Cache-Control': CACHE_DEFAULT, ...tags(id) }, {}),
      file('/style.css', CSS, 'text/css; charset=utf-8', { 'Cache-Control': CACHE_DEFAULT, ...tags(id) }, both('/style.css')),
    ],
    redirects: [{ from: '/old', to: '/index.html', status: 308 }],
  };
  t.same(r.manifest, expected);
  t.equal(JSON.stringify(Object.keys(r.manifest.files[0] as object)), JSON.stringify(['path', 'size', 'sha256', 'type', 'mtime', 'headers', 'variants']), 'field order');

  t.same(filesUnder(r.dir), [
    '.well-known/security.txt', 'assets/app.3f9a1c2b.js', 'assets/app.3f9a1c2b.js.br', 'assets/app.3f9a1c2b.js.gz', 'index.html', 'index.html.br', 'index.html.gz',
    'manifest.json', 'noise.txt', 'photo.png', 'small.txt', 'style.css', 'style.css.br', 'style.css.gz',
  ], 'exact files: no _headers, no dotfiles, no stale siblings');
  for (const [path, body] of [['index.html', HTML], ['assets/app.3f9a1c2b.js', JS], ['style.css', CSS]] as const) {
    t.equal(brotliDecompressSync(readFileSync(join(r.dir, path + '.br'))).toString(), body, `${path}.br decompresses to the source`);
    t.equal(gunzipSync(readFileSync(join(r.dir, path + '.gz'))).toString(), body, `${path}.gz decompresses to the source`);
    for (const suffix of ['', '.br', '.gz']) t.equal(statSync(join(r.dir, path + suffix)).mtimeMs, MTIME.getTime(), `${path}${suffix} has the source mtime`);
  }
  t.equal(
    id,
    releaseIdFor(r.manifest.files.map((f) => ({ path: f.path, sha256: f.sha256, headers: Object.fromEntries(Object.entries(f.headers).map(([k, v]): [string, string] => [k, v.replace(/[ ,]?release-[0-9a-f]{12}$/, '')]).filter(([, v]) => v !== '')) })), r.manifest.redirects),
    'id is the hash of paths, hashes and headers without the tags, and redirects',
  );
  t.same(await verifyRelease(r.dir), [], 'the new release verifies');
});

t.test('the id depends on content, headers and redirects only', async (t) => {
  const site = makeSite(join(t.testdir(), 'site'));
  const releases = join(t.testdirName, 'releases');
  const first = await buildRelease(site, releases, { now: NOW });
  touchAll(site, new Date('2030-01-01T00:00:00Z'));
  const again = await buildRelease(site, releases, { now: new Date('2030-01-01T00:00:00Z') });
  t.same({ id: again.id, reused: again.reused, copied: again.copied, linked: again.linked }, { id: first.id, reused: true, copied: 0, linked: 0 }, 'same site → same id, reused');
  t.equal(again.manifest.created, NOW.toISOString(), 'the existing release is left as it was');
  t.same(readdirSync(releases), [first.id]);

  const other = makeSite(join(t.testdirName, 'other'));
  t.equal((await buildRelease(other, join(t.testdirName, 'elsewhere'), { now: NOW })).id, first.id, 'same id in another releases directory');

  writeFileSync(join(site, 'small.txt'), 'hj\n');
  const changed = await buildRelease(site, releases);
  t.not(changed.id, first.id, 'one byte changed → new id');

  writeFileSync(join(site, 'small.txt'), 'hi\n');
  writeFileSync(join(site, '_headers'), RULES.replace('assets static', 'assets'));
  t.not((await buildRelease(site, releases)).id, first.id, 'a header changed → new id');
  writeFileSync(join(site, '_headers'), RULES.replace('308', '301'));
  t.not((await buildRelease(site, releases)).id, first.id, 'a redirect changed → new id');
});

t.test('unchanged files are hard-linked from the previous release, changed ones copied', async (t) => {
  const site = makeSite(join(t.testdir(), 'site'));
  const releases = join(t.testdirName, 'releases');
  const a = await buildRelease(site, releases, { now: new Date('2026-01-01T00:00:00Z') });
  writeFileSync(join(site, 'index.html'), HTML + '<p>changed</p>\n');
  writeFileSync(join(site, 'new.txt'), 'new\n');
  const b = await buildRelease(site, releases, { now: new Date('2026-01-02T00:00:00Z') });
  t.same({ copied: b.copied, linked: b.linked }, { copied: 2, linked: 6 });
  const ino = (dir: string, p: string): number => statSync(join(dir, p)).ino;
  for (const p of ['small.txt', 'noise.txt', 'photo.png', 'style.css', 'style.css.br', 'style.css.gz', 'assets/app.3f9a1c2b.js', 'assets/app.3f9a1c2b.js.br', 'assets/app.3f9a1c2b.js.gz', '.well-known/security.txt'])
    t.equal(ino(b.dir, p), ino(a.dir, p), `${p} is the same inode`);
  for (const p of ['index.html', 'index.html.br', 'index.html.gz']) t.not(ino(b.dir, p), ino(a.dir, p), `${p} is a new copy`);
  t.same(b.manifest.files.find((f) => f.path === '/style.css')?.variants, a.manifest.files.find((f) => f.path === '/style.css')?.variants, 'linked variants keep their manifest entries');
  t.same(await verifyRelease(b.dir), []);

  // With `current` at a, the next build links from a (not from the newer b): new.txt is copied again.
  await activateRelease(releases, a.id);
  writeFileSync(join(site, 'small.txt'), 'changed\n');
  const c = await buildRelease(site, releases, { now: new Date('2026-01-03T00:00:00Z') });
  t.same({ copied: c.copied, linked: c.linked }, { copied: 3, linked: 5 }, 'index.html, new.txt and small.txt copied');
  t.not(ino(c.dir, 'new.txt'), ino(b.dir, 'new.txt'));
  t.equal(ino(c.dir, 'photo.png'), ino(a.dir, 'photo.png'));
  t.same(await verifyRelease(c.dir), []);
});

t.test('--headers file replaces _headers; _headers is never published', async (t) => {
  const site = makeSite(join(t.testdir(), 'site'));
  const rules = join(t.testdirName, 'rules.json');
  writeFileSync(rules, JSON.stringify({ headers: [{ pattern: '/*.txt', headers: { 'Cache-Control': 'no-store', 'Surrogate-Key': 'text' } }] }));
  const r = await buildRelease(site, join(t.testdirName, 'releases'), { headersFile: rules });
  t.same(r.manifest.files.find((f) => f.path === '/small.txt')?.headers, { 'Cache-Control': 'no-store', 'Surrogate-Key': `text release-${r.id}`, 'Cache-Tag': `release-${r.id}` });
  t.same(r.manifest.files.find((f) => f.path === '/index.html')?.headers, { 'Cache-Control': CACHE_HTML, ...tags(r.id) }, 'the site _headers is not used');
  t.same(r.manifest.redirects, []);
  t.notOk(r.manifest.files.some((f) => f.path === '/_headers'));
  t.rejects(buildRelease(site, join(t.testdirName, 'r2'), { headersFile: join(t.testdirName, 'missing') }), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_RULES' });
});

t.test('files above the precompression limit are copied without variants', async (t) => {
  const root = t.testdir({ site: { 'big.txt': Buffer.alloc(64 * 1024 * 1024 + 1, 'a') } });
  const r = await buildRelease(join(root, 'site'), join(root, 'releases'));
  t.same(r.manifest.files[0]?.variants, {});
  t.equal(statSync(join(r.dir, 'big.txt')).size, 64 * 1024 * 1024 + 1);
  t.same(filesUnder(r.dir), ['big.txt', 'manifest.json']);
});

t.test('a failing build leaves nothing in RELEASES_DIR', async (t) => {
  const outside = t.testdir({ secret: 'outside\n', site: { 'a.txt': 'a\n', sub: { 'b.txt': 'b\n' } }, releases: {} });
  const site = join(outside, 'site');
  const releases = join(outside, 'releases');
  symlinkSync(join(outside, 'secret'), join(site, 'sub', 'leak.txt'));
  await t.rejects(buildRelease(site, releases), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_SITE', message: /^cannot publish .*: symlinks leaving the site, dangling or unreadable, or names no URL can reach: sub\/leak\.txt$/ });
  t.same(readdirSync(releases), []);

  const dangling = writeTree(join(outside, 'dangling'), { site: { 'a.txt': 'a\n' }, releases: {} });
  symlinkSync(join(dangling, 'nowhere'), join(dangling, 'site', 'gone.txt'));
  await t.rejects(buildRelease(join(dangling, 'site'), join(dangling, 'releases')), { code: 'PI_ORIGIN_RELEASE_SITE', message: /gone\.txt$/ });
  t.same(readdirSync(join(dangling, 'releases')), []);

  await t.rejects(buildRelease(join(outside, 'nope'), releases), { code: 'PI_ORIGIN_RELEASE_SITE', message: `site directory ${join(outside, 'nope')} does not exist (ENOENT)` });
  const bad = writeTree(join(outside, 'bad'), { site: { 'a.txt': 'a\n', _headers: '/a\n  Bad Name: x\n' }, releases: {} });
  await t.rejects(buildRelease(join(bad, 'site'), join(bad, 'releases')), { code: 'PI_ORIGIN_RELEASE_RULES', message: /_headers:2: "Bad Name" is not a valid header name$/ });
  t.same(readdirSync(join(bad, 'releases')), []);
});

t.test('refuses a releases directory the site would publish', async (t) => {
  const site = t.testdir({ 'a.txt': 'a\n' });
  await t.rejects(buildRelease(site, join(site, 'releases')), { code: 'PI_ORIGIN_RELEASE_USAGE', message: /is inside the site/ });
  const r = await buildRelease(site, join(site, '.releases'));
  t.same(r.manifest.files.map((f) => f.path), ['/a.txt'], 'a dot-directory inside the site is fine (never published)');
});

t.test('temporaries of dead processes are removed, live ones kept', async (t) => {
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  const root = t.testdir({ site: { 'a.txt': 'a\n' }, releases: { [`.tmp-aaaaaaaaaaaa-${dead}`]: { 'half.txt': 'x' }, [`.tmp-bbbbbbbbbbbb-${process.ppid}`]: {}, 'other-dir': {} } });
  const releases = join(root, 'releases');
  symlinkSync('aaaaaaaaaaaa', join(releases, `.current.tmp-${dead}`));
  const site = join(root, 'site');
  const r = await buildRelease(site, releases);
  t.same(readdirSync(releases).sort(), [`.tmp-bbbbbbbbbbbb-${process.ppid}`, r.id, 'other-dir'].sort());
});

t.test('the manifest written a chunk at a time is the bytes of manifestJson', async (t) => {
  const dir = t.testdir({
    site: { 'index.html': '<!doctype html><link rel=stylesheet href=/a.css><title>x</title>\n', 'a.css': 'body{margin:0}\n'.repeat(50), _redirects: '/old / 301\n', 'ü.txt': 'unicode\n' },
  });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'), { preload: true, trailingSlash: 'always' });
  t.equal(readFileSync(join(built.dir, 'manifest.json'), 'utf8'), manifestJson(built.manifest));
});

t.test('a previous release whose manifest breaks part-way: files before the break are linked, the rest copied', async (t) => {
  const site = makeSite(join(t.testdir(), 'site'));
  const releases = join(t.testdirName, 'releases');
  const a = await buildRelease(site, releases, { now: new Date('2026-01-01T00:00:00Z') });
  const file = join(a.dir, 'manifest.json');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {4}\{"path":"\/noise\.txt".*$/m, '    {"path":"/noise.txt", not json},'));
  writeFileSync(join(site, 'index.html'), HTML + '<p>changed</p>\n');
  const b = await buildRelease(site, releases, { now: new Date('2026-01-02T00:00:00Z'), skew: { releases: 0 } });
  t.same({ copied: b.copied, linked: b.linked }, { copied: 5, linked: 2 }, '.well-known and assets linked; index.html changed; noise, photo, small, style copied');
  t.same(await verifyRelease(b.dir), []);
  writeFileSync(join(site, 'small.txt'), 'changed again\n');
  await t.rejects(buildRelease(site, releases, { now: new Date('2026-01-03T00:00:00Z'), skew: { releases: 2 } }), { code: 'PI_ORIGIN_RELEASE_INVALID', message: new RegExp(`release ${a.id}, in the skew window, does not read`) }, 'the skew window names a release it cannot read');
});

t.test('ManifestWriter: entries and a tail larger than its buffer give the bytes of manifestJson', (t) => {
  const dir = t.testdir({});
  const entry = (i: number, header: string): ManifestFile => ({ path: `/f${i}.txt`, size: i, sha256: sha256(String(i)), type: 'text/plain; charset=utf-8', mtime: 1_700_000_000_000 + i, headers: { 'X-Big': header }, variants: {} });
  const files = [entry(1, 'é'.repeat(600_000)), ...Array.from({ length: 5000 }, (_, i) => entry(i + 2, 'x'.repeat(i % 300))), entry(9999, '€'.repeat(400_000))];
  const m: Manifest = { format: 1, id: 'abcdefabcdef', created: NOW.toISOString(), files, redirects: Array.from({ length: 20_000 }, (_, i) => ({ from: `/old/${i}`, to: `/new/${i}`, status: 301 as const })) };
  const w = new ManifestWriter(join(dir, 'manifest.json'), { format: m.format, id: m.id, created: m.created });
  for (const f of files) w.entry(JSON.stringify(f));
  const { sha256: digest, bytes } = w.finish({ redirects: m.redirects });
  const expected = Buffer.from(manifestJson(m), 'utf8');
  t.ok(readFileSync(join(dir, 'manifest.json')).equals(expected), 'same bytes');
  t.same({ digest, bytes }, { digest: sha256(expected), bytes: expected.length }, 'and their hash and length');
  t.end();
});
