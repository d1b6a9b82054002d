/** Runs `node dist/cli/main.js` as a child process, as a person would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The test's environment without anything that configures pi-origin or uWS. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PI_ORIGIN_') && k !== 'UWS_USE_FALLBACK') env[k] = v;
  return { ...env, ...extra };
}

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `wrapper` (e.g. nsenter into a network namespace) must exec the CLI. */
export function start(args: readonly string[], env: Record<string, string> = {}, wrapper: readonly string[] = []): { child: ChildProcess; result: Promise<Result>; stdout: () => string; stderr: () => string } {
  const argv = [...wrapper, process.execPath, MAIN, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const result = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, result, stdout: () => stdout, stderr: () => stderr };
}

/**
 * Runs the CLI to completion (killed after `ms`, which fails the exit-code assertions). The default is a
 * guard against a hung CLI, not a speed test: a cluster command runs ansible-inventory (a few
 * seconds on a loaded machine), and several at once on two busy cores take their time.
 * `wrapper` runs the CLI inside another command (e.g. `nsenter --net=...`).
 */
export function runCli(args: readonly string[], env: Record<string, string> = {}, ms = 90_000, wrapper: readonly string[] = []): Promise<Result> {
  const p = start(args, env, wrapper);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  return p.result.finally(() => clearTimeout(timer));
}

/** Resolves with the port once the CLI prints `listening on http://[::1]:PORT/`, or with the result if it exits first. */
export function listeningPort(p: ReturnType<typeof start>): Promise<number | Result> {
  return new Promise((resolve) => {
    const check = (): void => {
      const m = /^pi-origin: listening on http:\/\/\[::1\]:(\d+)\/$/m.exec(p.stdout());
      if (m !== null) resolve(Number(m[1]));
    };
    p.child.stdout?.on('data', check);
    void p.result.then(resolve);
  });
}
