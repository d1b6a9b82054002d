/**
 * The peer benchmark's results as the shared report model (load-tests/report/model.ts), the
 * input of the HTML report: one RunReport per server and file, one RatioBar per peer and file.
 */
import type { LatencySummary, RatioBar, Report as ModelReport, RunReport, TimelinePoint, Verdict } from '../report/model.js';
import { LABELS, PEERS, type Report, type RunRecord } from './report.js';
import { fmtFixed, maxOf, median } from './util.js';

const sum = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0);

function socketErrorCount(r: RunRecord): number {
  return r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout;
}

/** Medians over rounds; p999 falls back to the max (an upper bound) where the load generator had none. */
function latency(runs: readonly RunRecord[]): { latency: LatencySummary; p999FromMax: boolean } {
  const p999 = median(runs.map((r) => r.latencyP999Ms));
  const max = maxOf(runs.map((r) => r.latencyMaxMs));
  return {
    latency: {
      mean: median(runs.map((r) => r.latencyMeanMs)),
      p50: median(runs.map((r) => r.latencyP50Ms)),
      p90: median(runs.map((r) => r.latencyP90Ms)),
      p99: median(runs.map((r) => r.latencyP99Ms)),
      p999: Number.isFinite(p999) ? p999 : max,
      max,
    },
    p999FromMax: !Number.isFinite(p999),
  };
}

/** The timeline of the round closest to the median rate: one typical run, not a blend of several. */
function typicalTimeline(runs: readonly RunRecord[], rate: number): readonly TimelinePoint[] {
  let best: RunRecord | undefined;
  for (const r of runs) if (!best || Math.abs(r.reqPerSec - rate) < Math.abs(best.reqPerSec - rate)) best = r;
  return best?.timeline ?? [];
}

function runReports(rep: Report): { runs: RunReport[]; p999FromMax: string[] } {
  const out: RunReport[] = [];
  const p999FromMax: string[] = [];
  for (const row of rep.summary) {
    const runs = rep.runs.filter((r) => r.server === row.server && r.file === row.file);
    const errors = sum(runs.map(socketErrorCount));
    const non2xx3xx = sum(runs.map((r) => r.non2xx3xx));
    const lat = latency(runs);
    const name = `${row.serverLabel} ${row.fileLabel}`;
    if (lat.p999FromMax) p999FromMax.push(name);
    const verdicts: Verdict[] = [
      { check: 'bytes', ok: true, detail: `GET /${row.file} answered 200 with the file's exact length and sha256 before measuring` },
      {
        check: 'errors',
        ok: errors === 0 && non2xx3xx === 0,
        detail: `${non2xx3xx} non-2xx/3xx responses and ${errors} socket errors over ${runs.length} run(s)`,
      },
    ];
    out.push({
      name,
      target: `${row.serverLabel}: GET /${row.file}`,
      achievedRate: row.medianReqPerSec,
      bytesPerSec: median(runs.map((r) => r.bytesPerSec)),
      durationSec: sum(runs.map((r) => r.durationS)),
      requests: sum(runs.map((r) => r.requests)),
      errors,
      non2xx3xx,
      latency: lat.latency,
      timeline: typicalTimeline(runs, row.medianReqPerSec),
      serverRssBytes: Math.round(row.maxRssMiB * 1024 * 1024),
      verdicts,
    });
  }
  return { runs: out, p999FromMax };
}

function ratioBars(rep: Report): RatioBar[] {
  return rep.ratios
    .filter((r) => (r.numerator === 'pi-origin' && PEERS.includes(r.denominator)) || r.numerator === 'pi-origin-rules')
    .map((r) => ({
      label: `${LABELS[r.numerator]} / ${LABELS[r.denominator]}, ${r.fileLabel}`,
      ratio: r.median,
      detail:
        `req/s, median of ${r.perRound.length} per-round ratio(s), range ${fmtFixed(r.min, 2)}–${fmtFixed(r.max, 2)}; ` +
        `server CPU per request ${fmtFixed(r.cpuPerReqMedian, 2)}×`,
    }));
}

/** The bench's Report in the shared model: medians over rounds, the way RESULTS.md shows them. */
export function toModelReport(rep: Report): ModelReport {
  const { runs, p999FromMax } = runReports(rep);
  const e = rep.environment;
  const notes = [
    `Each run entry is one server and file over ${rep.parameters.rounds} interleaved round(s) of ${rep.parameters.durationS} s: ` +
      'rates, bytes/s and latency percentiles are medians over rounds (max is the maximum), requests and durationSec are totals, ' +
      'serverRssBytes is the largest post-run RSS of the server process tree. Every single run is in results.json.',
    ...(p999FromMax.length
      ? [`The load generator reported no p99.9 for ${p999FromMax.join(', ')}: latency.p999 there is the maximum, an upper bound.`]
      : []),
    ...(runs.every((r) => r.timeline.length === 0) ? [`No per-second timeline: ${e.loadgen} reports totals only.`] : []),
    ...rep.notes,
  ];
  return {
    schema: 1,
    kind: 'bench',
    title: rep.parameters.quick ? 'pi-origin peer benchmark (quick smoke run)' : 'pi-origin peer benchmark',
    generated: rep.generatedAt,
    machine: { cpu: e.cpuModel, cores: e.nproc, node: e.node, os: e.kernel },
    command: rep.command.npm ?? rep.command.cli ?? rep.command.node,
    runs,
    ratios: ratioBars(rep),
    notes,
  };
}
