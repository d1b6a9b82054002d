/**
 * A node's counters from its `/_origin/metrics` text, and rates between two readings (the
 * difference between two polls over the time between them, counter resets included).
 */
import { parsePrometheusText, sumOf } from './prometheus.js';

export const METRICS_PATH = '/_origin/metrics';

/** The counters and gauges of one `/_origin/metrics` answer (names as server/admin.ts writes them). */
export interface NodeMetrics {
  /** Finished responses of every status code and method. */
  readonly requests: number;
  /** Finished 5xx responses. */
  readonly errors: number;
  readonly bytesOut: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly cacheBytes: number;
  readonly connections: number;
}

/** The node's counters from its metrics text, or what is wrong with it. */
export function nodeMetrics(text: string): NodeMetrics | string {
  const samples = parsePrometheusText(text);
  if (typeof samples === 'string') return samples;
  const read = {
    requests: sumOf(samples, 'pi_origin_http_requests_total'),
    // The node always writes its GET 500 and 503 series, with 0 until one is sent.
    errors: sumOf(samples.filter((s) => s.labels['code']?.startsWith('5') === true), 'pi_origin_http_requests_total'),
    bytesOut: sumOf(samples, 'pi_origin_http_response_bytes_total'),
    cacheHits: sumOf(samples, 'pi_origin_cache_hits_total'),
    cacheMisses: sumOf(samples, 'pi_origin_cache_misses_total'),
    cacheBytes: sumOf(samples, 'pi_origin_cache_bytes'),
    connections: sumOf(samples, 'pi_origin_active_connections'),
  };
  const missing = Object.entries(read).find(([, v]) => v === undefined || !Number.isFinite(v));
  if (missing !== undefined) return `metrics without ${missing[0]}`;
  return read as NodeMetrics;
}

/** A node's counters at one moment (`at`: a monotonic clock, ms) and its uptime then. */
export interface Counted {
  readonly at: number;
  readonly uptimeSeconds: number;
  readonly metrics: NodeMetrics;
}

export interface Rates {
  readonly requestsPerSecond: number;
  readonly bytesPerSecond: number;
  readonly errorsPerSecond: number;
  readonly cacheHitRatio: number | null;
}

/**
 * Rates between two readings of one node. A counter that went down, or an uptime shorter than
 * the time since the previous reading, means the node restarted in between: its counters then
 * count from zero, so the increase is the current value (as Prometheus' `rate` treats resets).
 */
export function rates(previous: Counted, current: Counted): Rates | undefined {
  const ms = current.at - previous.at;
  if (!(ms > 0)) return undefined;
  const p = previous.metrics;
  const c = current.metrics;
  const keys = ['requests', 'errors', 'bytesOut', 'cacheHits', 'cacheMisses'] as const;
  const restarted = keys.some((k) => c[k] < p[k]) || current.uptimeSeconds * 1000 + 1000 < ms;
  const increase = (k: (typeof keys)[number]): number => (restarted ? c[k] : c[k] - p[k]);
  const lookups = increase('cacheHits') + increase('cacheMisses');
  return {
    requestsPerSecond: (increase('requests') * 1000) / ms,
    bytesPerSecond: (increase('bytesOut') * 1000) / ms,
    errorsPerSecond: (increase('errors') * 1000) / ms,
    cacheHitRatio: lookups > 0 ? increase('cacheHits') / lookups : null,
  };
}
