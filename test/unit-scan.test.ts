/**
 * Unit tests for scanning a plain content tree into a SiteIndex: what is indexed, what is
 * skipped, precompressed variants, the release id and the hash cache. Imported from the sources.
 */
import { mkdirSync, realpathSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { releaseIdFor } from '../content/release-id.js';
import { ScanError, scanTree, type ScanCache } from '../content/scan.js';
import type { IndexedFile, SiteIndex } from '../content/site-index.js';
import { sha256 } from './helpers/hash.js';
import { precompress } from './helpers/site.js';

const paths = (index: SiteIndex): string[] => index.files.map((f) => f.path);
const fileAt = (index: SiteIndex, path: string): IndexedFile | undefined => index.files.find((f) => f.path === path);
const SECRET = 'TOP SECRET outside the root\n';

t.test('indexes files with size, sha256, type and mtime', async (t) => {
  const dir = t.testdir({
    'index.html': '<h1>hi</h1>\n',
    'a.txt': 'hello\n',
    'empty.bin': '',
    'noext': 'x',
    'style.css': 'body{}',
    sub: { 'data.json': '{"a":1}', deep: { 'caf\u00e9 menu.txt': 'menu' } },
  });
  const mtime = new Date('2026-01-02T03:04:05Z');
  utimesSync(join(dir, 'a.txt'), mtime, mtime);
  const { index } = await scanTree(dir);
  t.equal(index.root, realpathSync(dir));
  t.same(paths(index), ['/a.txt', '/empty.bin', '/index.html', '/noext', '/style.css', '/sub/data.json', '/sub/deep/caf\u00e9 menu.txt'], 'sorted by path');
  t.same(fileAt(index, '/a.txt'), {
    path: '/a.txt',
    file: 'a.txt',
    size: 6,
    sha256: sha256('hello\n'),
    mtimeMs: mtime.getTime(),
    ctimeMs: statSync(join(dir, 'a.txt')).ctimeMs,
    type: 'text/plain; charset=utf-8',
    variants: [],
  });
  const cases: [string, string, number, string][] = [
    ['/index.html', 'text/html; charset=utf-8', 12, sha256('<h1>hi</h1>\n')],
    ['/empty.bin', 'application/octet-stream', 0, sha256('')],
    ['/noext', 'application/octet-stream', 1, sha256('x')],
    ['/style.css', 'text/css; charset=utf-8', 6, sha256('body{}')],
    ['/sub/data.json', 'application/json; charset=utf-8', 7, sha256('{"a":1}')],
    ['/sub/deep/caf\u00e9 menu.txt', 'text/plain; charset=utf-8', 4, sha256('menu')],
  ];
  for (const [path, type, size, hash] of cases) {
    const f = fileAt(index, path);
    t.same(f && { type: f.type, size: f.size, sha256: f.sha256 }, { type, size, sha256: hash }, path);
    t.equal(f?.file, path.slice(1), `${path}: file is relative with / separators`);
    t.equal(f?.mtimeMs, Math.floor(statSync(join(dir, path.slice(1))).mtimeMs), `${path}: mtime`);
  }
  t.same(index.skipped, []);
  t.match(index.releaseId, /^[0-9a-f]{12}$/);
});

t.test('skips dotfiles but keeps /.well-known/', async (t) => {
  const dir = t.testdir({
    'index.html': 'home',
    '.env': 'SECRET=1',
    '.git': { config: '[core]', HEAD: 'ref' },
    '.well-known': { 'security.txt': 'Contact: x', '.hidden': 'no', acme: { token: 't' } },
    sub: { '.hidden': 'no', '.well-known': { x: 'no' }, 'ok.txt': 'ok' },
  });
  const { index } = await scanTree(dir);
  t.same(paths(index), ['/.well-known/acme/token', '/.well-known/security.txt', '/index.html', '/sub/ok.txt']);
  t.same(index.skipped, [], 'dotfiles are not reported as skipped');
});

t.test('a name no URL can reach is skipped and reported, never indexed', async (t) => {
  const dir = t.testdir({ 'ok.txt': 'ok', 'line\nbreak.txt': 'x', 'back\\slash.txt': 'x', 'bell\x07.txt': 'x', sub: { 'cr\r.txt': 'x', '100%.txt': 'percent is fine' } });
  const { index } = await scanTree(dir);
  t.same(paths(index), ['/ok.txt', '/sub/100%.txt']);
  t.same([...index.skipped].sort(), ['back\\slash.txt', 'bell\x07.txt', 'line\nbreak.txt', 'sub/cr\r.txt']);
});

t.test('a symlink to a dotfile or into a dot-directory is skipped as the dotfile is', async (t) => {
  const root = t.testdir({
    'index.html': 'home',
    '.env': 'SECRET=1',
    '.git': { config: '[core]', objects: { 'ab': 'blob' } },
    '.well-known': { 'security.txt': 'Contact: x' },
    sub: { '.hidden': 'no', 'ok.txt': 'ok' },
  });
  symlinkSync('.git', join(root, 'gitlink'));
  symlinkSync('.git/config', join(root, 'config.txt'));
  symlinkSync('.git/objects', join(root, 'objects'));
  symlinkSync('.env', join(root, 'env.txt'));
  symlinkSync('.hidden', join(root, 'sub', 'shown.txt'));
  symlinkSync('../.git', join(root, 'sub', 'up-git'));
  symlinkSync('.well-known', join(root, 'wk'));
  symlinkSync('sub', join(root, 'sublink'));
  const { index } = await scanTree(root);
  t.same(paths(index), ['/.well-known/security.txt', '/index.html', '/sub/ok.txt', '/sublink/ok.txt', '/wk/security.txt'], 'only links whose target is content');
  t.same(index.skipped, [], 'skipped silently, as the dotfiles themselves are');
  for (const f of index.files) t.notOk([sha256('[core]'), sha256('SECRET=1'), sha256('no'), sha256('blob')].includes(f.sha256), `${f.path} is not a dotfile's bytes`);
});

t.test('_headers and _redirects at the root are never content, wherever they are linked from', async (t) => {
  const root = t.testdir({ 'index.html': 'home', _headers: '/*\n  X-A: 1\n', _redirects: '/a /b\n', sub: { _headers: 'just a file', _redirects: 'just a file' } });
  symlinkSync('_headers', join(root, 'rules.txt'));
  symlinkSync('../_redirects', join(root, 'sub', 'redirects.txt'));
  const { index } = await scanTree(root);
  t.same(paths(index), ['/index.html', '/sub/_headers', '/sub/_redirects'], 'only the root\'s are the site\'s rules');
  t.same(index.skipped, []);
});

t.test('symlinks: leaving the root is skipped, inside the root is followed', async (t) => {
  const base = t.testdir({
    'secret.txt': SECRET,
    outside: { 'data.txt': SECRET },
    root: { 'index.html': 'home', sub: { 'page.txt': 'page' } },
  });
  const root = join(base, 'root');
  symlinkSync('../secret.txt', join(root, 'link-out.txt'));
  symlinkSync(join(base, 'secret.txt'), join(root, 'link-out-abs.txt'));
  symlinkSync('../outside', join(root, 'dir-out'));
  symlinkSync('../../secret.txt', join(root, 'sub', 'deep-out.txt'));
  symlinkSync('nowhere.txt', join(root, 'dangling.txt'));
  symlinkSync('index.html', join(root, 'link-in.html'));
  symlinkSync('../index.html', join(root, 'sub', 'up-in.html'));
  // A name that looks like it stays inside but resolves outside through a sibling prefix.
  mkdirSync(join(base, 'root-evil'));
  writeFileSync(join(base, 'root-evil', 'x.txt'), SECRET);
  symlinkSync('../root-evil/x.txt', join(root, 'prefix.txt'));
  const { index } = await scanTree(root);
  t.same(paths(index), ['/index.html', '/link-in.html', '/sub/page.txt', '/sub/up-in.html']);
  t.same([...index.skipped].sort(), ['dangling.txt', 'dir-out', 'link-out-abs.txt', 'link-out.txt', 'prefix.txt', 'sub/deep-out.txt']);
  const linked = fileAt(index, '/link-in.html');
  t.equal(linked?.sha256, sha256('home'));
  t.equal(linked?.size, 4);
  t.equal(linked?.type, 'text/html; charset=utf-8');
  for (const f of index.files) t.not(f.sha256, sha256(SECRET), `${f.path} is not the secret`);
});

t.test('a symlinked directory inside the root is followed, and the real directory is still indexed', async (t) => {
  // Run with two link names, one sorting before and one after the real directory, so the
  // result cannot depend on directory listing order.
  const base = t.testdir({
    first: { real: { 'file.txt': 'data', nested: { 'n.txt': 'n' } } },
    second: { real: { 'file.txt': 'data', nested: { 'n.txt': 'n' } } },
  });
  for (const [sub, link] of [['first', 'a-alias'], ['second', 'z-alias']] as const) {
    const root = join(base, sub);
    symlinkSync('real', join(root, link));
    const { index } = await scanTree(root);
    t.same(paths(index), [`/${link}/file.txt`, `/${link}/nested/n.txt`, '/real/file.txt', '/real/nested/n.txt'].sort(), link);
    t.same(index.skipped, [], `${link}: nothing skipped`);
  }
});

t.test('a symlink cycle inside the root does not loop', async (t) => {
  const root = t.testdir({ 'index.html': 'home', a: { 'f.txt': 'f', b: { 'g.txt': 'g' } } });
  symlinkSync('.', join(root, 'self'));
  symlinkSync('..', join(root, 'a', 'up'));
  symlinkSync('../..', join(root, 'a', 'b', 'top'));
  symlinkSync('../b', join(root, 'a', 'b', 'again'));
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  const { index } = await scanTree(root);
  t.same(paths(index), ['/a/b/g.txt', '/a/f.txt', '/index.html'], 'each real file once; cycles not entered');
  t.same([...index.skipped].sort(), ['loop1', 'loop2'], 'the self-referencing links dangle');
});

t.test('precompressed variants', async (t) => {
  const body = 'hello hello hello hello hello\n'.repeat(20);
  const old = new Date('2026-01-01T00:00:00Z');
  const dir = t.testdir({ 'ok.txt': body, 'older.txt': body, 'mismatch.txt': body, 'garbage.txt': body, 'newer.txt': body, 'gzonly.txt': body });
  precompress(dir, 'ok.txt', body);
  precompress(dir, 'older.txt', body);
  utimesSync(join(dir, 'older.txt.br'), old, old); // variant older than its source
  precompress(dir, 'mismatch.txt', body + 'changed');
  precompress(dir, 'garbage.txt', body);
  writeFileSync(join(dir, 'garbage.txt.gz'), 'not gzip at all');
  const at = new Date('2026-01-02T03:04:05Z');
  utimesSync(join(dir, 'garbage.txt.gz'), at, at);
  precompress(dir, 'newer.txt', body);
  const later = new Date('2026-02-01T00:00:00Z');
  utimesSync(join(dir, 'newer.txt.gz'), later, later); // a newer variant is fine
  writeFileSync(join(dir, 'gzonly.txt.gz'), gzipSync(body));

  const { index } = await scanTree(dir);
  const encodings = (path: string): string[] => (fileAt(index, path)?.variants ?? []).map((v) => v.encoding);
  const cases: [string, string[]][] = [
    ['/ok.txt', ['br', 'gzip']],
    ['/older.txt', ['gzip']],
    ['/mismatch.txt', []],
    ['/garbage.txt', ['br']],
    ['/newer.txt', ['br', 'gzip']],
    ['/gzonly.txt', ['gzip']],
  ];
  for (const [path, expected] of cases) t.same(encodings(path), expected, path);
  const ok = fileAt(index, '/ok.txt');
  const gz = ok?.variants.find((v) => v.encoding === 'gzip');
  t.same(gz, { encoding: 'gzip', file: 'ok.txt.gz', size: statSync(join(dir, 'ok.txt.gz')).size, sha256: fileAt(index, '/ok.txt.gz')?.sha256 });
  t.equal(fileAt(index, '/ok.txt.br')?.variants.length, 0, 'a variant file has no variants of its own');
});

t.test('releaseId', async (t) => {
  const tree = () => ({ 'index.html': 'home', sub: { 'a.txt': 'alpha', 'b.bin': Buffer.from([0, 1, 2, 3]) } });
  const base = t.testdir({
    one: tree(),
    elsewhere: { two: tree() },
    renamed: { 'index.html': 'home', sub: { 'a2.txt': 'alpha', 'b.bin': Buffer.from([0, 1, 2, 3]) } },
  });
  const one = join(base, 'one');
  const two = join(base, 'elsewhere', 'two');
  // Different mtimes must not matter: the id is derived from content.
  const then = new Date('2020-05-05T05:05:05Z');
  utimesSync(join(two, 'sub', 'a.txt'), then, then);
  const a = (await scanTree(one)).index;
  const b = (await scanTree(two)).index;
  t.not(a.root, b.root);
  t.equal(a.releaseId, b.releaseId, 'identical trees in two directories have the same id');
  t.equal((await scanTree(one)).index.releaseId, a.releaseId, 'stable across scans');

  writeFileSync(join(two, 'sub', 'a.txt'), 'alphA');
  const changed = (await scanTree(two)).index;
  t.not(changed.releaseId, a.releaseId, 'one changed byte changes the id');

  t.not((await scanTree(join(base, 'renamed'))).index.releaseId, a.releaseId, 'a renamed file changes the id');

  const id = (files: readonly { path: string; sha256: string }[]): string => releaseIdFor(files.map((f) => ({ path: f.path, sha256: f.sha256, headers: {} })), []);
  t.equal(a.releaseId, id(a.files), 'a plain tree has the id `release build` computes: its files, no headers, no redirects');
  t.not(id([{ path: '/a', sha256: 'x' }, { path: '/b', sha256: 'y' }]), id([{ path: '/a', sha256: 'y' }, { path: '/b', sha256: 'x' }]));
  t.not(id([{ path: '/ab', sha256: 'c' }]), id([{ path: '/a', sha256: 'bc' }]), 'path and hash are delimited');
});

t.test('the cache avoids re-hashing unchanged files', async (t) => {
  const dir = t.testdir({ 'a.txt': 'alpha', 'b.txt': 'beta' });
  const first = await scanTree(dir);
  t.same([...first.cache.keys()].sort(), ['a.txt', 'b.txt']);
  const entry = first.cache.get('a.txt');
  t.equal(entry?.sha256, sha256('alpha'));

  const fake = 'f'.repeat(64);
  const doctored: ScanCache = new Map(first.cache);
  doctored.set('a.txt', { sig: entry?.sig as string, sha256: fake });
  const second = await scanTree(dir, { cache: doctored });
  t.equal(fileAt(second.index, '/a.txt')?.sha256, fake, 'same signature: the cached hash is reused, the file is not read');
  t.equal(fileAt(second.index, '/b.txt')?.sha256, sha256('beta'));
  t.equal(second.cache.get('a.txt')?.sha256, fake, 'carried into the next cache');

  const wrongSig: ScanCache = new Map([['a.txt', { sig: 'not-the-signature', sha256: fake }]]);
  t.equal(fileAt((await scanTree(dir, { cache: wrongSig })).index, '/a.txt')?.sha256, sha256('alpha'), 'a different signature is re-hashed');

  writeFileSync(join(dir, 'a.txt'), 'ALPHA!');
  const third = await scanTree(dir, { cache: doctored });
  t.equal(fileAt(third.index, '/a.txt')?.sha256, sha256('ALPHA!'), 'a changed file is re-hashed');
  t.equal(third.cache.has('gone.txt'), false);
});

t.test('the cache remembers variant verdicts', async (t) => {
  const body = 'compress me '.repeat(50);
  const dir = t.testdir({ 'x.txt': body });
  precompress(dir, 'x.txt', body);
  const first = await scanTree(dir);
  t.same(fileAt(first.index, '/x.txt')?.variants.map((v) => v.encoding), ['br', 'gzip']);
  const br = first.cache.get('x.txt.br');
  t.equal(br?.variantOf?.get(`x.txt\0${sha256(body)}`), true, 'the verdict is cached under the source and its hash');
  // A cached negative verdict for an unchanged variant is believed without decompressing.
  const doctored: ScanCache = new Map(first.cache);
  doctored.set('x.txt.br', { sig: br?.sig as string, sha256: br?.sha256 as string, variantOf: new Map([[`x.txt\0${sha256(body)}`, false]]) });
  const second = await scanTree(dir, { cache: doctored });
  t.same(fileAt(second.index, '/x.txt')?.variants.map((v) => v.encoding), ['gzip']);
});

t.test('onProgress reports a growing count while scanning', async (t) => {
  const total = 2000;
  const files: Record<string, string> = {};
  for (let i = 0; i < total; i++) files[`f${i}.txt`] = String(i);
  const dir = t.testdir(files);
  const seen: number[] = [];
  const { index } = await scanTree(dir, { onProgress: (n) => seen.push(n) });
  t.equal(index.files.length, total);
  t.ok(seen.length >= 1, `called (${seen.join(', ')})`);
  t.ok(seen.every((n, i) => n > 0 && n <= total && (i === 0 || n > (seen[i - 1] as number))), 'counts grow and stay within the total');
});

t.test('a root that is a symlink is resolved', async (t) => {
  const base = t.testdir({ real: { 'a.txt': 'a' } });
  symlinkSync('real', join(base, 'current'));
  const { index } = await scanTree(join(base, 'current'));
  t.equal(index.root, realpathSync(join(base, 'real')));
  t.same(paths(index), ['/a.txt']);
});

t.test('a missing root or a file root throws ScanError', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x' });
  await t.rejects(scanTree(join(dir, 'missing')), { name: 'ScanError', code: 'ENOENT', message: /missing does not exist/ });
  await t.rejects(scanTree(join(dir, 'file.txt')), { name: 'ScanError', code: 'ENOTDIR', message: /file\.txt is not a directory/ });
  const err = await scanTree(join(dir, 'missing')).catch((e: unknown) => e);
  t.ok(err instanceof ScanError);
});
