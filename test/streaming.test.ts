/**
 * Files larger than --cache-max-file are streamed from disk with backpressure: exact bytes,
 * concurrent downloads, clients that go away mid-body (no leaked file descriptors, nothing left
 * in flight), and files rewritten after indexing answered 503 instead of new bytes under the
 * old validators.
 */
import { readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { request, startServer } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { waitFor } from './helpers/wait.js';
import { etagFor, sha256 } from './helpers/hash.js';


const openFds = (): number => readdirSync('/proc/self/fd').length;

const BIG = pseudoRandom(5 * 1024 * 1024, 1);
const SMALL = 10 * 1024; // under --cache-max-file: read whole, verified, cached
const LARGE = 256 * 1024; // over it: streamed
const OLD = new Date('2026-01-02T03:04:05Z');

const dir = t.testdir({});
writeFileSync(join(dir, 'big.bin'), BIG);
// Files that get rewritten after indexing: same size, other bytes; mtime moved on, or put back.
const rewritten = {
  'cached-moved.bin': SMALL,
  'cached-same-mtime.bin': SMALL,
  'streamed-moved.bin': LARGE,
  'streamed-same-mtime.bin': LARGE,
};
for (const [name, size] of Object.entries(rewritten)) {
  writeFileSync(join(dir, name), pseudoRandom(size, 7));
  utimesSync(join(dir, name), OLD, OLD);
}

const { port } = await startServer(t, dir, { cacheMaxFile: '64KiB', cacheSize: '1MiB' });

async function metric(name: string): Promise<number> {
  const text = (await request(port, '/_origin/metrics')).body.toString();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  if (line === undefined) throw new Error(`no ${name} in metrics`);
  return Number(line.slice(name.length + 1));
}

t.test('a full GET returns the exact bytes', async (t) => {
  const r = await request(port, '/big.bin');
  t.equal(r.status, 200);
  t.equal(r.headers['content-length'], String(BIG.length));
  t.equal(r.headers['etag'], etagFor(BIG));
  t.equal(r.body.length, BIG.length);
  t.equal(sha256(r.body), sha256(BIG));
});

t.test('a range of a streamed file', async (t) => {
  const r = await request(port, '/big.bin', { headers: { Range: 'bytes=1000000-2999999' } });
  t.equal(r.status, 206);
  t.equal(r.headers['content-range'], `bytes 1000000-2999999/${BIG.length}`);
  t.equal(r.body.length, 2_000_000);
  t.equal(sha256(r.body), sha256(BIG.subarray(1_000_000, 3_000_000)));
});

t.test('20 concurrent downloads are all exact', async (t) => {
  const bodies = await Promise.all(Array.from({ length: 20 }, () => request(port, '/big.bin')));
  const want = sha256(BIG);
  t.equal(bodies.filter((r) => r.status === 200 && r.body.length === BIG.length && sha256(r.body) === want).length, 20);
});

/** Starts a download and destroys the socket once `after` body bytes (or more) arrived. */
function abortedDownload(after: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const s = connect({ host: '::1', port }, () => s.write('GET /big.bin HTTP/1.1\r\nHost: origin.test\r\n\r\n'));
    s.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= after) s.destroy();
    });
    s.on('error', reject);
    s.on('close', () => resolve(received));
  });
}

t.test('clients that abort mid-download leak nothing', async (t) => {
  // Warm up: every lazily opened descriptor of the process is open before counting.
  await request(port, '/big.bin');
  await abortedDownload(100 * 1024);
  await waitFor('nothing in flight before counting', async () => ((await metric('pi_origin_inflight_responses')) === 0 ? true : undefined));
  const before = openFds();
  for (let batch = 0; batch < 5; batch++) {
    const received = await Promise.all(Array.from({ length: 10 }, () => abortedDownload(100 * 1024)));
    t.ok(received.every((n) => n >= 100 * 1024 && n < BIG.length), `batch ${batch}: every download was cut short`);
  }
  const slack = 4;
  const settled = await waitFor(`open descriptors to settle near ${before}`, () => (openFds() <= before + slack ? openFds() : undefined)).catch(() => openFds());
  t.ok(settled <= before + slack, `open descriptors: ${before} before, ${settled} after 50 aborted downloads`);
  const inflight = await waitFor('in-flight responses to drop to 0', async () => {
    const n = await metric('pi_origin_inflight_responses');
    return n === 0 ? n : undefined;
  }).catch(async () => metric('pi_origin_inflight_responses'));
  t.equal(inflight, 0, 'nothing left in flight');
  const after = await request(port, '/big.bin');
  t.equal(sha256(after.body), sha256(BIG), 'still serving exact bytes');
});

t.test('more downloads at once than read buffers: all exact, and clients that leave while queued leak nothing', async (t) => {
  // A worker has 16 read buffers; the other streams wait for one in order.
  await waitFor('nothing in flight before counting', async () => ((await metric('pi_origin_inflight_responses')) === 0 ? true : undefined));
  const before = openFds();
  // The leavers hang up after their first bytes, when their next read is most likely queued.
  const [downloads] = await Promise.all([Promise.all(Array.from({ length: 40 }, () => request(port, '/big.bin'))), Promise.all(Array.from({ length: 100 }, () => abortedDownload(1)))]);
  const want = sha256(BIG);
  t.equal(downloads.filter((r) => r.status === 200 && sha256(r.body) === want).length, 40, '40 concurrent downloads are exact');
  const inflight = await waitFor('in-flight responses to drop to 0', async () => ((await metric('pi_origin_inflight_responses')) === 0 ? 0 : undefined)).catch(async () => metric('pi_origin_inflight_responses'));
  t.equal(inflight, 0, 'nothing left in flight');
  const slack = 4;
  const settled = await waitFor(`open descriptors to settle near ${before}`, () => (openFds() <= before + slack ? openFds() : undefined)).catch(() => openFds());
  t.ok(settled <= before + slack, `open descriptors: ${before} before, ${settled} after`);
});

t.test('a file rewritten after indexing is answered 503, never new bytes under old headers', async (t) => {
  for (const [name, size] of Object.entries(rewritten)) {
    const path = join(dir, name);
    const indexed = pseudoRandom(size, 7);
    const replacement = pseudoRandom(size, 8);
    writeFileSync(path, replacement);
    if (name.includes('same-mtime')) utimesSync(path, OLD, OLD);
    t.equal(statSync(path).size, size, `${name}: same size`);
    for (const attempt of [1, 2]) {
      const r = await request(port, `/${name}`);
      t.equal(r.status, 503, `${name} (request ${attempt}): 503`);
      t.not(r.headers['etag'], etagFor(indexed), `${name} (request ${attempt}): not under the indexed ETag`);
      t.notOk(r.body.equals(replacement), `${name} (request ${attempt}): not the new bytes`);
      if (r.status === 503) t.equal(r.headers['retry-after'], '1', `${name}: Retry-After`);
    }
  }
  t.equal((await request(port, '/big.bin')).status, 200, 'other files are still served');
});

t.test("a file above one worker's share of the cache is streamed, not read whole on every request", async (t) => {
  // 2 workers share 1 MiB: each caches 512 KiB, so the 768 KiB file can never be kept although
  // it is under --cache-max-file (1 MiB). It used to be read and hashed on every request.
  const KiB = 1024;
  const mid = pseudoRandom(768 * KiB, 3);
  const small = pseudoRandom(256 * KiB, 4);
  const root = t.testdir({ 'mid.bin': mid, 'small.bin': small });
  const node = await startServer(t, root, { workers: '2', cacheSize: '1MiB', cacheMaxFile: '1MiB' });
  type Status = { workerCache: { bytes: number; maxFile: number }; cacheBytes: number; counters: { cacheHits: number; cacheMisses: number } };
  const status = async (): Promise<Status> => JSON.parse((await request(node.port, '/_origin/status')).body.toString()) as Status;
  t.same((await status()).workerCache, { bytes: 512 * KiB, maxFile: 512 * KiB }, 'status names what one worker caches and the largest body it takes');

  for (let i = 1; i <= 4; i++) {
    const r = await request(node.port, '/mid.bin');
    t.equal(r.status, 200);
    t.ok(r.body.equals(mid), `request ${i}: the exact bytes`);
  }
  const afterMid = await status();
  t.same([afterMid.counters.cacheMisses, afterMid.counters.cacheHits, afterMid.cacheBytes], [0, 0, 0], 'streamed: no cache lookup, no whole-body read, nothing cached');
  const range = await request(node.port, '/mid.bin', { headers: { Range: 'bytes=600000-600009' } });
  t.equal(range.status, 206);
  t.ok(range.body.equals(mid.subarray(600000, 600010)), 'a range of it is streamed too');

  for (let i = 1; i <= 6; i++) t.ok((await request(node.port, '/small.bin')).body.equals(small), `small.bin request ${i}: the exact bytes`);
  const afterSmall = await status();
  t.ok(afterSmall.counters.cacheMisses <= 2, `small.bin is read at most once per worker (${afterSmall.counters.cacheMisses} reads)`);
  t.equal(afterSmall.counters.cacheHits, 6 - afterSmall.counters.cacheMisses, 'every other request is a cache hit');
  t.equal(afterSmall.cacheBytes, afterSmall.counters.cacheMisses * small.length, 'each worker that read it keeps it');
});
