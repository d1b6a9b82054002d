/**
 * Counters shared by all worker threads through one SharedArrayBuffer: each worker writes only
 * its own slot (plain stores, no atomics needed for single-writer counters), and whichever
 * worker answers /_origin/metrics or /_origin/status sums the slots. Recording a response is a
 * few array stores: the per-(code, method) counters and the duration histogram's buckets are
 * plain slots too, turned into Prometheus series only when someone asks (server/exposition.ts).
 */

export const FIELDS = [
  'bytes', 'aborted', 'cacheHits', 'cacheMisses', 'cacheBytes', 'inflight', 'readErrors',
  // 1 while the worker accepts connections. `restarts` is the one field the main thread writes
  // (the worker never does), as it writes `serving` = 0 for a worker that died without saying so.
  'serving', 'restarts',
  // Established connections, sampled by the main thread (server/connections.ts) into slot 0.
  'connections',
] as const;
export type Field = (typeof FIELDS)[number];
const F = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;

/**
 * Every status this server sends (server/handler.ts STATUS_TEXT and the admin answers): a fixed
 * set, so `code` has bounded cardinality. Anything else would be a bug; it is counted as 500.
 */
export const CODES = [200, 204, 206, 301, 302, 304, 307, 308, 400, 403, 404, 405, 406, 416, 500, 503] as const;
/** The `method` label: GET, HEAD, and every other method as one value. */
export const METHODS = ['GET', 'HEAD', 'other'] as const;
export type MethodIndex = 0 | 1 | 2;
export const GET: MethodIndex = 0;
export const HEAD: MethodIndex = 1;
export const OTHER_METHOD: MethodIndex = 2;
/** The `method` label of a method as uWS's getMethod() spells it (lower case). */
export function methodIndex(method: string): MethodIndex {
  return method === 'get' ? GET : method === 'head' ? HEAD : OTHER_METHOD;
}

/** Upper bounds (seconds) of the response-duration histogram, as CONTRACT-14.md names them. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** The same bounds in milliseconds, which is what the handler measures. */
const BOUNDS_MS = DURATION_BUCKETS.map((s) => s * 1000);

const CODE_INDEX = new Int8Array(600).fill(CODES.indexOf(500));
CODES.forEach((c, i) => (CODE_INDEX[c] = i));

const REQUESTS = FIELDS.length;
/** Non-cumulative bucket counts, the last one +Inf; then the sum (ms). The count is the bucket total. */
const BUCKETS = REQUESTS + CODES.length * METHODS.length;
const SUM_MS = BUCKETS + DURATION_BUCKETS.length + 1;
export const SLOT = SUM_MS + 1;

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
  /** Counts one finished response: its numeric status, method, body bytes and time to last byte. */
  response(status: number, method: MethodIndex, bytes: number, ms: number): void {
    const v = this.v;
    const b = this.base;
    this.request(status, method);
    v[b + F.bytes] = (v[b + F.bytes] as number) + bytes;
    let i = 0;
    while (i < BOUNDS_MS.length && ms > (BOUNDS_MS[i] as number)) i++;
    v[b + BUCKETS + i] = (v[b + BUCKETS + i] as number) + 1;
    v[b + SUM_MS] = (v[b + SUM_MS] as number) + ms;
  }
  /** A response whose code threw: its connection was closed, counted as a 500 (no duration: nothing finished). */
  fault(method: MethodIndex): void {
    this.request(500, method);
  }
  /** One more request with this status and method. */
  private request(status: number, method: MethodIndex): void {
    const r = this.base + REQUESTS + (CODE_INDEX[status] as number) * METHODS.length + method;
    this.v[r] = (this.v[r] as number) + 1;
  }
  /** A response the client went away from before its last byte, after `bytes` body bytes. */
  aborted(bytes: number): void {
    this.v[this.base + F.aborted] = (this.v[this.base + F.aborted] as number) + 1;
    this.v[this.base + F.bytes] = (this.v[this.base + F.bytes] as number) + bytes;
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

/** Every worker's slots summed: the node's counters, its requests by code and method, its histogram. */
export interface Totals {
  readonly fields: Record<Field, number>;
  /** requests[codeIndex * METHODS.length + methodIndex], CODES and METHODS order. */
  readonly requests: Float64Array;
  /** Non-cumulative counts per DURATION_BUCKETS bound, then +Inf. */
  readonly buckets: Float64Array;
  readonly sumSeconds: number;
}

/** Sums every worker's slot. */
export function totals(buffer: SharedArrayBuffer): Totals {
  const v = new Float64Array(buffer);
  const fields = Object.fromEntries(FIELDS.map((f) => [f, 0])) as Record<Field, number>;
  const requests = new Float64Array(CODES.length * METHODS.length);
  const buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  let sumMs = 0;
  for (let base = 0; base < v.length; base += SLOT) {
    for (const f of FIELDS) fields[f] += v[base + F[f]] as number;
    for (let i = 0; i < requests.length; i++) requests[i] = (requests[i] as number) + (v[base + REQUESTS + i] as number);
    for (let i = 0; i < buckets.length; i++) buckets[i] = (buckets[i] as number) + (v[base + BUCKETS + i] as number);
    sumMs += v[base + SUM_MS] as number;
  }
  return { fields, requests, buckets, sumSeconds: sumMs / 1000 };
}

/** Finished responses by status class (1xx … 5xx), as /_origin/status reports them. */
export function byClass(t: Totals): Record<'status1xx' | 'status2xx' | 'status3xx' | 'status4xx' | 'status5xx', number> {
  const out = { status1xx: 0, status2xx: 0, status3xx: 0, status4xx: 0, status5xx: 0 };
  CODES.forEach((code, c) => {
    const key = `status${Math.floor(code / 100)}xx` as keyof typeof out;
    for (let m = 0; m < METHODS.length; m++) out[key] += t.requests[c * METHODS.length + m] as number;
  });
  return out;
}

/**
 * Timestamps for the duration histogram at about one clock read per response. A clock read
 * costs 0.2 µs on some machines (a VM without a vDSO clock), a 1 KB response about 12 µs of CPU
 * in all: two reads per response would cost 3 %. A response's end is read; so is the start of
 * the first request uWS hands over in a loop iteration, and every later request of that
 * iteration starts at the latest reading (the previous response's end). All of them were read
 * from their sockets before that first reading, so no duration is longer than the time since
 * the request arrived. The reading expires at the end of the iteration (setImmediate runs in
 * libuv's check phase, after the poll phase in which uWS calls the handlers).
 */
export class ResponseClock {
  private last = 0;
  private valid = false;
  private readonly expire = (): void => {
    this.valid = false;
  };

  /** When the request being handled started, in ms (performance.now() scale). */
  start(): number {
    if (this.valid) return this.last;
    this.valid = true;
    setImmediate(this.expire);
    return (this.last = performance.now());
  }

  /** Now, in ms: a response's end, and where the next request of this iteration starts. */
  end(): number {
    return (this.last = performance.now());
  }
}
