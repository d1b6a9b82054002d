/**
 * --watch: content changes are re-indexed without a restart (added, rewritten, deleted files),
 * a root given as a symlink follows `current -> releaseN` being re-pointed atomically, and no
 * response during a swap mixes one version's headers with another version's bytes.
 */
import { renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { scanTree } from '../dist/content/scan.js';
import { request, startServer, type RawResponse } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { waitFor } from './helpers/wait.js';
import { etagFor, sha256 } from './helpers/hash.js';



t.test('files added, rewritten and deleted under a watched root', async (t) => {
  const dir = t.testdir({ 'a.txt': 'alpha\n', 'b.txt': 'bravo\n', 'rw.txt': 'first version\n' });
  const { node, port } = await startServer(t, dir, { watch: true });
  const release0 = node.releaseId();
  // Once startOrigin has resolved the node is serving and watching: a change made at once counts.
  writeFileSync(join(dir, 'early.txt'), 'written right after start\n');

  t.test('a file added right after start is picked up', async (t) => {
    const r = await waitFor('/early.txt to be served', async () => {
      const res = await request(port, '/early.txt');
      return res.status === 200 ? res : undefined;
    }).catch((e: Error) => e);
    t.notOk(r instanceof Error, r instanceof Error ? r.message : 'served');
    if (!(r instanceof Error)) t.equal(r.body.toString(), 'written right after start\n');
  });

  t.test('an added file becomes servable', async (t) => {
    t.equal((await request(port, '/new.txt')).status, 404);
    writeFileSync(join(dir, 'new.txt'), 'brand new\n');
    const r = await waitFor('/new.txt to be served', async () => {
      const res = await request(port, '/new.txt');
      return res.status === 200 ? res : undefined;
    });
    t.equal(r.body.toString(), 'brand new\n');
    t.equal(r.headers['etag'], etagFor('brand new\n'));
    t.not(node.releaseId(), release0, 'a new release id');
    t.equal((await request(port, '/_origin/health')).body.toString(), `ok ${node.releaseId()}\n`);
  });

  t.test('a rewritten file changes its bytes and ETag', async (t) => {
    const before = await request(port, '/rw.txt');
    t.equal(before.headers['etag'], etagFor('first version\n'));
    writeFileSync(join(dir, 'rw.txt'), 'the second, longer version\n');
    const r = await waitFor('/rw.txt to change', async () => {
      const res = await request(port, '/rw.txt');
      return res.status === 200 && res.headers['etag'] !== before.headers['etag'] ? res : undefined;
    });
    t.equal(r.body.toString(), 'the second, longer version\n');
    t.equal(r.headers['etag'], etagFor('the second, longer version\n'));
    t.equal(r.headers['content-length'], String('the second, longer version\n'.length));
  });

  t.test('a deleted file is 404', async (t) => {
    t.equal((await request(port, '/b.txt')).status, 200);
    unlinkSync(join(dir, 'b.txt'));
    const r = await waitFor('/b.txt to be gone', async () => {
      const res = await request(port, '/b.txt');
      return res.status === 404 ? res : undefined;
    });
    t.equal(r.status, 404);
    t.equal((await request(port, '/a.txt')).body.toString(), 'alpha\n', 'the rest is still served');
  });
});

interface Version {
  readonly small: Buffer;
  readonly big: Buffer;
}

t.test('a root given as a symlink follows the link being re-pointed', async (t) => {
  // small.txt is cached (under --cache-max-file), big.bin is streamed; sizes differ per release.
  const v1: Version = { small: pseudoRandom(20_000, 11), big: pseudoRandom(300_000, 12) };
  const v2: Version = { small: pseudoRandom(21_000, 21), big: pseudoRandom(310_000, 22) };
  const dir = t.testdir({
    rel1: { 'index.html': 'release one\n' },
    rel2: { 'index.html': 'release two\n' },
    current: t.fixture('symlink', 'rel1'),
  });
  for (const [rel, v] of [['rel1', v1], ['rel2', v2]] as const) {
    writeFileSync(join(dir, rel, 'small.txt'), v.small);
    writeFileSync(join(dir, rel, 'big.bin'), v.big);
  }
  const [scan1, scan2] = await Promise.all([scanTree(join(dir, 'rel1')), scanTree(join(dir, 'rel2'))]);
  const id1 = scan1.index.releaseId;
  const id2 = scan2.index.releaseId;
  t.not(id1, id2);
  const { node, port } = await startServer(t, join(dir, 'current'), { watch: true, cacheMaxFile: '64KiB', cacheSize: '1MiB' });
  t.equal(node.releaseId(), id1);

  const pointTo = (rel: string): void => {
    symlinkSync(rel, join(dir, 'current.tmp'));
    renameSync(join(dir, 'current.tmp'), join(dir, 'current'));
  };
  const healthSays = (id: string): Promise<true> =>
    waitFor(`/_origin/health to report ${id}`, async () => ((await request(port, '/_origin/health')).body.toString() === `ok ${id}\n` ? true : undefined));

  t.test('re-pointing current serves the other release', async (t) => {
    t.equal((await request(port, '/')).body.toString(), 'release one\n');
    pointTo('rel2');
    await healthSays(id2);
    // The new target must be watched from the moment it is served.
    writeFileSync(join(dir, 'rel2', 'late.txt'), 'added to rel2\n');
    t.equal(node.releaseId(), id2);
    t.equal((await request(port, '/')).body.toString(), 'release two\n');
    const small = await request(port, '/small.txt');
    t.equal(sha256(small.body), sha256(v2.small));
    const big = await request(port, '/big.bin');
    t.equal(sha256(big.body), sha256(v2.big));
  });

  t.test('the new target is watched from the swap on', async (t) => {
    const r = await waitFor('/late.txt (added to rel2 right after the swap) to be served', async () => {
      const res = await request(port, '/late.txt');
      return res.status === 200 ? res : undefined;
    }).catch((e: Error) => e);
    t.notOk(r instanceof Error, r instanceof Error ? r.message : 'served');
    if (!(r instanceof Error)) t.equal(r.body.toString(), 'added to rel2\n');
    // rel2 back to its original content (and release id) for the next test.
    unlinkSync(join(dir, 'rel2', 'late.txt'));
    writeFileSync(join(dir, 'rel2', 'probe.txt'), 'probe\n');
    await waitFor('the watcher on rel2 to report a change', async () => ((await request(port, '/probe.txt')).status === 200 ? true : undefined));
    unlinkSync(join(dir, 'rel2', 'probe.txt'));
    await healthSays(id2);
  });

  t.test('no response mixes versions while swapping', async (t) => {
    const expected = new Map<string, string>();
    for (const v of [v1, v2]) for (const b of [v.small, v.big]) expected.set(etagFor(b), sha256(b));
    const problems: string[] = [];
    const seen = new Map<string, number>();
    let stop = false;
    let count = 0;
    const check = (path: string, r: RawResponse): void => {
      const etag = r.headers['etag'] ?? '';
      const length = Number(r.headers['content-length']);
      if (r.status !== 200) problems.push(`${path}: status ${r.status}`);
      else if (r.body.length !== length) problems.push(`${path}: ${r.body.length} body bytes, Content-Length ${length}`);
      else if (expected.get(etag) !== sha256(r.body)) problems.push(`${path}: body does not match ETag ${etag}`);
      else seen.set(etag, (seen.get(etag) ?? 0) + 1);
    };
    const loop = async (path: string): Promise<void> => {
      while (!stop) {
        try {
          check(path, await request(port, path));
        } catch (e) {
          problems.push(`${path}: ${(e as Error).message}`);
        }
        count++;
      }
    };
    const loops = [loop('/small.txt'), loop('/big.bin'), loop('/small.txt'), loop('/big.bin')];
    try {
      for (const [rel, id] of [['rel1', id1], ['rel2', id2], ['rel1', id1], ['rel2', id2]] as const) {
        pointTo(rel);
        await healthSays(id);
      }
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    t.same(problems, [], `${count} responses, every body matches its Content-Length and ETag`);
    t.ok(count >= 20, `enough requests ran during the swaps (${count})`);
    t.equal(seen.size, 4, 'both versions of both files were served');
  });
});
