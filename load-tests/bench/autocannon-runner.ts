/**
 * Fallback load generator, used by peers.ts only when wrk is not installed.
 * Runs one autocannon measurement in its own (pinnable) process and prints a
 * single `AUTOCANNON_JSON {...}` line in the same shape as the wrk results.
 */
import autocannon from 'autocannon';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '5' },
  },
});
if (!values.url) {
  process.stderr.write('usage: autocannon-runner --url URL [--connections N] [--duration S]\n');
  process.exit(2);
}

const r = await autocannon({
  url: values.url,
  connections: Number(values.connections),
  duration: Number(values.duration),
  pipelining: 1,
  timeout: 10,
});
const secs = r.duration;
const out = {
  requests: r.requests.total,
  durationS: secs,
  reqPerSec: r.requests.total / secs,
  bytesPerSec: r.throughput.total / secs,
  latencyP50Ms: r.latency.p50,
  latencyP99Ms: r.latency.p99,
  latencyMaxMs: r.latency.max,
  non2xx3xx: r['4xx'] + r['5xx'] + r['1xx'],
  socketErrors: { connect: 0, read: r.errors - r.timeouts, write: 0, timeout: r.timeouts },
};
process.stdout.write(`AUTOCANNON_JSON ${JSON.stringify(out)}\n`);
