/**
 * `pi-origin bench`: the peer benchmark (load-tests/bench/peers.ts). It runs as its own process,
 * as every server it measures does, so the CLI shares no code or state with what it measures;
 * this command checks the arguments (the benchmark's own table, load-tests/bench/options.ts),
 * then forwards them, the signals and the exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_ARGS, BENCH_EXAMPLES, BENCH_HELP, BENCH_USAGE } from '../load-tests/bench/options.js';
import { argsOf, type Subcommand } from './subcommands.js';

const PEERS_JS = fileURLToPath(new URL('../load-tests/bench/peers.js', import.meta.url));
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export const BENCH: Subcommand = {
  ...BENCH_ARGS,
  summary: 'benchmark this server against raw uWS, nginx, node:http, sirv and @fastify/static',
  usage: BENCH_USAGE,
  help: BENCH_HELP,
  examples: BENCH_EXAMPLES,
  run: (_positional, _flags, _lists, ordered) => bench(argsOf(ordered)),
};

function bench(args: readonly string[]): Promise<number> {
  if (!existsSync(PEERS_JS)) {
    process.stderr.write(`pi-origin: error: ${PEERS_JS} not found (the benchmark ships with a full build: npm run build)\n`);
    return Promise.resolve(1);
  }
  const child = spawn(process.execPath, [PEERS_JS, ...args], {
    stdio: 'inherit',
    env: { ...process.env, PI_ORIGIN_BENCH_VIA_CLI: '1' },
  });
  // The bench stops its servers on these; stay alive until it has, then report its status.
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  for (const sig of FORWARDED) process.on(sig, forward);
  return new Promise((resolve) => {
    const done = (code: number): void => {
      for (const sig of FORWARDED) process.off(sig, forward);
      resolve(code);
    };
    child.on('error', (e) => {
      process.stderr.write(`pi-origin: error: cannot start the benchmark: ${e.message}\n`);
      done(1);
    });
    child.on('exit', (code, signal) => done(code ?? (signal === 'SIGINT' ? 130 : 143)));
  });
}
