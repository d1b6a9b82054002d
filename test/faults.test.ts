/**
 * Faults in the content the server watches, against the built server as a child process (its
 * own /proc/PID/fd is counted): releases activated and rolled back every 200 ms under a load
 * that checks every body against the release it names, and the release directory `current`
 * points to removed while serving. No 5xx, no body that disagrees with its headers, no crash,
 * no descriptor leak.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { activateRelease, buildRelease, rollbackRelease } from '../dist/release/release.js';
import { addRelease, checkedLoad, ReleaseContent, type LoadSummary } from './helpers/checked-load.js';
import { settledFds, spawnOrigin, type OriginProcess } from './helpers/origin-process.js';
import { request } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { waitFor } from './helpers/wait.js';

const PATHS = ['/', '/index.html', '/app.js', '/data.bin', '/big.bin', '/b-only.txt'];
const SERVER_FLAGS = ['--workers', '2', '--cache-max-file', '256KiB', '--cache-size', '64MiB'];

/**
 * Waits until `load` has 50 answers to requests sent after `since`: a phase of the test (before a
 * switch, while the root is gone, after the last switch) is proven by responses, however slow the
 * machine, where a fixed sleep could leave it with none and its checks with nothing to check.
 */
function loadAnswered(load: ReturnType<typeof checkedLoad>, since: number, phase: string): Promise<true> {
  return waitFor(`50 answers ${phase}`, () => (load.answeredSince(since) >= 50 ? true : undefined), 60_000);
}

/**
 * Site version `v`: every file differs between versions, in bytes and size. data.bin is cached
 * (under --cache-max-file), big.bin streamed; index.html and app.js get br and gzip variants
 * (hex text, so every variant stays above the 500 bytes the load's ranges start within);
 * b-only.txt exists in version 2 only.
 */
function writeSite(dir: string, v: number): void {
  mkdirSync(dir, { recursive: true });
  const text = (size: number, seed: number): string => pseudoRandom(size / 2, seed).toString('hex');
  writeFileSync(join(dir, 'index.html'), `<!doctype html><title>v${v}</title><pre>${text(6000 + v * 100, v * 10 + 1)}</pre>\n`);
  writeFileSync(join(dir, 'app.js'), `// v${v}\nconst data = '${text(40_000 + v * 1000, v * 10 + 2)}';\n`);
  writeFileSync(join(dir, 'data.bin'), pseudoRandom(100_000 + v * 1000, v * 10 + 3));
  writeFileSync(join(dir, 'big.bin'), pseudoRandom(1_500_000 + v * 10_000, v * 10 + 4));
  if (v === 2) writeFileSync(join(dir, 'b-only.txt'), text(4000, v * 10 + 5));
}

/** Builds versions 1..n into `releases`; returns their ids and what each one serves. */
async function buildReleases(base: string, n: number): Promise<{ releases: string; ids: string[]; content: ReleaseContent }> {
  const releases = join(base, 'releases');
  const content = new ReleaseContent();
  const ids: string[] = [];
  for (let v = 1; v <= n; v++) {
    writeSite(join(base, `site${v}`), v);
    const built = await buildRelease(join(base, `site${v}`), releases);
    addRelease(content, built.dir);
    ids.push(built.id);
  }
  return { releases, ids, content };
}

/**
 * Waits until /_origin/health says `body` on 8 requests in a row. Each request is a new
 * connection, which SO_REUSEPORT hands to either worker: 8 in a row make it all but certain
 * that both workers have taken the new index, not only the one that answered first.
 */
const healthSays = (origin: OriginProcess, body: string, status = 200): Promise<true> => {
  let inARow = 0;
  return waitFor(`/_origin/health to say ${JSON.stringify(body)} 8 times in a row`, async () => {
    const r = await request(origin.port, '/_origin/health');
    inARow = r.status === status && r.body.toString() === body ? inARow + 1 : 0;
    return inARow >= 8 ? true : undefined;
  }, 15_000);
};

/** Release swaps the server reported (`re-indexed ROOT: release ID, N files` on stderr). */
const reindexes = (origin: OriginProcess): number => origin.stderr().split('\n').filter((l) => l.includes(': re-indexed ')).length;

const describe = (s: LoadSummary): string =>
  `${s.requests} requests (${[...s.statuses].map(([k, v]) => `${v}x${k}`).join(', ')}; ${s.ranges} ranges, ${s.encoded} encoded) from releases ${[...s.releases].map(([k, v]) => `${k || '(none)'} ${v}x`).join(', ')}`;

t.test('releases activated and rolled back every 200 ms under a checking load', async (t) => {
  const base = t.testdir({});
  const { releases, ids, content } = await buildReleases(base, 3);
  await activateRelease(releases, ids[0] as string);
  const origin = await spawnOrigin(t, join(releases, 'current'), SERVER_FLAGS);

  // Warm up: every release once, every file once (descriptors opened lazily are open before counting).
  for (const id of [...ids.slice(1), ids[0] as string]) {
    await activateRelease(releases, id);
    await healthSays(origin, `ok ${id}\n`);
    for (const path of PATHS) await request(origin.port, path);
  }
  const fdsBefore = await settledFds(origin);

  const reindexedBefore = reindexes(origin);
  const load = checkedLoad({ port: origin.port, paths: PATHS, content, loops: 8 });
  let switches = 0;
  let steps = 0;
  let current = ids[0] as string;
  const started = Date.now();
  while (Date.now() - started < 10_000) {
    await new Promise((r) => setTimeout(r, 200));
    const next = ids[(steps + 1) % ids.length] as string;
    const pointers = steps % 4 === 3 ? await rollbackRelease(releases) : await activateRelease(releases, next);
    if (pointers.current !== current) switches++;
    current = pointers.current;
    steps++;
  }
  await healthSays(origin, `ok ${current}\n`);
  const settledAt = Date.now();
  await loadAnswered(load, settledAt, 'after the last switch');
  const summary = await load.stop();
  t.comment(`${switches} switches in ${steps} steps, ${reindexes(origin) - reindexedBefore} re-indexed by the server; ${describe(summary)}`);

  t.same(summary.problems.slice(0, 20), [], `every response agrees with its headers and its release (${summary.problems.length} problems)`);
  t.equal([...summary.statuses.keys()].filter((s) => s >= 500).length, 0, 'no 5xx');
  t.ok(summary.requests >= 500, `a real load ran (${summary.requests} requests)`);
  t.ok(switches >= 20, `the release changed often (${switches} times)`);
  for (const id of ids) t.ok((summary.releases.get(id) ?? 0) > 0, `release ${id} was served`);
  const stale = summary.timeline.filter(([at, release]) => at > settledAt && release !== current);
  t.equal(stale.length, 0, 'once health names the last release, every response comes from it');
  t.ok(origin.alive(), 'the server is still running');

  const fdsAfter = await settledFds(origin);
  t.comment(`server descriptors: ${fdsBefore} before, ${fdsAfter} after`);
  t.ok(fdsAfter <= fdsBefore, `no descriptor leak (${fdsBefore} before, ${fdsAfter} after)`);
});

t.test('the release directory current points to is removed while serving', async (t) => {
  const base = t.testdir({});
  const { releases, ids, content } = await buildReleases(base, 2);
  const [one, two] = ids as [string, string];
  await activateRelease(releases, one);
  const origin = await spawnOrigin(t, join(releases, 'current'), SERVER_FLAGS);
  for (const path of PATHS) await request(origin.port, path);
  const fdsBefore = await settledFds(origin);

  t.test('without load', async (t) => {
    rmSync(join(releases, one), { recursive: true });
    await healthSays(origin, 'no valid content root\n', 503);
    const status = JSON.parse((await request(origin.port, '/_origin/status')).body.toString()) as { health: string; release: string | null };
    // Health says the root is invalid; the release is the one still in memory, whose files are served while they last.
    t.same([status.health, status.release], ['invalid-root', one], '/_origin/status: invalid-root, and the release it still serves');
    for (const path of PATHS) {
      const r = await request(origin.port, path);
      t.ok(r.status < 500, `${path}: ${r.status}, not a 5xx`);
    }
    t.ok(origin.alive(), 'the server is still running');
    await activateRelease(releases, two);
    await healthSays(origin, `ok ${two}\n`);
    const r = await request(origin.port, '/big.bin');
    t.equal(r.status, 200);
    t.ok(r.body.equals(content.get(two, '/big.bin', 'identity')?.bytes ?? Buffer.alloc(0)), 'the new release is served');
  });

  t.test('under load', async (t) => {
    // Release one again (same site, same id), to come back to.
    writeSite(join(base, 'site1'), 1);
    t.equal((await buildRelease(join(base, 'site1'), releases)).id, one, 'release one rebuilt under its id');
    const loadStarted = Date.now();
    const load = checkedLoad({ port: origin.port, paths: PATHS, content, loops: 8, allowNotFound: true });
    await loadAnswered(load, loadStarted, 'before the release is removed');
    rmSync(join(releases, two), { recursive: true });
    await healthSays(origin, 'no valid content root\n', 503);
    await loadAnswered(load, Date.now(), 'while there is no valid root');
    await activateRelease(releases, one);
    await healthSays(origin, `ok ${one}\n`);
    const settledAt = Date.now();
    await loadAnswered(load, settledAt, 'after the release is back');
    const summary = await load.stop();
    t.comment(describe(summary));
    t.same(summary.problems.slice(0, 20), [], `no response disagrees with its headers (${summary.problems.length} problems)`);
    t.equal([...summary.statuses.keys()].filter((s) => s >= 500).length, 0, 'no 5xx');
    t.equal(summary.timeline.filter(([at, release]) => at > settledAt && release !== one).length, 0, 'after recovery every response comes from the activated release');
    t.ok(origin.alive(), 'the server is still running');
  });

  t.test('no descriptor leak', async (t) => {
    const fdsAfter = await settledFds(origin);
    t.comment(`server descriptors: ${fdsBefore} before, ${fdsAfter} after`);
    t.ok(fdsAfter <= fdsBefore, `no descriptor leak (${fdsBefore} before, ${fdsAfter} after)`);
  });
});
