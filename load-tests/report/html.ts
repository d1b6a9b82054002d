/**
 * The HTML report of a gate, bench or soak run: one self-contained document (inline CSS, charts as
 * inline SVG generated here, no script, no external resource of any kind) that opens offline
 * and on a phone. The output depends on the Report alone (no clock, no randomness), so the
 * same run always renders to the same bytes.
 *
 * Every string taken from the Report goes through `esc` (text and attribute values alike):
 * run names, commands and notes come from the command line and may hold `<`, `&` or quotes.
 */
import type { LatencySummary, RatioBar, Report, ResourceSample, RunReport, TimelinePoint, Verdict } from './model.js';
import { escapeHtml as esc } from '../../common/html.js';

/** The `data-chart` value of each chart; stable, tests and readers select on it. */
export const CHART_IDS = ['latency-percentiles', 'latency-over-time', 'rate-over-time', 'ratios'] as const;
/** Charts drawn only for runs that sampled the server (a soak), after the four above. */
export const RESOURCE_CHART_IDS = ['memory-over-time', 'fds-over-time'] as const;
export type ChartId = (typeof CHART_IDS)[number] | (typeof RESOURCE_CHART_IDS)[number];

// ---------------------------------------------------------------------------------------------
// Formatting

const NA = 'n/a';


/** Grouped integer: 12,345. Non-finite (NaN, or null from JSON) is `n/a` everywhere below. */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : NA;
}

/** Milliseconds with three significant figures where it matters: 0.42, 4.20, 42.0, 1,234. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return NA;
  const a = Math.abs(ms);
  if (a < 10) return ms.toFixed(2);
  if (a < 100) return ms.toFixed(1);
  return formatCount(ms);
}

/** Requests per second: 1 decimal below 100 req/s, grouped integer above. */
export function formatRate(n: number): string {
  if (!Number.isFinite(n)) return NA;
  return Math.abs(n) < 100 ? n.toFixed(1) : formatCount(n);
}

/** Bytes per second as MB/s (10^6), like the bench tables. */
export function formatMBps(bytesPerSec: number): string {
  if (!Number.isFinite(bytesPerSec)) return NA;
  const mb = bytesPerSec / 1e6;
  return Math.abs(mb) < 10 ? mb.toFixed(2) : Math.abs(mb) < 100 ? mb.toFixed(1) : formatCount(mb);
}

/** Memory as MiB with one decimal. */
export function formatMiB(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1048576).toFixed(1)} MiB` : NA;
}

export function formatRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : NA;
}

/** Axis tick label: short, no trailing zeros, k/M above 10,000 (120k, 1.5M). */
function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
const trim = (v: number): string => String(Number(v.toPrecision(4)));

/** SVG coordinates: two decimals are far below a pixel and keep the output short and stable. */
const n2 = (v: number): string => String(Math.round(v * 100) / 100);

// ---------------------------------------------------------------------------------------------
// Scales

/** 0 .. a rounded maximum in 1-2-5 steps, about `target` intervals. */
export function linearTicks(max: number, target = 5): number[] {
  const top = Number.isFinite(max) && max > 0 ? max : 1;
  const raw = top / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const count = Math.ceil(top / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

/** 1-2-5 ticks per decade covering [min, max], both > 0; the first and last are whole decades. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  let hi = Math.ceil(Math.log10(max));
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of e === hi ? [1] : [1, 2, 5]) ticks.push(Number((m * 10 ** e).toPrecision(12)));
  }
  return ticks;
}

type Scale = (v: number) => number;
const linear = (d0: number, d1: number, r0: number, r1: number): Scale => (v) => r0 + ((v - d0) / (d1 - d0 || 1)) * (r1 - r0);

// ---------------------------------------------------------------------------------------------
// SVG building blocks

const W = 640;
const H = 300;
const PLOT = { left: 64, right: W - 20, top: 16, bottom: H - 46 } as const;

/** Okabe-Ito, colour-blind safe; series also differ by dash pattern so print and greyscale work. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#882255'] as const;
const DASHES = ['', '6 3', '2 3', '9 3 2 3'] as const;
interface Series {
  readonly colour: string;
  readonly dash: string;
}
const seriesStyle = (i: number): Series => ({
  colour: COLOURS[i % COLOURS.length] as string,
  dash: DASHES[Math.floor(i / COLOURS.length) % DASHES.length] as string,
});
const dashAttr = (dash: string): string => (dash ? ` stroke-dasharray="${dash}"` : '');

function svgOpen(id: ChartId, title: string, desc: string, height: number): string {
  return (
    `<svg data-chart="${id}" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-labelledby="${id}-title ${id}-desc">` +
    `<title id="${id}-title">${esc(title)}</title><desc id="${id}-desc">${esc(desc)}</desc>`
  );
}

/** Horizontal grid lines with labels on the left, plus the rotated axis title. */
function yAxis(ticks: readonly number[], y: Scale, title: string): string {
  const mid = (PLOT.top + PLOT.bottom) / 2;
  const lines = ticks.map(
    (v) =>
      `<line class="grid" x1="${PLOT.left}" x2="${PLOT.right}" y1="${n2(y(v))}" y2="${n2(y(v))}"/>` +
      `<text x="${PLOT.left - 6}" y="${n2(y(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`,
  );
  return `<g class="axis y">${lines.join('')}<text class="axis-title" transform="rotate(-90 14 ${mid})" x="14" y="${mid}" text-anchor="middle">${esc(title)}</text></g>`;
}

/** Bottom axis: ticks at the given positions, and the axis title under them. */
function xAxis(ticks: readonly { at: number; label: string }[], title: string): string {
  const marks = ticks.map(
    ({ at, label }) =>
      `<line x1="${n2(at)}" x2="${n2(at)}" y1="${PLOT.bottom}" y2="${PLOT.bottom + 5}"/>` +
      `<text x="${n2(at)}" y="${PLOT.bottom + 18}" text-anchor="middle">${esc(label)}</text>`,
  );
  return (
    `<g class="axis x"><line x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}"/>${marks.join('')}` +
    `<text class="axis-title" x="${(PLOT.left + PLOT.right) / 2}" y="${H - 6}" text-anchor="middle">${esc(title)}</text></g>`
  );
}

function legend(names: readonly { name: string; style: Series }[]): string {
  const items = names.map(
    ({ name, style }) =>
      `<li><span class="key" style="border-top:3px ${style.dash ? 'dashed' : 'solid'} ${style.colour}"></span>${esc(name)}</li>`,
  );
  return `<ul class="legend">${items.join('')}</ul>`;
}

function figure(id: ChartId, heading: string, body: string): string {
  return `<section class="figure" id="fig-${id}"><h2>${esc(heading)}</h2>${body}</section>`;
}

const noData = (id: ChartId, what: string): string => `<p class="no-data" data-no-data="${id}">No data: ${esc(what)}</p>`;

/** A path through the points, starting a new segment wherever a value is missing. */
function linePath(points: readonly (readonly [number, number] | undefined)[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (!p) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${n2(p[0])} ${n2(p[1])}`;
    pen = true;
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Charts

const PERCENTILES = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
  ['max', 'max'],
] as const satisfies readonly (readonly [keyof LatencySummary, string])[];

/** (a) p50 .. max per run on a log scale: tails span orders of magnitude. */
function latencyPercentilesChart(runs: readonly RunReport[]): string {
  const id = 'latency-percentiles';
  const heading = 'Latency percentiles';
  const values = runs.flatMap((r) => PERCENTILES.map(([k]) => r.latency?.[k])).filter((v) => Number.isFinite(v) && v > 0);
  if (values.length === 0) return figure(id, heading, noData(id, 'no run has latency figures.'));
  const ticks = logTicks(Math.min(...values), Math.max(...values));
  const lo = ticks[0] as number;
  const hi = ticks[ticks.length - 1] as number;
  const y: Scale = (v) => linear(Math.log10(lo), Math.log10(hi), PLOT.bottom, PLOT.top)(Math.log10(Math.max(v, lo)));
  const step = (PLOT.right - PLOT.left) / PERCENTILES.length;
  const x = (i: number): number => PLOT.left + step * (i + 0.5);
  const drawn: { name: string; style: Series }[] = [];
  const series = runs.map((run, i) => {
    const style = seriesStyle(i);
    const pts = PERCENTILES.map(([k, label], j) => {
      const v = run.latency?.[k];
      return Number.isFinite(v) && v > 0 ? { at: [x(j), y(v)] as const, tip: `${run.name} ${label}: ${formatMs(v)} ms` } : undefined;
    });
    if (!pts.some(Boolean)) return '';
    drawn.push({ name: run.name, style });
    const dots = pts.map((p) =>
      p ? `<circle cx="${n2(p.at[0])}" cy="${n2(p.at[1])}" r="3.5" fill="${style.colour}"><title>${esc(p.tip)}</title></circle>` : '',
    );
    return `<g class="series"><path d="${linePath(pts.map((p) => p?.at))}" fill="none" stroke="${style.colour}" stroke-width="2"${dashAttr(style.dash)}><title>${esc(run.name)}</title></path>${dots.join('')}</g>`;
  });
  const svg =
    svgOpen(id, 'Latency percentiles per run (ms, log scale)', `p50, p90, p99, p99.9 and max latency of ${runs.length} run(s), milliseconds on a logarithmic axis.`, H) +
    yAxis(ticks, y, 'latency (ms, log)') +
    xAxis(PERCENTILES.map(([, label], j) => ({ at: x(j), label })), 'percentile') +
    series.join('') +
    '</svg>';
  return figure(id, heading, svg + legend(drawn));
}

interface TimeSeries<P extends { readonly t: number }> {
  readonly name: string;
  readonly style: Series;
  readonly points: readonly P[];
  /** A horizontal reference for this series (the offered rate, a soak's limit), when any. */
  readonly reference?: { readonly value: number; readonly label: string };
  /** A vertical mark (the end of a soak's warm-up), when any. */
  readonly mark?: { readonly t: number; readonly label: string };
}

/** A line per run over seconds since its start; shared by (b), (c) and the resource charts. */
function timeChart<P extends { readonly t: number }>(
  id: ChartId,
  heading: string,
  title: string,
  desc: string,
  yTitle: string,
  series: readonly TimeSeries<P>[],
  value: (p: P) => number | undefined,
  emptyNote: string,
): string {
  const drawn = series.filter((s) => s.points.some((p) => Number.isFinite(p.t) && Number.isFinite(value(p))));
  if (drawn.length === 0) return figure(id, heading, noData(id, emptyNote));
  const ts = drawn.flatMap((s) => s.points.map((p) => p.t)).filter(Number.isFinite);
  const tMax = Math.max(1, ...ts);
  const ys = drawn.flatMap((s) => [...s.points.map(value), s.reference?.value]).filter((v): v is number => Number.isFinite(v));
  const yTicks = linearTicks(Math.max(...ys));
  const y = linear(0, yTicks[yTicks.length - 1] as number, PLOT.bottom, PLOT.top);
  const xTicks = linearTicks(tMax, 6);
  const x = linear(0, xTicks[xTicks.length - 1] as number, PLOT.left, PLOT.right);
  const lines = drawn.map(({ name, style, points, reference, mark }) => {
    const sorted = [...points].filter((p) => Number.isFinite(p.t)).sort((a, b) => a.t - b.t);
    const pts = sorted.map((p) => {
      const v = value(p);
      return Number.isFinite(v) ? ([x(p.t), y(v as number)] as const) : undefined;
    });
    const ref =
      reference !== undefined && Number.isFinite(reference.value)
        ? `<line class="reference" x1="${PLOT.left}" x2="${PLOT.right}" y1="${n2(y(reference.value))}" y2="${n2(y(reference.value))}" stroke="${style.colour}" stroke-dasharray="1 4" stroke-width="1.5"><title>${esc(reference.label)}</title></line>`
        : '';
    const vertical =
      mark !== undefined && Number.isFinite(mark.t)
        ? `<line class="mark" x1="${n2(x(mark.t))}" x2="${n2(x(mark.t))}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="#888" stroke-dasharray="4 3"><title>${esc(mark.label)}</title></line>` +
          `<text class="mark-label" x="${n2(x(mark.t) + 4)}" y="${PLOT.top + 12}">${esc(mark.label)}</text>`
        : '';
    return `<g class="series">${ref}${vertical}<path d="${linePath(pts)}" fill="none" stroke="${style.colour}" stroke-width="2" stroke-linejoin="round"${dashAttr(style.dash)}><title>${esc(name)}</title></path></g>`;
  });
  const svg =
    svgOpen(id, title, desc, H) +
    yAxis(yTicks, y, yTitle) +
    xAxis(xTicks.map((v) => ({ at: x(v), label: formatTick(v) })), 'time since start (s)') +
    lines.join('') +
    '</svg>';
  return figure(id, heading, svg + legend(drawn));
}

function timeSeries(runs: readonly RunReport[], withReference: boolean): TimeSeries<TimelinePoint>[] {
  return runs.map((r, i) => ({
    name: r.name,
    style: seriesStyle(i),
    points: r.timeline ?? [],
    ...(withReference && r.offeredRate !== undefined && Number.isFinite(r.offeredRate) ? { reference: { value: r.offeredRate, label: `${r.name}: offered ${formatRate(r.offeredRate)} req/s` } } : {}),
  }));
}

/** The runs that sampled the server, with their limit (`limit` of the run, in chart units) and warm-up. */
function resourceSeries(runs: readonly RunReport[], limit: (r: RunReport) => { value: number; label: string } | undefined): TimeSeries<ResourceSample>[] {
  return runs.flatMap((r, i) => {
    if (r.resources === undefined || r.resources.length === 0) return [];
    const ref = limit(r);
    const warmUp = r.resourceLimits?.warmUpSec;
    return [
      {
        name: r.name,
        style: seriesStyle(i),
        points: r.resources,
        ...(ref === undefined ? {} : { reference: ref }),
        ...(warmUp === undefined || !(warmUp > 0) ? {} : { mark: { t: warmUp, label: 'warm-up ends' } }),
      },
    ];
  });
}

const MIB = 1048576;

/** Resident memory of the server over a soak, with the limit the verdict allows dotted. */
function memoryOverTimeChart(runs: readonly RunReport[]): string {
  return timeChart(
    'memory-over-time',
    'Server memory over time',
    'Server resident memory (RSS) over time, per run (MiB)',
    'VmRSS of the server process sampled every second, MiB against seconds since the run started. A dotted line marks the most the verdict allows; a dashed one the end of the warm-up.',
    'RSS (MiB)',
    resourceSeries(runs, (r) => (r.resourceLimits === undefined ? undefined : { value: r.resourceLimits.rssBytes / MIB, label: `${r.name}: limit ${formatMiB(r.resourceLimits.rssBytes)}` })),
    (p) => p.rssBytes / MIB,
    'no run sampled the server.',
  );
}

/** Open descriptors of the server over a soak, with the limit dotted. */
function fdsOverTimeChart(runs: readonly RunReport[]): string {
  return timeChart(
    'fds-over-time',
    'Server file descriptors over time',
    'Server open file descriptors over time, per run',
    'Entries of /proc/PID/fd of the server process sampled every second, against seconds since the run started. A dotted line marks the most the verdict allows; a dashed one the end of the warm-up.',
    'open fds',
    resourceSeries(runs, (r) => (r.resourceLimits === undefined ? undefined : { value: r.resourceLimits.fds, label: `${r.name}: limit ${formatCount(r.resourceLimits.fds)} fds` })),
    (p) => p.fds,
    'no run sampled the server.',
  );
}

/** (b) p99 of each second, for the runs that recorded it. */
function latencyOverTimeChart(runs: readonly RunReport[]): string {
  return timeChart(
    'latency-over-time',
    'Latency over time',
    'p99 latency per second, per run (ms)',
    'p99 latency of each second of each run, milliseconds against seconds since the run started.',
    'p99 latency (ms)',
    timeSeries(runs, false),
    (p) => p.p99,
    'no run recorded a per-second p99.',
  );
}

/** (c) Completed responses per second; a dotted line marks the offered rate of fixed-rate runs. */
function rateOverTimeChart(runs: readonly RunReport[]): string {
  const fixed = runs.some((r) => Number.isFinite(r.offeredRate));
  return timeChart(
    'rate-over-time',
    'Throughput over time',
    'Requests per second over time, per run',
    `Responses completed in each second of each run.${fixed ? ' Dotted lines mark the offered rate.' : ''}`,
    'req/s',
    timeSeries(runs, true),
    (p) => p.requests,
    'no run recorded a timeline.',
  );
}

/** (d) Horizontal bars with the 1.0 line; labels sit above their bar so long ones fit on a phone. */
function ratiosChart(ratios: readonly RatioBar[]): string {
  const id = 'ratios';
  const heading = 'Ratios';
  if (ratios.length === 0) return figure(id, heading, noData(id, 'this run compares nothing.'));
  const row = 40;
  const top = 28;
  const height = top + ratios.length * row + 34;
  const left = 12;
  const right = W - 64;
  const finite = ratios.map((r) => r.ratio).filter((v) => Number.isFinite(v));
  const ticks = linearTicks(Math.max(1, ...finite), 5);
  const x = linear(0, ticks[ticks.length - 1] as number, left, right);
  const axisY = top + ratios.length * row;
  const grid = ticks.map(
    (v) =>
      `<line class="grid" x1="${n2(x(v))}" x2="${n2(x(v))}" y1="${top - 6}" y2="${axisY}"/>` +
      `<text x="${n2(x(v))}" y="${axisY + 16}" text-anchor="middle">${formatTick(v)}×</text>`,
  );
  const bars = ratios.map((b, i) => {
    const yTop = top + i * row;
    const ok = Number.isFinite(b.ratio);
    const w = ok ? x(Math.max(0, b.ratio)) - left : 0;
    const tip = esc(`${b.label}: ${formatRatio(b.ratio)}${b.detail ? ` (${b.detail})` : ''}`);
    return (
      `<g class="ratio"><text class="bar-label" x="${left}" y="${yTop + 10}">${esc(b.label)}</text>` +
      (ok ? `<rect class="bar" x="${left}" y="${yTop + 15}" width="${n2(w)}" height="18" fill="${COLOURS[0]}"><title>${tip}</title></rect>` : '') +
      `<text class="bar-value" x="${n2(left + w + 6)}" y="${yTop + 28}">${formatRatio(b.ratio)}</text></g>`
    );
  });
  const ref =
    `<line class="ref" x1="${n2(x(1))}" x2="${n2(x(1))}" y1="${top - 14}" y2="${axisY}" stroke-dasharray="5 3"/>` +
    `<text class="ref-label" x="${n2(x(1))}" y="${top - 16}" text-anchor="middle">1.0×</text>`;
  const svg =
    svgOpen(id, 'Ratios (1.0 = parity)', `${ratios.length} ratio(s) as horizontal bars; the dashed line marks 1.0.`, height) +
    `<g class="axis x">${grid.join('')}<line x1="${left}" x2="${right}" y1="${axisY}" y2="${axisY}"/></g>` +
    bars.join('') +
    ref +
    '</svg>';
  const rows = ratios.map((b) => `<tr><td>${esc(b.label)}</td><td class="num">${formatRatio(b.ratio)}</td><td>${esc(b.detail ?? '')}</td></tr>`);
  const table = `<div class="scroll"><table class="ratios"><thead><tr><th>comparison</th><th>ratio</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  return figure(id, heading, svg + table);
}

// ---------------------------------------------------------------------------------------------
// Tables and header

const num = (s: string, bad = false): string => `<td class="num${bad ? ' bad' : ''}">${s}</td>`;

/** (e) One row per run. */
function runsTable(runs: readonly RunReport[]): string {
  if (runs.length === 0) return '<p class="no-data" data-no-data="runs">No runs.</p>';
  const head = ['run', 'target', 'offered req/s', 'achieved req/s', 'MB/s', 'duration (s)', 'requests', 'errors', 'non-2xx/3xx']
    .concat(['p50', 'p90', 'p99', 'p99.9', 'max', 'mean'].map((p) => `${p} (ms)`), ['server RSS'])
    .map((h) => `<th>${h}</th>`)
    .join('');
  const rows = runs.map((r) => {
    const l: Partial<LatencySummary> = r.latency ?? {};
    const ms = (v: number | undefined): string => num(formatMs(v ?? Number.NaN));
    return (
      `<tr><th scope="row">${esc(r.name)}</th><td>${esc(r.target)}</td>` +
      num(r.offeredRate === undefined ? '–' : formatRate(r.offeredRate)) +
      num(formatRate(r.achievedRate)) +
      num(formatMBps(r.bytesPerSec)) +
      num(Number.isFinite(r.durationSec) ? r.durationSec.toFixed(1) : NA) +
      num(formatCount(r.requests)) +
      num(formatCount(r.errors), r.errors > 0) +
      num(formatCount(r.non2xx3xx), r.non2xx3xx > 0) +
      ms(l.p50) + ms(l.p90) + ms(l.p99) + ms(l.p999) + ms(l.max) + ms(l.mean) +
      num(r.serverRssBytes === undefined ? '–' : formatMiB(r.serverRssBytes)) +
      '</tr>'
    );
  });
  return `<div class="scroll"><table class="runs"><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

const verdictCell = (v: Verdict): string =>
  v.ok ? '<td class="verdict pass" data-verdict="pass">✓ PASS</td>' : '<td class="verdict fail" data-verdict="fail">✗ FAIL</td>';

function verdictsTable(runs: readonly RunReport[]): string {
  const rows = runs.flatMap((r) =>
    (r.verdicts ?? []).map((v) => `<tr><td>${esc(r.name)}</td><td>${esc(v.check)}</td>${verdictCell(v)}<td>${esc(v.detail)}</td></tr>`),
  );
  if (rows.length === 0) return '';
  return (
    '<section id="verdicts"><h2>Checks</h2><div class="scroll"><table class="verdicts"><thead><tr><th>run</th><th>check</th><th>result</th><th>detail</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table></div></section>`
  );
}

/** The gate's overall result, in words and a symbol as well as in colour. */
function banner(report: Report): string {
  if (report.passed === undefined) return '';
  const all = report.runs.flatMap((r) => r.verdicts ?? []);
  const failed = all.filter((v) => !v.ok).length;
  const counts = all.length ? ` (${failed} of ${all.length} checks failed)` : '';
  return report.passed
    ? `<p class="banner pass" data-verdict="pass">✓ PASSED${all.length ? ` (all ${all.length} checks passed)` : ''}</p>`
    : `<p class="banner fail" data-verdict="fail">✗ FAILED${counts}</p>`;
}

function header(report: Report): string {
  const m = report.machine;
  const notes = report.notes.length ? `<h2>Notes</h2><ul class="notes">${report.notes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>` : '';
  return (
    `<header><h1>${esc(report.title)}</h1>${banner(report)}<dl class="meta">` +
    `<dt>kind</dt><dd>${esc(report.kind)}</dd>` +
    `<dt>generated</dt><dd><time datetime="${esc(report.generated)}">${esc(report.generated)}</time></dd>` +
    `<dt>machine</dt><dd>${esc(`${m.cpu}, ${m.cores} cores, ${m.os}, Node ${m.node}`)}</dd>` +
    `<dt>command</dt><dd><pre><code>${esc(report.command)}</code></pre></dd></dl>${notes}</header>`
  );
}

const CSS = `
:root{color-scheme:light;--fg:#1a1a1a;--muted:#5f6368;--line:#d0d4d9;--pass:#0b6b2f;--pass-bg:#e3f4e8;--fail:#a50e0e;--fail-bg:#fde7e7}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:12px 16px 40px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.5em 0}dt{color:var(--muted)}dd{margin:0;min-width:0}
pre{margin:0;white-space:pre-wrap;word-break:break-all;font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f4f5f7;padding:6px 8px;border-radius:4px}
.banner{display:inline-block;font-weight:700;font-size:1.1em;padding:4px 12px;border-radius:4px;border:2px solid}
.pass{color:var(--pass);background:var(--pass-bg)}.fail{color:var(--fail);background:var(--fail-bg)}
.verdict{font-weight:700;white-space:nowrap}.bad{color:var(--fail);font-weight:700}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:.4em 0}th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--muted);white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.figure svg{display:block;width:100%;max-width:880px;height:auto;font:12px system-ui,sans-serif;overflow:visible}
svg text{fill:var(--fg)}svg .axis-title{fill:var(--muted)}svg .grid{stroke:#e6e8eb}svg .axis line{stroke:#888}
svg .ref{stroke:var(--fail);stroke-width:2}svg .mark-label{fill:var(--muted)}svg .ref-label{fill:var(--fail)}svg .bar-value,svg .ref-label{font-weight:700;paint-order:stroke;stroke:#fff;stroke-width:3px}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}.key{display:inline-block;width:24px;margin-right:6px;vertical-align:middle}
.no-data{color:var(--muted);font-style:italic}
@media (max-width:600px){body{padding:8px;font-size:14px}.figure svg{font-size:17px}}
`;

/**
 * Render a Report as one self-contained HTML document: header (title, time, machine, command,
 * notes, gate or soak verdict), the four charts, memory and descriptors over time for runs that
 * sampled the server (each an `<svg data-chart=...>` with a `<title>`, or a
 * "no data" note), the per-run table and the verdicts. No script and no external resource;
 * a Content-Security-Policy of `default-src 'none'` makes the browser enforce that.
 */
export function renderHtmlReport(report: Report): string {
  const runs = report.runs ?? [];
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${esc(report.title)}</title><style>${CSS}</style></head>\n<body>` +
    header(report) +
    '<main>' +
    latencyPercentilesChart(runs) +
    latencyOverTimeChart(runs) +
    rateOverTimeChart(runs) +
    // A soak compares nothing: no empty ratios section.
    (report.kind === 'soak' && (report.ratios ?? []).length === 0 ? '' : ratiosChart(report.ratios ?? [])) +
    (runs.some((r) => (r.resources?.length ?? 0) > 0) ? memoryOverTimeChart(runs) + fdsOverTimeChart(runs) : '') +
    `<section id="runs"><h2>Runs</h2>${runsTable(runs)}</section>` +
    verdictsTable(runs) +
    '</main></body></html>\n'
  );
}
