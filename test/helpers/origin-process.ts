/**
 * The built origin as a child process, for tests that need the server's own view of itself: its
 * open descriptors (/proc/PID/fd, not shared with the test's client sockets), its stderr
 * warnings, or a wrapper around it (unshare for a private bind mount, setpriv to drop
 * capabilities). Wrappers must exec the server, so the child's pid is the server's.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type { Test } from 'tap';
import { cleanEnv, MAIN } from './cli.js';
import { request } from './server.js';
import { waitFor } from './wait.js';

export interface OriginProcess {
  readonly pid: number;
  readonly port: number;
  /** Everything the server wrote to stderr so far (warnings, re-index notes). */
  stderr(): string;
  /** Open descriptors of the server process right now. */
  fds(): number;
  /** One value from /_origin/metrics. */
  metric(name: string): Promise<number>;
  /** Is the process still running? */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after 10 s; resolves with the exit code (null when killed). */
  stop(): Promise<number | null>;
}

/**
 * Starts `pi-origin serve ROOT --listen [::1]:0 ...flags` as `[...wrapper, node, main.js, ...]`
 * and resolves once it prints its URL. Stopped at teardown.
 */
export async function spawnOrigin(t: Test, root: string, flags: readonly string[], wrapper: readonly string[] = []): Promise<OriginProcess> {
  const argv = [...wrapper, process.execPath, MAIN, 'serve', root, '--listen', '[::1]:0', '--drain-timeout', '1', ...flags];
  const child = spawn(argv[0] as string, argv.slice(1), { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exitCode = code))));
  const stop = async (): Promise<number | null> => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    return exited.finally(() => clearTimeout(timer));
  };
  t.teardown(stop);
  const port = await waitFor(
    'the server to print its URL',
    () => {
      if (exitCode !== undefined) throw new Error(`server exited with ${exitCode}: ${stderr.trim()}`);
      const m = /^pi-origin: listening on http:\/\/\[::1\]:(\d+)\/$/m.exec(stdout);
      return m === null ? undefined : Number(m[1]);
    },
    30_000,
  );
  const pid = child.pid as number;
  return {
    pid,
    port,
    stderr: () => stderr,
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    alive: () => exitCode === undefined,
    async metric(name) {
      const text = (await request(port, '/_origin/metrics')).body.toString();
      const line = text.split('\n').find((l) => l.startsWith(name + ' '));
      if (line === undefined) throw new Error(`no ${name} in /_origin/metrics`);
      return Number(line.slice(name.length + 1));
    },
    stop,
  };
}

/**
 * The server's descriptor count once it has settled: nothing in flight and the same count
 * twice, 300 ms apart (closed sockets are released after the client's FIN is processed).
 */
export async function settledFds(origin: OriginProcess, ms = 15_000): Promise<number> {
  await waitFor('nothing in flight', async () => ((await origin.metric('pi_origin_inflight_responses')) === 0 ? true : undefined), ms);
  let last = origin.fds();
  return waitFor(
    'the descriptor count to settle',
    async () => {
      await new Promise((r) => setTimeout(r, 300));
      const now = origin.fds();
      const same = now === last;
      last = now;
      return same ? now : undefined;
    },
    ms,
  );
}
