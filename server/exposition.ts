/**
 * /_origin/metrics through prom-client: one Registry per worker, built once when the worker
 * starts. The node's own series are collectors that read the shared counters of every worker
 * (server/metrics.ts) when scraped; nothing is recorded through prom-client on the hot path.
 * prom-client's default metrics add `process_*` (process-wide: RSS, fds, CPU, start time) and
 * `nodejs_*` (heap, event loop, GC: those of the worker thread that answered the scrape).
 */
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import { buildInfo } from '../common/build-info.js';
import { CODES, DURATION_BUCKETS, GET, METHODS, totals, type Field, type Totals } from './metrics.js';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export interface ExpositionSource {
  readonly metrics: SharedArrayBuffer;
  /** The release this worker serves now (kept while an invalid root is refused). */
  servedRelease(): string;
}

/**
 * Series written even at 0: a ratio of errors to requests (an alert, the dashboard) needs both
 * from the start. Every other code and method appears once it has been sent.
 */
const ALWAYS: ReadonlySet<number> = new Set([200, 500, 503]);

/** What a worker answers /_origin/metrics with. */
export interface Exposition {
  /**
   * The text of one scrape. Every collector reads the counters synchronously, within this call,
   * from one summation of the workers' slots; the text itself is ready later.
   */
  scrape(): Promise<string>;
}

export function createExposition(source: ExpositionSource): Exposition {
  const registry = new Registry();
  let snapshot = totals(source.metrics);
  const read = (): Totals => snapshot;
  const field = (f: Field): number => read().fields[f];

  new Counter({
    name: 'pi_origin_http_requests_total',
    help: 'Finished responses, by status code and method (GET, HEAD, other).',
    labelNames: ['code', 'method'],
    registers: [registry],
    collect() {
      this.reset();
      const { requests } = read();
      CODES.forEach((code, c) =>
        METHODS.forEach((method, m) => {
          const n = requests[c * METHODS.length + m] as number;
          if (n > 0 || (m === GET && ALWAYS.has(code))) this.inc({ code: String(code), method }, n);
        }),
      );
    },
  });
  // prom-client's Registry formats any object with a name and an async get(); its types ask for a Metric.
  registry.registerMetric(durationHistogram(read) as unknown as Metric);
  const counter = (name: string, help: string, f: Field): void =>
    void new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(field(f));
      },
    });
  const gauge = (name: string, help: string, f: Field): void =>
    void new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(field(f));
      },
    });
  counter('pi_origin_http_response_bytes_total', 'Body bytes sent, of finished and aborted responses.', 'bytes');
  counter('pi_origin_http_responses_aborted_total', 'Responses the client went away from before the last byte.', 'aborted');
  counter('pi_origin_cache_hits_total', 'Body cache hits.', 'cacheHits');
  counter('pi_origin_cache_misses_total', 'Body cache misses.', 'cacheMisses');
  gauge('pi_origin_cache_bytes', 'Bytes of bodies held in the cache.', 'cacheBytes');
  counter('pi_origin_read_errors_total', 'Files that could not be read (answered 500).', 'readErrors');
  gauge('pi_origin_inflight_responses', 'Responses waiting on disk or on a slow client.', 'inflight');
  gauge('pi_origin_active_connections', 'Established TCP connections to the listening ports (sampled every second).', 'connections');
  gauge('pi_origin_workers_serving', 'Worker threads accepting connections.', 'serving');
  counter('pi_origin_worker_restarts_total', 'Worker threads started again after one died.', 'restarts');
  new Gauge({
    name: 'pi_origin_release_info',
    help: 'The release this node serves (still the last valid one while an invalid root is refused).',
    labelNames: ['release'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ release: source.servedRelease() }, 1);
    },
  });
  const build = buildInfo();
  new Gauge({ name: 'pi_origin_build_info', help: 'This build: pi-origin, uWebSockets.js, Node.js and CPU.', labelNames: ['version', 'uws', 'node', 'arch'], registers: [registry] }).set(
    { version: build.version, uws: build.uws, node: build.node, arch: build.arch },
    1,
  );
  collectDefaultMetrics({ register: registry });
  // prom-client names three gauges `nodejs_active_*_total`; a `_total` suffix promises a counter
  // (promtool check metrics refuses them), so they are left out.
  for (const m of registry.getMetricsAsArray()) if (String(m.type) !== 'counter' && m.name.endsWith('_total')) registry.removeSingleMetric(m.name);
  return {
    scrape() {
      snapshot = totals(source.metrics);
      return registry.metrics();
    },
  };
}

/**
 * The response-duration histogram as a prom-client metric object: the buckets live in the shared
 * buffer (prom-client's Histogram keeps its own, per thread, and cannot be fed counts), so this
 * object only turns the summed counts into cumulative `_bucket`, `_sum` and `_count` values.
 */
interface HistogramValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

interface HistogramObject {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: HistogramValue[] }>;
}

function durationHistogram(read: () => Totals): HistogramObject {
  const name = 'pi_origin_http_response_duration_seconds';
  const help = 'Time from the request to the last byte handed to the socket, of finished responses.';
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const { buckets, sumSeconds } = read();
      const values: HistogramValue[] = [];
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += buckets[i] as number;
        values.push({ metricName: `${name}_bucket`, labels: { le: DURATION_BUCKETS[i] ?? '+Inf' }, value: cumulative });
      }
      values.push({ metricName: `${name}_sum`, labels: {}, value: sumSeconds }, { metricName: `${name}_count`, labels: {}, value: cumulative });
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
  };
}
