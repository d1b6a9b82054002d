/**
 * Fallback load generator, used by peers.ts only when wrk is not installed.
 * Runs one autocannon measurement in its own (pinnable) process and prints a
 * single `AUTOCANNON_JSON {...}` line in the same shape as the wrk results,
 * plus a per-second timeline (responses and p99) that wrk cannot give.
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '5' },
    // A new connection (and, over https, a full TLS handshake) for every request: each request
    // says Connection: close and autocannon reconnects. (Its reconnectRate: 1 sends nothing.)
    close: { type: 'boolean', default: false },
    // PEM file of the CA an https URL's certificate is verified against (never unverified).
    ca: { type: 'string' },
  },
});
if (!values.url) {
  process.stderr.write('usage: autocannon-runner --url URL [--connections N] [--duration S]\n');
  process.exit(2);
}

/** Response times (ms) per whole second since the start, for the timeline. */
const perSecond: number[][] = [];
let t0 = 0;

function p99(sorted: readonly number[]): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
}

const r = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url: values.url as string,
      connections: Number(values.connections),
      duration: Number(values.duration),
      pipelining: 1,
      timeout: 10,
      ...(values.close === true ? { headers: { connection: 'close' } } : {}),
      ...(values.ca === undefined ? {} : { tlsOptions: { ca: readFileSync(values.ca) } }),
    },
    (err, result) => (err ? reject(err as Error) : resolve(result)),
  );
  instance.on('start', () => {
    t0 = performance.now();
  });
  instance.on('response', (_client, _status, _bytes, responseTime) => {
    const s = Math.floor((performance.now() - t0) / 1000);
    (perSecond[s] ??= []).push(responseTime);
  });
});

const secs = r.duration;
const out = {
  requests: r.requests.total,
  durationS: secs,
  reqPerSec: r.requests.total / secs,
  bytesPerSec: r.throughput.total / secs,
  latencyMeanMs: r.latency.mean,
  latencyP50Ms: r.latency.p50,
  latencyP90Ms: r.latency.p90,
  latencyP99Ms: r.latency.p99,
  latencyP999Ms: r.latency.p99_9,
  latencyMaxMs: r.latency.max,
  timeline: Array.from(perSecond, (xs, t) => {
    const sorted = (xs ?? []).sort((a, b) => a - b);
    return sorted.length ? { t, requests: sorted.length, p99: p99(sorted) } : { t, requests: 0 };
  }),
  non2xx3xx: r['4xx'] + r['5xx'] + r['1xx'],
  socketErrors: { connect: 0, read: r.errors - r.timeouts, write: 0, timeout: r.timeouts },
};
process.stdout.write(`AUTOCANNON_JSON ${JSON.stringify(out)}\n`);
