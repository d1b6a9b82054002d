/**
 * Skew protection at build time (release/skew.ts): which earlier releases' assets a new release
 * carries, as hard links, outside its `files`; how `verify` checks them; the options and the
 * manifest field checked where they are read.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ManifestError, validateManifest, type Manifest } from '../release/manifest.js';
import { activateRelease, buildRelease, ReleaseError, verifyRelease } from '../release/release.js';
import { runCli } from './helpers/cli.js';
import { SKEW_RULES, writeSkewSite } from './helpers/skew-site.js';

const T0 = Date.parse('2026-03-04T05:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);
async function buildVersion(site: string, releases: string, n: number, options: Parameters<typeof buildRelease>[2] = {}): Promise<Awaited<ReturnType<typeof buildRelease>>> {
  writeSkewSite(site, n);
  const r = await buildRelease(site, releases, { now: at(n * 3600), ...options });
  await activateRelease(releases, r.id);
  return r;
}

const carriedPaths = (m: Manifest): string[] => (m.skew?.files ?? []).map((f) => `${f.release}${f.path}`);

t.test('a release carries the assets of the two before it, as hard links outside its files', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  const r1 = await buildVersion(site, releases, 1);
  t.equal(r1.manifest.skew, undefined, 'nothing to carry: no skew field, the manifest is as before');
  t.notMatch(readFileSync(join(r1.dir, 'manifest.json'), 'utf8'), /"skew"/);
  const r2 = await buildVersion(site, releases, 2);
  t.same(r2.manifest.skew?.releases, [r1.id]);
  t.same(carriedPaths(r2.manifest), [`${r1.id}/assets/app.10a0b0c0.js`, `${r1.id}/assets/site.10d0e0f0.css`], 'immutable assets only: not the HTML, not robots.txt');
  t.equal(r2.carried, 2);
  t.same(r2.manifest.files.map((f) => f.path), ['/assets/app.20a0b0c0.js', '/assets/site.20d0e0f0.css', '/index.html', '/robots.txt'], 'files lists only the release\'s own content');

  const old = r1.manifest.files.find((f) => f.path === '/assets/app.10a0b0c0.js');
  const carried = r2.manifest.skew?.files.find((f) => f.path === '/assets/app.10a0b0c0.js');
  t.same(carried, { ...old, release: r1.id }, 'served with the old release\'s headers (its cache tags), size, hash and variants');
  const ino = (dir: string, file: string): number => statSync(join(dir, file)).ino;
  t.equal(ino(r2.dir, 'assets/app.10a0b0c0.js'), ino(r1.dir, 'assets/app.10a0b0c0.js'), 'a hard link: no bytes copied');
  t.ok(carried?.variants.gzip, 'the script has a gzip variant');
  t.equal(ino(r2.dir, 'assets/app.10a0b0c0.js.gz'), ino(r1.dir, 'assets/app.10a0b0c0.js.gz'), 'variants too');
  t.same(await verifyRelease(r2.dir), [], 'verify checks carried files and accepts them');

  const fresh = await buildRelease(site, join(base, 'elsewhere'), { now: at(7200) });
  t.equal(fresh.id, r2.id, 'the id is the content\'s: carried assets are not part of it');

  const r3 = await buildVersion(site, releases, 3);
  t.same(r3.manifest.skew?.releases, [r2.id, r1.id]);
  t.same(carriedPaths(r3.manifest).sort(), [
    `${r1.id}/assets/app.10a0b0c0.js`, `${r1.id}/assets/site.10d0e0f0.css`, `${r2.id}/assets/app.20a0b0c0.js`, `${r2.id}/assets/site.20d0e0f0.css`,
  ].sort());
  // r4 is built long after r2 replaced r1 (more than r1's HTML lifetime): r1 leaves the window.
  const r4 = await buildVersion(site, releases, 4);
  t.same(r4.manifest.skew?.releases, [r3.id, r2.id], 'the two before it; r1 is older and its HTML has expired everywhere');
  t.same(await verifyRelease(r4.dir), []);
});

t.test('an older release stays in the window while its HTML may still be cached', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  const r1 = await buildVersion(site, releases, 1);
  writeSkewSite(site, 2);
  const r2 = await buildRelease(site, releases, { now: at(4000) });
  await activateRelease(releases, r2.id);
  writeSkewSite(site, 3);
  // r2 replaced r1 599 s ago: r1's HTML (s-maxage=600) may still be in a CDN.
  const r3 = await buildRelease(site, releases, { now: at(4599), skew: { releases: 1 } });
  t.same(r3.manifest.skew?.releases, [r2.id, r1.id]);
  rmSync(r3.dir, { recursive: true });
  const r3late = await buildRelease(site, releases, { now: at(4600), skew: { releases: 1 } });
  t.same(r3late.manifest.skew?.releases, [r2.id], 'at 600 s it has expired');
});

t.test('--skew-releases 0 turns it off; assets chooses by Cache-Control, by name, or both', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  const write = (n: number): void => {
    writeSkewSite(site, n);
    // Immutable by the rules but no hash in the name; a hashed name the rules make short-lived.
    writeFileSync(join(site, 'assets', `font${n}.woff2`), `font ${n}`);
    writeFileSync(join(site, 'assets', `logo.${n}0a0b0c0.png`), `logo ${n}`);
    writeFileSync(join(site, '_headers'), `${SKEW_RULES}/assets/*.woff2\n  Cache-Control: public, max-age=31536000, immutable\n/assets/*.png\n  Cache-Control: public, max-age=60\n`);
  };
  write(1);
  const r1 = await buildRelease(site, releases, { now: at(0) });
  await activateRelease(releases, r1.id);
  write(2);
  const built = async (skew: Parameters<typeof buildRelease>[2]): Promise<string[]> => {
    const r = await buildRelease(site, releases, { now: at(3600), ...skew });
    const carried = (r.manifest.skew?.files ?? []).map((f) => f.path);
    rmSync(r.dir, { recursive: true });
    return carried;
  };
  t.same(await built({ skew: { releases: 0 } }), []);
  t.same(await built({}), ['/assets/app.10a0b0c0.js', '/assets/font1.woff2', '/assets/site.10d0e0f0.css'], 'immutable (default)');
  t.same(await built({ skew: { assets: 'hashed' } }), ['/assets/app.10a0b0c0.js', '/assets/logo.10a0b0c0.png', '/assets/site.10d0e0f0.css'], 'hashed');
  t.same(await built({ skew: { assets: 'both' } }), ['/assets/app.10a0b0c0.js', '/assets/site.10d0e0f0.css'], 'both');
});

t.test('a path the new release has is never shadowed by an old asset', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  await buildVersion(site, releases, 1);
  writeSkewSite(site, 2);
  writeFileSync(join(site, 'assets', 'app.10a0b0c0.js'), 'rebuilt under the old name\n');
  const r2 = await buildRelease(site, releases, { now: at(7200) });
  t.same(carriedPaths(r2.manifest).map((p) => p.slice(12)), ['/assets/site.10d0e0f0.css']);
  t.equal(readFileSync(join(r2.dir, 'assets', 'app.10a0b0c0.js'), 'utf8'), 'rebuilt under the old name\n');
});

t.test('verify hashes carried files: replaced or missing bytes are problems', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  await buildVersion(site, releases, 1);
  const r2 = await buildVersion(site, releases, 2);
  const file = join(r2.dir, 'assets', 'site.10d0e0f0.css');
  rmSync(file);
  t.same(await verifyRelease(r2.dir), ['missing: /assets/site.10d0e0f0.css']);
  writeFileSync(file, 'body { order: 9; }\n');
  const [problem] = await verifyRelease(r2.dir);
  t.match(problem, /^sha256: \/assets\/site\.10d0e0f0\.css is [0-9a-f]{64}, manifest says [0-9a-f]{64}$/);
});

t.test('bad options are refused naming the option and the value', async (t) => {
  const base = t.testdir({ site: { 'index.html': 'hi' } });
  const build = (skew: object): Promise<unknown> => buildRelease(join(base, 'site'), join(base, 'releases'), { skew });
  await t.rejects(build({ releases: -1 }), new ReleaseError('skew.releases must be an integer from 0 to 16 (got -1)', 'PI_ORIGIN_RELEASE_USAGE'));
  await t.rejects(build({ releases: 17 }), { message: 'skew.releases must be an integer from 0 to 16 (got 17)' });
  await t.rejects(build({ releases: 1.5 }), { message: 'skew.releases must be an integer from 0 to 16 (got 1.5)' });
  await t.rejects(build({ assets: 'fingerprinted' }), { message: 'skew.assets must be one of immutable, hashed, both (got "fingerprinted")', code: 'PI_ORIGIN_RELEASE_USAGE' });
  await t.rejects(buildRelease(join(base, 'site'), join(base, 'releases'), { preload: 'yes' as unknown as boolean }), { message: 'preload must be true or false (got "yes")' });
  const cli = await runCli(['release', 'build', join(base, 'site'), '--out', join(base, 'releases'), '--skew-releases', 'two']);
  t.equal(cli.code, 2);
  t.match(cli.stderr, '--skew-releases must be an integer from 0 to 16 (got "two")');
  const cli2 = await runCli(['release', 'build', join(base, 'site'), '--out', join(base, 'releases'), '--skew-assets', 'all']);
  t.equal(cli2.code, 2);
  t.match(cli2.stderr, '--skew-assets must be one of immutable, hashed, both (got "all")');
});

t.test('the skew field is checked where it is read', async (t) => {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  await buildVersion(site, releases, 1);
  const r2 = await buildVersion(site, releases, 2);
  const good = JSON.parse(readFileSync(join(r2.dir, 'manifest.json'), 'utf8')) as Manifest & { skew: { releases: string[]; files: Record<string, unknown>[] } };
  const where = 'm.json';
  const bad = (edit: (m: typeof good) => void): () => unknown => {
    const m = structuredClone(good);
    edit(m);
    return () => validateManifest(m, where);
  };
  t.doesNotThrow(bad(() => undefined));
  t.throws(bad((m) => (m.skew = [] as never)), new ManifestError('m.json: skew must be an object with releases and files lists'));
  t.throws(bad((m) => m.skew.releases.push(m.id)), { message: `m.json: skew.releases: "${good.id}" must be a release id other than this one, listed once` });
  t.throws(bad((m) => ((m.skew.files[0] as { release: string }).release = '000000000000')), { message: 'm.json: skew.files["/assets/app.10a0b0c0.js"]: release "000000000000" is not in skew.releases' });
  t.throws(bad((m) => ((m.skew.files[0] as { path: string }).path = '/index.html')), { message: 'm.json: skew.files["/index.html"]: duplicate path' });
  t.throws(bad((m) => ((m.skew.files[0] as { headers: object }).headers = { ETag: 'x' })), { message: 'm.json: skew.files["/assets/app.10a0b0c0.js"]: headers: header ETag is set by the server and cannot be configured' });
  t.throws(bad((m) => ((m.skew.files[0] as { path: string }).path = '/../etc/passwd')), { message: /^m\.json: skew\.files\["\/\.\.\/etc\/passwd"\]: path / });
});
