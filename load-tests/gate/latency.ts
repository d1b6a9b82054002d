/**
 * Latency recording with coordinated-omission correction.
 *
 * autocannon 9 paces `overallRate` per connection: each connection may send `rate` requests per
 * one-second window, back to back, then waits for the next window. A response that stalls holds
 * its connection, so the requests the schedule wanted to send meanwhile are never sent and never
 * measured: coordinated omission. autocannon tries to correct this with HdrHistogram's
 * `recordValueWithExpectedInterval(latency, Math.ceil(1 / rate))`, but `1 / rate` is in seconds
 * while latencies are in milliseconds, so the interval is always 1 ms: every response over 1 ms
 * gets a phantom sample per millisecond, whatever the rate. The gate turns that off
 * (`ignoreCoordinatedOmission`) and corrects here, the HdrHistogram way, with the interval in
 * the right unit: a connection offered `rate` requests per second is expected to send one every
 * `1000 / rate` ms; a response that took L ms stood in for the requests due at L - i, L - 2i, ...
 * after it was sent, and those waited L - i, L - 2i, ... ms. Each is recorded.
 */
import type { LatencySummary } from '../report/model.js';

/** Sub-bucket bits: values are kept to 1/128 (< 0.8 %) of their magnitude. */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS;
/** Values below this are exact (in microseconds). */
const LINEAR = 2 * SUB;
/** Largest recordable value, in microseconds (about 35 minutes). */
const MAX_US = 0x7fff_ffff;
const BUCKETS = indexOf(MAX_US) + 1;

function indexOf(us: number): number {
  if (us < LINEAR) return us;
  const shift = 31 - Math.clz32(us) - SUB_BITS;
  return (shift << SUB_BITS) + (us >>> shift);
}

/** Highest value that lands in bucket `i` (HdrHistogram's "highest equivalent value"). */
function upperOf(i: number): number {
  if (i < LINEAR) return i;
  const shift = (i >> SUB_BITS) - 1;
  const m = i - (shift << SUB_BITS);
  return ((m + 1) << shift) - 1;
}

/** A log-linear histogram of latencies, recorded in ms and kept in microseconds. */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private n = 0;
  private sum = 0;
  private max = 0;

  get count(): number {
    return this.n;
  }

  record(ms: number): void {
    const us = Math.min(MAX_US, Math.max(0, Math.round(ms * 1000)));
    this.counts[indexOf(us)] = (this.counts[indexOf(us)] as number) + 1;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  /**
   * Records `ms` and, when it exceeds the connection's send interval, the latencies of the
   * requests the stall kept from being sent (HdrHistogram `recordValueWithExpectedInterval`).
   */
  recordCorrected(ms: number, expectedIntervalMs: number): void {
    this.record(ms);
    if (!(expectedIntervalMs > 0)) return;
    for (let missed = ms - expectedIntervalMs; missed >= expectedIntervalMs; missed -= expectedIntervalMs) this.record(missed);
  }

  /** The value at percentile `p` (0-100), in ms; 0 when empty. */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(upperOf(i), this.max) / 1000;
    }
    return this.max / 1000;
  }

  summary(): LatencySummary {
    return {
      mean: this.n === 0 ? 0 : this.sum / this.n / 1000,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max / 1000,
    };
  }
}
