/**
 * A worker thread that dies is replaced and the node keeps serving on the others. Faults are
 * injected by a fixture worker module (test/fixtures/fault-worker.ts wraps dist/server/worker.js)
 * given to startOrigin as an internal option, never a flag: an exception thrown from a timer and
 * an unhandled rejection (each used to abort the whole process with "uv_loop_close() while
 * having open handles"), a request handler that throws (uWS used to abort on it), and a worker
 * that dies right after every start (restarted with a growing delay).
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { resolveOptions } from '../dist/server/config.js';
import { startOrigin, type OriginNode } from '../dist/server/origin.js';
import { runFixedRate } from '../dist/load-tests/gate/run-load.js';
import { listeningPort, start } from './helpers/cli.js';
import { rawExchange, request } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

const FAULT_WORKER = new URL('./fixtures/fault-worker.ts', import.meta.url);

interface Node {
  readonly node: OriginNode;
  readonly port: number;
  readonly warnings: string[];
  readonly infos: string[];
  /** Asks worker `worker` for a fault of `kind` (see the fixture). */
  fault(kind: 'throw' | 'reject', worker: number): void;
}

async function startFaulty(t: Test, startFaults: Readonly<Record<number, number>> = {}): Promise<Node> {
  const dir = t.testdir({
    site: { 'index.html': '<!doctype html><title>home</title>\n', 'a.txt': 'a'.repeat(2048), 'after-read.txt': 'b'.repeat(100) },
    faults: Object.fromEntries(Object.entries(startFaults).map(([w, n]) => [`start-${w}`, String(n)])),
  });
  const root = join(dir, 'site');
  const options = resolveOptions({ flags: { listen: ['[::1]:0'], workers: '2', watch: false }, positionalRoot: root, defaultRoot: root });
  const warnings: string[] = [];
  const infos: string[] = [];
  const node = await startOrigin(options, { warn: (m) => warnings.push(m), info: (m) => infos.push(m) }, { workerUrl: FAULT_WORKER });
  t.teardown(() => node.close());
  return { node, port: node.ports[0] as number, warnings, infos, fault: (kind, worker) => writeFileSync(join(dir, 'faults', `${kind}-${worker}`), '') };
}

interface Status {
  workers: number;
  workersServing: number;
  workerRestarts: number;
  counters: { status5xx: number; inflight: number };
}
const status = async (port: number): Promise<Status> => JSON.parse((await request(port, '/_origin/status')).body.toString()) as Status;

/** Resolves once `count` warnings match `pattern`. */
const warned = (n: Node, pattern: RegExp, count = 1, ms = 20_000): Promise<string[]> =>
  waitFor(`${count} warning(s) like ${pattern}`, () => {
    const hits = n.warnings.filter((w) => pattern.test(w));
    return hits.length >= count ? hits : undefined;
  }, ms);

/** Both workers serving again, per the node itself. */
const bothServing = (n: Node, restarts: number): Promise<Status> =>
  waitFor(`2 workers serving after ${restarts} restart(s)`, async () => {
    const s = await status(n.port);
    return s.workersServing === 2 && s.workerRestarts === restarts ? s : undefined;
  }, 20_000);

/** 200 fresh connections, 20 at a time: every one is answered by whichever worker accepts it. */
async function manyConnections(port: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push(...(await Promise.all(Array.from({ length: 20 }, async () => (await request(port, '/a.txt')).status))));
  return statuses;
}

/** GET /a.txt, its whole answer, then GET /__fault on the same connection: all bytes until the close. */
function keepAliveThenFault(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sent = false;
    const s = connect({ host: '::1', port }, () => s.write('GET /a.txt HTTP/1.1\r\nHost: origin.test\r\n\r\n'));
    const timer = setTimeout(() => s.destroy(new Error('the connection was not closed')), 5000);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!sent && Buffer.concat(chunks).toString('latin1').endsWith('a'.repeat(2048))) {
        sent = true;
        s.write('GET /__fault HTTP/1.1\r\nHost: origin.test\r\n\r\n');
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

// One node for the faults that kill a worker once (each test leaves both workers serving), and
// one for a worker that keeps dying: starting workers is the slow part of this file.

t.test('one node, one fault at a time', async (t) => {
  const n = await startFaulty(t);
  t.has(await status(n.port), { workers: 2, workersServing: 2, workerRestarts: 0 }, 'two workers at start');

  t.test('a request handler that throws: its connection is closed, the worker serves on', async (t) => {
    for (let i = 0; i < 4; i++) {
      const raw = await rawExchange(n.port, 'GET /__fault HTTP/1.1\r\nHost: origin.test\r\n\r\n');
      t.equal(raw.length, 0, `request ${i + 1}: closed without an answer (a 200 head may already have been written)`);
    }
    const answered = await keepAliveThenFault(n.port);
    t.match(answered.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\na{2048}$/, 'an earlier request on the same connection was answered in full, then the connection closed');
    const warnings = await warned(n, /^worker [01]: request "\/__fault" failed \(connection closed\): Error: injected handler fault \(at fault-worker\.ts:\d+:\d+\)/, 2);
    t.ok(warnings.length <= 5, `reported the 1st, 2nd and 4th time per worker, not on every request (${warnings.length} for 5)`);
    t.ok(n.warnings.some((w) => w.endsWith(' (2 times so far)')), 'repeats say how many so far');
    const s = await status(n.port);
    t.same([s.workersServing, s.workerRestarts], [2, 0], 'no worker died');
    const metrics = (await request(n.port, '/_origin/metrics')).body.toString();
    t.match(metrics, /^pi_origin_http_requests_total\{code="500",method="GET"\} 5$/m, 'each one counted as a 500 of a GET');
    t.match(metrics, /^pi_origin_workers_serving 2$/m);
    t.match(metrics, /^pi_origin_worker_restarts_total 0$/m);
    n.warnings.length = 0;
  });

  t.test('a throw after a body was read (in the read\'s callback) closes that connection only', async (t) => {
    // The file is in no worker's cache yet: the head is written in the read's success callback.
    const before = (await status(n.port)).counters.status5xx;
    const raw = await rawExchange(n.port, 'GET /after-read.txt HTTP/1.1\r\nHost: origin.test\r\n\r\n');
    t.equal(raw.length, 0, 'closed without an answer');
    await warned(n, /^worker [01]: request "\/after-read\.txt" failed \(connection closed\): Error: injected fault after a read \(at fault-worker\.ts:\d+:\d+\)$/);
    t.equal((await request(n.port, '/a.txt')).status, 200, 'the node answers the next request');
    const s = await status(n.port);
    t.same([s.workersServing, s.workerRestarts], [2, 0], 'no worker died');
    t.equal(s.counters.status5xx, before + 1, 'counted as a 5xx');
    t.equal(s.counters.inflight, 0, 'nothing left in flight');
    t.same(n.warnings.filter((w) => !w.includes('/after-read.txt')), [], 'no worker failed');
    n.warnings.length = 0;
  });

  t.test('a worker that throws from a timer under load is replaced; the node keeps answering', async (t) => {
    const rate = 400;
    const load = runFixedRate({
      origin: `http://[::1]:${n.port}`,
      requests: [{ path: '/a.txt', file: '/a.txt', headers: {}, expect: 200 }, { path: '/', file: '/index.html', headers: {}, expect: 200 }],
      rate,
      connections: 20,
      durationSec: 6,
    });
    await new Promise((r) => setTimeout(r, 1500));
    n.fault('throw', 0);
    const [failed] = await warned(n, /^worker 0 failed: uncaught exception: Error: injected fault in worker 0 \(at fault-worker\.ts:\d+:\d+\); it closes its connections and ends$/);
    t.ok(failed, 'the fault is reported with the worker, the message and where it was thrown');
    const [exited] = await warned(n, /^worker 0 exited with code 1; restarting it in 100 ms$/);
    t.ok(exited, 'a warning names the worker, its exit code and the restart');
    const out = await load;
    const offered = rate * out.durationSec;
    const failures = out.errors + out.non2xx3xx;
    t.comment(`offered ${offered}, answered ${out.responses} (${JSON.stringify(out.statuses)}), ${out.errors} errors, ${out.timeouts} timeouts`);
    t.equal(out.non2xx3xx, 0, 'no error status: a request is answered in full or its connection is closed');
    t.ok(failures <= 40, `only requests in flight on the dead worker's connections may fail (${failures})`);
    t.ok(out.responses >= offered * 0.9, `the node kept answering: ${out.responses} of ${offered}`);
    t.ok(out.timeline.every((s) => s.requests > 0), 'answers in every second of the run');
    const after = await bothServing(n, 1);
    t.equal(after.workers, 2);
    t.match(n.infos.join('\n'), /^worker 0 restarted: 2 of 2 workers running$/m);
    t.same(new Set(await manyConnections(n.port)), new Set([200]), '200 new connections afterwards, every one answered 200');
    t.same(n.warnings.filter((w) => !/^worker 0 (failed|exited)/.test(w)), [], 'nothing else went wrong');
  });

  t.test('an unhandled promise rejection ends and restarts the worker the same way', async (t) => {
    n.fault('reject', 1);
    await warned(n, /^worker 1 failed: unhandled promise rejection: Error: injected rejection in worker 1 \(at fault-worker\.ts:\d+:\d+\); it closes its connections and ends$/);
    await warned(n, /^worker 1 exited with code 1; restarting it in 100 ms$/);
    await bothServing(n, 2);
    t.same(new Set(await manyConnections(n.port)), new Set([200]));
  });
});

t.test('a worker that keeps dying', async (t) => {
  // Worker 1 dies right after each of its first 4 starts (the node's own start included).
  const n = await startFaulty(t, { 1: 4 });

  t.test('is restarted with a growing delay while the other serves', async (t) => {
    const exits = await warned(n, /^worker 1 exited with code 1/, 4, 40_000);
    t.same(exits, [
      'worker 1 exited with code 1; restarting it in 100 ms',
      'worker 1 exited with code 1 (2 times in a row); restarting it in 200 ms',
      'worker 1 exited with code 1 (3 times in a row); restarting it in 400 ms',
      'worker 1 exited with code 1 (4 times in a row); restarting it in 800 ms',
    ]);
    t.same(new Set(await manyConnections(n.port)), new Set([200]), 'worker 0 answered throughout');
    await bothServing(n, 4);
  });

  t.test('close() while a restart is pending ends at once, and starts nothing', async (t) => {
    // Within a minute of its last start, a fifth death waits 1.6 s.
    n.fault('throw', 1);
    await warned(n, /^worker 1 exited with code 1 \(5 times in a row\); restarting it in 1\.6 s$/);
    const infos = n.infos.length;
    const started = Date.now();
    await n.node.close();
    t.ok(Date.now() - started < 10_000, `closed in ${Date.now() - started} ms`);
    await new Promise((r) => setTimeout(r, 2000));
    t.same(n.infos.slice(infos), [], 'no worker started after close()');
  });
});

t.test('an exception in the main thread of `pi-origin serve` drains and exits 1 instead of aborting', async (t) => {
  // Preloaded with --import, so no hook is needed in the product: SIGUSR2 makes the main thread throw.
  const dir = t.testdir({ 'main-fault.mjs': "import { isMainThread } from 'node:worker_threads';\nif (isMainThread) process.on('SIGUSR2', () => { throw new Error('injected main-thread fault'); });\n" });
  const p = start(['serve', '--listen', '[::1]:0', '--workers', '2'], { NODE_OPTIONS: `--import=${join(dir, 'main-fault.mjs')}` });
  const port = await listeningPort(p);
  t.type(port, 'number', 'it served');
  t.equal((await request(port as number, '/')).status, 200);
  p.child.kill('SIGUSR2');
  const result = await p.result;
  t.same([result.code, result.signal], [1, null], 'exit code 1, not SIGABRT');
  t.match(result.stderr, /^pi-origin: error: uncaught exception in the main thread: Error: injected main-thread fault\npi-origin: stopping: draining\npi-origin: stopped\n$/m);
  t.notMatch(result.stderr, /Assertion failed|uv_loop_close/);
});
