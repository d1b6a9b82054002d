/**
 * The soak: one steady offered rate for a long time, against pi-origin started here or a running
 * node, with the server's memory and open descriptors sampled every second. What it catches is
 * what a gate of seconds cannot: a leak per request or per connection, a descriptor left open,
 * a cache that does not stay within its bound. The verdicts are in verdicts.ts.
 */
import { availableParallelism, arch, cpus, release as osRelease, type as osType } from 'node:os';
import { cleanUpOnSignal, killAllSync } from '../bench/procs.js';
import { median } from '../bench/util.js';
import { startPiOrigin, type LocalServer } from '../gate/local.js';
import { runFixedRate, type LoadOutcome } from '../gate/run-load.js';
import { readSite, SCENARIOS, ScenarioError, type GateRequest, type Site } from '../gate/scenarios.js';
import { achievedRate } from '../gate/verdicts.js';
import type { Report, ResourceSample, RunReport, TimelinePoint } from '../report/model.js';
import { sampleProcess } from './sample.js';
import { formatSeconds, type Progress, type SoakOptions, type SoakScenario } from './profile.js';
import { resourceVerdicts, trafficVerdicts, WINDOW_SHARE } from './verdicts.js';

/** Requests of `scenario`; `mixed` takes one of each scenario in turn, the shorter ones cycling. */
export function soakRequests(site: Site, scenario: SoakScenario): GateRequest[] {
  if (scenario !== 'mixed') return SCENARIOS[scenario].build(site);
  const lists: GateRequest[][] = [];
  for (const name of ['launch-day', 'package-index', 'revalidate'] as const) {
    try {
      lists.push(SCENARIOS[name].build(site));
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
    }
  }
  if (lists.length === 0) throw new ScenarioError('the release has nothing any scenario asks for');
  const longest = Math.max(...lists.map((l) => l.length));
  const out: GateRequest[] = [];
  for (let i = 0; i < longest; i++) for (const l of lists) out.push(l[i % l.length] as GateRequest);
  return out;
}

/** The report keeps at most this many points per series; longer soaks are averaged into buckets. */
const MAX_POINTS = 1200;

/** Per bucket of seconds: mean responses per second, the worst p99. */
function thinTimeline(points: readonly TimelinePoint[]): TimelinePoint[] {
  const size = Math.ceil(points.length / MAX_POINTS);
  if (size <= 1) return [...points];
  const out: TimelinePoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const bucket = points.slice(i, i + size);
    const p99s = bucket.map((p) => p.p99).filter((v): v is number => v !== undefined);
    const requests = bucket.reduce((sum, p) => sum + p.requests, 0) / bucket.length;
    out.push(p99s.length === 0 ? { t: (bucket[0] as TimelinePoint).t, requests } : { t: (bucket[0] as TimelinePoint).t, requests, p99: Math.max(...p99s) });
  }
  return out;
}

/** Every n-th sample (the last one kept), for the chart; the verdicts use them all. */
function thinSamples(samples: readonly ResourceSample[]): ResourceSample[] {
  const size = Math.ceil(samples.length / MAX_POINTS);
  if (size <= 1) return [...samples];
  return samples.filter((_, i) => i % size === size - 1 || i === samples.length - 1);
}

interface Sampler {
  readonly samples: ResourceSample[];
  goneAt: number | undefined;
  take(): void;
}

function sampler(pid: number, started: number): Sampler {
  const s: Sampler = {
    samples: [],
    goneAt: undefined,
    take() {
      const t = Math.round(performance.now() - started) / 1000;
      const got = sampleProcess(pid);
      if (got === undefined) s.goneAt ??= t;
      else if (s.goneAt === undefined) s.samples.push({ t, ...got });
    },
  };
  return s;
}

export async function runSoak(o: SoakOptions): Promise<Report> {
  const site = readSite(o.release);
  const requests = soakRequests(site, o.scenario);
  const notes: string[] = [
    `load: autocannon at a fixed overallRate of ${o.rate} req/s over ${o.connections} keep-alive connections in the soak's process, pipelining 1; scenario ${o.scenario} from release ${site.id}`,
    `growth: median of the last ${100 * WINDOW_SHARE} % of the samples after the ${o.warmUpSec} s warm-up minus the median of the first ${100 * WINDOW_SHARE} %`,
  ];
  let server: LocalServer | undefined;
  const stopWatching = cleanUpOnSignal(killAllSync);
  try {
    let origin: string;
    let pid: number | undefined;
    if (o.target === undefined) {
      server = await startPiOrigin(o.release, o.workers);
      origin = server.origin;
      pid = server.pid;
      notes.push(`pi-origin: node dist/cli/main.js serve ${o.release} on [::1], --workers ${o.workers}${availableParallelism() >= 2 ? ', pinned to CPU 0 with taskset when available' : ''}`);
    } else {
      origin = o.target;
      pid = o.pid;
      notes.push(`target: ${o.target}${pid === undefined ? ' (no --pid: memory and descriptors not sampled, no growth checks)' : `, process ${pid}`}`);
    }
    const started = performance.now();
    const sampling = pid === undefined ? undefined : sampler(pid, started);
    sampling?.take();
    const timer = sampling === undefined ? undefined : setInterval(() => sampling.take(), 1000);
    let total = 0;
    let outcome: LoadOutcome;
    try {
      outcome = await runFixedRate({
        origin,
        requests,
        rate: o.rate,
        connections: o.connections,
        durationSec: o.durationSec,
        onSecond: (t, n) => {
          total += n;
          // autocannon ticks once more as it stops.
          if (t <= o.durationSec) o.progress?.(progressOf(t, o, total, sampling?.samples ?? []));
        },
      });
    } finally {
      // No sample after the load: closed connections would pull the last window down.
      clearInterval(timer);
    }

    const verdicts = trafficVerdicts(outcome);
    let run: RunReport = {
      name: o.scenario,
      target: origin,
      offeredRate: o.rate,
      achievedRate: achievedRate(outcome),
      bytesPerSec: outcome.durationSec > 0 ? outcome.bytes / outcome.durationSec : 0,
      durationSec: outcome.durationSec,
      requests: outcome.responses,
      errors: outcome.errors,
      non2xx3xx: outcome.non2xx3xx,
      latency: outcome.latency,
      timeline: thinTimeline(outcome.timeline),
    };
    if (sampling !== undefined) {
      const r = resourceVerdicts(sampling.samples, o, sampling.goneAt);
      verdicts.push(...r.verdicts);
      const last = sampling.samples[sampling.samples.length - 1];
      run = { ...run, resources: thinSamples(sampling.samples), ...(r.limits === undefined ? {} : { resourceLimits: r.limits }), ...(last === undefined ? {} : { serverRssBytes: last.rssBytes }) };
      if (sampling.samples.length > MAX_POINTS)
        notes.push(`charts: ${sampling.samples.length} samples and seconds thinned to one point per ${Math.ceil(sampling.samples.length / MAX_POINTS)} (mean req/s and worst p99 of each bucket, its last sample); the verdicts use every sample`);
    }
    run = { ...run, verdicts };
    const cpu = cpus()[0]?.model ?? 'unknown';
    return {
      schema: 1,
      kind: 'soak',
      title: `pi-origin soak: ${o.scenario} at ${o.rate} req/s for ${formatSeconds(o.durationSec)}${o.target === undefined ? '' : ` on ${o.target}`}`,
      generated: new Date().toISOString(),
      machine: { cpu, cores: availableParallelism(), node: process.version, os: `${osType()} ${osRelease()} ${arch()}` },
      command: o.command,
      passed: verdicts.every((v) => v.ok),
      runs: [run],
      ratios: [],
      notes,
    };
  } finally {
    await server?.stop();
    stopWatching();
  }
}

function progressOf(t: number, o: SoakOptions, responses: number, samples: readonly ResourceSample[]): Progress {
  const sample = samples[samples.length - 1];
  // Changes are against the median of what is, or will be, the baseline window.
  const windowEnd = o.warmUpSec + WINDOW_SHARE * (o.durationSec - o.warmUpSec);
  const window = samples.filter((s) => s.t >= o.warmUpSec && s.t <= windowEnd);
  const base = window.length === 0 ? undefined : { rss: median(window.map((s) => s.rssBytes)), fds: median(window.map((s) => s.fds)) };
  return {
    t,
    durationSec: o.durationSec,
    responses,
    ...(sample === undefined ? {} : { sample }),
    ...(sample === undefined || base === undefined ? {} : { rssDelta: sample.rssBytes - base.rss, fdDelta: sample.fds - base.fds }),
  };
}
