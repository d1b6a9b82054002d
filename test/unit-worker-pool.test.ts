/**
 * The worker pool alone (server/worker-pool.ts): start order, a failed start, the restart backoff
 * (100 ms doubling to 10 s, reset after a minute of serving) and close, with fake threads and a
 * hand-driven clock. test/worker-restart.test.ts covers the same through real worker threads.
 */
import { EventEmitter } from 'node:events';
import t from 'tap';
import type { FromWorker, ToWorker } from '../server/messages.js';
import { createWorkerPool, deathsAfter, restartDelay, type PoolThread } from '../server/worker-pool.js';
import { FakeClock } from './helpers/fake-clock.js';

class FakeThread extends EventEmitter implements PoolThread {
  readonly received: ToWorker[] = [];
  constructor(
    readonly slot: number,
    readonly ports: readonly number[],
  ) {
    super();
  }
  postMessage(m: ToWorker): void {
    this.received.push(m);
    // A drained worker ends.
    if (m.type === 'drain') queueMicrotask(() => this.emit('exit', 0));
  }
  send(m: FromWorker): void {
    this.emit('message', m);
  }
  listen(ports: readonly number[] = this.ports): void {
    this.send({ type: 'listening', ports });
  }
  die(code = 1): void {
    this.emit('exit', code);
  }
}

/** Lets the pool's promise callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function makePool(size: number) {
  const clock = new FakeClock();
  const threads: FakeThread[] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const exits: number[] = [];
  const restarts: number[] = [];
  const messages: [number, FromWorker][] = [];
  const pool = createWorkerPool({
    size,
    clock,
    spawn: (i, ports) => {
      const th = new FakeThread(i, ports);
      threads.push(th);
      return th;
    },
    onMessage: (i, m) => messages.push([i, m]),
    onExit: (i) => exits.push(i),
    onRestart: (i) => restarts.push(i),
    events: { warn: (m) => warnings.push(m), info: (m) => infos.push(m) },
  });
  const last = (): FakeThread => threads.at(-1) as FakeThread;
  return { pool, clock, threads, warnings, infos, exits, restarts, messages, last };
}

/** A pool of `size` whose every worker listens on port 8080. */
async function started(size: number) {
  const p = makePool(size);
  const ports = p.pool.start([0]);
  (p.threads[0] as FakeThread).listen([8080]);
  await settle();
  for (const th of p.threads.slice(1)) th.listen();
  await ports;
  return p;
}

t.test('the backoff: 100 ms doubling to 10 s, reset after a minute of serving', (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelay), [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
  t.equal(deathsAfter(3, 59_999), 4, 'a death within the minute counts in the row');
  t.equal(deathsAfter(3, 60_000), 1, 'a worker that served a minute starts over');
  t.end();
});

t.test('start: the first worker resolves the ports, the others join them', async (t) => {
  const p = makePool(3);
  const ports = p.pool.start([0, 0]);
  t.equal(p.threads.length, 1, 'the others wait for the first');
  t.same(p.threads[0]?.ports, [0, 0]);
  p.threads[0]?.listen([8080, 8443]);
  await settle();
  t.same(p.threads.map((th) => th.ports), [[0, 0], [8080, 8443], [8080, 8443]]);
  p.threads[1]?.listen();
  p.threads[2]?.listen();
  t.same(await ports, [8080, 8443]);
  t.equal(p.pool.running(), 3);
  p.pool.broadcast({ type: 'reopen-log' });
  t.same(p.threads.map((th) => th.received), [[{ type: 'reopen-log' }], [{ type: 'reopen-log' }], [{ type: 'reopen-log' }]]);
  p.threads[1]?.send({ type: 'warn', message: 'hello' });
  t.same(p.messages, [[1, { type: 'warn', message: 'hello' }]], 'other messages go to onMessage');
  await p.pool.close();
  t.same(p.threads.map((th) => th.received.at(-1)), [{ type: 'drain' }, { type: 'drain' }, { type: 'drain' }], 'close drains every worker');
});

t.test('start: a worker that cannot listen fails the start and the others are drained', async (t) => {
  const p = makePool(2);
  const ports = p.pool.start([0]);
  p.threads[0]?.listen([8080]);
  await settle();
  p.threads[1]?.send({ type: 'listen-failed', address: '[::1]:8080' });
  await t.rejects(ports, { name: 'StartError', code: 'PI_ORIGIN_LISTEN', message: 'cannot listen on [::1]:8080 (in use, or not an address of this host)' });
  t.same(p.threads[0]?.received, [{ type: 'drain' }]);
  t.equal(p.clock.pending, 0, 'no restart is scheduled for a failed start');
});

t.test('start: a worker that dies before listening fails the start, not restarted', async (t) => {
  const p = makePool(1);
  const ports = p.pool.start([0]);
  p.threads[0]?.die(7);
  await t.rejects(ports, { name: 'StartError', code: 'PI_ORIGIN_WORKER', message: 'worker 0 exited with code 7 while starting' });
  t.equal(p.clock.pending, 0);
  t.equal(p.threads.length, 1);
});

t.test('a worker that dies is restarted after a growing delay', async (t) => {
  const p = await started(2);
  t.equal(p.threads.length, 2);
  const delays = [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000];
  for (const [k, delay] of delays.entries()) {
    p.last().die(1);
    t.same(p.exits.at(-1), 1, 'the dead worker is reported (its gauges are reset)');
    const times = k > 0 ? ` (${k + 1} times in a row)` : '';
    t.equal(p.warnings.at(-1), `worker 1 exited with code 1${times}; restarting it in ${delay < 1000 ? `${delay} ms` : `${delay / 1000} s`}`);
    t.equal(p.pool.running(), 1);
    const before = p.threads.length;
    p.clock.advance(delay - 1);
    t.equal(p.threads.length, before, `not restarted before ${delay} ms`);
    p.clock.advance(1);
    t.equal(p.threads.length, before + 1, `restarted at ${delay} ms`);
    t.same(p.last().ports, [8080], 'on the ports the node holds');
    p.last().listen();
    await settle();
    t.equal(p.infos.at(-1), 'worker 1 restarted: 2 of 2 workers running');
  }
  t.equal(p.restarts.length, delays.length, 'every restart is counted');
  t.ok(p.restarts.every((i) => i === 1));

  p.clock.advance(60_000);
  p.last().die(1);
  t.equal(p.warnings.at(-1), 'worker 1 exited with code 1; restarting it in 100 ms', 'a minute of serving resets the backoff');
  await p.pool.close();
});

t.test('a restart that cannot listen is drained, and its exit schedules the next try', async (t) => {
  const p = await started(1);
  p.last().die(1);
  p.clock.advance(100);
  p.last().send({ type: 'listen-failed', address: '[::1]:8080' });
  await settle();
  t.same(p.last().received, [{ type: 'drain' }]);
  t.same(p.warnings.slice(-2), [
    'worker 0 could not be restarted: cannot listen on [::1]:8080 (in use, or not an address of this host)',
    'worker 0 exited with code 0 (2 times in a row); restarting it in 200 ms',
  ]);
  p.clock.advance(200);
  t.equal(p.threads.length, 3);
  await p.pool.close();
});

t.test('close cancels a pending restart', async (t) => {
  const p = await started(2);
  p.last().die(1);
  t.equal(p.clock.pending, 1);
  await p.pool.close();
  t.equal(p.clock.pending, 0);
  p.clock.advance(10_000);
  t.equal(p.threads.length, 2, 'nothing started after close');
  t.same(p.threads[0]?.received, [{ type: 'drain' }]);
  t.same(p.threads[1]?.received, [], 'the dead one is not asked');
});
