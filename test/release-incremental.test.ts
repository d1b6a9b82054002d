/**
 * Incremental releases (`buildIncremental`, `release build --parent --changes`): the release is
 * the one a full build of the same site makes (same id and manifest but `created` and `parent`,
 * same bytes), unchanged files are the parent's inodes, and every bad change set or parent is
 * refused with a clear error and nothing left behind.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { activateRelease, buildIncremental, buildRelease, parseChanges, type Change, type IncrementalOptions } from '../release/release.js';
import { pseudoRandom } from './helpers/site.js';

const MTIME = new Date('2026-01-02T03:04:05.500Z');
const T1 = new Date('2026-03-04T05:06:07.000Z');
const T2 = new Date('2026-03-04T06:06:07.000Z');
const CSS = 'body { margin: 0; font-family: system-ui, sans-serif; }\n'.repeat(20);
const JS = 'export function hello(name) { return `hello ${name}`; }\n'.repeat(30);
const page = (title: string, ...assets: string[]): string =>
  `<!doctype html><title>${title}</title>${assets.map((a) => (a.endsWith('.css') ? `<link rel=stylesheet href="${a}">` : `<script src="${a}"></script>`)).join('')}\n<p>${'words '.repeat(60)}</p>\n`;

type Tree = Record<string, string | Buffer>;

/** Writes `tree` (relative path -> bytes) under `dir`, every file with MTIME. */
function write(dir: string, tree: Tree): void {
  for (const [rel, body] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), body);
    utimesSync(join(dir, rel), MTIME, MTIME);
  }
}

/** Every regular file under dir, relative, sorted. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => lstatSync(join(dir, p)).isFile()).sort();
}

/** The manifest without the lines an incremental build may differ by. */
function comparable(dir: string): string {
  return readFileSync(join(dir, 'manifest.json'), 'utf8')
    .split('\n')
    .filter((l) => !/^ {2}"(created|parent)": /.test(l))
    .join('\n');
}

const changes = (text: string): Change[] => parseChanges(text, 'changes');

/**
 * The same history twice, in two releases directories: v1 built in full in each, then v2 built
 * from v1 and the change set in one and in full in the other. Returns both v2 results.
 */
async function bothWays(t: Test, v1: Tree, edit: (site: string) => void, list: string, options: Omit<IncrementalOptions, 'parent' | 'changes'> = {}) {
  const root = t.testdir({});
  const site = join(root, 'site');
  write(site, v1);
  const incr = join(root, 'incr');
  const full = join(root, 'full');
  const a = await buildRelease(site, incr, { ...options, now: T1 });
  const a2 = await buildRelease(site, full, { ...options, now: T1 });
  t.equal(a.id, a2.id, 'v1 is the same release in both directories');
  await activateRelease(incr, a.id);
  await activateRelease(full, a.id);
  edit(site);
  const i = await buildIncremental(site, incr, { ...options, now: T2, parent: 'current', changes: changes(list) });
  const f = await buildRelease(site, full, { ...options, now: T2 });
  return { site, incr, full, parent: a, i, f };
}

/** The incremental release is the full one: id, manifest (but created and parent) and every file's bytes; shared files are the parent's inodes. */
function sameAsFull(t: Test, r: Awaited<ReturnType<typeof bothWays>>, changed: readonly string[]): void {
  t.equal(r.i.id, r.f.id, 'the same id as a full build');
  t.equal(comparable(r.i.dir), comparable(r.f.dir), 'the same manifest, but created and parent');
  const manifest = JSON.parse(readFileSync(join(r.i.dir, 'manifest.json'), 'utf8')) as { parent?: string; created: string };
  t.equal(manifest.parent, r.parent.id, 'the manifest records its parent');
  t.equal(manifest.created, T2.toISOString());
  const files = filesUnder(r.i.dir);
  t.same(files, filesUnder(r.f.dir), 'the same files and variants');
  for (const f of files) if (f !== 'manifest.json') t.ok(readFileSync(join(r.i.dir, f)).equals(readFileSync(join(r.f.dir, f))), `${f}: the same bytes`);
  for (const f of files) {
    if (f === 'manifest.json' || changed.some((c) => f === c || f.startsWith(c + '.'))) continue;
    let inParent: number | undefined;
    try {
      inParent = lstatSync(join(r.parent.dir, f)).ino;
    } catch {
      inParent = undefined;
    }
    if (inParent !== undefined) t.equal(lstatSync(join(r.i.dir, f)).ino, inParent, `${f}: the parent's inode (hard link)`);
  }
}

const SITE: Tree = {
  'index.html': page('home', '/assets/site.css', '/assets/app.3f9a1c2b.js'),
  'about.html': page('about', '/assets/site.css'),
  'assets/site.css': CSS,
  'assets/app.3f9a1c2b.js': JS,
  'photo.png': pseudoRandom(3000),
  'docs/guide.txt': 'a guide\n',
  'docs/notes.txt': 'notes\n',
  _headers: ['/docs/*', '  Cache-Control: public, max-age=600', '  Surrogate-Key: docs', ''].join('\n'),
  _redirects: ['/home /index.html 200', '/old /about.html 301', ''].join('\n'),
};

t.test('added, replaced and removed files: the release a full build makes', async (t) => {
  const r = await bothWays(
    t,
    SITE,
    (site) => {
      write(site, { 'docs/new.txt': 'new\n', 'docs/guide.txt': 'a better guide\n', 'assets/app.9e8d7c6b.js': JS + '// v2\n', 'index.html': page('home', '/assets/site.css', '/assets/app.9e8d7c6b.js') });
      unlinkSync(join(site, 'docs/notes.txt'));
      unlinkSync(join(site, 'assets/app.3f9a1c2b.js'));
    },
    'A\tdocs/new.txt\nM\tdocs/guide.txt\nD\tdocs/notes.txt\nA\tassets/app.9e8d7c6b.js\nD\tassets/app.3f9a1c2b.js\nM\tindex.html\n',
    { preload: true },
  );
  sameAsFull(t, r, ['docs/new.txt', 'docs/guide.txt', 'assets/app.9e8d7c6b.js', 'index.html']);
  t.same(
    { added: r.i.added, replaced: r.i.replaced, removed: r.i.removed, ignored: r.i.ignored, copied: r.i.copied, linked: r.i.linked },
    { added: 2, replaced: 2, removed: 2, ignored: 0, copied: 4, linked: 3 },
    'what the change set did',
  );
  t.same(r.i.totals, { files: 7, bytes: r.f.manifest.files.reduce((n, f) => n + f.size, 0), variants: r.f.manifest.files.reduce((n, f) => n + Object.keys(f.variants).length, 0) }, 'the totals verify prints');
  const m = JSON.parse(readFileSync(join(r.i.dir, 'manifest.json'), 'utf8')) as { skew?: { files: { path: string }[] }; routes?: unknown; preload?: Record<string, string[]> };
  t.same(m.skew?.files.map((f) => f.path), ['/assets/app.3f9a1c2b.js'], 'the replaced script is carried for skew protection, as in the full build');
  t.ok(m.routes !== undefined, 'the _redirects rules are compiled');
  t.same(m.preload?.['/index.html'], ['</assets/site.css>; rel=preload; as=style', '</assets/app.9e8d7c6b.js>; rel=preload; as=script'], 'the changed page preloads the new script');
  t.same(m.preload?.['/about.html'], ['</assets/site.css>; rel=preload; as=style'], 'an unchanged page keeps its hints (read from the parent)');
});

t.test('a changed rules file applies to unchanged files too', async (t) => {
  const r = await bothWays(
    t,
    SITE,
    (site) => write(site, { _headers: ['/docs/*', '  Cache-Control: public, max-age=60', ''].join('\n'), 'docs/extra.txt': 'x\n' }),
    'A\tdocs/extra.txt\nM\t_headers\n',
  );
  sameAsFull(t, r, ['docs/extra.txt']);
  t.equal(r.i.ignored, 1, '_headers is not content: its change is ignored as a file (the rules are read anyway)');
  const m = JSON.parse(readFileSync(join(r.i.dir, 'manifest.json'), 'utf8')) as { files: { path: string; headers: Record<string, string> }[] };
  t.equal(m.files.find((f) => f.path === '/docs/guide.txt')?.headers['Cache-Control'], 'public, max-age=60', 'an unchanged file has the new rule');
});

t.test('precompressed siblings and dotfiles: published exactly as a full build publishes them', async (t) => {
  const base: Tree = { 'a.txt': 'a\n', 'b.txt': 'b\n', 'b.txt.gz': 'not b, gzipped\n', 'c.css.br': 'a file of its own\n', '.env': 'SECRET=1\n' };
  const r = await bothWays(
    t,
    base,
    (site) => {
      // b.txt goes: its sibling b.txt.gz is published now. c.css comes: its sibling c.css.br is hidden.
      unlinkSync(join(site, 'b.txt'));
      write(site, { 'c.css': CSS, '.env': 'SECRET=2\n', '.well-known/security.txt': 'Contact: x\n' });
    },
    'D\tb.txt\nA\tc.css\nM\t.env\nA\t.well-known/security.txt\n',
  );
  sameAsFull(t, r, ['c.css', 'b.txt.gz', '.well-known/security.txt']);
  const paths = (JSON.parse(readFileSync(join(r.i.dir, 'manifest.json'), 'utf8')) as { files: { path: string }[] }).files.map((f) => f.path);
  t.same(paths, ['/.well-known/security.txt', '/a.txt', '/b.txt.gz', '/c.css'], 'b.txt.gz published, c.css.br hidden, .env never');
  t.same({ added: r.i.added, removed: r.i.removed, ignored: r.i.ignored }, { added: 3, removed: 2, ignored: 1 }, 'added c.css, b.txt.gz, security.txt; removed b.txt, c.css.br; ignored .env');
});

t.test('symlinks inside the site are followed as a full build follows them', async (t) => {
  const r = await bothWays(
    t,
    { 'real/a.txt': 'a\n', 'b.txt': 'b\n' },
    (site) => {
      write(site, { 'real/c.txt': 'c\n' });
      symlinkSync('real/c.txt', join(site, 'link.txt'));
    },
    'A\treal/c.txt\nA\tlink.txt\n',
  );
  sameAsFull(t, r, ['real/c.txt', 'link.txt']);
});

t.test('random change sets: always the full build', async (t) => {
  const names = ['a.txt', 'a.txt.gz', 'b.css', 'b.css.br', 'd/c.html', 'd/e.js', 'd/f.txt', 'g.json', '.hidden'];
  const body = fc.constantFrom('x\n', CSS, JS, '<!doctype html><script src="/d/e.js"></script>\n' + 'text '.repeat(40));
  const state = fc.dictionary(fc.constantFrom(...names), body, { maxKeys: names.length });
  await fc.assert(
    fc.asyncProperty(state, state, async (before, after) => {
      const tt = t;
      const edit = (site: string): void => {
        for (const n of names) if (!(n in after)) rmSync(join(site, n), { force: true });
        write(site, after);
      };
      const list = names
        .flatMap((n) => (n in before && !(n in after) ? [`D\t${n}`] : !(n in before) && n in after ? [`A\t${n}`] : n in before && before[n] !== after[n] ? [`M\t${n}`] : []))
        .join('\n');
      // A subtest per case, so a failure names the two states.
      await tt.test(`${JSON.stringify(Object.keys(before))} -> ${JSON.stringify(Object.keys(after))}`, async (t) => {
        const r = await bothWays(t, { 'keep.txt': 'kept\n', ...before }, edit, list, { preload: true });
        t.equal(r.i.id, r.f.id, 'same id');
        t.equal(comparable(r.i.dir), comparable(r.f.dir), 'same manifest');
      });
    }),
    { numRuns: 12, seed: 17 },
  );
});

t.test('refused: a change set that does not match the site or the parent, and nothing is left behind', async (t) => {
  const root = t.testdir({});
  const site = join(root, 'site');
  const releases = join(root, 'releases');
  write(site, { 'a.txt': 'a\n', 'b.txt': 'b\n' });
  const a = await buildRelease(site, releases, { now: T1 });
  await activateRelease(releases, a.id);
  write(site, { 'c.txt': 'c\n' });
  const build = (list: string, parent = 'current'): Promise<unknown> => buildIncremental(site, releases, { parent, changes: changes(list) });
  await t.rejects(build('A\tnope.txt\n'), { code: 'PI_ORIGIN_RELEASE_CHANGES', message: `changes line 1: /nope.txt is not a file of the site ${site}` });
  await t.rejects(build('A\tc.txt\nD\ta.txt\n'), { code: 'PI_ORIGIN_RELEASE_CHANGES', message: `changes line 2: /a.txt is listed as removed, but the site ${site} still has it` });
  await t.rejects(build('A\tb.txt\n'), { code: 'PI_ORIGIN_RELEASE_CHANGES', message: `changes line 1: /b.txt is listed as added, but the parent release ${a.id} has it (replaced: M)` });
  await t.rejects(build('M\tc.txt\n'), { code: 'PI_ORIGIN_RELEASE_CHANGES', message: `changes line 1: /c.txt is listed as replaced, but the parent release ${a.id} does not have it` });
  await t.rejects(build('A\tc.txt\n', '0123456789ab'), { code: 'PI_ORIGIN_RELEASE_PARENT', message: `parent release 0123456789ab is not in ${releases}` });
  await t.rejects(build('A\tc.txt\n', 'latest'), { code: 'PI_ORIGIN_RELEASE_USAGE', message: 'parent must be a release id (12 hex digits) or current (got "latest")' });
  symlinkSync('missing-target', join(site, 'dangling.txt'));
  await t.rejects(build('A\tdangling.txt\n'), { code: 'PI_ORIGIN_RELEASE_SITE', message: 'changes line 1: /dangling.txt is a dangling symlink' });
  symlinkSync('/etc/hostname', join(site, 'outside.txt'));
  await t.rejects(build('A\toutside.txt\n'), { code: 'PI_ORIGIN_RELEASE_SITE', message: 'changes line 1: /outside.txt is a symlink leaving the site' });
  t.same(readdirSync(releases).sort(), [a.id, 'current'], 'no release and no temporary left');

  // A parent that does not verify by its manifest: one of its files gone, or its manifest edited.
  const file = join(releases, a.id, 'b.txt');
  const saved = readFileSync(file);
  unlinkSync(file);
  await t.rejects(build('A\tc.txt\n'), { code: 'PI_ORIGIN_RELEASE_PARENT', message: new RegExp(`^parent release ${a.id} does not verify: 1 of its files could not be linked \\(/b\\.txt \\(ENOENT\\)\\); check it with pi-origin release verify `) });
  writeFileSync(file, saved);
  const manifest = join(releases, a.id, 'manifest.json');
  const text = readFileSync(manifest, 'utf8');
  writeFileSync(manifest, text.replace('"Cache-Control":"public, max-age=3600"', '"Cache-Control":"no-store"'));
  await t.rejects(build('A\tc.txt\n'), { code: 'PI_ORIGIN_RELEASE_PARENT', message: new RegExp(`^parent release ${a.id} does not verify: .*manifest\\.json: the manifest's files, headers and redirects give [0-9a-f]{12}, manifest says ${a.id}$`) });
  writeFileSync(manifest, text.replace('"size":2,', '"size":-2,'));
  await t.rejects(build('A\tc.txt\n'), { code: 'PI_ORIGIN_RELEASE_PARENT', message: `parent release ${a.id} does not verify: ${manifest}: files["/a.txt"]: size must be a non-negative integer` });
  writeFileSync(manifest, text);
  t.same(readdirSync(releases).sort(), [a.id, 'current'], 'still nothing left');
  const ok = await build('A\tc.txt\n');
  t.ok(readdirSync(releases).includes((ok as { id: string }).id), 'with a sound parent and change set the build goes through');
});

t.test('a parent with no current pointer, and a file that changed while being copied', async (t) => {
  const root = t.testdir({});
  const site = join(root, 'site');
  const releases = join(root, 'releases');
  write(site, { 'a.txt': 'a\n' });
  const a = await buildRelease(site, releases, { now: T1 });
  await t.rejects(buildIncremental(site, releases, { parent: 'current', changes: [] }), { code: 'PI_ORIGIN_RELEASE_PARENT', message: `parent current: ${releases} has no current release` });
  const same = await buildIncremental(site, releases, { parent: a.id, changes: [] });
  t.same({ id: same.id, reused: same.reused }, { id: a.id, reused: true }, 'an empty change set is the parent itself: reused');
});

t.test('parseChanges: git diff --name-status lines, its -z form, and what it refuses', (t) => {
  t.same(parseChanges('A\ta.txt\n# comment\n\nM\t/b/c.txt\r\nD\td e.txt\n', 'f'), [
    { op: 'A', rel: 'a.txt', at: 'f line 1' },
    { op: 'M', rel: 'b/c.txt', at: 'f line 4' },
    { op: 'D', rel: 'd e.txt', at: 'f line 5' },
  ]);
  t.same(parseChanges('A\0a "b".txt\0D\0c.txt\0', 'f'), [
    { op: 'A', rel: 'a "b".txt', at: 'f entry 1' },
    { op: 'D', rel: 'c.txt', at: 'f entry 2' },
  ]);
  const refused: [string, string][] = [
    ['R100\ta\tb\n', 'f line 1: unknown change "R100" (expected A, M or D, as git diff --name-status --no-renames prints)'],
    ['A a.txt\n', 'f line 1: expected an operation, a tab and a path (got "A a.txt")'],
    ['A\t../x\n', 'f line 1: "../x" has a .. segment'],
    ['A\ta//b\n', 'f line 1: "a//b" has an empty segment (// or a trailing /)'],
    ['A\t\n', 'f line 1: "" is empty'],
    ['A\ta\\b\n', 'f line 1: "a\\\\b" holds a backslash'],
    ['A\ta.txt\nM\t/a.txt\n', 'f line 2: "/a.txt" is already named at f line 1'],
    ['A\0a.txt\0D\0', 'f: the NUL-separated list ends with an operation and no path'],
  ];
  for (const [text, message] of refused) t.throws(() => parseChanges(text, 'f'), { code: 'PI_ORIGIN_RELEASE_CHANGES', message }, JSON.stringify(text));
  t.end();
});

t.test('hard links only: a linked file of the parent keeps its inode, a copied one gets its own', async (t) => {
  const root = t.testdir({});
  const site = join(root, 'site');
  const releases = join(root, 'releases');
  write(site, { 'a.txt': 'a\n', 'b.txt': 'b\n' });
  const a = await buildRelease(site, releases, { now: T1 });
  write(site, { 'b.txt': 'B\n' });
  const b = await buildIncremental(site, releases, { parent: a.id, changes: changes('M\tb.txt\n') });
  t.equal(lstatSync(join(b.dir, 'a.txt')).ino, lstatSync(join(a.dir, 'a.txt')).ino, 'a.txt linked');
  t.not(lstatSync(join(b.dir, 'b.txt')).ino, lstatSync(join(site, 'b.txt')).ino, 'b.txt copied from the site, not linked to it');
  t.equal(readFileSync(join(b.dir, 'b.txt'), 'utf8'), 'B\n');
  t.equal(lstatSync(join(a.dir, 'a.txt')).nlink, 2, 'one inode, two releases');
});

t.test('skew protection across several earlier releases: the window a full build takes', async (t) => {
  // Four releases, each with its own script; the HTML may be cached for a day, so the window
  // (2 releases) grows by the older ones whose successor was built less than a day before.
  const root = t.testdir({});
  const site = join(root, 'site');
  const incr = join(root, 'incr');
  const full = join(root, 'full');
  const rules = ['/*.html', '  Cache-Control: public, max-age=60, s-maxage=86400', ''].join('\n');
  const version = (n: number): Tree => ({ _headers: rules, 'index.html': page(`v${n}`, `/assets/app.${n}a${n}b${n}c${n}d.js`), [`assets/app.${n}a${n}b${n}c${n}d.js`]: JS + `// v${n}\n` });
  let previous: Tree = {};
  for (let n = 1; n <= 4; n++) {
    for (const rel of Object.keys(previous)) if (!(rel in version(n))) rmSync(join(site, rel));
    write(site, version(n));
    const now = new Date(T1.getTime() + n * 3_600_000);
    const f = await buildRelease(site, full, { now });
    await activateRelease(full, f.id);
    if (n === 1) {
      const i = await buildRelease(site, incr, { now });
      await activateRelease(incr, i.id);
    } else {
      const list = `M\tindex.html\nD\tassets/app.${n - 1}a${n - 1}b${n - 1}c${n - 1}d.js\nA\tassets/app.${n}a${n}b${n}c${n}d.js\n`;
      const i = await buildIncremental(site, incr, { now, parent: 'current', changes: changes(list) });
      await activateRelease(incr, i.id);
      t.equal(i.id, f.id, `v${n}: the same id`);
      t.equal(comparable(i.dir), comparable(f.dir), `v${n}: the same manifest, skew field included`);
      if (n === 4) {
        const m = JSON.parse(readFileSync(join(i.dir, 'manifest.json'), 'utf8')) as { skew: { releases: string[]; files: { path: string }[] } };
        t.equal(m.skew.releases.length, 3, 'three earlier releases carried: two by count, one by its HTML lifetime');
        t.same(m.skew.files.map((x) => x.path), ['/assets/app.1a1b1c1d.js', '/assets/app.2a2b2c2d.js', '/assets/app.3a3b3c3d.js']);
      }
    }
    previous = version(n);
  }
});
