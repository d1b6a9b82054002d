/**
 * One fixed-rate run: autocannon in this process at `overallRate`, every response recorded here
 * (status, bytes, coordinated-omission-corrected latency, the second it completed in).
 */
import autocannon from 'autocannon';
import type { LatencySummary, TimelinePoint } from '../report/model.js';
import { LatencyHistogram } from './latency.js';
import type { GateRequest } from './scenarios.js';

export interface LoadPlan {
  /** `http://[::1]:8080` (no path: request paths are absolute). */
  readonly origin: string;
  readonly requests: readonly GateRequest[];
  readonly rate: number;
  readonly connections: number;
  readonly durationSec: number;
  /** Called once a second with the seconds elapsed and the responses of that second. */
  readonly onSecond?: (t: number, responses: number) => void;
}

export interface LoadOutcome {
  /** The scheduled duration: the offered rate times this is what was offered. */
  readonly durationSec: number;
  /** Responses received to requests sent within the schedule. */
  readonly responses: number;
  readonly bytes: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx3xx: number;
  /** Responses per status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Corrected for coordinated omission (latency.ts). */
  readonly latency: LatencySummary;
  /** As measured from each request's send, for comparison. */
  readonly uncorrected: LatencySummary;
  readonly timeline: readonly TimelinePoint[];
}

/** A request that gets no answer in this many seconds is a timeout (an error). */
const TIMEOUT_SEC = 10;

type AutocannonRequest = autocannon.Request & { path: string; headers: Record<string, string> };

/** Requests per connection: autocannon builds each into a buffer per connection at start. */
const MAX_PER_CONNECTION = 256;

/**
 * Connection i cycles through its own slice of the sequence, starting at i/connections of the way
 * through it: at any moment the connections ask for different files, the mix holds within every
 * second, and together they cover a long sequence (a long tail) without each building all of it.
 */
function sliceFor(requests: readonly AutocannonRequest[], i: number, connections: number): AutocannonRequest[] {
  const n = Math.min(requests.length, MAX_PER_CONNECTION);
  const at = Math.floor((i * requests.length) / connections) % requests.length;
  return Array.from({ length: n }, (_, k) => requests[(at + k) % requests.length] as AutocannonRequest);
}

interface ResponseClient {
  /** autocannon's per-connection rate (requests per second), set from `overallRate`. */
  readonly rate?: number;
}

interface Second {
  responses: number;
  /** Undefined once the second is over (or had no response). */
  latency: LatencyHistogram | undefined;
  p99: number;
}

function closeSecond(s: Second): void {
  if (s.latency === undefined) return;
  s.p99 = s.latency.percentile(99);
  s.latency = undefined;
}

export function runFixedRate(plan: LoadPlan): Promise<LoadOutcome> {
  if (plan.requests.length === 0) return Promise.reject(new Error('no requests to send'));
  const requests: AutocannonRequest[] = plan.requests.map((r) => ({ method: 'GET', path: r.path, headers: { ...r.headers } }));
  const all = new LatencyHistogram();
  const raw = new LatencyHistogram();
  // A second's histogram is reduced to its p99 once the next second starts (responses are filed
  // under the second they complete in, so an earlier second gets none later): a soak of hours
  // keeps a number per second, not 25 KB.
  const perSecond: Second[] = [];
  let open = 0;
  const statuses: Record<string, number> = {};
  let responses = 0;
  let bytes = 0;
  let nextClient = 0;
  const fallbackInterval = (1000 * plan.connections) / plan.rate;
  const started = performance.now();
  // autocannon's windows: every connection may send its share at 0, 1, ..., durationSec - 1 s;
  // its timers fire once more at durationSec before it stops, and what that last window sends
  // is past the schedule. Only requests sent before the end are counted.
  const end = started + plan.durationSec * 1000;
  // autocannon builds its connections synchronously, and each sends its first request as it is
  // built; those wait for the event loop, not for the server. They are counted, not timed.
  let timedFrom = Number.POSITIVE_INFINITY;

  return new Promise<LoadOutcome>((resolve, reject) => {
    const instance = autocannon(
      {
        url: plan.origin,
        connections: plan.connections,
        overallRate: plan.rate,
        duration: plan.durationSec,
        pipelining: 1,
        timeout: TIMEOUT_SEC,
        // autocannon's own correction uses a 1 ms interval whatever the rate; ours is in latency.ts.
        ignoreCoordinatedOmission: true,
        // One request to build per connection up front; setupClient then gives each its slice.
        requests: requests.slice(0, 1),
        setupClient: (client) => client.setRequests(sliceFor(requests, nextClient++, plan.connections)),
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) {
          reject(err instanceof Error ? err : new Error(`autocannon failed: ${JSON.stringify(err)}`));
          return;
        }
        const timeline: TimelinePoint[] = Array.from({ length: plan.durationSec }, (_, t) => {
          const s = perSecond[t];
          return s === undefined ? { t, requests: 0 } : { t, requests: s.responses, p99: s.latency?.percentile(99) ?? s.p99 };
        });
        let non2xx3xx = 0;
        for (const [status, n] of Object.entries(statuses)) if (Number(status) < 200 || Number(status) >= 400) non2xx3xx += n;
        resolve({
          durationSec: plan.durationSec,
          responses,
          bytes,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx3xx,
          statuses,
          latency: all.summary(),
          uncorrected: raw.summary(),
          timeline,
        });
      },
    );
    const onResponse = (client: ResponseClient, status: number, resBytes: number, ms: number): void => {
      const interval = client.rate !== undefined && client.rate > 0 ? 1000 / client.rate : fallbackInterval;
      const now = performance.now();
      if (now - ms >= end) return;
      // A response that completes after the last whole second belongs to it.
      const t = Math.min(plan.durationSec - 1, Math.floor((now - started) / 1000));
      let second = perSecond[t];
      if (second === undefined) {
        for (let i = perSecond.length; i < t; i++) perSecond[i] = { responses: 0, latency: undefined, p99: 0 };
        second = { responses: 0, latency: new LatencyHistogram(), p99: 0 };
        perSecond[t] = second;
        for (; open < t; open++) closeSecond(perSecond[open] as Second);
      }
      second.responses++;
      if (now - ms >= timedFrom) {
        second.latency?.recordCorrected(ms, interval);
        all.recordCorrected(ms, interval);
        raw.record(ms);
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      responses++;
      bytes += resBytes;
    };
    timedFrom = performance.now();
    // The instance emits (client, status, bytes, ms); the typings only know the client's own event.
    const emitter: NodeJS.EventEmitter = instance;
    emitter.on('response', onResponse);
    if (plan.onSecond !== undefined) {
      const onSecond = plan.onSecond;
      let t = 0;
      let last = 0;
      instance.on('tick', () => {
        t++;
        onSecond(t, responses - last);
        last = responses;
      });
    }
  });
}
