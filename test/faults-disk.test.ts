/**
 * Faults on the disk under the server, against the built server as a child process (its own
 * /proc/PID/fd is counted and its stderr read): files replaced, rewritten and deleted while a
 * slow client downloads them; files that cannot be read (EIO from a bind-mounted kernel file in
 * a private mount namespace, EACCES with the DAC override capabilities dropped).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRelease } from '../dist/release/release.js';
import { scanTree } from '../dist/content/scan.js';
import { settledFds, spawnOrigin } from './helpers/origin-process.js';
import { parseResponses, rawExchange, request } from './helpers/server.js';
import { pseudoRandom } from './helpers/site.js';
import { waitFor } from './helpers/wait.js';
import { etagFor, sha256 } from './helpers/hash.js';


interface Download {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * GET `path` on a raw socket; stop reading once `pauseAfter` body bytes have arrived, run
 * `meanwhile` (the server is held up by backpressure then), and read on to the end. Resolves,
 * once `meanwhile` is done too, with whatever arrived before the connection closed (a reset
 * counts as a close: it is how a cut looks when bytes were still unread).
 */
function slowDownload(port: number, path: string, pauseAfter: number, meanwhile: () => Promise<void>): Promise<Download> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let during: Promise<void> | undefined;
    const s = connect({ host: '::1', port }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      if (during !== undefined || received < pauseAfter) return;
      s.pause();
      during = meanwhile().finally(() => s.resume());
    });
    s.on('error', () => undefined);
    // A server that neither finishes nor cuts is a failure, not a hang.
    s.setTimeout(30_000, () => s.destroy());
    s.on('close', () => {
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      const [head] = end === -1 ? [] : parseResponses(data.subarray(0, end + 4), true);
      if (head === undefined) return reject(new Error(`no response head for ${path}`));
      (during ?? Promise.resolve()).then(() => resolve({ status: head.status, headers: head.headers, body: data.subarray(end + 4) }), reject);
    });
  });
}

t.test('files replaced, rewritten and deleted during a slow streamed download', async (t) => {
  const SIZE = 32 * 1024 * 1024;
  const dir = t.testdir({ 'small.txt': 'still here\n' });
  const original = { 'renamed.bin': pseudoRandom(SIZE, 1), 'rewritten.bin': pseudoRandom(SIZE, 2), 'deleted.bin': pseudoRandom(SIZE, 3) };
  for (const [name, bytes] of Object.entries(original)) writeFileSync(join(dir, name), bytes);
  const origin = await spawnOrigin(t, dir, ['--workers', '2', '--cache-max-file', '1MiB', '--cache-size', '8MiB']);
  await request(origin.port, '/small.txt');
  const fdsBefore = await settledFds(origin);

  interface Case {
    readonly name: keyof typeof original;
    readonly change: string;
    readonly replacement: Buffer | undefined;
    readonly apply: (path: string) => void;
    /**
     * The open file keeps its inode's bytes when another file is renamed over it or it is
     * deleted: the download completes. Written in place, the bytes under the open fd change:
     * the server has sent at most a few MB (socket buffers) of 32 when that happens, and must cut.
     */
    readonly outcome: 'completed' | 'cut';
  }
  const renamed = pseudoRandom(SIZE / 2, 11);
  const rewritten = pseudoRandom(SIZE, 12);
  const cases: Case[] = [
    {
      name: 'renamed.bin',
      change: 'a new file renamed over it',
      replacement: renamed,
      apply: (path) => (writeFileSync(path + '.new', renamed), renameSync(path + '.new', path)),
      outcome: 'completed',
    },
    { name: 'rewritten.bin', change: 'overwritten in place, same size', replacement: rewritten, apply: (path) => writeFileSync(path, rewritten), outcome: 'cut' },
    { name: 'deleted.bin', change: 'deleted', replacement: undefined, apply: (path) => unlinkSync(path), outcome: 'completed' },
  ];
  for (const c of cases) {
    t.test(`${c.name}: ${c.change}`, async (t) => {
      const path = join(dir, c.name);
      const bytes = original[c.name];
      // HEAD answers from the index alone: while it is rebuilt, every answer must pair a
      // version's ETag with that version's length.
      const lengths = new Map([[etagFor(bytes), String(SIZE)]]);
      if (c.replacement !== undefined) lengths.set(etagFor(c.replacement), String(c.replacement.length));
      const mismatched: string[] = [];
      const d = await slowDownload(origin.port, `/${c.name}`, 256 * 1024, async () => {
        c.apply(path);
        // Until the re-index is seen by new requests, the in-flight download stays paused.
        await waitFor(`/${c.name} to be re-indexed`, async () => {
          const r = await request(origin.port, `/${c.name}`, { method: 'HEAD' });
          if (r.status === 200 && lengths.get(r.headers['etag'] ?? '') !== r.headers['content-length']) mismatched.push(`${r.headers['etag']} with Content-Length ${r.headers['content-length']}`);
          return (c.replacement === undefined ? r.status === 404 : r.headers['etag'] === etagFor(c.replacement)) ? true : undefined;
        }, 10_000);
      });
      t.same(mismatched, [], 'HEAD never paired an ETag with another version\'s length');
      t.equal(d.status, 200);
      t.equal(d.headers['content-length'], String(SIZE), 'the original Content-Length');
      t.equal(d.headers['etag'], etagFor(bytes), 'the original ETag');
      t.comment(`${c.name}: ${d.body.length === SIZE ? 'completed' : `cut after ${d.body.length} of ${SIZE} bytes`}`);
      t.equal(d.body.length === SIZE ? 'completed' : 'cut', c.outcome, `the download ${c.outcome === 'cut' ? 'was cut' : 'completed'}`);
      t.ok(d.body.equals(bytes.subarray(0, d.body.length)), `every byte received is the original's (${d.body.length} bytes)`);
      const after = await request(origin.port, `/${c.name}`);
      if (c.replacement === undefined) t.equal(after.status, 404, 'a new request: 404');
      else {
        t.equal(after.status, 200, 'a new request: 200');
        t.equal(after.headers['etag'], etagFor(c.replacement), 'a new request: the new ETag');
        t.ok(after.body.equals(c.replacement), 'a new request: the new bytes');
      }
    });
  }

  t.test('the server is fine afterwards', async (t) => {
    t.ok(origin.alive(), 'still running');
    t.equal((await request(origin.port, '/small.txt')).body.toString(), 'still here\n');
    const fdsAfter = await settledFds(origin);
    t.comment(`server descriptors: ${fdsBefore} before, ${fdsAfter} after`);
    t.ok(fdsAfter <= fdsBefore, `no descriptor leak (${fdsBefore} before, ${fdsAfter} after)`);
  });
});

t.test('a file written while the tree is indexed is never indexed with one version\'s size and another\'s hash', async (t) => {
  // A scan that lands inside a long write sees a partial size; it must not pair it with the
  // hash of bytes read later. Timing decides where the scan lands, so: several writes.
  const dir = t.testdir({});
  const file = join(dir, 'growing.bin');
  const SIZE = 64 * 1024 * 1024;
  const full = (fill: number): string => sha256(Buffer.alloc(SIZE, fill));
  const hashOfSize = (size: number, fill: number): string => sha256(Buffer.alloc(size, fill));
  const seen: string[] = [];
  for (let fill = 1; fill <= 5; fill++) {
    writeFileSync(file, Buffer.alloc(1024, 0));
    const writer = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(file)}, Buffer.alloc(${SIZE}, ${fill}))`], { stdio: 'ignore' });
    const exited = new Promise((r) => writer.on('exit', r));
    await waitFor('the writer to start', () => (statSync(file).size !== 1024 ? true : undefined), 10_000);
    const { index } = await scanTree(dir);
    await exited;
    const f = index.files.find((x) => x.path === '/growing.bin');
    if (f === undefined) {
      seen.push('skipped');
      continue;
    }
    const consistent = f.sha256 === (f.size === SIZE ? full(fill) : hashOfSize(f.size, fill)) || (f.size === 0 && f.sha256 === sha256(Buffer.alloc(0)));
    seen.push(`${f.size} bytes${consistent ? '' : ' with the hash of other bytes'}`);
  }
  t.comment(`indexed during the writes: ${seen.join('; ')}`);
  t.same(seen.filter((s) => s.includes('other bytes')), [], 'every indexed size matches its hash');
});

/** A kernel file whose read fails with EIO, and the size fstat reports for it; undefined when this kernel differs. */
function eioSource(path: string): { path: string; size: number } | undefined {
  try {
    readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EIO') return { path, size: statSync(path).size };
  }
  return undefined;
}

/** Why `argv` cannot run here (false when it can): the wrappers need root and util-linux. */
function cannotRun(argv: readonly string[], what: string): string | false {
  if (process.getuid?.() !== 0) return `${what} needs root`;
  const r = spawnSync(argv[0] as string, [...argv.slice(1), 'true'], { encoding: 'utf8' });
  return r.status === 0 ? false : `${what} is not possible here: ${r.error?.message ?? r.stderr.trim()}`;
}

const UNSHARE = ['unshare', '--mount', '--propagation', 'private'];
const DROP_DAC = ['setpriv', '--inh-caps=-all', '--bounding-set=-dac_override,-dac_read_search', '--'];
/** procfs: size 0, read EIO (no stable_secret has been set). */
const PROC_EIO = eioSource('/proc/sys/net/ipv6/conf/lo/stable_secret');
/** sysfs: size 4096, read EIO (runtime PM autosuspend not in use for the perf "software" device). */
const SYS_EIO = eioSource('/sys/devices/software/power/autosuspend_delay_ms');

interface BrokenRelease {
  readonly dir: string;
  readonly id: string;
}

/** A release with readable files and the ones a test breaks; `sizes` gives each broken file's size. */
async function brokenRelease(base: string, sizes: Readonly<Record<string, number>>): Promise<BrokenRelease> {
  const site = join(base, 'site');
  mkdirSync(site);
  writeFileSync(join(site, 'ok.txt'), 'fine\n');
  writeFileSync(join(site, 'big-ok.bin'), pseudoRandom(64 * 1024, 5));
  for (const [name, size] of Object.entries(sizes)) writeFileSync(join(site, name), pseudoRandom(size, size));
  const built = await buildRelease(site, join(base, 'releases'));
  return { dir: built.dir, id: built.id };
}

/** N GETs of a file that cannot be read: each a 500 with the plain error body. */
async function expect500s(t: Test, port: number, path: string, release: string, n: number): Promise<void> {
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < n; i++) {
    last = await request(port, path);
    statuses.push(last.status);
  }
  t.same(statuses, Array(n).fill(500), `${path}: ${n} x 500`);
  if (last !== undefined) {
    t.equal(last.body.toString(), '500 Internal Server Error\n', `${path}: the plain error body`);
    t.equal(last.headers['cache-control'], 'no-store', `${path}: not cached`);
    t.equal(last.headers['x-origin-release'], release, `${path}: names the release`);
  }
}

/** The warnings naming `name` on the server's stderr. */
const warningsAbout = (stderr: string, name: string): string[] => stderr.split('\n').filter((l) => l.includes('warning:') && l.includes(name));

const EIO_SKIP = cannotRun(UNSHARE, 'a private mount namespace (unshare --mount)') || (PROC_EIO === undefined ? 'reading /proc/sys/net/ipv6/conf/lo/stable_secret does not fail with EIO on this kernel' : false);

t.test('EIO from the disk: 500 for that file only, counted, logged once', { skip: EIO_SKIP }, async (t) => {
  const eio = PROC_EIO as { path: string; size: number };
  const streamed = SYS_EIO;
  const release = await brokenRelease(t.testdir({}), { 'broken.txt': 1000, 'truncated.bin': 8192, ...(streamed === undefined ? {} : { 'stream-eio.bin': streamed.size }) });
  const mounts: [string, string][] = [[eio.path, 'broken.txt'], [eio.path, 'truncated.bin'], ...(streamed === undefined ? [] : [[streamed.path, 'stream-eio.bin'] as [string, string]])];
  // Bind mounts only inside the server's private mount namespace; they vanish with it.
  const script = mounts.map((_, i) => `mount --bind "$${2 * i + 1}" "$${2 * i + 2}"`).join(' && ') + ` && shift ${2 * mounts.length} && exec "$@"`;
  const wrapper = [...UNSHARE, 'sh', '-c', script, 'sh', ...mounts.flatMap(([from, name]) => [from, join(release.dir, name)])];
  const origin = await spawnOrigin(t, release.dir, ['--workers', '2', '--cache-max-file', '2KiB', '--cache-size', '1MiB'], wrapper);
  t.equal((await request(origin.port, '/ok.txt')).status, 200);
  const fdsBefore = await settledFds(origin);
  const N = 12;

  t.test('a cached-size file', async (t) => {
    await expect500s(t, origin.port, '/broken.txt', release.id, N);
    t.equal((await request(origin.port, '/ok.txt')).body.toString(), 'fine\n', 'other files: 200');
    const big = await request(origin.port, '/big-ok.bin');
    t.equal(big.status, 200, 'a streamed file: 200');
    t.ok(big.body.equals(pseudoRandom(64 * 1024, 5)), 'a streamed file: exact bytes');
  });

  t.test('a streamed file whose read fails after the head went out: the connection is cut', { skip: streamed === undefined ? 'no sysfs file with a size that fails with EIO here' : false }, async (t) => {
    // uWS writes the blank line ending the head (after Date and Content-Length) with the first
    // body bytes: a stream cut before any body leaves the head unfinished. Either way the client
    // holds a response it cannot take for complete.
    const outcomes: string[] = [];
    const GIVE_UP_MS = 8000;
    for (let i = 0; i < N; i++) {
      const started = Date.now();
      const data = await rawExchange(origin.port, 'GET /stream-eio.bin HTTP/1.1\r\nHost: origin.test\r\n\r\n', '::1', GIVE_UP_MS);
      // Our own timer closes it at GIVE_UP_MS, never earlier: anything sooner was the server.
      const closedBy = Date.now() - started < GIVE_UP_MS ? 'closed by the server' : 'left open';
      const end = data.indexOf('\r\n\r\n');
      const body = end === -1 ? 0 : data.length - end - 4;
      const length = end === -1 ? 'no end of head' : `Content-Length ${parseResponses(data.subarray(0, end + 4), true)[0]?.headers['content-length']}`;
      outcomes.push(`${data.subarray(0, data.indexOf('\r\n')).toString('latin1')}, ${length}, ${body} body bytes, ${closedBy}`);
    }
    t.same([...new Set(outcomes)], ['HTTP/1.1 200 OK, no end of head, 0 body bytes, closed by the server'], `${N} requests: cut after the status line and headers`);
  });

  t.test('a streamed file whose size on disk disagrees (fstat says 0): 503, the answer for a changed file', async (t) => {
    const r = await request(origin.port, '/truncated.bin');
    t.equal(r.status, 503);
    t.equal(r.headers['retry-after'], '1');
  });

  t.test('counted, logged once, nothing leaked', async (t) => {
    const cut = streamed === undefined ? 0 : N;
    t.equal(await origin.metric('pi_origin_read_errors_total'), N + cut, `pi_origin_read_errors_total: ${N} 500s + ${cut} cut streams`);
    t.equal(await origin.metric('pi_origin_inflight_responses'), 0, 'nothing in flight');
    const broken = warningsAbout(origin.stderr(), 'broken.txt');
    t.equal(broken.length, 1, 'one warning for broken.txt across both workers');
    t.match(broken[0], `cannot read ${join(release.dir, 'broken.txt')}: EIO`);
    if (streamed !== undefined) t.equal(warningsAbout(origin.stderr(), 'stream-eio.bin').length, 1, 'one warning for stream-eio.bin');
    t.equal(warningsAbout(origin.stderr(), 'truncated.bin').length, 0, 'a changed file is not a read error');
    t.notMatch(origin.stderr(), /\n\s+at /, 'no stack trace');
    t.ok(origin.alive(), 'still running');
    const fdsAfter = await settledFds(origin);
    t.comment(`server descriptors: ${fdsBefore} before, ${fdsAfter} after`);
    t.ok(fdsAfter <= fdsBefore, `no descriptor leak (${fdsBefore} before, ${fdsAfter} after)`);
  });
});

const DROP_SKIP = cannotRun(DROP_DAC, 'running the server without CAP_DAC_OVERRIDE (setpriv)');

t.test('a file the server may not read (EACCES): 500 for that file only, counted, logged once', { skip: DROP_SKIP }, async (t) => {
  const release = await brokenRelease(t.testdir({}), { 'secret.txt': 1000, 'secret.bin': 8192 });
  for (const name of ['secret.txt', 'secret.bin']) chmodSync(join(release.dir, name), 0);
  // Root reads mode 000 files through CAP_DAC_OVERRIDE: the server runs without it.
  const origin = await spawnOrigin(t, release.dir, ['--workers', '2', '--cache-max-file', '2KiB', '--cache-size', '1MiB'], DROP_DAC);
  const fdsBefore = await settledFds(origin);
  const N = 12;
  await expect500s(t, origin.port, '/secret.txt', release.id, N);
  await expect500s(t, origin.port, '/secret.bin', release.id, N);
  t.equal((await request(origin.port, '/ok.txt')).body.toString(), 'fine\n', 'other files: 200');
  t.equal((await request(origin.port, '/big-ok.bin')).status, 200, 'other streamed files: 200');
  t.equal(await origin.metric('pi_origin_read_errors_total'), 2 * N, 'every 500 counted');
  for (const name of ['secret.txt', 'secret.bin']) {
    const lines = warningsAbout(origin.stderr(), name);
    t.equal(lines.length, 1, `one warning for ${name} across both workers`);
    t.match(lines[0], `cannot read ${join(release.dir, name)}: EACCES`);
  }
  const fdsAfter = await settledFds(origin);
  t.comment(`server descriptors: ${fdsBefore} before, ${fdsAfter} after`);
  t.ok(fdsAfter <= fdsBefore, `no descriptor leak (${fdsBefore} before, ${fdsAfter} after)`);
});
