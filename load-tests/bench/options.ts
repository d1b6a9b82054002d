/**
 * The peer benchmark's options: one table for `pi-origin bench` (cli/bench.ts checks the
 * arguments before it spawns the benchmark) and for peers.ts itself, both read with the one
 * argument parser (common/args.ts).
 */
import type { ArgSpec } from '../../common/args.js';
import { PEER_IDS } from './servers.js';

/**
 * Total seconds the harness may spend waiting for a quiet machine over the whole bench: on a
 * host that never goes quiet, per-run waits would otherwise add minutes; interleaving and
 * per-round ratios are what protect the comparison then, and disturbed runs are flagged.
 */
export const QUIET_BUDGET_S = 120;

export const BENCH_ARGS: ArgSpec = {
  flags: {
    rounds: 'value',
    duration: 'value',
    connections: 'value',
    warmup: 'value',
    'quiet-wait': 'value',
    quick: 'boolean',
    only: 'value',
    'no-workers': 'boolean',
    'no-rules': 'boolean',
    loadgen: 'value',
    out: 'value',
  },
};

export const BENCH_USAGE = 'pi-origin bench [options]   (also: npm run bench:peers -- [options], node dist/load-tests/bench/peers.js [options])';

/** --help after the usage line. */
export const BENCH_HELP = `Benchmarks pi-origin against a bare uWebSockets.js server (raw-uws), nginx,
node:http serving from memory (node-http), sirv and @fastify/static
(fastify-static) on IPv6 loopback: servers pinned to CPU 0, wrk pinned to CPU 1,
interleaved rounds; 1 KB, 200 KB and 5 MB files.

Options:
  --rounds N         interleaved rounds (default 3)
  --duration S       seconds per run (default 5)
  --connections C    concurrent keep-alive connections (default 50)
  --warmup S         unrecorded warm-up per server and file before round 1 (default 1; 0 = none)
  --quiet-wait S     before each run, wait up to S seconds for other processes to
                     stop using CPU (default 10; 0 = don't wait; ${QUIET_BUDGET_S} s in total at most)
  --quick            CI smoke: 1 round x 2 s, results to load-tests/out/ unless --out is given
  --only LIST        comma-separated subset of: ${PEER_IDS.join(',')}
                     (default: all)
  --no-workers       skip the pi-origin --workers 2 measurement
  --no-rules         skip pi-origin with a 2,100-rule _redirects (1 KB file; the
                     per-request cost of the rules, as a ratio against pi-origin)
  --loadgen NAME     wrk (default when installed) or autocannon
  --out DIR          where RESULTS.md, results.json and bench-report.json go (default load-tests/
                     in a checkout; ~/.local/state/pi-origin/reports when installed)
  -h, --help         this text

Needs: taskset (util-linux), wrk (else autocannon, much weaker), nginx (unless
--only excludes it), and a build (npm run build) for dist/cli/main.js and the
peer scripts in dist/load-tests/bench/.`;

export const BENCH_EXAMPLES = ['pi-origin bench --quick', 'pi-origin bench --rounds 5 --duration 10 --only pi-origin,raw-uws,nginx', 'pi-origin bench --loadgen autocannon --out /tmp/bench'];
