/**
 * Counters shared by all worker threads through one SharedArrayBuffer: each worker writes only
 * its own slot (plain stores, no atomics needed for single-writer counters), and whichever
 * worker answers /_origin/metrics or /_origin/status sums the slots.
 */

export const FIELDS = [
  'status1xx', 'status2xx', 'status3xx', 'status4xx', 'status5xx',
  'bytesOut', 'cacheHits', 'cacheMisses', 'cacheBytes', 'inflight', 'readErrors',
  // 1 while the worker accepts connections. `restarts` is the one field the main thread writes
  // (the worker never does), as it writes `serving` = 0 for a worker that died without saying so.
  'serving', 'restarts',
  // Established connections, sampled by the main thread (server/connections.ts) into slot 0.
  'connections',
] as const;
export type Field = (typeof FIELDS)[number];
const F = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;
export const SLOT = FIELDS.length;

export function allocateMetrics(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * SLOT * workers);
}

/** One worker's writable view. Methods are tiny so V8 inlines them into the handler. */
export class WorkerMetrics {
  private readonly v: Float64Array;
  private readonly base: number;
  constructor(buffer: SharedArrayBuffer, worker: number) {
    this.v = new Float64Array(buffer);
    this.base = worker * SLOT;
  }
  /** Counts one finished response. `status` is the numeric status code. */
  response(status: number, bytes: number): void {
    const i = this.base + Math.min(4, ((status / 100) | 0) - 1);
    this.v[i] = (this.v[i] as number) + 1;
    this.v[this.base + F.bytesOut] = (this.v[this.base + F.bytesOut] as number) + bytes;
  }
  add(field: Field, n: number): void {
    this.v[this.base + F[field]] = (this.v[this.base + F[field]] as number) + n;
  }
  get(field: Field): number {
    return this.v[this.base + F[field]] as number;
  }
  set(field: Field, n: number): void {
    this.v[this.base + F[field]] = n;
  }
  /**
   * A worker that died left its gauges as they were: a restarted worker takes over the slot with
   * nothing in flight and an empty cache (its counters carry on, so totals never go back).
   */
  resetGauges(): void {
    for (const f of GAUGES) this.set(f, 0);
  }
}

const GAUGES = ['cacheBytes', 'inflight', 'serving'] as const satisfies readonly Field[];

/** Sums every worker's slot. */
export function totals(buffer: SharedArrayBuffer): Record<Field, number> {
  const v = new Float64Array(buffer);
  const out = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Record<Field, number>;
  for (let base = 0; base < v.length; base += SLOT) for (const f of FIELDS) out[f] += v[base + F[f]] as number;
  return out;
}
