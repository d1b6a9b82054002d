/**
 * pi-origin peer benchmark: pi-origin vs a bare uWebSockets.js server
 * (raw-uws.ts), nginx, node:http from memory (node-http.ts), sirv and
 * @fastify/static, serving the same three files over IPv6 loopback.
 * Servers pinned to CPU 0, wrk pinned to CPU 1, interleaved rounds.
 *
 *   pi-origin bench [--rounds 3 --duration 5 ...]      (see --help)
 *   npm run bench:peers [-- ...]
 *
 * Writes RESULTS.md + results.json + bench-report.json (the shared report
 * model), prints a summary table on stdout and progress on stderr.
 * See load-tests/README.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs, UsageError } from '../../common/args.js';
import { BENCH_ARGS, BENCH_HELP, BENCH_USAGE, QUIET_BUDGET_S } from './options.js';
import { createContent, createRulesSite, type BenchFile } from './content.js';
import { makeAutocannon, makeWrk, type Loadgen, type LoadgenKind } from './loadgen.js';
import {
  clockTicks,
  foreignTicks,
  killAllSync,
  processTree,
  snapshotAll,
  stealTicks,
  stopSpawned,
  treeCpuTicks,
  treeRssKiB,
} from './procs.js';
import {
  allRatios,
  bottleneckNotes,
  markdown,
  stdoutSummary,
  summarize,
  type Environment,
  type Report,
  type RunRecord,
  type ServerInfo,
} from './report.js';
import { frontSection } from './front.js';
import { indexCostSection } from './index-cost-section.js';
import { missingPeerPackage, PEER_IDS, PEER_PACKAGES, PEER_SCRIPTS, serverDefs, startServer, type PeerId, type RunningServer, type ServerDef, type ServerId } from './servers.js';
import { toModelReport } from './bench-report.js';
import { saveReport } from './save-report.js';
import { packageRoot } from '../../common/package-root.js';
import { isInstalledPackage, reportsDir } from '../../common/reports-dir.js';
import { BenchError, fmtFixed, fmtInt, readJson, shellJoin, sleep, which } from './util.js';

/** Runs during which other processes (or the hypervisor) took this much of a core are flagged. */
const DISTURBED_PCT = 10;
/** Set by `pi-origin bench` (cli/bench.ts) so RESULTS.md shows the command the user typed. */
const VIA_CLI_ENV = 'PI_ORIGIN_BENCH_VIA_CLI';

interface Options {
  rounds: number;
  durationS: number;
  connections: number;
  warmupS: number;
  quietWaitS: number;
  quick: boolean;
  only: PeerId[];
  workers: boolean;
  rules: boolean;
  loadgen: LoadgenKind | undefined;
  outDir: string;
}

function positiveInt(name: string, v: string | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new BenchError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got "${v}"`);
  return n;
}

function parseOptions(argv: string[], pkgRoot: string): Options | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: ${BENCH_USAGE}\n\n${BENCH_HELP}\n`);
    return undefined;
  }
  let flags;
  try {
    ({ flags } = parseArgs(argv, BENCH_ARGS));
  } catch (e) {
    if (e instanceof UsageError) throw new BenchError(`${e.message} (see --help)`);
    throw e;
  }
  const text = (name: string): string | undefined => flags.get(name) as string | undefined;
  const values = { quick: flags.has('quick'), only: text('only'), loadgen: text('loadgen'), connections: text('connections'), rounds: text('rounds'), duration: text('duration'), warmup: text('warmup'), 'quiet-wait': text('quiet-wait'), 'no-workers': flags.has('no-workers'), 'no-rules': flags.has('no-rules'), out: text('out') };
  const quick = values.quick ?? false;
  const known = PEER_IDS;
  let only: Options['only'] = [...known];
  if (values.only !== undefined) {
    const parts = values.only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of parts)
      if (!(known as readonly string[]).includes(p)) throw new BenchError(`--only: unknown server "${p}" (choose from ${known.join(', ')})`);
    only = known.filter((k) => parts.includes(k));
    if (only.length === 0) throw new BenchError('--only: no servers selected');
  }
  if (values.loadgen !== undefined && values.loadgen !== 'wrk' && values.loadgen !== 'autocannon')
    throw new BenchError(`--loadgen must be wrk or autocannon, got "${values.loadgen}"`);
  const connections = positiveInt('connections', values.connections, 50);
  return {
    rounds: positiveInt('rounds', values.rounds, quick ? 1 : 3),
    durationS: positiveInt('duration', values.duration, quick ? 2 : 5),
    connections,
    warmupS: positiveInt('warmup', values.warmup, 1, true),
    quietWaitS: positiveInt('quiet-wait', values['quiet-wait'], 10, true),
    quick,
    only,
    workers: !(values['no-workers'] ?? false),
    rules: !values['no-rules'],
    loadgen: values.loadgen,
    outDir: values.out !== undefined ? resolve(values.out) : quick || isInstalledPackage(pkgRoot) ? reportsDir(pkgRoot) : join(pkgRoot, 'load-tests'),
  };
}

// ----------------------------------------------------------- environment ---

function firstLine(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => l.trim())?.trim() ?? 'unknown';
}

function environment(pkgRoot: string, loadgen: Loadgen, nginxPath: string | undefined): Environment {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const meminfo = existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '';
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? Number.NaN);
  const version = (p: string): string => {
    try {
      const j = readJson(p) as { name?: string; version?: string };
      return `${j.name ?? '?'}@${j.version ?? '?'}`;
    } catch {
      return 'unknown';
    }
  };
  return {
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    nproc: availableParallelism(),
    memTotal: Number.isFinite(memKb) ? `${(memKb / 1024 / 1024).toFixed(1)} GiB (${memKb} kB)` : 'unknown',
    kernel: `Linux ${release()}`,
    node: process.version,
    loadgen: loadgen.kind,
    loadgenVersion: loadgen.version,
    nginx: nginxPath ? firstLine(nginxPath, ['-v']).replace(/^nginx version:\s*/, '') : 'not measured',
    uws: version(join(pkgRoot, 'node_modules/uWebSockets.js/package.json')),
    piOrigin: version(join(pkgRoot, 'package.json')),
    loadAvgAtStart: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// ------------------------------------------------------------------ main ---

let tmpRoot: string | undefined;
const running: RunningServer[] = [];

function cleanupSync(): void {
  killAllSync();
  if (tmpRoot) {
    try {
      rmSync(tmpRoot, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
    tmpRoot = undefined;
  }
}

const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

/**
 * Sample CPU use by processes outside the benchmark in 0.5 s windows until it
 * drops below DISTURBED_PCT of a core or maxS passes. Returns seconds waited.
 * Always takes at least one window, which doubles as the settle pause between runs.
 */
async function waitForQuiet(maxS: number): Promise<number> {
  const hz = clockTicks();
  const t0 = Date.now();
  let announced = false;
  for (;;) {
    const exclude = new Set([process.pid, ...running.flatMap((s) => processTree(s.proc.pid))]);
    const a = snapshotAll();
    await sleep(500);
    const pct = (100 * foreignTicks(a, snapshotAll(), exclude)) / hz / 0.5;
    const waited = (Date.now() - t0) / 1000;
    if (pct < DISTURBED_PCT || maxS === 0) return announced ? waited : 0;
    if (waited >= maxS) {
      log(`  machine still busy (other processes at ${fmtFixed(pct, 0)}% CPU) after ${fmtFixed(waited, 0)} s; measuring anyway`);
      return waited;
    }
    if (!announced) log(`  waiting for other processes to go quiet (${fmtFixed(pct, 0)}% CPU) ...`);
    announced = true;
  }
}

async function main(): Promise<number> {
  const pkgRoot = packageRoot();
  const opts = parseOptions(process.argv.slice(2), pkgRoot);
  if (!opts) return 0;
  const t0 = Date.now();

  // ---- preflight: clear errors, no stack traces ----
  if (process.platform !== 'linux') throw new BenchError('this benchmark needs Linux (/proc, taskset)');
  const taskset = which('taskset');
  if (!taskset) throw new BenchError('taskset not found: apt-get install util-linux');
  const nproc = availableParallelism();
  const pin = nproc >= 2;
  const serverCpus = pin ? '0' : undefined;
  const loadgenCpus = pin ? '1' : undefined;
  const allCpus = pin ? '0,1' : undefined;
  const notes: string[] = [];
  if (!pin) notes.push(`Only ${nproc} CPU available: nothing was pinned and server and load generator share the CPU.`);
  if (nproc > 2)
    notes.push(`This machine has ${nproc} CPUs; only CPUs 0 and 1 were used (servers on 0, load generator on 1).`);

  const want = new Set<ServerId>(opts.only);
  if (want.has('pi-origin') && opts.workers) want.add('pi-origin-w2');
  if (want.has('pi-origin') && opts.rules) want.add('pi-origin-rules');
  if (want.has('pi-origin') && !existsSync(join(pkgRoot, 'dist/cli/main.js')))
    throw new BenchError('dist/cli/main.js not found: run npm run build first (or use --only raw-uws,nginx)');
  for (const [id, file] of Object.entries(PEER_SCRIPTS))
    if (want.has(id as ServerId) && !existsSync(join(pkgRoot, 'dist/load-tests/bench', file)))
      throw new BenchError(`dist/load-tests/bench/${file} not found: run npm run build first`);
  for (const id of want) {
    const missing = missingPeerPackage(id);
    const without = PEER_IDS.filter((p) => PEER_PACKAGES[p] === undefined).join(',');
    if (missing !== undefined) throw new BenchError(`${missing} is not installed: the ${id} peer needs it, a dev dependency (run the bench from a source checkout after npm ci, or leave ${id} out: --only ${without})`);
  }
  const nginxPath = want.has('nginx') ? which('nginx') : undefined;
  if (want.has('nginx') && !nginxPath)
    throw new BenchError('nginx not found: apt-get install -y --no-install-recommends nginx-light (or use --only pi-origin,raw-uws)');

  tmpRoot = mkdtempSync(join(tmpdir(), 'pi-origin-bench-'));
  const wrkPath = which('wrk');
  let loadgen: Loadgen;
  if (opts.loadgen !== 'autocannon' && wrkPath) {
    loadgen = makeWrk(wrkPath, firstLine(wrkPath, ['-v']).replace(/\s*Copyright.*$/, ''), tmpRoot);
  } else {
    if (opts.loadgen === 'wrk') throw new BenchError('wrk not found: apt-get install -y --no-install-recommends wrk');
    const runner = join(pkgRoot, 'dist/load-tests/bench/autocannon-runner.js');
    if (!existsSync(runner)) throw new BenchError(`${runner} not found: run npm run build first`);
    const ver = (readJson(join(pkgRoot, 'node_modules/autocannon/package.json')) as { version?: string }).version ?? '?';
    loadgen = makeAutocannon(runner, `autocannon ${ver}`);
    const why = opts.loadgen === 'autocannon' ? 'requested with --loadgen autocannon' : 'wrk is not installed';
    const msg = `Load generator is autocannon (${why}). autocannon runs on Node and saturates its core far below what uWS/nginx can serve on small files: small-file numbers are load-generator-bound; install wrk for real figures.`;
    notes.push(msg);
    log(`warning: ${msg}`);
  }

  const env = environment(pkgRoot, loadgen, nginxPath);

  // ---- content ----
  const contentDir = join(tmpRoot, 'content');
  mkdirSync(contentDir);
  const files: BenchFile[] = createContent(contentDir);
  const small = files[0] as BenchFile;
  const rulesDir = join(tmpRoot, 'rules');
  if (want.has('pi-origin-rules')) createRulesSite(rulesDir, contentDir, files);

  // ---- servers: start all once, keep them up across rounds ----
  const defs = serverDefs({ pkgRoot, contentDir, rulesDir, tmpDir: tmpRoot, nginxPath, serverCpus, allCpus, smallFile: small.name });
  const order: ServerId[] = (['pi-origin', 'pi-origin-w2', 'pi-origin-rules', ...PEER_IDS.filter((id) => id !== 'pi-origin')] as const).filter((id) => want.has(id));
  for (const id of order) {
    const def: ServerDef = defs[id];
    log(`starting ${def.label} ...`);
    const s = await startServer(def, files, pkgRoot);
    running.push(s);
    log(`  ${def.label}: pid ${s.proc.pid}, port ${s.port}, ${s.processes} process(es) / ${s.threads} threads, responses verified (${s.probes.map((p) => `${p.file} hdr ${p.headerBytes} B`).join(', ')})`);
  }

  const spec = (s: RunningServer, f: BenchFile, durationS: number) => ({
    url: s.url(f),
    connections: opts.connections,
    durationS,
    cpus: loadgenCpus,
  });

  const ensureAlive = (s: RunningServer): void => {
    if (!s.proc.isRunning()) throw new BenchError(`${s.def.label} died during the benchmark:\n${s.proc.tail()}`);
  };

  // ---- warm-up (JIT, page cache, nginx open_file_cache) ----
  if (opts.warmupS > 0) {
    for (const f of files) {
      for (const s of running) {
        if (!s.def.measures(f)) continue;
        log(`[warm-up] ${s.def.label} ${f.label} ...`);
        await loadgen.run(spec(s, f, opts.warmupS));
        ensureAlive(s);
      }
    }
  }

  // ---- interleaved rounds ----
  const runs: RunRecord[] = [];
  const hz = clockTicks();
  let quietWaitTotal = 0;
  for (let round = 1; round <= opts.rounds; round++) {
    for (const [fi, f] of files.entries()) {
      const group = running.filter((s) => s.def.measures(f));
      const shift = (round - 1 + fi) % group.length;
      const rotated = [...group.slice(shift), ...group.slice(0, shift)];
      for (const [pos, s] of rotated.entries()) {
        quietWaitTotal += await waitForQuiet(quietWaitTotal < QUIET_BUDGET_S ? Math.min(opts.quietWaitS, QUIET_BUDGET_S - quietWaitTotal) : 0);
        const snap0 = snapshotAll();
        const steal0 = stealTicks();
        const cpu0 = treeCpuTicks(s.proc.pid);
        const w0 = process.hrtime.bigint();
        const r = await loadgen.run(spec(s, f, opts.durationS));
        const wallS = Number(process.hrtime.bigint() - w0) / 1e9;
        const serverCpuS = (treeCpuTicks(s.proc.pid) - cpu0) / hz;
        const serverCpuPct = (100 * serverCpuS) / wallS;
        const exclude = new Set([process.pid, ...processTree(s.proc.pid)]);
        const foreignCpuPct = (100 * foreignTicks(snap0, snapshotAll(), exclude)) / hz / wallS;
        const stealPct = (100 * (stealTicks() - steal0)) / hz / wallS;
        ensureAlive(s);
        const rec: RunRecord = {
          ...r,
          round,
          server: s.def.id,
          file: f.name,
          order: pos,
          rssKiB: treeRssKiB(s.proc.pid),
          serverCpuPct,
          serverCpuUsPerReq: r.requests > 0 ? (serverCpuS * 1e6) / r.requests : Number.NaN,
          foreignCpuPct,
          stealPct,
        };
        runs.push(rec);
        const errs = r.non2xx3xx + r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;
        log(
          `[round ${round}/${opts.rounds}] ${s.def.label} ${f.label} ... ${fmtInt(r.reqPerSec)} req/s, ${fmtFixed(r.bytesPerSec / 1e6, 1)} MB/s, p99 ${fmtFixed(r.latencyP99Ms, 2)} ms, ` +
            `rss ${fmtFixed(rec.rssKiB / 1024, 1)} MiB, cpu srv ${fmtFixed(serverCpuPct, 0)}% / ${loadgen.kind} ${fmtFixed(r.loadgenCpuPct, 0)}%` +
            (errs ? `, ${errs} ERRORS` : '') +
            (foreignCpuPct >= DISTURBED_PCT ? `, DISTURBED: other processes used ${fmtFixed(foreignCpuPct, 0)}% CPU` : '') +
            (stealPct >= DISTURBED_PCT ? `, hypervisor steal ${fmtFixed(stealPct, 0)}%` : ''),
        );
      }
    }
  }

  // ---- stop servers ----
  for (const s of running) await stopSpawned(s.proc);

  // ---- report ----
  const servers: ServerInfo[] = running.map((s) => ({
    id: s.def.id,
    label: s.def.label,
    command: s.command.replaceAll(tmpRoot ?? '\0', '$TMP').replaceAll(pkgRoot + '/', ''),
    cpus: s.def.cpus ?? 'all',
    processes: s.processes,
    threads: s.threads,
    headerBytes: Object.fromEntries(s.probes.map((p) => [p.file, p.headerBytes])),
    headers: s.probes.find((p) => p.file === small.name)?.headers ?? [],
  }));
  const summary = summarize(runs, files, servers);
  notes.push(...bottleneckNotes(summary, loadgen.kind));
  const disturbed = runs.filter((r) => r.foreignCpuPct >= DISTURBED_PCT || r.stealPct >= DISTURBED_PCT);
  if (disturbed.length)
    notes.push(
      `${disturbed.length} of ${runs.length} runs were disturbed (other processes or hypervisor steal took ≥ ${DISTURBED_PCT}% of a core during the run): ` +
        disturbed
          .map((r) => `round ${r.round} ${defs[r.server].label} ${files.find((f) => f.name === r.file)?.label ?? r.file} (other ${fmtFixed(r.foreignCpuPct, 0)}%, steal ${fmtFixed(r.stealPct, 0)}%)`)
          .join('; ') +
        '. Medians damp this, but consider re-running on a quiet machine.',
    );
  else notes.push(`No run was disturbed by other processes or hypervisor steal (threshold ${DISTURBED_PCT}% of a core).`);
  if (quietWaitTotal > 0)
    notes.push(
      `The harness waited ${fmtFixed(quietWaitTotal, 0)} s in total for other processes to go quiet before runs (--quiet-wait ${opts.quietWaitS}, at most ${QUIET_BUDGET_S} s per bench)` +
        (quietWaitTotal >= QUIET_BUDGET_S ? '; the budget ran out, so later runs started without waiting.' : '.'),
    );
  if (want.has('pi-origin-w2'))
    notes.push(
      'pi-origin --workers 2 runs on CPUs 0,1 and the load generator on CPU 1: they share a core, so the workers ratio is a pessimistic lower bound.',
    );
  if (servers.some((s) => s.processes > 1))
    notes.push(
      'RSS of a multi-process server is the sum of VmRSS over its processes, which counts shared pages (code, shared libraries) once per process.',
    );

  const userArgs = process.argv.slice(2);
  const npmScript = process.env.npm_lifecycle_event;
  const rep: Report = {
    schema: 1,
    generatedAt: new Date().toISOString(),
    command: {
      npm:
        npmScript === 'bench' || npmScript === 'bench:peers'
          ? shellJoin(['npm', 'run', npmScript, ...(userArgs.length ? ['--', ...userArgs] : [])])
          : undefined,
      cli: process.env[VIA_CLI_ENV] === '1' ? shellJoin(['pi-origin', 'bench', ...userArgs]) : undefined,
      node: shellJoin(['node', relative(process.cwd(), process.argv[1] ?? 'dist/load-tests/bench/peers.js') || 'peers.js', ...userArgs]),
      cwd: process.cwd(),
    },
    environment: env,
    parameters: {
      rounds: opts.rounds,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      quietWaitS: opts.quietWaitS,
      connections: opts.connections,
      threads: 1,
      quick: opts.quick,
      serverCpus: serverCpus ?? 'all',
      loadgenCpus: loadgenCpus ?? 'all',
      loadgenCommand: loadgen
        .commandFor({ url: 'http://[::1]:PORT/FILE', connections: opts.connections, durationS: opts.durationS, cpus: loadgenCpus })
        .replaceAll(pkgRoot + '/', ''),
      files,
    },
    servers,
    summary,
    ratios: allRatios(runs, files),
    notes,
    runs,
    elapsedS: (Date.now() - t0) / 1000,
  };

  mkdirSync(opts.outDir, { recursive: true });
  const mdPath = join(opts.outDir, 'RESULTS.md');
  const jsonPath = join(opts.outDir, 'results.json');
  writeFileSync(mdPath, markdown(rep) + indexCostSection() + frontSection());
  writeFileSync(jsonPath, JSON.stringify(rep, null, 2) + '\n');
  const reportPaths = saveReport(toModelReport(rep), opts.outDir);

  process.stdout.write(stdoutSummary(rep));
  if (loadgen.kind === 'autocannon') process.stdout.write('(load generator: autocannon, not wrk — small-file numbers are load-generator-bound)\n');
  log(`wrote ${[mdPath, jsonPath, ...reportPaths].map((p) => relative(process.cwd(), p) || p).join(', ')}`);
  return 0;
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    log(`\n${sig}: stopping servers`);
    cleanupSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

process.on('uncaughtException', (e) => {
  cleanupSync();
  log(`bench: unexpected error: ${e.stack ?? e.message}`);
  process.exit(1);
});

main().then(
  (code) => {
    cleanupSync();
    process.exitCode = code;
  },
  (e: unknown) => {
    cleanupSync();
    if (e instanceof BenchError) log(`bench: ${e.message}`);
    else log(`bench: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 1;
  },
);
