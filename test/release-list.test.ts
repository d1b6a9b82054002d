/** `listReleases` / `pruneReleases`: newest first, markers, keep N, never current or previous. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { activateRelease, buildRelease, listReleases, pruneReleases, type BuildResult } from '../release/release.js';

/** Four releases created a day apart: r[0] oldest. */
async function fourReleases(t: Test): Promise<{ releases: string; r: BuildResult[] }> {
  const root = t.testdir({ site: { 'index.html': '<h1>0</h1>\n' } });
  const releases = join(root, 'releases');
  const r: BuildResult[] = [];
  for (let i = 0; i < 4; i++) {
    writeFileSync(join(root, 'site', 'index.html'), `<h1>${i}</h1>\n` + 'more text that compresses well. '.repeat(i * 10));
    r.push(await buildRelease(join(root, 'site'), releases, { now: new Date(Date.UTC(2026, 0, 1 + i)) }));
  }
  return { releases, r };
}

const bytesOf = (b: BuildResult): number => b.manifest.files.reduce((s, f) => s + f.size + (f.variants.br?.size ?? 0) + (f.variants.gzip?.size ?? 0), 0);

t.test('list: newest first, with size, files and markers; dot-entries and non-releases ignored', async (t) => {
  const { releases, r } = await fourReleases(t);
  await activateRelease(releases, r[0]!.id);
  await activateRelease(releases, r[1]!.id);
  mkdirSync(join(releases, '.tmp-abcdefabcdef-1'));
  mkdirSync(join(releases, 'notes'));
  mkdirSync(join(releases, 'abcdefabcdef'));
  t.same(
    await listReleases(releases),
    [3, 2, 1, 0].map((i) => ({ id: r[i]!.id, created: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(), bytes: bytesOf(r[i]!), files: 1, current: i === 1, previous: i === 0 })),
  );
  t.ok(bytesOf(r[3]!) > r[3]!.manifest.files[0]!.size, 'size counts variants too');
  t.same(await listReleases(t.testdir({})), [], 'empty directory');
  await t.rejects(listReleases(join(releases, 'missing')), { code: 'PI_ORIGIN_RELEASE_NOT_FOUND' });
});

t.test('prune keeps the N newest and never current or previous', async (t) => {
  const { releases, r } = await fourReleases(t);
  const [r0, r1, r2, r3] = r.map((x) => x.id) as [string, string, string, string];
  await activateRelease(releases, r0);
  await activateRelease(releases, r1);
  mkdirSync(join(releases, 'notes'));
  t.same(await pruneReleases(releases, 4), [], 'nothing beyond 4');
  t.same(await pruneReleases(releases, 1), [r2], 'r3 is the newest; r1 current, r0 previous');
  t.same(readdirSync(releases).sort(), [r0, r1, r3, 'current', 'notes', 'previous'].sort(), 'non-releases untouched, no temporaries left');
  t.same(await pruneReleases(releases, 0), [r3]);
  t.same(await pruneReleases(releases, 0), [], 'current and previous stay even with --keep 0');
  t.same((await listReleases(releases)).map((x) => x.id), [r1, r0]);
  await t.rejects(pruneReleases(releases, -1), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_USAGE', message: 'keep must be a non-negative integer (got -1)' });
  await t.rejects(pruneReleases(releases, 1.5), { code: 'PI_ORIGIN_RELEASE_USAGE' });
});

t.test('prune removes the oldest first and refuses a current that is not a symlink', async (t) => {
  const { releases, r } = await fourReleases(t);
  t.same(await pruneReleases(releases, 2), [r[0]!.id, r[1]!.id], 'oldest first');
  mkdirSync(join(releases, 'current'));
  await t.rejects(pruneReleases(releases, 0), { code: 'PI_ORIGIN_RELEASE_POINTER' });
  t.equal((await listReleases(releases)).length, 2, 'list still works');
});

t.test('list reads a manifest line by line as readManifest judges it: another layout is listed, an invalid one is not a release', async (t) => {
  const { releases, r } = await fourReleases(t);
  const before = await listReleases(releases);
  const pretty = join(releases, r[2]!.id, 'manifest.json');
  writeFileSync(pretty, JSON.stringify(JSON.parse(readFileSync(pretty, 'utf8')), null, 2) + '\n');
  t.same(await listReleases(releases), before, 'a pretty-printed manifest gives the same summary');
  const broken = join(releases, r[1]!.id, 'manifest.json');
  writeFileSync(broken, readFileSync(broken, 'utf8').replace('"redirects": [', '"redirects": [{"from":"/a","to":"/b","status":999}'));
  t.same((await listReleases(releases)).map((s) => s.id), [3, 2, 0].map((i) => r[i]!.id), 'an invalid rest: not a release');
  const entry = join(releases, r[0]!.id, 'manifest.json');
  writeFileSync(entry, readFileSync(entry, 'utf8').replace(/"sha256":"[0-9a-f]{64}"/, '"sha256":"nothex"'));
  t.same((await listReleases(releases)).map((s) => s.id), [3, 2].map((i) => r[i]!.id), 'an invalid entry: not a release');
});
