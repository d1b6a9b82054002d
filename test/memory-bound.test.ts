/**
 * The body cache is what grows with the content, and it is bounded: a root of 10,000 distinct
 * 16 KiB files (160 MiB) behind a 16 MiB --cache-size, every file requested twice over
 * keep-alive connections, must keep the server's resident set within its baseline, the cache
 * and a fixed overhead per worker (the garbage each worker's V8 heap lets pile up between
 * collections: evicted bodies and per-request objects). The server is the built CLI as a child
 * process, so its RSS is its own.
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { spawnOrigin } from './helpers/origin-process.js';
import { mib, PeakRss, rss, UNINSTRUMENTED } from './helpers/proc.js';
import { request } from './helpers/server.js';

const MiB = 1024 * 1024;
const FILES = 10_000;
const SIZE = 16 * 1024;
const CACHE = 16 * MiB;
const WORKERS = 2;
/** Per worker, above the cache: measured 35-45 MiB (garbage between collections); with margin. */
const PER_WORKER = 64 * MiB;
const CONNECTIONS = 32;
const PASSES = 2;

/** Every file starts with its own path, padded with random bytes: 10,000 distinct bodies (and ETags). */
const pathOf = (i: number): string => `/d${Math.floor(i / 100)}/f${i % 100}.bin`;
const root = mkdtempSync(join(tmpdir(), 'pi-origin-memory-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const body = Buffer.alloc(SIZE);
for (let i = 0; i < FILES; i++) {
  if (i % 100 === 0) mkdirSync(join(root, `d${i / 100}`));
  randomFillSync(body);
  body.write(pathOf(i) + '\n', 'latin1');
  writeFileSync(join(root, pathOf(i)), body);
}

interface Tally {
  ok: number;
  bad: string[];
}

/**
 * One keep-alive connection fetching `paths` one after another, checking each response: 200,
 * Content-Length SIZE, the body starting with its own path.
 */
function fetchAll(port: number, paths: readonly string[], tally: Tally): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port });
    let pending: Buffer = Buffer.alloc(0);
    let next = 0;
    const ask = (): void => {
      if (next === paths.length) {
        s.end();
        return resolve();
      }
      s.write(`GET ${paths[next]} HTTP/1.1\r\nHost: origin.test\r\n\r\n`);
    };
    s.on('connect', ask);
    s.on('data', (c: Buffer) => {
      pending = pending.length === 0 ? c : Buffer.concat([pending, c]);
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = pending.subarray(0, end).toString('latin1');
      const length = Number(/^content-length: (\d+)$/im.exec(head)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const path = paths[next++] as string;
      const got = pending.subarray(end + 4, end + 4 + length);
      if (head.startsWith('HTTP/1.1 200 OK\r\n') && length === SIZE && got.subarray(0, path.length + 1).toString('latin1') === path + '\n') tally.ok++;
      else tally.bad.push(`${path}: ${head.split('\r\n')[0]}, ${length} bytes`);
      pending = pending.subarray(end + 4 + length);
      ask();
    });
    s.on('error', reject);
  });
}

t.test(`${FILES} files of ${SIZE / 1024} KiB through a ${CACHE / MiB} MiB cache: RSS stays within baseline + cache + ${PER_WORKER / MiB} MiB per worker`, async (t) => {
  const origin = await spawnOrigin(t, root, ['--no-watch', '--workers', String(WORKERS), '--cache-size', `${CACHE / MiB}MiB`], UNINSTRUMENTED);
  const status = JSON.parse((await request(origin.port, '/_origin/status')).body.toString()) as { files: number; contentBytes: number };
  t.equal(status.files, FILES, 'every file is indexed');
  t.equal(status.contentBytes, FILES * SIZE, `the content is ${(FILES * SIZE) / MiB} MiB, ${(FILES * SIZE) / CACHE} times the cache`);
  const base = rss(origin.pid);
  const peak = new PeakRss(origin.pid);
  const started = Date.now();
  const perPass: string[] = [];
  const tally: Tally = { ok: 0, bad: [] };
  for (let pass = 0; pass < PASSES; pass++) {
    // Connection k asks for files k, k + 32, k + 64, ...: the whole root in order, 32 at a time.
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, k) => fetchAll(origin.port, Array.from({ length: Math.ceil((FILES - k) / CONNECTIONS) }, (_, j) => pathOf(k + j * CONNECTIONS)), tally)));
    perPass.push(`pass ${pass + 1}: peak +${mib(peak.now() - base)} MiB, now +${mib(rss(origin.pid) - base)} MiB`);
  }
  const ms = Date.now() - started;
  const growth = peak.stop() - base;
  t.same(tally.bad.slice(0, 5), [], 'every response was 200 with its own 16 KiB body');
  t.equal(tally.ok, FILES * PASSES, `${FILES * PASSES} responses`);
  const cacheBytes = await origin.metric('pi_origin_cache_bytes');
  const misses = await origin.metric('pi_origin_cache_misses_total');
  t.ok(cacheBytes <= CACHE && cacheBytes >= CACHE / 2, `the cache holds ${cacheBytes} bytes: full, and within --cache-size (${CACHE})`);
  t.ok(misses >= FILES * PASSES - CACHE / SIZE, `${misses} cache misses: bodies were loaded and evicted throughout`);
  const bound = CACHE + WORKERS * PER_WORKER;
  t.ok(growth <= bound, `RSS peak ${mib(base + growth)} MiB = baseline ${mib(base)} + ${mib(growth)} MiB (bound: + ${mib(bound)} MiB; the content is ${(FILES * SIZE) / MiB} MiB)`);
  t.comment(`memory bound: baseline RSS ${mib(base)} MiB, peak ${mib(base + growth)} MiB (+${mib(growth)}), cache ${cacheBytes} bytes, ${misses} misses, ${FILES * PASSES} requests in ${ms} ms; ${perPass.join('; ')}`);
});
