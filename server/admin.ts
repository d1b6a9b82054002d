/**
 * /_origin/health, /_origin/status and /_origin/metrics. Answered only to --admin-allow clients
 * (the handler checks); otherwise these paths fall through to content, never shadowing it.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { Lookup } from '../index/lookup.js';
import type { AdminEndpoints } from './handler.js';
import { totals, type Field } from './metrics.js';
import type { WorkerCache } from '../common/worker-cache.js';

export interface NodeState {
  readonly nodeName: string;
  readonly version: string;
  readonly startedAt: number;
  readonly workers: number;
  /** What each worker's body cache holds (common/worker-cache.ts). */
  readonly workerCache: WorkerCache;
  readonly metrics: SharedArrayBuffer;
  index(): Lookup | undefined;
  draining(): boolean;
}

export function adminEndpoints(state: NodeState): AdminEndpoints {
  return {
    answer(res, path, isHead) {
      if (path === '/_origin/health') return reply(res, isHead, ...health(state));
      if (path === '/_origin/status') return reply(res, isHead, 200, 'application/json', JSON.stringify(status(state), null, 2) + '\n');
      if (path === '/_origin/metrics') return reply(res, isHead, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics(state));
      return 0;
    },
  };
}

const STATUS_LINE = { 200: '200 OK', 503: '503 Service Unavailable' } as const;
type AdminStatus = keyof typeof STATUS_LINE;

/** Sends one admin answer; returns its status, which the handler counts. */
function reply(res: HttpResponse, isHead: boolean, status: AdminStatus, type: string, body: string): AdminStatus {
  res.writeStatus(STATUS_LINE[status]).writeHeader('Content-Type', type).writeHeader('Cache-Control', 'no-store');
  if (isHead) res.writeHeader('Content-Length', String(Buffer.byteLength(body))).endWithoutBody();
  else res.end(body);
  return status;
}

function health(state: NodeState): [AdminStatus, string, string] {
  const index = state.index();
  if (state.draining()) return [503, 'text/plain; charset=utf-8', 'draining\n'];
  if (index === undefined) return [503, 'text/plain; charset=utf-8', 'no valid content root\n'];
  return [200, 'text/plain; charset=utf-8', `ok ${index.releaseId}\n`];
}

export interface Status {
  node: string;
  version: string;
  release: string | null;
  health: 'ok' | 'draining' | 'invalid-root';
  files: number;
  contentBytes: number;
  cacheBytes: number;
  /** Each worker's cache: its bytes and the largest body it keeps (larger ones are streamed). */
  workerCache: WorkerCache;
  uptimeSeconds: number;
  /** Configured (--workers). */
  workers: number;
  /** Accepting connections now: fewer than `workers` while a dead worker waits for its restart. */
  workersServing: number;
  workerRestarts: number;
  requests: number;
  bytesOut: number;
  connections: number;
  counters: Record<Field, number>;
}

export function status(state: NodeState): Status {
  const t = totals(state.metrics);
  const index = state.index();
  return {
    node: state.nodeName,
    version: state.version,
    release: index?.releaseId ?? null,
    health: state.draining() ? 'draining' : index === undefined ? 'invalid-root' : 'ok',
    files: index?.fileCount ?? 0,
    contentBytes: index?.totalBytes ?? 0,
    cacheBytes: t.cacheBytes,
    workerCache: state.workerCache,
    uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000),
    workers: state.workers,
    workersServing: t.serving,
    workerRestarts: t.restarts,
    requests: t.status1xx + t.status2xx + t.status3xx + t.status4xx + t.status5xx,
    bytesOut: t.bytesOut,
    connections: t.connections,
    counters: t,
  };
}

function metrics(state: NodeState): string {
  const t = totals(state.metrics);
  const release = JSON.stringify(state.index()?.releaseId ?? '');
  const node = JSON.stringify(state.nodeName);
  const lines = [
    '# HELP pi_origin_requests_total Responses sent, by status class.',
    '# TYPE pi_origin_requests_total counter',
    ...(['1xx', '2xx', '3xx', '4xx', '5xx'] as const).map((c) => `pi_origin_requests_total{class="${c}"} ${t[`status${c}`]}`),
    '# HELP pi_origin_bytes_out_total Body bytes sent.',
    '# TYPE pi_origin_bytes_out_total counter',
    `pi_origin_bytes_out_total ${t.bytesOut}`,
    '# HELP pi_origin_cache_hits_total Body cache hits.',
    '# TYPE pi_origin_cache_hits_total counter',
    `pi_origin_cache_hits_total ${t.cacheHits}`,
    '# HELP pi_origin_cache_misses_total Body cache misses.',
    '# TYPE pi_origin_cache_misses_total counter',
    `pi_origin_cache_misses_total ${t.cacheMisses}`,
    '# HELP pi_origin_cache_bytes Bytes of bodies held in the cache.',
    '# TYPE pi_origin_cache_bytes gauge',
    `pi_origin_cache_bytes ${t.cacheBytes}`,
    '# HELP pi_origin_read_errors_total Files that could not be read (answered 500).',
    '# TYPE pi_origin_read_errors_total counter',
    `pi_origin_read_errors_total ${t.readErrors}`,
    '# HELP pi_origin_inflight_responses Responses waiting on disk or on a slow client.',
    '# TYPE pi_origin_inflight_responses gauge',
    `pi_origin_inflight_responses ${t.inflight}`,
    '# HELP pi_origin_active_connections Established TCP connections to the listening ports (sampled every second).',
    '# TYPE pi_origin_active_connections gauge',
    `pi_origin_active_connections ${t.connections}`,
    '# HELP pi_origin_workers_serving Worker threads accepting connections.',
    '# TYPE pi_origin_workers_serving gauge',
    `pi_origin_workers_serving ${t.serving}`,
    '# HELP pi_origin_worker_restarts_total Worker threads started again after one died.',
    '# TYPE pi_origin_worker_restarts_total counter',
    `pi_origin_worker_restarts_total ${t.restarts}`,
    '# HELP pi_origin_release_info The release this node serves.',
    '# TYPE pi_origin_release_info gauge',
    `pi_origin_release_info{release=${release},node=${node}} 1`,
  ];
  return lines.join('\n') + '\n';
}
