/**
 * Load generators: wrk (preferred) and autocannon (fallback, much slower:
 * it saturates its own core long before uWS or nginx do on small files).
 * Both run as a separate process pinned with taskset, so the harness itself
 * never competes with the server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked, reapedChildTicks, clockTicks } from './procs.js';
import { BenchError, shellJoin } from './util.js';

export type LoadgenKind = 'wrk' | 'autocannon';

export interface SocketErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  reqPerSec: number;
  /** Response bytes (headers + bodies) per second, as counted by the load generator. */
  bytesPerSec: number;
  latencyMeanMs: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  /** NaN when the source has no such percentile (wrk's text output stops at p99). */
  latencyP999Ms: number;
  latencyMaxMs: number;
  /** Responses per second of the run; empty when the load generator reports only totals (wrk). */
  timeline: { t: number; requests: number; p99?: number }[];
  /** Responses whose status was not 2xx/3xx. */
  non2xx3xx: number;
  socketErrors: SocketErrors;
  /** CPU used by the load generator process over the run, % of one core. */
  loadgenCpuPct: number;
  /** Where the numbers came from ("wrk-lua" exact counters, "wrk-text" parsed output, "autocannon"). */
  source: 'wrk-lua' | 'wrk-text' | 'autocannon';
}

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  /** taskset CPU list for the load generator, or undefined for no pinning. */
  cpus: string | undefined;
}

export interface Loadgen {
  kind: LoadgenKind;
  version: string;
  /** Display form of the command for a spec (for RESULTS.md). */
  commandFor: (spec: LoadSpec) => string;
  run: (spec: LoadSpec) => Promise<LoadResult>;
}

// ------------------------------------------------------------------ wrk ---

const WRK_LUA = `-- emitted by load-tests/bench: exact counters instead of wrk's rounded text
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("\\nBENCH_JSON {\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"bytes\\":%.0f,\\"connect\\":%.0f,\\"read\\":%.0f,\\"write\\":%.0f,\\"status\\":%.0f,\\"timeout\\":%.0f,\\"mean_us\\":%.1f,\\"p50_us\\":%.0f,\\"p90_us\\":%.0f,\\"p99_us\\":%.0f,\\"p999_us\\":%.0f,\\"max_us\\":%.0f}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
`;

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
  PB: 1024 ** 5,
};

function toMs(v: string, unit: string): number {
  const k = TIME_UNITS[unit];
  if (k === undefined) throw new Error(`unknown wrk time unit ${unit}`);
  return Number(v) * k;
}

/** Parse wrk's human-readable output (wrk 4.x, with --latency). Byte units are binary (wrk's "MB" is MiB). */
export function parseWrkText(text: string): Omit<LoadResult, 'loadgenCpuPct' | 'source'> {
  const num = (re: RegExp): RegExpExecArray | null => re.exec(text);
  const rps = num(/^Requests\/sec:\s+([\d.]+)/m);
  const tps = num(/^Transfer\/sec:\s+([\d.]+)([KMGTP]?B)/m);
  const total = num(/^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGTP]?B) read/m);
  if (!rps || !tps || !total) throw new Error('unrecognised wrk output:\n' + text);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)`, 'm').exec(text);
    return m?.[1] && m[2] ? toMs(m[1], m[2]) : Number.NaN;
  };
  // Thread Stats row: "Latency  <avg>  <stdev>  <max>  <+/- stdev>".
  const latRow = num(/^[ \t]*Latency[ \t]+([\d.]+)(us|ms|s|m|h)[ \t]+\S+[ \t]+([\d.]+)(us|ms|s|m|h)/m);
  const sock = num(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non = num(/Non-2xx or 3xx responses: (\d+)/);
  return {
    requests: Number(total[1]),
    durationS: toMs(total[2] as string, total[3] as string) / 1000,
    reqPerSec: Number(rps[1]),
    bytesPerSec: Number(tps[1]) * (BYTE_UNITS[tps[2] as string] ?? Number.NaN),
    latencyMeanMs: latRow?.[1] && latRow[2] ? toMs(latRow[1], latRow[2]) : Number.NaN,
    latencyP50Ms: pct('50'),
    latencyP90Ms: pct('90'),
    latencyP99Ms: pct('99'),
    latencyP999Ms: Number.NaN,
    latencyMaxMs: latRow?.[3] && latRow[4] ? toMs(latRow[3], latRow[4]) : Number.NaN,
    timeline: [],
    non2xx3xx: non ? Number(non[1]) : 0,
    socketErrors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
    },
  };
}

interface WrkLua {
  requests: number;
  duration_us: number;
  bytes: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

function parseWrkLua(text: string): Omit<LoadResult, 'loadgenCpuPct' | 'source'> | undefined {
  const m = /^BENCH_JSON (\{.*\})$/m.exec(text);
  if (!m?.[1]) return undefined;
  const j = JSON.parse(m[1]) as WrkLua;
  const secs = j.duration_us / 1e6;
  return {
    requests: j.requests,
    durationS: secs,
    reqPerSec: j.requests / secs,
    bytesPerSec: j.bytes / secs,
    latencyMeanMs: j.mean_us / 1000,
    latencyP50Ms: j.p50_us / 1000,
    latencyP90Ms: j.p90_us / 1000,
    latencyP99Ms: j.p99_us / 1000,
    latencyP999Ms: j.p999_us / 1000,
    latencyMaxMs: j.max_us / 1000,
    timeline: [],
    non2xx3xx: j.status,
    socketErrors: { connect: j.connect, read: j.read, write: j.write, timeout: j.timeout },
  };
}

/** Run a tracked child to completion, returning stdout+stderr and the CPU it burned. */
async function runTool(cmd: string, args: string[]): Promise<{ out: string; code: number | null; cpuPct: number }> {
  const before = reapedChildTicks();
  const t0 = process.hrtime.bigint();
  const p = spawnTracked(cmd, args, { group: false });
  let out = '';
  p.child.stdout?.on('data', (d: string) => (out += d));
  p.child.stderr?.on('data', (d: string) => (out += d));
  const { code } = await p.exited;
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  // Once reaped, the child's utime+stime are added to our cutime+cstime.
  const cpuS = (reapedChildTicks() - before) / clockTicks();
  return { out, code, cpuPct: wallS > 0 ? (100 * cpuS) / wallS : Number.NaN };
}

function pinned(cpus: string | undefined, argv: string[]): [string, string[]] {
  if (cpus === undefined) return [argv[0] as string, argv.slice(1)];
  return ['taskset', ['-c', cpus, ...argv]];
}

export function makeWrk(wrkPath: string, version: string, tmpDir: string): Loadgen {
  const script = join(tmpDir, 'bench-done.lua');
  writeFileSync(script, WRK_LUA);
  const argvFor = (s: LoadSpec): string[] => [
    wrkPath,
    '-t1',
    `-c${s.connections}`,
    `-d${s.durationS}s`,
    '--latency',
    '-s',
    script,
    s.url,
  ];
  return {
    kind: 'wrk',
    version,
    commandFor: (s) => {
      const [cmd, args] = pinned(s.cpus, argvFor(s));
      return shellJoin([cmd, ...args]).replace(script, 'bench-done.lua');
    },
    run: async (s) => {
      const [cmd, args] = pinned(s.cpus, argvFor(s));
      const { out, code, cpuPct } = await runTool(cmd, args);
      if (code !== 0) throw new BenchError(`wrk exited with code ${code}:\n${out.trim()}`);
      const lua = parseWrkLua(out);
      if (lua) return { ...lua, loadgenCpuPct: cpuPct, source: 'wrk-lua' };
      return { ...parseWrkText(out), loadgenCpuPct: cpuPct, source: 'wrk-text' };
    },
  };
}

// ------------------------------------------------------------ autocannon ---

export function makeAutocannon(runnerJs: string, version: string): Loadgen {
  const argvFor = (s: LoadSpec): string[] => [
    process.execPath,
    runnerJs,
    '--url',
    s.url,
    '--connections',
    String(s.connections),
    '--duration',
    String(s.durationS),
  ];
  return {
    kind: 'autocannon',
    version,
    commandFor: (s) => {
      const [cmd, args] = pinned(s.cpus, argvFor(s));
      return shellJoin([cmd, ...args]);
    },
    run: async (s) => {
      const [cmd, args] = pinned(s.cpus, argvFor(s));
      const { out, code, cpuPct } = await runTool(cmd, args);
      const m = /^AUTOCANNON_JSON (\{.*\})$/m.exec(out);
      if (code !== 0 || !m?.[1]) throw new BenchError(`autocannon runner failed (code ${code}):\n${out.trim()}`);
      const r = JSON.parse(m[1]) as Omit<LoadResult, 'loadgenCpuPct' | 'source'>;
      return { ...r, loadgenCpuPct: cpuPct, source: 'autocannon' };
    },
  };
}
