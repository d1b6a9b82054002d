/**
 * What one worker's body cache really holds, the one place the rule lives. Workers share no
 * heap, so each has its own cache: the node's `--cache-size` is split evenly between them, and a
 * body larger than one worker's share could never be kept. Such a body is streamed from disk
 * (send.ts), never read whole and hash-checked only to be thrown away. The worker sizes its
 * BodyStore by this, the handler chooses cache or stream by it, and the capacity plan
 * (capacity/plan.ts) counts cached bytes by it. Pure, in common/ so both may use it.
 */
export interface WorkerCache {
  /** Bytes of bodies one worker keeps: ⌊cache size / workers⌋. */
  readonly bytes: number;
  /** The largest body a worker caches: `--cache-max-file`, or the worker's share if smaller. */
  readonly maxFile: number;
}

export function workerCache(cacheSize: number, workers: number, cacheMaxFile: number): WorkerCache {
  const bytes = Math.floor(cacheSize / workers);
  return Object.freeze({ bytes, maxFile: Math.min(cacheMaxFile, bytes) });
}
