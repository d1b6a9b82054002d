/** `verifyRelease`: every kind of problem is found and listed; a sound release passes. */
import { mkdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRelease, verifyRelease } from '../release/release.js';
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
