/**
 * The origin's worker threads: starts them (the first resolves port 0, the others join its
 * ports), restarts one that dies after a backoff, and drains them all on close. It knows
 * nothing of content or certificates: startOrigin says how a thread is made and what to do with
 * the messages the pool does not handle itself.
 */
import type { FromWorker, ToWorker } from './messages.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import type { OriginEvents } from './origin.js';

export const RESTART_FIRST_MS = 100;
export const RESTART_MAX_MS = 10_000;
/** A worker that served this long before it died starts the backoff over. */
export const RESTART_RESET_MS = 60_000;

/** The part of a node:worker_threads Worker the pool uses (a test passes a fake). */
export interface PoolThread {
  postMessage(m: ToWorker): void;
  on(event: 'message', fn: (m: FromWorker) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
  once(event: 'exit', fn: () => void): unknown;
}

export class StartError extends Error {
  override readonly name = 'StartError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

export interface WorkerPoolOptions {
  readonly size: number;
  /** Makes worker `i`'s thread, to listen on `ports`. */
  readonly spawn: (i: number, ports: readonly number[]) => PoolThread;
  /** A message other than listening/listen-failed (warnings, read errors, faults). */
  readonly onMessage: (i: number, m: FromWorker) => void;
  /** Worker `i` ended (it may have died without a word). */
  readonly onExit?: (i: number) => void;
  /** Worker `i` is being started again after a death. */
  readonly onRestart?: (i: number) => void;
  readonly events?: OriginEvents;
  readonly clock?: Clock;
}

export interface WorkerPool {
  /**
   * Starts every worker: the first on `wanted`, the others on the ports it bound. Resolves to
   * those ports; when one cannot listen or dies first, drains the others and rejects.
   */
  start(wanted: readonly number[]): Promise<readonly number[]>;
  /** Sends `m` to every running worker. */
  broadcast(m: ToWorker): void;
  /** How many workers run now (a dead one counts again once restarted). */
  running(): number;
  /** Cancels pending restarts and drains every worker. */
  close(): Promise<void>;
}

/** One worker's place: the thread serving it, and its deaths for the restart backoff. */
interface Slot {
  /** Undefined between a death and the restart. */
  thread: PoolThread | undefined;
  startedAt: number;
  /** Deaths in a row, each less than RESTART_RESET_MS after its start. */
  deaths: number;
  timer: TimerHandle;
}

/** Deaths in a row after one more death of a worker that served for `servedMs`. */
export function deathsAfter(deaths: number, servedMs: number): number {
  return servedMs >= RESTART_RESET_MS ? 1 : deaths + 1;
}

/**
 * The wait before the next start: 100 ms, doubling with each death in a row up to 10 s, so a
 * worker that dies at once does not spin a core.
 */
export function restartDelay(deaths: number): number {
  return Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (deaths - 1));
}

export function createWorkerPool(opts: WorkerPoolOptions): WorkerPool {
  const clock = opts.clock ?? systemClock;
  const events = opts.events ?? {};
  const slots: Slot[] = Array.from({ length: opts.size }, () => ({ thread: undefined, startedAt: 0, deaths: 0, timer: undefined }));
  let ports: readonly number[] = [];
  let serving = false;
  let closing = false;
  let closed: Promise<void> | undefined;

  /** Starts worker `i`; resolves when it listens, rejects when it cannot listen or dies first. */
  const spawn = (i: number, want: readonly number[]): Promise<readonly number[]> =>
    new Promise((resolve, reject) => {
      const slot = slots[i] as Slot;
      const thread = opts.spawn(i, want);
      slot.thread = thread;
      slot.startedAt = clock.now();
      let listened = false;
      thread.on('message', (m: FromWorker) => {
        if (m.type === 'listening') {
          listened = true;
          resolve(m.ports);
        } else if (m.type === 'listen-failed') reject(new StartError(`cannot listen on ${m.address} (in use, or not an address of this host)`, 'PI_ORIGIN_LISTEN'));
        else opts.onMessage(i, m);
      });
      thread.on('error', (e) => (closing ? undefined : events.warn?.(`worker ${i} failed: ${e.message}`)));
      thread.on('exit', (code) => {
        reject(new StartError(`worker ${i} exited with code ${code} while starting`, 'PI_ORIGIN_WORKER'));
        if (slot.thread !== thread) return;
        slot.thread = undefined;
        opts.onExit?.(i);
        // A worker that never listened during the node's start fails the start instead.
        if (!closing && (serving || listened)) scheduleRestart(i, code);
      });
    });

  /** One that served for a minute starts the backoff over at 100 ms. */
  const scheduleRestart = (i: number, code: number): void => {
    const slot = slots[i] as Slot;
    slot.deaths = deathsAfter(slot.deaths, clock.now() - slot.startedAt);
    const delay = restartDelay(slot.deaths);
    const times = slot.deaths > 1 ? ` (${slot.deaths} times in a row)` : '';
    events.warn?.(`worker ${i} exited with code ${code}${times}; restarting it in ${delay < 1000 ? `${delay} ms` : `${delay / 1000} s`}`);
    slot.timer = clock.setTimeout(() => {
      slot.timer = undefined;
      if (closing) return;
      opts.onRestart?.(i);
      spawn(i, ports).then(
        () => events.info?.(`worker ${i} restarted: ${running()} of ${opts.size} workers running`),
        (e: Error) => {
          events.warn?.(`worker ${i} could not be restarted: ${e.message}`);
          // Alive but not listening: end it, and its exit schedules the next try.
          const t = slot.thread;
          if (t !== undefined) void drain(t);
        },
      );
    }, delay);
  };

  const threads = (): PoolThread[] => slots.flatMap((s) => (s.thread === undefined ? [] : [s.thread]));
  const running = (): number => threads().length;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      for (const slot of slots) if (slot.timer !== undefined) clock.clearTimeout(slot.timer);
      await Promise.all(threads().map(drain));
    })();
    return closed;
  };

  return {
    async start(wanted) {
      try {
        ports = await spawn(0, wanted);
        await Promise.all(Array.from({ length: opts.size - 1 }, (_, k) => spawn(k + 1, ports)));
        serving = true;
        return ports;
      } catch (e) {
        await close();
        throw e;
      }
    },
    broadcast: (m) => threads().forEach((t) => t.postMessage(m)),
    running,
    close,
  };
}

/** Asks a worker to drain and resolves when it has closed its sockets and ended. */
function drain(t: PoolThread): Promise<void> {
  return new Promise((resolve) => {
    t.once('exit', () => resolve());
    t.postMessage({ type: 'drain' } satisfies ToWorker);
  });
}
