/** `verifyRelease`: every kind of problem is found and listed; a sound release passes. */
import { mkdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildIncremental, buildRelease, parseChanges, verifyRelease } from '../release/release.js';
import { sha256 } from './helpers/hash.js';

const CSS = 'body { margin: 0; font-family: system-ui, sans-serif; }\n'.repeat(20);

async function release(t: Test): Promise<string> {
  const root = t.testdir({ site: { 'a.txt': 'a\n', 'b.css': CSS, 'c.txt': 'cccc\n', 'd.txt': 'd\n', sub: { 'e.txt': 'e\n' } } });
  return (await buildRelease(join(root, 'site'), join(root, 'releases'))).dir;
}

t.test('a clean release has no problems', async (t) => {
  const dir = await release(t);
  const progress: [number, number][] = [];
  t.same(await verifyRelease(dir, { onProgress: (d, n) => progress.push([d, n]) }), []);
  t.equal(progress.length, 7, 'a progress call per file and variant (5 files, 2 variants)');
  t.same(progress.at(-1), [7, 7]);
});

t.test('every problem is listed, in path order', async (t) => {
  const dir = await release(t);
  unlinkSync(join(dir, 'a.txt'));
  truncateSync(join(dir, 'b.css'), 10);
  writeFileSync(join(dir, 'c.txt'), 'CCCC\n');
  unlinkSync(join(dir, 'd.txt'));
  symlinkSync('c.txt', join(dir, 'd.txt'));
  unlinkSync(join(dir, 'b.css.gz'));
  writeFileSync(join(dir, 'extra.txt'), 'x');
  mkdirSync(join(dir, 'newdir'));
  writeFileSync(join(dir, 'newdir', 'inside.txt'), 'x');
  symlinkSync('/etc', join(dir, 'sub', 'etc'));
  t.same(await verifyRelease(dir), [
    'missing: /a.txt',
    `size: /b.css is 10 bytes, manifest says ${Buffer.byteLength(CSS)}`,
    'missing: /b.css.gz',
    `sha256: /c.txt is ${sha256('CCCC\n')}, manifest says ${sha256('cccc\n')}`,
    'symlink: /d.txt',
    'extra: /extra.txt',
    'extra: /newdir/',
    'symlink: /sub/etc',
  ]);
});

t.test('manifest problems', async (t) => {
  const dir = await release(t);
  const text = readFileSync(join(dir, 'manifest.json'), 'utf8');
  writeFileSync(join(dir, 'manifest.json'), text.replace('"Cache-Control":"public, max-age=3600"', '"Cache-Control":"no-store"'));
  const problems = await verifyRelease(dir);
  t.equal(problems.length, 1);
  t.match(problems[0], /^id: the manifest's files, headers and redirects give [0-9a-f]{12}, manifest says [0-9a-f]{12}$/, 'edited headers are caught');

  writeFileSync(join(dir, 'manifest.json'), text.replace('"format": 1', '"format": 2'));
  t.same(await verifyRelease(dir), [`manifest: ${join(dir, 'manifest.json')}: format must be 1 (got 2)`]);
  writeFileSync(join(dir, 'manifest.json'), '{');
  t.match(await verifyRelease(dir), [/^manifest: .*manifest\.json is not valid JSON/]);
  rmSync(join(dir, 'manifest.json'));
  t.same(await verifyRelease(dir), ['missing: /manifest.json']);
});

t.test('a release directory that does not exist is an error', async (t) => {
  const dir = t.testdir({ file: 'x' });
  await t.rejects(verifyRelease(join(dir, 'nope')), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_NOT_FOUND', message: `release directory ${join(dir, 'nope')} does not exist (ENOENT)` });
  await t.rejects(verifyRelease(join(dir, 'file')), { code: 'PI_ORIGIN_RELEASE_NOT_FOUND', message: `release directory ${join(dir, 'file')} is not a directory` });
});

t.test('--parent: files hard-linked to the verified parent with the same hash are not hashed again', async (t) => {
  const root = t.testdir({ site: { 'a.txt': 'a\n', 'b.css': CSS, 'c.txt': 'cccc\n' } });
  const releases = join(root, 'releases');
  const a = await buildRelease(join(root, 'site'), releases, { now: new Date('2026-01-01T00:00:00Z') });
  writeFileSync(join(root, 'site/c.txt'), 'CCCC changed\n');
  const b = await buildRelease(join(root, 'site'), releases, { now: new Date('2026-01-02T00:00:00Z') });
  t.ok(b.linked > 0, `the build hard-linked unchanged files (${b.linked})`);

  const tally = { hashed: 0, shared: 0 };
  t.same(await verifyRelease(b.dir, { parent: a.dir, tally }), []);
  t.same(tally, { hashed: 1, shared: 4 }, 'c.txt hashed; a.txt, b.css and its two variants shared with the parent');
  const full = { hashed: 0, shared: 0 };
  t.same(await verifyRelease(b.dir, { tally: full }), []);
  t.same(full, { hashed: 5, shared: 0 }, 'without --parent every file is hashed');

  // A copy with the parent's bytes but its own inode is hashed: only a shared inode is trusted.
  const copy = readFileSync(join(b.dir, 'a.txt'));
  unlinkSync(join(b.dir, 'a.txt'));
  writeFileSync(join(b.dir, 'a.txt'), copy);
  const again = { hashed: 0, shared: 0 };
  t.same(await verifyRelease(b.dir, { parent: a.dir, tally: again }), []);
  t.same(again, { hashed: 2, shared: 3 });

  // Changed files are still caught; so are wrong sizes of shared ones.
  writeFileSync(join(b.dir, 'c.txt'), 'CCCC CHANGED\n');
  t.same(await verifyRelease(b.dir, { parent: a.dir }), [`sha256: /c.txt is ${sha256('CCCC CHANGED\n')}, manifest says ${sha256('CCCC changed\n')}`]);

  // The trust is the parent's verification: bytes altered in place in a shared inode (both
  // releases at once) pass --parent and fail the full verify, which stays available.
  writeFileSync(join(b.dir, 'c.txt'), 'CCCC changed\n');
  const altered = CSS.replace('margin', 'MARGIN');
  writeFileSync(join(a.dir, 'b.css'), altered);
  t.same(await verifyRelease(b.dir, { parent: a.dir }), []);
  t.same(await verifyRelease(b.dir), [`sha256: /b.css is ${sha256(altered)}, manifest says ${sha256(CSS)}`]);

  writeFileSync(join(a.dir, 'b.css'), CSS);
  t.same(await verifyRelease(b.dir, { parent: join(root, 'site') }), [`parent: ${join(root, 'site')} is not a release with a readable manifest`]);
});

/** A (full) and B built from A (incremental): B adds sub/f.txt, replaces c.txt, removes d.txt; a.txt, b.css and sub/e.txt are A's inodes. */
async function parentAndChild(t: Test): Promise<{ a: string; b: string }> {
  const root = t.testdir({ site: { 'a.txt': 'a\n', 'b.css': CSS, 'c.txt': 'cccc\n', 'd.txt': 'd\n', sub: { 'e.txt': 'e\n' } } });
  const site = join(root, 'site');
  const releases = join(root, 'releases');
  const a = await buildRelease(site, releases);
  writeFileSync(join(site, 'sub', 'f.txt'), 'f\n');
  writeFileSync(join(site, 'c.txt'), 'CCCC\n');
  unlinkSync(join(site, 'd.txt'));
  const b = await buildIncremental(site, releases, { parent: a.id, changes: parseChanges('A\tsub/f.txt\nM\tc.txt\nD\td.txt\n', 'changes') });
  return { a: a.dir, b: b.dir };
}

t.test('--parent (streamed): only the changed files are read, and every problem a full verification finds is found', async (t) => {
  const sound = await parentAndChild(t);
  const tally = { hashed: 0, shared: 0 };
  const summary = {};
  t.same(await verifyRelease(sound.b, { parent: sound.a, tally, summary }), []);
  t.same(tally, { hashed: 2, shared: 5 }, 'c.txt and sub/f.txt hashed; a.txt, b.css (+2 variants), sub/e.txt shared');
  t.match(summary, { files: 5, bytes: 2 + CSS.length + 5 + 2 + 2, variants: 2 }, 'the totals verify prints');
  const scenarios: [string, (b: string) => void][] = [
    ['a changed file with other bytes', (b) => writeFileSync(join(b, 'c.txt'), 'cccC\n')],
    ['a shared file replaced by another inode with other bytes', (b) => (unlinkSync(join(b, 'a.txt')), writeFileSync(join(b, 'a.txt'), 'A\n'))],
    ['a shared file gone', (b) => unlinkSync(join(b, 'sub', 'e.txt'))],
    ['a shared variant truncated', (b) => truncateSync(join(b, 'b.css.gz'), 3)],
    ['an extra file, an extra directory, a symlink for a file', (b) => {
      writeFileSync(join(b, 'sub', 'extra.txt'), 'x');
      mkdirSync(join(b, 'more'));
      unlinkSync(join(b, 'a.txt'));
      symlinkSync('c.txt', join(b, 'a.txt'));
    }],
    ['a directory gone and a file in its place count', (b) => {
      rmSync(join(b, 'sub'), { recursive: true });
      writeFileSync(join(b, 'intruder.txt'), 'x');
    }],
    ['a directory where a file was', (b) => (unlinkSync(join(b, 'c.txt')), mkdirSync(join(b, 'c.txt')))],
    ['edited headers', (b) => writeFileSync(join(b, 'manifest.json'), readFileSync(join(b, 'manifest.json'), 'utf8').replace('"Cache-Control":"public, max-age=3600"', '"Cache-Control":"no-store"'))],
  ];
  for (const [what, corrupt] of scenarios) {
    await t.test(what, async (t) => {
      const { a, b } = await parentAndChild(t);
      corrupt(b);
      const streamed = await verifyRelease(b);
      const withParent = await verifyRelease(b, { parent: a });
      // The same manifest in another layout is verified the general way (an object per file).
      const file = join(b, 'manifest.json');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, JSON.stringify(JSON.parse(text), null, 2) + '\n');
      const general = await verifyRelease(b);
      writeFileSync(file, text);
      t.not(general.length, 0, 'a full verification finds a problem');
      t.same(streamed, general, 'the streamed full verification finds the same ones');
      t.same(withParent, general, 'verification against the parent finds the same ones');
    });
  }
});

t.test('--parent trusts a shared inode: a byte changed in place is the parent\'s problem, found by verifying it', async (t) => {
  const { a, b } = await parentAndChild(t);
  const file = join(b, 'sub', 'e.txt');
  writeFileSync(file, 'E\n');
  t.same(await verifyRelease(b, { parent: a }), [], 'same inode, same hash in both manifests: not read');
  t.same(await verifyRelease(b), [`sha256: /sub/e.txt is ${sha256('E\n')}, manifest says ${sha256('e\n')}`], 'a full verification reads it');
  t.same(await verifyRelease(a), [`sha256: /sub/e.txt is ${sha256('E\n')}, manifest says ${sha256('e\n')}`], 'and so does the parent\'s');
});
