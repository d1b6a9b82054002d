/**
 * The software release gate: each scenario at a fixed offered rate against pi-origin, checked
 * against its objectives, plus an interleaved CPU-per-response ratio against a raw uWS app
 * serving the same bytes, measured in the same run. Against a remote node (`target`) there is
 * no local server, no ratio and no cold-start.
 *
 * Why not "max req/s": on a small machine autocannon tops out long before uWS does, so its
 * maximum measures autocannon. A fixed rate well inside what it can drive measures the server's
 * latency and errors; CPU per response, taken from /proc for both servers in alternating runs,
 * measures the hot path's cost on any machine.
 */
import { availableParallelism, cpus, arch, release as osRelease, type as osType } from 'node:os';
import { join } from 'node:path';
import { activateRelease } from '../../release/release.js';
import { cleanUpOnSignal, killAllSync, treeRssKiB } from '../bench/procs.js';
import type { RatioBar, Report, RunReport, Verdict } from '../report/model.js';
import type { GateConfig, ScenarioSlo } from './config.js';
import { cacheCounters, probe, watchRelease, type CacheCounters } from './http.js';
import { cpuNs, prepareReleases, startPiOrigin, startRawUws, type LocalServer, type Releases } from './local.js';
import { runFixedRate, type LoadOutcome } from './run-load.js';
import { baselineRequests, readSite, SCENARIOS, ScenarioError, type GateRequest, type ScenarioName } from './scenarios.js';
import { achievedRate, ratioVerdict, sloVerdicts, type RatioRound } from './verdicts.js';

export interface GateOptions {
  readonly config: GateConfig;
  readonly quick: boolean;
  /** Release directory: the URLs and the expected release id. */
  readonly release: string;
  /** Origin of a remote node (`http://[2001:db8::11]`); undefined = start servers here. */
  readonly target: string | undefined;
  readonly scenarios: readonly ScenarioName[];
  readonly command: string;
  /** Progress lines on stderr (a TTY). */
  readonly progress: boolean;
}

/** Seconds of load on the baseline before its first measured round (JIT, page cache). */
const WARM_UP_SEC = 1;

type Say = (line: string) => void;

function progressLine(enabled: boolean): { tick: (label: string, t: number, total: number, n: number) => void; done: Say } {
  if (!enabled) return { tick: () => undefined, done: () => undefined };
  return {
    tick: (label, t, total, n) => void process.stderr.write(`\r\x1b[2K  ${label}  ${t}/${total} s  ${n.toLocaleString('en-US')} responses/s`),
    done: (line) => void process.stderr.write(`\r\x1b[2K  ${line}\n`),
  };
}

function runReport(name: string, target: string, slo: ScenarioSlo, o: LoadOutcome, verdicts: Verdict[], rssBytes: number | undefined): RunReport {
  return {
    name,
    target,
    offeredRate: slo.rate,
    achievedRate: achievedRate(o),
    bytesPerSec: o.durationSec > 0 ? o.bytes / o.durationSec : 0,
    durationSec: o.durationSec,
    requests: o.responses,
    errors: o.errors,
    non2xx3xx: o.non2xx3xx,
    latency: o.latency,
    timeline: o.timeline,
    ...(rssBytes === undefined ? {} : { serverRssBytes: rssBytes }),
    verdicts,
  };
}

function cacheNote(name: string, before: CacheCounters | undefined, after: CacheCounters | undefined): string | undefined {
  if (before === undefined || after === undefined) return undefined;
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  if (hits + misses === 0) return undefined;
  return `${name}: body cache ${((100 * hits) / (hits + misses)).toFixed(1)} % hits (${hits.toLocaleString('en-US')} hits, ${misses.toLocaleString('en-US')} misses)`;
}

export async function runGate(o: GateOptions): Promise<Report> {
  const site = readSite(o.release);
  const notes: string[] = [
    `profile: ${o.quick ? 'quick' : 'full'}; load: autocannon at a fixed overallRate in the gate's process, pipelining 1`,
    'latency: corrected for coordinated omission (HdrHistogram expected-interval correction with each connection\'s 1000/rate ms; autocannon\'s own correction is off, see load-tests/gate/latency.ts)',
  ];
  const planned: { name: ScenarioName; requests: GateRequest[] }[] = [];
  for (const name of o.scenarios) {
    const scenario = SCENARIOS[name];
    if (scenario.localOnly && o.target !== undefined) {
      notes.push(`${name}: skipped, it switches releases on a server the gate starts (against a node, the rollout's own switch is the cold start)`);
      continue;
    }
    try {
      planned.push({ name, requests: scenario.build(site) });
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      notes.push(`${name}: skipped, ${e.message}`);
    }
  }

  const bar = progressLine(o.progress);
  let releases: Releases | undefined;
  const servers: LocalServer[] = [];
  const cleanUp = (): void => {
    killAllSync();
    releases?.remove();
  };
  const stopWatching = cleanUpOnSignal(cleanUp);
  try {
    let pi: { origin: string; pid: number | undefined; releaseId: string };
    if (o.target === undefined) {
      releases = await prepareReleases(site);
      const server = await startPiOrigin(releases.current);
      servers.push(server);
      pi = { origin: server.origin, pid: server.pid, releaseId: site.id };
      notes.push(`pi-origin: node dist/cli/main.js serve on [::1], --workers 1${availableParallelism() >= 2 ? ', pinned to CPU 0 with taskset when available' : ''}; a temporary releases directory holds the release under test and a second build for cold-start`);
    } else {
      pi = { origin: o.target, pid: undefined, releaseId: site.id };
      notes.push(`target: ${o.target} (remote: no ratio check, no cold-start)`);
    }

    const runs: RunReport[] = [];
    const ratios: RatioBar[] = [];
    const measure = async (name: string, origin: string, requests: readonly GateRequest[], slo: ScenarioSlo, durationSec: number): Promise<LoadOutcome> =>
      runFixedRate({
        origin,
        requests,
        rate: slo.rate,
        connections: slo.connections,
        durationSec,
        onSecond: (t, n) => bar.tick(name, t, durationSec, n),
      });

    const sloRun = async (name: ScenarioName, requests: GateRequest[], before: () => Promise<Verdict[]>, during?: () => { stop: () => Promise<Verdict> }): Promise<void> => {
      const slo = o.config.scenarios[name];
      const pre = await before();
      const countersBefore = await cacheCounters(pi.origin);
      const watcher = during?.();
      const outcome = await measure(name, pi.origin, requests, slo, slo.durationSec);
      const extra = watcher === undefined ? [] : [await watcher.stop()];
      const note = cacheNote(name, countersBefore, await cacheCounters(pi.origin));
      if (note !== undefined) notes.push(note);
      const verdicts = [...pre, ...extra, ...sloVerdicts(outcome, slo, requests[0]?.expect ?? 200)];
      const rss = pi.pid === undefined ? undefined : treeRssKiB(pi.pid) * 1024;
      runs.push(runReport(name, pi.origin, slo, outcome, verdicts, rss));
      const failed = verdicts.filter((v) => !v.ok).map((v) => v.check);
      bar.done(`${name}: ${Math.round(achievedRate(outcome)).toLocaleString('en-US')}/s, p99 ${outcome.latency.p99.toFixed(2)} ms, ${failed.length === 0 ? 'ok' : `FAILED ${failed.join(', ')}`}`);
    };

    // Unrecorded: JIT on both sides and the connections' first handshakes.
    const warm = planned[0];
    if (warm !== undefined) await measure('warm-up', pi.origin, warm.requests, o.config.scenarios[warm.name], WARM_UP_SEC);

    for (const { name, requests } of planned) {
      if (name === 'cold-start') continue;
      await sloRun(name, requests, async () => [await probe(pi.origin, requests, pi.releaseId)]);
    }

    // The ratio: pi-origin and raw uWS alternate (who goes first alternates too), same requests.
    const ratioNames = o.config.ratio.scenarios.filter((n) => planned.some((p) => p.name === n));
    if (releases !== undefined && ratioNames.length > 0) {
      const raw = await startRawUws(join(releases.dir, site.id));
      servers.push(raw);
      const piServer = servers[0] as LocalServer;
      const plans = ratioNames.map((name) => ({ name, requests: baselineRequests(planned.find((p) => p.name === name)?.requests ?? []) }));
      const first = plans[0] as (typeof plans)[number];
      const ratioLoad = { ...o.config.scenarios[first.name], rate: o.config.ratio.rate, connections: o.config.ratio.connections };
      await measure(`warm-up raw uWS`, raw.origin, first.requests, ratioLoad, WARM_UP_SEC);
      const rounds = new Map<ScenarioName, RatioRound[]>(plans.map((p) => [p.name, []]));
      const cpuPerResponse = async (server: LocalServer, name: ScenarioName, requests: GateRequest[]): Promise<{ ns: number; clean: boolean }> => {
        const before = cpuNs(server.pid);
        const out = await measure(`ratio ${name} ${server.label}`, server.origin, requests, ratioLoad, o.config.ratio.durationSec);
        const after = cpuNs(server.pid);
        const expect = requests[0]?.expect ?? 200;
        const clean = out.errors === 0 && out.responses > 0 && out.statuses[expect] === out.responses;
        return { ns: before === undefined || after === undefined ? Number.NaN : (after - before) / out.responses, clean };
      };
      for (let r = 0; r < o.config.ratio.rounds; r++) {
        for (const p of plans) {
          const order = r % 2 === 0 ? [piServer, raw] : [raw, piServer];
          const got = new Map<LocalServer, { ns: number; clean: boolean }>();
          for (const server of order) got.set(server, await cpuPerResponse(server, p.name, p.requests));
          const a = got.get(piServer) as { ns: number; clean: boolean };
          const b = got.get(raw) as { ns: number; clean: boolean };
          rounds.get(p.name)?.push({ piNs: a.ns, rawNs: b.ns, clean: a.clean && b.clean });
        }
      }
      for (const p of plans) {
        const { verdict, ratio, detail } = ratioVerdict(rounds.get(p.name) ?? [], o.config.ratio.min);
        ratios.push({ label: `pi-origin / raw uWS, ${p.name} (responses per server CPU-second)`, ratio, detail });
        const i = runs.findIndex((run) => run.name === p.name);
        const run = runs[i];
        if (run !== undefined) runs[i] = { ...run, verdicts: [...(run.verdicts ?? []), verdict] };
        bar.done(`ratio ${p.name}: ${verdict.detail}`);
      }
      notes.push(`ratio: both servers on the same CPU, same identity requests to manifest paths, at ${o.config.ratio.rate} req/s over ${o.config.ratio.connections} connections for ${o.config.ratio.durationSec} s; CPU from /proc/PID/task/*/schedstat`);
      await raw.stop();
      servers.pop();
    }

    const cold = planned.find((p) => p.name === 'cold-start');
    if (cold !== undefined && releases !== undefined) {
      const r = releases;
      await sloRun(
        'cold-start',
        cold.requests,
        async () => {
          await activateRelease(r.dir, r.b.id);
          return [];
        },
        () => {
          const abort = new AbortController();
          const switched = watchRelease(pi.origin, cold.requests[0]?.path ?? '/', r.b.id, abort.signal);
          return {
            stop: async () => {
              abort.abort();
              const ms = await switched;
              const after = await probe(pi.origin, cold.requests, r.b.id);
              const ok = ms !== undefined && after.ok;
              const detail = ms === undefined ? `still not serving ${r.b.id} when the run ended` : `serving ${r.b.id} ${Math.round(ms)} ms after activation; ${after.detail}`;
              return { check: 'switch', ok, detail };
            },
          };
        },
      );
    }

    const allVerdicts = runs.flatMap((r) => r.verdicts ?? []);
    const cpu = cpus()[0]?.model ?? 'unknown';
    return {
      schema: 1,
      kind: 'gate',
      title: `pi-origin gate: release ${site.id}${o.target === undefined ? '' : ` on ${o.target}`}`,
      generated: new Date().toISOString(),
      machine: { cpu, cores: availableParallelism(), node: process.version, os: `${osType()} ${osRelease()} ${arch()}` },
      command: o.command,
      passed: runs.length > 0 && allVerdicts.every((v) => v.ok),
      runs,
      ratios,
      notes,
    };
  } finally {
    for (const s of servers) await s.stop();
    releases?.remove();
    stopWatching();
  }
}
