/**
 * The steady client: GETs at a fixed rate through HAProxy over kept-alive connections, started
 * on a timer (not after the previous answer), so a stall shows as failures or latency rather
 * than as fewer requests. A request fails on an error, a timeout or a status other than 200.
 */
import { Agent, request } from 'node:http';

export interface Sample {
  /** Milliseconds since the client started, when the request was sent. */
  readonly sentAt: number;
  readonly ms: number;
  readonly status: number;
  readonly release: string;
  readonly error?: string;
}

export interface SteadyClient {
  /** Stops sending, waits for the answers still due and returns every sample. */
  stop(): Promise<Sample[]>;
  /** Samples so far (answered requests only). */
  readonly samples: readonly Sample[];
}

export function steadyClient(host: string, port: number, path: string, ratePerSec: number, timeoutMs = 5000): SteadyClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const sentAt = performance.now() - started;
      const done = (status: number, release: string, error?: string): void => {
        samples.push({ sentAt, ms: performance.now() - started - sentAt, status, release, ...(error === undefined ? {} : { error }) });
        resolve();
      };
      const req = request({ host, port, path, agent, timeout: timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0, String(res.headers['x-origin-release'] ?? '')));
        res.on('error', (e) => done(0, '', e.message));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => done(0, '', e.message));
      req.end();
    });
  const timer = setInterval(() => {
    const p = once().finally(() => pending.delete(p));
    pending.add(p);
  }, 1000 / ratePerSec);
  return {
    samples,
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      agent.destroy();
      return samples;
    },
  };
}

/** A sample that failed: no answer, or not 200. */
export function failed(s: Sample): boolean {
  return s.status !== 200;
}
