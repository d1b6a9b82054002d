/**
 * /_origin/health, /_origin/status and /_origin/metrics. Answered only to --admin-allow clients
 * (the handler checks); otherwise these paths fall through to content, never shadowing it.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { Lookup } from '../index/lookup.js';
import type { AdminEndpoints } from './handler.js';
import { createExposition, METRICS_CONTENT_TYPE } from './exposition.js';
import { byClass, totals, type Field } from './metrics.js';
import type { WorkerCache } from '../common/worker-cache.js';

export interface NodeState {
  readonly nodeName: string;
  readonly version: string;
  readonly startedAt: number;
  readonly workers: number;
  /** What each worker's body cache holds (common/worker-cache.ts). */
  readonly workerCache: WorkerCache;
  readonly metrics: SharedArrayBuffer;
  /** The index requests are answered from: the last valid one, also while the root is invalid. */
  served(): Lookup;
  /** Whether the content root failed its last scan (health answers 503, the old index is served). */
  invalidRoot(): boolean;
  draining(): boolean;
}

export function adminEndpoints(state: NodeState): AdminEndpoints {
  const exposition = createExposition({ metrics: state.metrics, servedRelease: () => state.served().releaseId });
  return {
    answer(res, path, isHead, flight) {
      if (path === '/_origin/health') return reply(res, isHead, ...health(state));
      if (path === '/_origin/status') return reply(res, isHead, 200, 'application/json', JSON.stringify(status(state), null, 2) + '\n');
      if (path !== '/_origin/metrics') return 0;
      // prom-client answers asynchronously, so the answer outlives the handler through a Flight.
      // The counters are read synchronously, inside scrape(): called before the Flight exists,
      // the scrape does not count itself among the responses in flight.
      const text = exposition.scrape();
      const f = flight(200);
      void text.then(
        (text) => {
          if (f.aborted) return;
          res.cork(() => reply(res, isHead, 200, METRICS_CONTENT_TYPE, text));
          f.finish(200, 0);
        },
        (e: unknown) => {
          if (f.aborted) return;
          res.cork(() => reply(res, isHead, 503, 'text/plain; charset=utf-8', `metrics unavailable: ${e instanceof Error ? e.message : String(e)}\n`));
          f.finish(503, 0);
        },
      );
      return -1;
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
  if (state.draining()) return [503, 'text/plain; charset=utf-8', 'draining\n'];
  if (state.invalidRoot()) return [503, 'text/plain; charset=utf-8', 'no valid content root\n'];
  return [200, 'text/plain; charset=utf-8', `ok ${state.served().releaseId}\n`];
}

export interface Status {
  node: string;
  version: string;
  /** The release served: while the root is invalid, still the last valid one (health says why). */
  release: string | null;
  health: 'ok' | 'draining' | 'invalid-root';
  files: number;
  /** How the release is held: `objects` (an entry per path), or `table` (the shared file table of a large release). */
  index: 'objects' | 'table';
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
  /** The shared counters, and finished responses by status class. */
  counters: Record<Field | keyof ReturnType<typeof byClass>, number>;
}

export function status(state: NodeState): Status {
  const all = totals(state.metrics);
  const t = all.fields;
  const classes = byClass(all);
  const index = state.served();
  return {
    node: state.nodeName,
    version: state.version,
    release: index.releaseId,
    health: state.draining() ? 'draining' : state.invalidRoot() ? 'invalid-root' : 'ok',
    files: index.fileCount,
    index: index.index,
    contentBytes: index.totalBytes,
    cacheBytes: t.cacheBytes,
    workerCache: state.workerCache,
    uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000),
    workers: state.workers,
    workersServing: t.serving,
    workerRestarts: t.restarts,
    requests: classes.status1xx + classes.status2xx + classes.status3xx + classes.status4xx + classes.status5xx,
    bytesOut: t.bytes,
    connections: t.connections,
    counters: { ...t, ...classes },
  };
}
