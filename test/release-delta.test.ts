/**
 * `diffReleases` and `stageRelease`: a node holding release A gets release B by a patch of the
 * manifest and the files it lacks. The rebuilt manifest is B's byte for byte, shared files are
 * A's inodes, only changed files are listed, and a patch that does not rebuild B or an A that
 * lacks a shared file is refused with nothing left staged.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRelease, diffReleases, stageRelease, stagingDir, verifyRelease } from '../release/release.js';

const CSS = 'body { margin: 0; font-family: system-ui, sans-serif; }\n'.repeat(20);
const JS = 'export function hello(name) { return `hello ${name}`; }\n'.repeat(30);
const T1 = new Date('2026-03-04T05:06:07.000Z');
const T2 = new Date('2026-03-04T06:06:07.000Z');

/**
 * On the controller, A then B (B: a.txt replaced, c.txt removed, new/d.txt added, the script
 * renamed, so A's is carried for skew protection); the node holds its own copy of A.
 */
async function setup(t: Test): Promise<{ controller: string; node: string; a: string; b: string; out: string }> {
  const root = t.testdir({
    site: { 'a.txt': 'a\n', 'b.css': CSS, 'c.txt': 'c\n', 'index.html': '<!doctype html><p>hi</p>\n', assets: { 'app.3f9a1c2b.js': JS } },
  });
  const site = join(root, 'site');
  const controller = join(root, 'controller');
  const a = await buildRelease(site, controller, { now: T1 });
  writeFileSync(join(site, 'a.txt'), 'A!\n');
  unlinkSync(join(site, 'c.txt'));
  cpSync(join(site, 'b.css'), join(site, 'new-d.css'));
  unlinkSync(join(site, 'assets', 'app.3f9a1c2b.js'));
  writeFileSync(join(site, 'assets', 'app.9e8d7c6b.js'), JS + '// v2\n');
  const b = await buildRelease(site, controller, { now: T2 });
  const node = join(root, 'node');
  cpSync(a.dir, join(node, a.id), { recursive: true });
  return { controller, node, a: a.id, b: b.id, out: join(root, 'delta') };
}

function rsync(t: Test, list: string, from: string, to: string): void {
  const r = spawnSync('rsync', ['--archive', `--files-from=${list}`, `${from}/`, `${to}/`], { encoding: 'utf8' });
  t.equal(r.status, 0, `rsync --files-from ${r.stderr}`);
}

t.test('the node rebuilds B from its A and the patch, and receives only what changed', async (t) => {
  const { controller, node, a, b, out } = await setup(t);
  const diff = await diffReleases(join(controller, a), join(controller, b), out);
  t.same(
    { from: diff.from, to: diff.to, entries: diff.entries, removed: diff.removed, files: diff.files, reused: diff.reused },
    { from: a, to: b, entries: 3, removed: 2, files: 7, reused: false },
    'a.txt, new-d.css and the new script written out; c.txt and the old script removed from files (the script is carried)',
  );
  // new-d.css has the same bytes as b.css, but another path: sent (the rule is path and hash).
  t.same(
    readFileSync(join(out, 'files'), 'utf8'),
    ['a.txt', 'assets/app.9e8d7c6b.js', 'assets/app.9e8d7c6b.js.br', 'assets/app.9e8d7c6b.js.gz', 'new-d.css', 'new-d.css.br', 'new-d.css.gz'].map((p) => p + '\n').join(''),
    'the changed files and their variants, nothing the node has with the same bytes at the same path',
  );

  const staged = await stageRelease(node, join(out, 'patch'));
  t.same({ from: staged.from, to: staged.to, dir: staged.dir, present: staged.present }, { from: a, to: b, dir: stagingDir(node, b), present: false });
  t.same([...staged.receive].sort(), readFileSync(join(out, 'files'), 'utf8').split('\n').filter(Boolean).sort(), 'the node finds the same list of files to receive');
  t.equal(readFileSync(join(staged.dir, 'manifest.json'), 'utf8'), readFileSync(join(controller, b, 'manifest.json'), 'utf8'), 'the manifest is the controller\'s, byte for byte');
  t.equal(lstatSync(join(staged.dir, 'b.css.br')).ino, lstatSync(join(node, a, 'b.css.br')).ino, 'a shared variant is the node\'s A, linked');
  t.equal(lstatSync(join(staged.dir, 'assets', 'app.3f9a1c2b.js')).ino, lstatSync(join(node, a, 'assets', 'app.3f9a1c2b.js')).ino, 'the carried script is linked from A, not sent');
  t.notOk(existsSync(join(staged.dir, 'a.txt')), 'a changed file is not linked');
  rsync(t, join(out, 'files'), join(controller, b), staged.dir);
  const tally = { hashed: 0, shared: 0 };
  t.same(await verifyRelease(staged.dir, { parent: join(node, a), tally }), [], 'the staged release verifies against A');
  t.equal(tally.hashed, diff.files, 'exactly the files sent were hashed');
  t.same(readdirSync(staged.dir).sort(), readdirSync(join(controller, b)).sort(), 'the same tree as on the controller');

  const again = await diffReleases(join(controller, a), join(controller, b), out);
  t.same({ ...again, reused: false }, diff, 'a diff made before is kept, its summary read back');
  t.equal(again.reused, true);
});

t.test('a release in place already is left alone', async (t) => {
  const { controller, node, a, b, out } = await setup(t);
  await diffReleases(join(controller, a), join(controller, b), out);
  cpSync(join(controller, b), join(node, b), { recursive: true });
  const r = await stageRelease(node, join(out, 'patch'));
  t.same({ present: r.present, linked: r.linked }, { present: true, linked: 0 });
  t.notOk(existsSync(stagingDir(node, b)), 'nothing staged');
});

t.test('refused: a patch that does not rebuild B, an A that lacks a shared file; nothing left staged', async (t) => {
  const { controller, node, a, b, out } = await setup(t);
  await diffReleases(join(controller, a), join(controller, b), out);
  const patch = readFileSync(join(out, 'patch'), 'utf8');
  const bad = join(out, 'bad-patch');
  // A changed line that still parses: another mtime.
  writeFileSync(bad, patch.replace(/("path":"\/a\.txt".*?"mtime":)(\d+)/, (_, p: string, n: string) => `${p}${Number(n) + 1}`));
  await t.rejects(stageRelease(node, bad), { code: 'PI_ORIGIN_RELEASE_INVALID', message: new RegExp(`^the manifest rebuilt from ${a} and ${bad} is not the one the patch describes \\(sha256 [0-9a-f]{64}, \\d+ bytes; expected [0-9a-f]{64}, \\d+ bytes\\): copy the whole release instead$`) });
  t.notOk(existsSync(stagingDir(node, b)), 'no staging directory left');
  writeFileSync(bad, patch.split('\n').slice(0, -2).join('\n') + '\n');
  await t.rejects(stageRelease(node, bad), { code: 'PI_ORIGIN_RELEASE_INVALID', message: `${bad}: has no tail line (=): it was cut short` });
  writeFileSync(bad, '{"patch":2}\n');
  await t.rejects(stageRelease(node, bad), { code: 'PI_ORIGIN_RELEASE_INVALID', message: `${bad}: is not a release patch (format 1: made by pi-origin release diff)` });

  unlinkSync(join(node, a, 'b.css'));
  await t.rejects(stageRelease(node, join(out, 'patch')), { code: 'PI_ORIGIN_RELEASE_INVALID', message: `release ${a} does not have files the patch says it shares (/b.css (ENOENT)): copy the whole release instead` });
  t.notOk(existsSync(stagingDir(node, b)), 'no staging directory left');
  rmSync(join(node, a), { recursive: true });
  await t.rejects(stageRelease(node, join(out, 'patch')), { code: 'PI_ORIGIN_RELEASE_NOT_FOUND', message: `release ${join(node, a)} does not exist` });
});

t.test('names rsync would take for comments reach the node too', async (t) => {
  const root = t.testdir({ site: { 'a.txt': 'a\n' } });
  const site = join(root, 'site');
  const controller = join(root, 'controller');
  const a = await buildRelease(site, controller, { now: T1 });
  writeFileSync(join(site, '#notes.txt'), 'n\n');
  writeFileSync(join(site, ';semi.txt'), 's\n');
  const b = await buildRelease(site, controller, { now: T2 });
  const node = join(root, 'node');
  cpSync(a.dir, join(node, a.id), { recursive: true });
  const out = join(root, 'delta');
  await diffReleases(a.dir, b.dir, out);
  t.equal(readFileSync(join(out, 'files'), 'utf8'), './#notes.txt\n./;semi.txt\n', 'written so that rsync does not skip them');
  const staged = await stageRelease(node, join(out, 'patch'));
  rsync(t, join(out, 'files'), b.dir, staged.dir);
  t.same(await verifyRelease(staged.dir, { parent: join(node, a.id) }), [], 'both arrived');
});
