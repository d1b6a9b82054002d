/**
 * `release build --package-index`: the index generated from a tree of wheels is the same bytes
 * wherever it is built, takes its times from the wheels, reads deflated wheels as real ones are,
 * and refuses a broken wheel or a path it would overwrite with an error naming the file. The
 * serving and pip side is test/pip.test.ts.
 */
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildDemoWheels, PACKAGES_DIR, writeDemoWheels } from '../demo/packages.js';
import { zip, type ZipEntry } from '../demo/zip.js';
import { buildIncremental, buildRelease, parseChanges, verifyRelease } from '../release/release.js';
import { manifestJson } from '../release/manifest-text.js';
import type { Manifest } from '../release/manifest.js';
import { runCli } from './helpers/cli.js';
import { sha256 } from './helpers/hash.js';

const NOW = new Date('2026-03-04T05:06:07.000Z');

/** A wheel's entries: a module and `<dist>.dist-info/` holding `metadata` (RECORD is not read). */
function wheelEntries(dist: string, metadata: string | Buffer): ZipEntry[] {
  return [
    { name: 'mod/__init__.py', data: '' },
    { name: `${dist}.dist-info/METADATA`, data: metadata },
    { name: `${dist}.dist-info/WHEEL`, data: 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n' },
  ];
}

t.test('the same wheels give the same release anywhere, dated by the wheels', async (t) => {
  const root = t.testdir({ a: {}, b: {} });
  for (const site of ['a', 'b']) writeDemoWheels(join(root, site));
  // One wheel newer than the others: its project's page and the root page take its time.
  const newer = new Date('2025-06-01T12:00:00.000Z');
  const newest = buildDemoWheels()[1]?.filename as string;
  for (const site of ['a', 'b']) utimesSync(join(root, site, PACKAGES_DIR, newest), newer, newer);
  const [a, b] = [
    await buildRelease(join(root, 'a'), join(root, 'ra'), { packageIndex: PACKAGES_DIR, now: NOW }),
    await buildRelease(join(root, 'b'), join(root, 'rb'), { packageIndex: `./${PACKAGES_DIR}/`, now: new Date(NOW.getTime() + 3_600_000) }),
  ];
  t.equal(a.id, b.id, 'same id from another tree at another time');
  t.same(a.packageIndex, { projects: 2, wheels: 3 });
  for (const f of a.manifest.files) t.ok(readFileSync(join(a.dir, f.path.slice(1))).equals(readFileSync(join(b.dir, f.path.slice(1)))), `${f.path}: same bytes`);
  t.equal(manifestJson({ ...a.manifest, created: '' }), manifestJson({ ...b.manifest, created: '' }), 'the same manifest but for created');
  const mtime = (path: string): number => statSync(join(a.dir, path)).mtimeMs;
  t.equal(mtime('simple/pi-origin-demo/index.json'), newer.getTime(), 'a project page: its newest wheel');
  t.equal(mtime('simple/index.html'), newer.getTime(), 'the root page: the newest wheel');
  t.equal(mtime('simple/gpiozero-demo/index.html'), Date.UTC(2025, 0, 1), 'another project: its own wheel');
  t.equal(mtime(`packages/${newest}.metadata`), newer.getTime(), 'a .metadata file: its wheel');
  t.same(await verifyRelease(a.dir), [], 'the release verifies');

  // The id covers which pages negotiate: a manifest edited to drop one no longer verifies.
  const m = JSON.parse(readFileSync(join(a.dir, 'manifest.json'), 'utf8')) as Manifest;
  const pages = { ...m.alternates?.pages };
  delete pages['/simple/index.html'];
  writeFileSync(join(a.dir, 'manifest.json'), manifestJson({ ...m, alternates: { aliases: m.alternates?.aliases ?? {}, pages } }));
  t.match(await verifyRelease(a.dir), [/^id: /]);
});

t.test('a deflated wheel, as real ones are: its METADATA exactly, Requires-Python read across lines', async (t) => {
  const metadata = 'Metadata-Version: 2.1\r\nName: Some.Project\r\nVersion: 2.0\r\nSummary: one\r\n  two\r\nRequires-Python: >=3.9,\r\n <4\r\nRequires-Python: >=2\r\n\r\nName: not-a-header\r\n';
  const root = t.testdir({ site: { wheels: { 'some_project-2.0-1-cp311-cp311-linux_aarch64.whl': zip(wheelEntries('some_project-2.0', metadata), { deflate: true }) } } });
  const built = await buildRelease(join(root, 'site'), join(root, 'releases'), { packageIndex: '.' });
  t.same(built.packageIndex, { projects: 1, wheels: 1 }, '. indexes the whole site');
  t.equal(readFileSync(join(built.dir, 'wheels', 'some_project-2.0-1-cp311-cp311-linux_aarch64.whl.metadata'), 'utf8'), metadata);
  const page = JSON.parse(readFileSync(join(built.dir, 'simple', 'some-project', 'index.json'), 'utf8')) as { files: Record<string, unknown>[] };
  t.match(page.files[0], { url: '/wheels/some_project-2.0-1-cp311-cp311-linux_aarch64.whl', 'requires-python': '>=3.9, <4', 'core-metadata': { sha256: sha256(metadata) } });
});

t.test('a broken wheel stops the build, naming the file and what is wrong', async (t) => {
  const good = (dist: string, name: string): Buffer => zip(wheelEntries(dist, `Metadata-Version: 2.1\nName: ${name}\nVersion: 1.0\n`));
  const corrupt = good('demo-1.0', 'demo');
  corrupt[corrupt.indexOf('Name: demo') + 6] = 0x78; // the stored METADATA no longer matches its CRC-32
  const cases: [string, Buffer | string, RegExp][] = [
    ['demo-1.0-py3-none-any.whl', 'not a zip at all', /not a zip archive/],
    ['demo-1.0-py3-none-any.whl', good('demo-1.0', 'demo').subarray(0, 100), /not a zip archive/],
    ['demo-1.0-py3-none-any.whl', zip([{ name: 'demo/__init__.py', data: '' }]), /no \.dist-info directory/],
    ['demo-1.0-py3-none-any.whl', zip([{ name: 'demo-1.0.dist-info/WHEEL', data: '' }]), /no demo-1\.0\.dist-info\/METADATA/],
    ['demo-1.0-py3-none-any.whl', zip([...wheelEntries('demo-1.0', 'Name: demo\n'), { name: 'other-1.0.dist-info/METADATA', data: 'Name: other\n' }]), /more than one \.dist-info directory \(demo-1\.0\.dist-info, other-1\.0\.dist-info\)/],
    ['demo-1.0-py3-none-any.whl', good('demo-1.0', 'someone-else'), /METADATA names "someone-else", the file name "demo"/],
    ['demo-1.0-py3-none-any.whl', zip(wheelEntries('demo-1.0', 'Version: 1.0\n')), /METADATA has no Name/],
    ['demo-1.0-py3-none-any.whl', zip(wheelEntries('demo-1.0', Buffer.from('Name: d\xffmo\n', 'latin1'))), /METADATA is not UTF-8/],
    ['demo-1.0-py3-none-any.whl', corrupt, /demo-1\.0\.dist-info\/METADATA: size or CRC-32 does not match the central directory/],
    ['demo.whl', good('demo-1.0', 'demo'), /not a wheel file name/],
  ];
  for (const [i, [name, bytes, message]] of cases.entries()) {
    const root = t.testdir({ site: { 'index.html': 'hi', packages: { [name]: bytes } } });
    await t.rejects(buildRelease(join(root, 'site'), join(root, 'releases'), { packageIndex: 'packages' }), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_SITE', message: new RegExp(`^/packages/${name.replace(/\./g, '\\.')} is not a usable wheel: ${message.source}`) }, `case ${i}: ${message.source}`);
  }
});

t.test('the index never overwrites a site file, and the wheel directory must be in the site', async (t) => {
  const root = t.testdir({ site: { simple: { 'index.html': 'mine' }, packages: {} } });
  writeDemoWheels(join(root, 'site'));
  const site = join(root, 'site');
  await t.rejects(buildRelease(site, join(root, 'r'), { packageIndex: 'packages' }), { code: 'PI_ORIGIN_RELEASE_SITE', message: 'the site already has /simple/index.html, which --package-index generates from the wheels: remove it from the site' });
  await t.rejects(buildRelease(site, join(root, 'r'), { packageIndex: 'nope' }), { code: 'PI_ORIGIN_RELEASE_SITE', message: `package index directory nope is not a directory of the site ${site}` });
  await t.rejects(buildRelease(site, join(root, 'r'), { packageIndex: '../site' }), { code: 'PI_ORIGIN_RELEASE_USAGE', message: 'packageIndex must be a directory relative to the site, inside it (got "../site")' });
});

t.test('the CLI: a broken wheel is one error line, a bad --package-index a usage error', async (t) => {
  const root = t.testdir({ site: { packages: { 'demo-1.0-py3-none-any.whl': 'not a zip' } } });
  const [broken, outside] = await Promise.all([
    runCli(['release', 'build', join(root, 'site'), '--out', join(root, 'r'), '--package-index', 'packages']),
    runCli(['release', 'build', join(root, 'site'), '--out', join(root, 'r'), '--package-index', '/srv/wheels']),
  ]);
  t.same(broken, { code: 1, signal: null, stdout: '', stderr: 'pi-origin: error: /packages/demo-1.0-py3-none-any.whl is not a usable wheel: not a zip archive (too short)\n' }, 'no stack trace');
  t.same({ code: outside.code, stderr: outside.stderr }, { code: 2, stderr: 'pi-origin release build: --package-index must be a directory relative to the site, inside it (got "/srv/wheels") (see pi-origin release build --help)\n' });
});

t.test('an incremental build of a package index is refused, naming what to do', async (t) => {
  const root = t.testdir({ site: {}, releases: {} });
  writeDemoWheels(join(root, 'site'));
  const parent = await buildRelease(join(root, 'site'), join(root, 'releases'), { packageIndex: PACKAGES_DIR, now: NOW });
  const changes = parseChanges(`A\t${PACKAGES_DIR}/extra.txt\n`, 'changes');
  writeFileSync(join(root, 'site', PACKAGES_DIR, 'extra.txt'), 'x\n');
  const message = `release ${parent.id} has a package index: its pages and metadata are generated from every wheel, so build it in full (without --parent)`;
  await t.rejects(buildIncremental(join(root, 'site'), join(root, 'releases'), { parent: parent.id, changes }), { code: 'PI_ORIGIN_RELEASE_USAGE', message });
  await t.rejects(buildIncremental(join(root, 'site'), join(root, 'releases'), { parent: parent.id, changes, packageIndex: PACKAGES_DIR }), { code: 'PI_ORIGIN_RELEASE_USAGE', message });
  t.same(readdirSync(join(root, 'releases')).filter((n) => !n.startsWith('.') || n.startsWith('.tmp')), [parent.id], 'nothing written');
  writeFileSync(join(root, 'changes.txt'), `A\t${PACKAGES_DIR}/extra.txt\n`);
  const cli = await runCli(['release', 'build', join(root, 'site'), '--out', join(root, 'releases'), '--parent', parent.id, '--changes', join(root, 'changes.txt'), '--package-index', PACKAGES_DIR]);
  t.equal(cli.code, 2, 'a usage error on the command line');
  t.match(cli.stderr, /--package-index cannot be combined with --parent/);
});
