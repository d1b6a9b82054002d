/** `activateRelease` / `rollbackRelease`: symlink targets, previous, refusal, atomicity. */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { activateRelease, buildRelease, rollbackRelease } from '../release/release.js';

/** Two releases of slightly different sites in one releases directory. */
async function twoReleases(t: Test): Promise<{ releases: string; a: string; b: string }> {
  const root = t.testdir({ site: { 'index.html': '<h1>a</h1>\n', 'x.txt': 'x\n' } });
  const releases = join(root, 'releases');
  const a = (await buildRelease(join(root, 'site'), releases, { now: new Date('2026-01-01T00:00:00Z') })).id;
  writeFileSync(join(root, 'site', 'index.html'), '<h1>b</h1>\n');
  const b = (await buildRelease(join(root, 'site'), releases, { now: new Date('2026-01-02T00:00:00Z') })).id;
  return { releases, a, b };
}

const link = (releases: string, name: string): string | undefined => (existsSync(join(releases, name)) ? readlinkSync(join(releases, name)) : undefined);

t.test('activate points current at the id and records previous; rollback swaps', async (t) => {
  const { releases, a, b } = await twoReleases(t);
  t.same(await activateRelease(releases, a), { current: a, previous: undefined });
  t.equal(link(releases, 'current'), a, 'current -> a (relative target)');
  t.equal(link(releases, 'previous'), undefined, 'no previous yet');

  t.same(await activateRelease(releases, b), { current: b, previous: a });
  t.same([link(releases, 'current'), link(releases, 'previous')], [b, a]);

  t.same(await activateRelease(releases, b), { current: b, previous: a }, 'activating current again changes nothing');
  t.same([link(releases, 'current'), link(releases, 'previous')], [b, a]);

  t.same(await rollbackRelease(releases), { current: a, previous: b });
  t.same([link(releases, 'current'), link(releases, 'previous')], [a, b]);
  t.same(await rollbackRelease(releases), { current: b, previous: a }, 'rolling back twice returns');
  t.same([link(releases, 'current'), link(releases, 'previous')], [b, a]);
  t.same(readdirSync(releases).sort(), [a, b, 'current', 'previous'].sort(), 'no temporaries left');
});

t.test('activate refuses a release that does not verify and leaves current unchanged', async (t) => {
  const { releases, a, b } = await twoReleases(t);
  await activateRelease(releases, a);
  writeFileSync(join(releases, b, 'x.txt'), 'X\n');
  writeFileSync(join(releases, b, 'junk'), '');
  await t.rejects(activateRelease(releases, b), {
    name: 'ReleaseError',
    code: 'PI_ORIGIN_RELEASE_INVALID',
    message: `release ${b} does not verify (2 problems); current unchanged`,
    problems: ['extra: /junk', /^sha256: \/x\.txt is [0-9a-f]{64}, manifest says [0-9a-f]{64}$/],
  });
  t.equal(link(releases, 'current'), a);
  t.equal(link(releases, 'previous'), undefined);

  await t.rejects(activateRelease(releases, 'abcdefabcdef'), { code: 'PI_ORIGIN_RELEASE_NOT_FOUND', message: `no release abcdefabcdef in ${releases}` });
  await t.rejects(activateRelease(releases, '../etc'), { code: 'PI_ORIGIN_RELEASE_USAGE', message: 'release id must be 12 hex digits (got "../etc")' });
  await t.rejects(activateRelease(join(releases, 'nope'), a), { code: 'PI_ORIGIN_RELEASE_NOT_FOUND', message: /^releases directory .*nope does not exist/ });
  t.equal(link(releases, 'current'), a);
});

t.test('activate --quick checks files and sizes, not bytes', async (t) => {
  const { releases, a, b } = await twoReleases(t);
  await activateRelease(releases, a);
  // Same size, other bytes: only hashing sees it. --quick is for a release hashed when placed.
  // (x.txt is a hard link shared with a; index.html is b's own.)
  writeFileSync(join(releases, b, 'index.html'), '<h1>B</h1>\n');
  await t.rejects(activateRelease(releases, b), { code: 'PI_ORIGIN_RELEASE_INVALID', problems: [/^sha256: \/index\.html /] }, 'the full check hashes');
  t.same(await activateRelease(releases, b, { hash: false }), { current: b, previous: a }, '--quick does not read the bytes');

  // What --quick does check: the id, every file there with its size, nothing extra.
  await activateRelease(releases, a);
  rmSync(join(releases, b, 'x.txt'));
  writeFileSync(join(releases, b, 'x.txt'), 'XY\n');
  writeFileSync(join(releases, b, 'junk'), '');
  rmSync(join(releases, b, 'index.html'));
  await t.rejects(activateRelease(releases, b, { hash: false }), {
    code: 'PI_ORIGIN_RELEASE_INVALID',
    message: `release ${b} does not verify (3 problems); current unchanged`,
    problems: ['missing: /index.html', 'extra: /junk', 'size: /x.txt is 3 bytes, manifest says 2'],
  });
  t.equal(link(releases, 'current'), a, 'current unchanged');
});

t.test('rollback needs a previous release that verifies', async (t) => {
  const { releases, a, b } = await twoReleases(t);
  await t.rejects(rollbackRelease(releases), { code: 'PI_ORIGIN_RELEASE_NO_PREVIOUS', message: `no previous release recorded in ${releases} (${join(releases, 'previous')} does not exist)` });
  await activateRelease(releases, a);
  await activateRelease(releases, b);
  rmSync(join(releases, a, 'x.txt'));
  await t.rejects(rollbackRelease(releases), { code: 'PI_ORIGIN_RELEASE_INVALID', problems: ['missing: /x.txt'] });
  t.same([link(releases, 'current'), link(releases, 'previous')], [b, a], 'unchanged');
});

t.test('a current that is not a symlink is refused, not replaced', async (t) => {
  const { releases, a } = await twoReleases(t);
  mkdirSync(join(releases, 'current'));
  await t.rejects(activateRelease(releases, a), { code: 'PI_ORIGIN_RELEASE_POINTER', message: `${join(releases, 'current')} is not a symlink; move it out of the way first` });
  t.same(readdirSync(join(releases, 'current')), []);
});

t.test('current is never missing while activations happen', async (t) => {
  const { releases, a, b } = await twoReleases(t);
  await activateRelease(releases, a);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  // A tight readlink loop in another thread: any instant without `current` is counted.
  const worker = new Worker(
    `const { readlinkSync } = require('node:fs');
     const { workerData, parentPort } = require('node:worker_threads');
     const stop = new Int32Array(workerData.stop);
     let reads = 0, missing = 0;
     parentPort.postMessage('ready');
     while (Atomics.load(stop, 0) === 0) { try { readlinkSync(workerData.path); } catch { missing++; } reads++; }
     parentPort.postMessage({ reads, missing });`,
    { eval: true, workerData: { path: join(releases, 'current'), stop: stop.buffer } },
  );
  const messages: unknown[] = [];
  const done = new Promise<{ reads: number; missing: number }>((resolve, reject) => {
    worker.on('message', (m: unknown) => (messages.push(m), m !== 'ready' && resolve(m as { reads: number; missing: number })));
    worker.on('error', reject);
  });
  await new Promise<void>((resolve) => worker.once('message', () => resolve()));
  for (let i = 0; i < 50; i++) await activateRelease(releases, i % 2 === 0 ? b : a);
  Atomics.store(stop, 0, 1);
  const { reads, missing } = await done;
  await worker.terminate();
  t.ok(reads > 0, `the reader ran (${reads} reads)`);
  t.equal(missing, 0, 'current was always there');
  t.same([link(releases, 'current'), link(releases, 'previous')], [a, b]);
});

t.test('a manifest in another layout (pretty-printed by hand) verifies the general way and activates', async (t) => {
  const { releases, a } = await twoReleases(t);
  const file = join(releases, a, 'manifest.json');
  writeFileSync(file, JSON.stringify(JSON.parse(readFileSync(file, 'utf8')), null, 2) + '\n');
  t.same(await activateRelease(releases, a, { hash: false }), { current: a, previous: undefined }, 'quick');
  t.same(await activateRelease(releases, a), { current: a, previous: undefined }, 'hashed');
  writeFileSync(file, readFileSync(file, 'utf8').replace(`"id": "${a}"`, '"id": "000000000000"'));
  await t.rejects(activateRelease(releases, a), { code: 'PI_ORIGIN_RELEASE_INVALID' }, 'its id is still checked');
});
