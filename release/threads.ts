/**
 * Work on many files spread over a few worker threads while the main thread streams a manifest:
 * for a million files, the system calls per file (a hard link, two `lstat`s) are the largest
 * cost of an incremental build, a rollout's staging and a verification against a parent, and
 * they then share the machine's cores with the manifest's reading and writing.
 *
 * A worker runs `source`, plain CommonJS evaluated as a string (so it runs the same from the
 * TypeScript sources and from dist/, with no flags of this process), which answers each message
 * (a batch: lines joined by `\n`, one copy per message rather than thousands) with one reply.
 * Batches go to the workers in turn; `results` gives the replies in the order the batches were
 * sent.
 */
import { Worker } from 'node:worker_threads';

/** Threads: two kept a 2-core machine busy beside the main thread (docs/releases.md). */
export const FILE_THREADS = 2;
/** Lines per batch. */
export const BATCH_LINES = 4096;

/** A worker and the replies it owes, in order. */
interface Thread<R> {
  readonly worker: Worker;
  readonly owed: { resolve: (r: R) => void; reject: (e: unknown) => void }[];
}

export class BatchThreads<R> {
  /** Started as batches come: a small release costs one thread start, not `threads`. */
  private readonly started: Thread<R>[] = [];
  private readonly replies: Promise<R>[] = [];
  private lines: string[] = [];
  private turn = 0;

  constructor(
    private readonly source: string,
    private readonly workerData: unknown,
    private readonly threads = FILE_THREADS,
  ) {}

  /** One line of work; sent with others once a batch is full. */
  add(line: string): void {
    this.lines.push(line);
    if (this.lines.length >= BATCH_LINES) this.flush();
  }

  /** Every reply, in the order the batches were sent (the last, partial batch too). */
  async results(): Promise<R[]> {
    this.flush();
    return Promise.all(this.replies);
  }

  /** Stops the workers at once: nothing more is done after it resolves. */
  async stop(): Promise<void> {
    await Promise.all(this.started.map((t) => t.worker.terminate()));
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    const t = this.thread(this.turn++ % this.threads);
    const reply = new Promise<R>((resolve, reject) => t.owed.push({ resolve, reject }));
    // Observed by results(); a worker that fails before then must not be an unhandled rejection.
    reply.catch(() => undefined);
    this.replies.push(reply);
    t.worker.postMessage(this.lines.join('\n'));
    this.lines = [];
  }

  private thread(i: number): Thread<R> {
    const known = this.started[i];
    if (known !== undefined) return known;
    const worker = new Worker(this.source, { eval: true, execArgv: [], workerData: this.workerData });
    const t: Thread<R> = { worker, owed: [] };
    worker.on('message', (r: R) => t.owed.shift()?.resolve(r));
    const fail = (e: unknown): void => {
      for (const o of t.owed.splice(0)) o.reject(e);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a file worker stopped (exit ${code})`)));
    this.started[i] = t;
    return t;
  }
}
