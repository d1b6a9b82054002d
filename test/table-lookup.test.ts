/**
 * The file table (index/table.ts) and its lookup (index/table-lookup.ts) answer every key
 * exactly as the object lookup (index/lookup.ts) does for the same release: files, variants,
 * directory keys under each trailing-slash policy, redirects, `_redirects` rules, the 404 page,
 * carried skew files. And the streamed manifest is refused for what `readManifest` refuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { HttpResponse } from 'uWebSockets.js';
import { buildLookup, FileEntry, Redirect, StatusPage, type Entry, type Lookup, type Representation } from '../index/lookup.js';
import { fileCount } from '../index/load-site.js';
import { loadTable } from '../index/table.js';
// loadSite builds a large release's table in a thread of compiled code: from dist/.
import { loadSite } from '../dist/index/load-site.js';
import { directoryKey, tableLookup } from '../index/table-lookup.js';
import { manifestToSiteIndex, ManifestError, readManifest, type Manifest } from '../release/manifest.js';
import { activateRelease, buildRelease } from '../release/release.js';
import type { TrailingSlashPolicy } from '../content/redirects-file.js';
import { SKEW_RULES, writeSkewSite } from './helpers/skew-site.js';
import { PACKAGES_DIR, writeDemoWheels } from '../demo/packages.js';

const TEXT = 'compressible text, long enough to be worth a variant. '.repeat(40);

const SITE = {
  'index.html': `<!doctype html><title>home</title>${TEXT}`,
  '404.html': '<!doctype html><title>not found</title>\n',
  'page.html': '<!doctype html><title>page</title>\n',
  'both.html': '<!doctype html><title>both, as a page</title>\n',
  both: { 'index.html': '<!doctype html><title>both, as a directory</title>\n' },
  docs: { 'index.html': `<!doctype html><title>docs</title>${TEXT}`, 'guide.html': 'guide\n', index: { 'index.html': 'nested index\n' } },
  'data.json': `{"text": "${TEXT}"}`,
  'image.bin': Buffer.alloc(3000, 7),
  'ünï cödé.txt': 'unicode path\n',
  _headers: ['/docs/*', '  X-Docs: yes', '/*.json', '  Cache-Control: public, max-age=60', '/old /page.html 301', '/docs /elsewhere 302', ''].join('\n'),
  _redirects: ['/home / 301', '/blog/* /docs/:splat 308', '/app/* /index.html 200', '/gone/* /404.html 404', '/data.json /page.html 302!', ''].join('\n'),
};

const KEYS = [
  '/', '/index.html', '/404.html', '/page.html', '/page', '/page/', '/both.html', '/both', '/both/', '/both/index.html',
  '/docs', '/docs/', '/docs/index.html', '/docs/guide.html', '/docs/guide', '/docs/guide/', '/docs/index', '/docs/index/', '/docs/index/index.html',
  '/index', '/index/', '/data.json', '/image.bin', '/ünï cödé.txt', '/old', '/home', '/blog/x', '/app/a/b', '/gone/x', '/nothing', '/nothing/', '/image.bin/',
];

function headOf(rep: Representation): string[] {
  const out: string[] = [];
  const res = { writeHeader: (k: string, v: string) => (out.push(`${k}: ${v}`), res) } as unknown as HttpResponse;
  rep.head.writeTo(res);
  rep.head.writeNotModifiedTo(res);
  return out;
}

function repOf(rep: Representation | undefined): unknown {
  return rep === undefined ? null : { file: rep.file, size: rep.size, etag: rep.etag, mtimeSec: rep.mtimeSec, lastModified: rep.lastModified, head: headOf(rep) };
}

function describe(entry: Entry | undefined): unknown {
  if (entry === undefined) return null;
  if (entry instanceof FileEntry) {
    const json = entry.alternate?.pick(entry, 'application/vnd.pypi.simple.v1+json');
    return { identity: repOf(entry.identity), br: repOf(entry.br), gzip: repOf(entry.gzip), negotiate: entry.negotiate, alternate: json === undefined ? null : { json: describe(json), html: entry.alternate?.pick(entry, 'text/html') === entry } };
  }
  if (entry instanceof StatusPage) return { page: describe(entry.page), status: entry.status };
  if (entry instanceof Redirect) return { location: entry.location, status: entry.status };
  return 'unknown entry';
}

function answers(lookup: Lookup, key: string): unknown {
  const hit = lookup.entries.get(key);
  const forced = hit === undefined ? undefined : lookup.forcedRoutes?.hit(key);
  return describe(forced ?? hit ?? lookup.routes?.miss(key));
}

for (const policy of ['redirect', 'always', 'never'] as const satisfies readonly TrailingSlashPolicy[]) {
  t.test(`the table answers as the objects do (trailing slash: ${policy})`, async (t) => {
    const dir = t.testdir({ site: SITE, releases: {} });
    const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'), { trailingSlash: policy, now: new Date('2026-05-06T07:08:09Z') });
    const objects = buildLookup(manifestToSiteIndex(built.manifest, built.dir), [{ pattern: '/docs/*', headers: [['X-Operator', 'on']] }] as never);
    const table = loadTable(built.dir);
    if (table === undefined) throw new Error('no manifest');
    const fromTable = tableLookup(table, [{ pattern: '/docs/*', headers: [['X-Operator', 'on']] }] as never, false, 4);
    t.equal(fromTable.fileCount, objects.fileCount);
    t.equal(fromTable.totalBytes, objects.totalBytes);
    t.same(describe(fromTable.notFound), describe(objects.notFound), 'the 404 page');
    // Twice: the second pass answers from the hot set, where the first built the entries (4 kept).
    for (const pass of [1, 2]) for (const key of KEYS) t.same(answers(fromTable, key), answers(objects, key), `pass ${pass}: ${key}`);
    const some = answers(objects, '/docs/');
    t.not(some, null, 'the comparison compares something');
  });
}

t.test('a package index: negotiated pages answer the same from the table', async (t) => {
  const dir = t.testdir({ site: {}, releases: {} });
  writeDemoWheels(join(dir, 'site'));
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'), { packageIndex: PACKAGES_DIR, now: new Date('2026-05-06T07:08:09Z') });
  const pages = Object.keys(built.manifest.alternates?.pages ?? {});
  t.ok(pages.length >= 3, 'the index and a page per project are negotiated');
  const objects = buildLookup(manifestToSiteIndex(built.manifest, built.dir), []);
  const fromTable = tableLookup(loadTable(built.dir) ?? (undefined as never), []);
  const keys = [...built.manifest.files.map((f) => f.path), ...pages.flatMap((p) => [p.slice(0, -'index.html'.length), p.slice(0, -'/index.html'.length)])];
  for (const key of keys) t.same(answers(fromTable, key), answers(objects, key), key);
  const page = fromTable.entries.get('/simple/');
  t.ok(page instanceof FileEntry && page.alternate !== undefined, '/simple/ is negotiated');
  t.ok((fromTable.entries.get('/simple/index.html') as FileEntry).alternate === undefined, 'its file URL is not');
});

t.test('directory keys follow the policy', (t) => {
  const files = new Set(['/index.html', '/a.html', '/a/index.html', '/b/index.html', '/c.html', '/x/index.html']);
  const isFile = (p: string): boolean => files.has(p);
  t.equal(directoryKey('/', 'redirect', isFile), '/index.html');
  t.equal(directoryKey('/b/', 'redirect', isFile), '/b/index.html');
  t.same(directoryKey('/b', 'redirect', isFile), new Redirect('/b/'));
  t.equal(directoryKey('/c/', 'redirect', isFile), undefined, 'redirect: a page has no slash form');
  t.equal(directoryKey('/a/', 'always', isFile), '/a.html', 'the page sorts before the directory and keeps the key');
  t.same(directoryKey('/c', 'always', isFile), new Redirect('/c/'));
  t.equal(directoryKey('/c', 'never', isFile), '/c.html');
  t.same(directoryKey('/b/', 'never', isFile), new Redirect('/b'));
  t.equal(directoryKey('/x/index', 'never', isFile), undefined, 'an index.html gives its directory, never /index');
  t.end();
});

t.test('carried skew files are in the table', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  let last;
  for (const n of [1, 2]) {
    writeSkewSite(site, n);
    last = await buildRelease(site, releases, { now: new Date(Date.UTC(2026, 2, 4, n)) });
    await activateRelease(releases, last.id);
  }
  if (last?.manifest.skew === undefined) throw new Error('no skew files');
  t.ok(SKEW_RULES.length > 0);
  const table = loadTable(last.dir);
  if (table === undefined) throw new Error('no manifest');
  const objects = buildLookup(manifestToSiteIndex(last.manifest, last.dir), []);
  const fromTable = tableLookup(table, []);
  for (const f of [...last.manifest.files, ...last.manifest.skew.files]) t.same(answers(fromTable, f.path), answers(objects, f.path), f.path);
  t.equal(fromTable.fileCount, last.manifest.files.length + last.manifest.skew.files.length);
});

t.test('loadSite uses the table from a manifest size on, and another layout is read whole', async (t) => {
  const dir = t.testdir({ site: SITE, releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  const small = (await loadSite(built.dir)).index;
  t.notOk('kind' in small, 'a small release is held as objects');
  const large = (await loadSite(built.dir, { tableFrom: 0 })).index;
  t.equal('kind' in large && large.kind, 'table');
  t.equal(fileCount(large), fileCount(small));
  // Re-indented by hand: no longer one entry per line, so read whole, with the same result.
  const path = join(built.dir, 'manifest.json');
  writeFileSync(path, JSON.stringify(JSON.parse(readFileSync(path, 'utf8')), null, 1));
  const again = loadTable(built.dir);
  const first = 'kind' in large ? large : undefined;
  t.same(again?.types, first?.types);
  t.equal(again?.count, first?.count);
  t.same(Buffer.from(again?.records ?? new SharedArrayBuffer(0)), Buffer.from(first?.records ?? new SharedArrayBuffer(1)), 'the same records');
  // Built in a thread of its own: a bad manifest is still a ManifestError naming the entry.
  writeFileSync(path, readFileSync(path, 'utf8').replace(/"sha256": ?"[0-9a-f]{64}"/, '"sha256":"bad"'));
  await t.rejects(loadSite(built.dir, { tableFrom: 0 }), { name: 'ManifestError', code: 'PI_ORIGIN_BAD_MANIFEST', message: /manifest\.json: files\["[^"]+"\]: sha256 must be 64 hex digits$/ });
});

t.test('a streamed manifest is refused for what readManifest refuses', async (t) => {
  const dir = t.testdir({ site: SITE, releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  const path = join(built.dir, 'manifest.json');
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.includes('"/page.html"'));
  const cases: [string, (ls: string[]) => void, RegExp][] = [
    ['a duplicate path', (ls) => ls.splice(at, 0, ls[at] as string), /files\["\/page\.html"\]: duplicate path/],
    ['a bad hash', (ls) => (ls[at] = (ls[at] as string).replace(/"sha256":"[0-9a-f]{64}"/, '"sha256":"xyz"')), /files\["\/page\.html"\]: sha256 must be 64 hex digits/],
    ['a header that could split a response', (ls) => (ls[at] = (ls[at] as string).replace('"headers":{', '"headers":{"X-Evil":"a\\r\\nSet-Cookie: x",')), /files\["\/page\.html"\]: headers:/],
    ['an entry that is not JSON', (ls) => (ls[at] = (ls[at] as string).slice(0, 40)), /is not valid JSON/],
    // The entries read without JSON.parse (manifest-stream.ts addPlain) are checked alike.
    ['a size with a leading zero', (ls) => (ls[at] = (ls[at] as string).replace(/"size":(\d+)/, '"size":0$1')), /is not valid JSON/],
    ['a time beyond any date', (ls) => (ls[at] = (ls[at] as string).replace(/"mtime":\d+/, '"mtime":9999999999999999')), /files\["\/page\.html"\]: mtime must be an integer time in ms/],
    ['a path out of the root', (ls) => (ls[at] = (ls[at] as string).replace('"/page.html"', '"/a/../page.html"')), /files\["\/a\/\.\.\/page\.html"\]: path /],
    ['a rule whose page is no file', (ls) => {
      const i = ls.findIndex((l) => l.includes('"path":"/404.html"'));
      ls[i] = (ls[i] as string).replace('"/404.html"', '"/405.html"');
    }, /routes\.rules\[\d\]: .*404\.html/],
  ];
  for (const [what, edit, expected] of cases) {
    const copy = [...lines];
    edit(copy);
    writeFileSync(path, copy.join('\n'));
    t.throws(() => loadTable(built.dir), expected, what);
    try {
      readManifest(built.dir);
    } catch (e) {
      t.ok(e instanceof ManifestError, `${what}: readManifest refuses it too`);
      continue;
    }
    t.fail(`${what}: readManifest accepts it`);
  }
  writeFileSync(path, text);
  t.equal(loadTable(built.dir)?.count, (JSON.parse(text) as Manifest).files.length, 'the original reads');
});
