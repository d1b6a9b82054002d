/**
 * The gate's single requests (probes, metrics, the switch watch) against nodes that misbehave:
 * a body that never ends or is far larger than any document holds the gate neither past its
 * deadline nor past its body cap. The hostile node runs in its own process, so the test's RSS
 * is the gate side's alone.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { DOCUMENT_MAX_BYTES } from '../common/http-once.js';
import { fetchOnce, probe } from '../load-tests/gate/http.js';

const RELEASE = 'aaaaaaaaaaaa';
const HUGE = 400 * 1048576;

/**
 * A node in a child process that answers every request with X-Origin-Release and a declared
 * 400 MiB body it writes as fast as the reader takes it; it prints its port.
 */
async function hugeNode(t: Test): Promise<string> {
  const script = `
    const { createServer } = require('node:http');
    const chunk = Buffer.alloc(1 << 16, 120);
    createServer((req, res) => {
      res.writeHead(200, { 'Content-Length': ${HUGE}, 'X-Origin-Release': '${RELEASE}' });
      let left = ${HUGE};
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { left = 0; });
      pump();
    }).listen(0, '::1', function () { process.stdout.write(String(this.address().port) + '\\n'); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill());
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  return `http://[::1]:${line.toString().trim()}`;
}

/** A node that sends its head, then one byte every 50 ms for 20 s: never idle, never done. */
async function tricklingNode(t: Test): Promise<string> {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'X-Origin-Release': RELEASE });
    let n = 0;
    const timer = setInterval(() => (++n === 400 ? (clearInterval(timer), res.end('.')) : res.write('.')), 50);
    res.on('close', () => clearInterval(timer));
  });
  server.listen(0, '::1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  server.on('connection', (s) => t.teardown(() => void s.destroy()));
  return `http://[::1]:${(server.address() as AddressInfo).port}`;
}

t.test('a body past the cap fails the fetch with the cap named, and the gate does not grow with it', async (t) => {
  const origin = await hugeNode(t);
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const err = await fetchOnce(origin, '/_origin/metrics', { timeoutMs: 120_000, maxBodyBytes: DOCUMENT_MAX_BYTES }).then(
    () => undefined,
    (e: Error) => e,
  );
  const grown = process.resourceUsage().maxRSS * 1024 - peakBefore;
  t.equal(err?.message, `body over ${DOCUMENT_MAX_BYTES} bytes`, 'rejected at the cap, which the message names');
  t.ok(grown < HUGE / 8, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB for a ${HUGE / 1048576} MiB body`);
});

t.test('a probe reads status and headers only: a huge body neither fails nor grows it', async (t) => {
  const origin = await hugeNode(t);
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const verdict = await probe(origin, [{ path: '/big.whl', file: '/big.whl', headers: {}, expect: 200 }], RELEASE);
  const grown = process.resourceUsage().maxRSS * 1024 - peakBefore;
  t.same(verdict, { check: 'probe', ok: true, detail: `1 URLs answered as expected by release ${RELEASE}` });
  t.ok(grown < HUGE / 8, `peak RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
});

t.test('the deadline covers the whole body: a node that keeps trickling is cut at it', async (t) => {
  const origin = await tricklingNode(t);
  const started = performance.now();
  const outcome = await fetchOnce(origin, '/_origin/metrics', { timeoutMs: 1000, maxBodyBytes: DOCUMENT_MAX_BYTES }).then(
    (a) => `resolved with ${a.body.length} bytes`,
    (e: Error) => e.message,
  );
  const elapsed = performance.now() - started;
  // An idle timeout never fires here: the node sends a byte every 50 ms for 20 s.
  t.equal(outcome, 'timeout', 'rejected by the total deadline, not answered after the node finished');
  t.ok(elapsed >= 990, `not before the deadline (${elapsed.toFixed(0)} ms)`);
});
