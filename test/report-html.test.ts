/**
 * Unit tests for the HTML report (load-tests/report/html.ts) and its writer: escaping, no
 * external resources, the four charts, number formatting, empty data, determinism.
 * Imported from the sources; the Chromium test renders the same fixtures in a real browser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  CHART_IDS,
  formatCount,
  formatMBps,
  formatMiB,
  formatMs,
  formatRate,
  formatRatio,
  linearTicks,
  logTicks,
  renderHtmlReport,
} from '../load-tests/report/html.js';
import type { Report, RunReport } from '../load-tests/report/model.js';
import { writeReport } from '../load-tests/report/write.js';
import { benchReport, gateReport } from './helpers/report-fixture.js';

/** Every element the renderer emits; anything else in the output was injected. */
const ALLOWED_TAGS = new Set(
  'html head meta title style body header h1 h2 p dl dt dd pre code time ul li span main section div table thead tbody tr th td svg desc g line text path circle rect'.split(' '),
);
const ALLOWED_ATTRIBUTES = new Set(
  'lang charset http-equiv content name class id datetime scope style data-chart data-no-data data-verdict viewBox width height role aria-labelledby x y x1 x2 y1 y2 cx cy r d fill stroke stroke-width stroke-dasharray stroke-linejoin text-anchor transform'.split(' '),
);
/** Attribute names of every start tag (quoted values blanked, so their content cannot pose as one). */
const attributesOf = (html: string): Set<string> =>
  new Set([...html.matchAll(/<[a-zA-Z][^>]*>/g)].flatMap((m) => [...m[0].replace(/"[^"]*"/g, '""').matchAll(/\s([\w:-]+)=/g)].map((a) => a[1] as string)));
const tagsOf = (html: string): Set<string> => new Set([...html.matchAll(/<([a-zA-Z][\w-]*)/g)].map((m) => (m[1] as string).toLowerCase()));
const chartSvg = (html: string, id: string): string | undefined => new RegExp(`<svg data-chart="${id}"[^>]*>.*?</svg>`, 's').exec(html)?.[0];

const EVIL = `<script>alert(1)</script>`;

function hostileReport(): Report {
  const base = gateReport();
  const run = base.runs[0] as RunReport;
  return {
    ...base,
    title: `Gate <b>bold</b> & "quoted" 'single'`,
    command: `node gate.js --name '<img src=x onerror=alert(1)>' --slo "p99<50ms" && echo done`,
    notes: [`note ${EVIL}`, 'a & b < c > d'],
    machine: { ...base.machine, cpu: `<iframe src="https://evil.example/">` },
    runs: [
      { ...run, name: EVIL, target: 'http://[::1]:8080/?a=1&b=<2>', verdicts: [{ check: `<style>body{display:none}</style>`, ok: false, detail: `"><svg onload=alert(1)>` }] },
      ...base.runs.slice(1),
    ],
    ratios: [{ label: `${EVIL} / raw`, ratio: 0.9, detail: `</title><script>x</script>` }],
  };
}

t.test('every string from the report is escaped, never markup', (t) => {
  const html = renderHtmlReport(hostileReport());
  t.notMatch(html, /<script/i, 'no script element');
  t.same([...tagsOf(html)].filter((tag) => !ALLOWED_TAGS.has(tag)), [], 'only the renderer\'s own elements');
  t.same([...attributesOf(html)].filter((a) => !ALLOWED_ATTRIBUTES.has(a)), [], 'only the renderer\'s own attributes (no onerror=, onload=)');
  t.match(html, '&lt;script&gt;alert(1)&lt;/script&gt;', 'the run name is shown, escaped');
  t.match(html, '<h1>Gate &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; &#39;single&#39;</h1>');
  t.match(html, '<title>Gate &lt;b&gt;bold&lt;/b&gt; &amp;', 'document title escaped');
  t.match(html, `--slo &quot;p99&lt;50ms&quot; &amp;&amp; echo done</code></pre>`, 'the command, exactly, escaped');
  t.match(html, '<li>a &amp; b &lt; c &gt; d</li>');
  t.match(html, '&quot;&gt;&lt;svg onload=alert(1)&gt;', 'verdict detail escaped');
  t.match(html, '<title>&lt;script&gt;alert(1)&lt;/script&gt; / raw: 0.90× (&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;)</title>', 'SVG titles escaped too');
  t.end();
});

t.test('no external resource and no URL at all outside escaped report text', (t) => {
  for (const report of [gateReport(), benchReport()]) {
    const html = renderHtmlReport(report);
    const ownText = html.replaceAll(report.command, '').replace(/http:\/\/\[[^\]]+\]:\d+[^<"]*/g, '');
    t.notMatch(ownText, /https?:\/\//i, `${report.kind}: no URL besides the run targets`);
    t.notMatch(html, /\b(src|href|xlink:href|srcset|action|poster)\s*=/i, `${report.kind}: no resource attribute`);
    t.notMatch(html, /url\(|@import|@font-face|<link|<script|<img|<iframe|<object|<embed/i, `${report.kind}: no CSS or element that loads`);
    t.match(html, `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    t.notMatch(html, /NaN|Infinity|undefined/, `${report.kind}: no broken numbers`);
  }
  t.end();
});

t.test('each chart is an svg with its data-chart attribute, a title and axes', (t) => {
  const gate = renderHtmlReport(gateReport());
  const bench = renderHtmlReport(benchReport());
  const cases: [string, string, string][] = [
    [gate, 'latency-percentiles', 'Latency percentiles per run (ms, log scale)'],
    [gate, 'latency-over-time', 'p99 latency per second, per run (ms)'],
    [gate, 'rate-over-time', 'Requests per second over time, per run'],
    [bench, 'ratios', 'Ratios (1.0 = parity)'],
  ];
  t.same(cases.map((c) => c[1]), [...CHART_IDS]);
  for (const [html, id, title] of cases) {
    const svg = chartSvg(html, id);
    t.ok(svg, `${id} present`);
    t.equal(html.split(`data-chart="${id}"`).length - 1, 1, `${id} once`);
    t.match(svg, new RegExp(`^<svg data-chart="${id}" viewBox="0 0 640 \\d+" width="100%" role="img" aria-labelledby="${id}-title ${id}-desc"><title id="${id}-title">`));
    t.match(svg, `>${title}</title>`);
    t.match(svg, /<(path|rect|circle)\b/, `${id} draws something`);
  }
  const perc = chartSvg(gate, 'latency-percentiles') ?? '';
  for (const label of ['p50', 'p90', 'p99', 'p99.9', 'max', 'latency (ms, log)', 'percentile']) t.match(perc, `>${label}</text>`, `percentile axis: ${label}`);
  t.equal(perc.match(/<circle /g)?.length, 4 * 5, 'a marker per run and percentile');
  t.match(chartSvg(gate, 'rate-over-time'), '>time since start (s)</text>');
  t.match(chartSvg(gate, 'rate-over-time'), '>req/s</text>');
  t.equal(chartSvg(gate, 'rate-over-time')?.match(/class="reference"/g)?.length, 4, 'offered rate marked per fixed-rate run');
  t.notMatch(chartSvg(bench, 'rate-over-time'), 'class="reference"', 'no offered rate, no reference line');
  for (const id of ['latency-over-time', 'rate-over-time']) t.equal(chartSvg(gate, id)?.match(/<path /g)?.length, 4, `${id}: a line per run`);
  t.end();
});

t.test('ratio bars are proportional to the ratios and the 1.0 line sits where a 1.0 bar ends', (t) => {
  const report = benchReport();
  const svg = chartSvg(renderHtmlReport(report), 'ratios') ?? '';
  const bars = [...svg.matchAll(/<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), w: Number(m[2]) }));
  t.equal(bars.length, report.ratios.length);
  const perUnit = (bars[0]?.w ?? 0) / (report.ratios[0]?.ratio ?? 1);
  bars.forEach((b, i) => t.ok(Math.abs(b.w / (report.ratios[i]?.ratio ?? 0) - perUnit) < 0.05, `bar ${i} width ∝ ratio`));
  const ref = /<line class="ref" x1="([\d.]+)"/.exec(svg);
  t.ok(ref && Math.abs(Number(ref[1]) - ((bars[0]?.x ?? 0) + perUnit)) < 0.05, '1.0 line at x0 + 1.0 × scale');
  for (const v of ['0.98×', '0.65×', '1.10×']) t.match(svg, `>${v}</text>`);
  t.match(renderHtmlReport(report), '<td>pi-origin / nginx, 200 KB</td><td class="num">0.65×</td><td>nginx uses sendfile; wrk at 100 % CPU</td>', 'ratio table');
  t.end();
});

t.test('number formatting', (t) => {
  t.equal(formatMs(0.4213), '0.42');
  t.equal(formatMs(6.4), '6.40');
  t.equal(formatMs(73.24), '73.2');
  t.equal(formatMs(1234.5), '1,235');
  t.equal(formatMs(Number.NaN), 'n/a');
  t.equal(formatMs(null as unknown as number), 'n/a', 'null, as NaN comes back from JSON');
  t.equal(formatRate(7412.3), '7,412');
  t.equal(formatRate(12.34), '12.3');
  t.equal(formatCount(444_720), '444,720');
  t.equal(formatMBps(46_300_000), '46.3');
  t.equal(formatMBps(1_234_000), '1.23');
  t.equal(formatMBps(1_799_953_440), '1,800');
  t.equal(formatMiB(50_331_648), '48.0 MiB');
  t.equal(formatRatio(1.1), '1.10×');
  t.equal(formatRatio(Number.NaN), 'n/a');
  t.same(linearTicks(73.2), [0, 20, 40, 60, 80]);
  t.same(linearTicks(1.1), [0, 0.5, 1, 1.5]);
  t.same(linearTicks(0.3), [0, 0.1, 0.2, 0.3], 'no floating-point dust');
  t.same(linearTicks(0), [0, 0.2, 0.4, 0.6, 0.8, 1], 'an all-zero series still gets an axis');
  t.same(logTicks(0.42, 180), [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]);
  t.same(logTicks(10, 10), [10, 20, 50, 100], 'one value still spans a decade');

  const html = renderHtmlReport(gateReport());
  const launch = /<tr><th scope="row">launch-day<\/th>.*?<\/tr>/.exec(html)?.[0] ?? '';
  const cells = [...launch.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
  t.same(cells, ['http://[2001:db8:10::11]:8080', '8,000', '7,412', '105', '60.0', '444,738', '0', '37', '4.20', '31.0', '73.2', '243', '413', '5.04', '70.0 MiB']);
  t.match(launch, '<td class="num bad">37</td>', 'non-2xx/3xx flagged');
  t.match(chartSvg(renderHtmlReport(benchReport()), 'rate-over-time'), '>50k</text>', 'compact tick labels');
  t.end();
});

t.test('gate verdicts: pass and fail in words, symbols and colour classes', (t) => {
  const html = renderHtmlReport(gateReport());
  t.match(html, '<p class="banner fail" data-verdict="fail">✗ FAILED (2 of 8 checks failed)</p>');
  t.match(html, '<tr><td>launch-day</td><td>p99 ≤ 50 ms</td><td class="verdict fail" data-verdict="fail">✗ FAIL</td><td>p99 73.2 ms &gt; 50 ms</td></tr>');
  t.match(html, '<tr><td>steady</td><td>p99 ≤ 50 ms</td><td class="verdict pass" data-verdict="pass">✓ PASS</td>');
  const passing: Report = { ...gateReport(), passed: true, runs: gateReport().runs.map((r) => ({ ...r, verdicts: r.verdicts?.map((v) => ({ ...v, ok: true })) })) };
  t.match(renderHtmlReport(passing), '<p class="banner pass" data-verdict="pass">✓ PASSED (all 8 checks passed)</p>');
  const bench = renderHtmlReport(benchReport());
  t.notMatch(bench, 'class="banner', 'a bench has no gate verdict');
  t.notMatch(bench, 'id="verdicts"', 'and no checks table when no run has verdicts');
  t.end();
});

t.test('empty data: a short note instead of a broken chart', (t) => {
  const empty: Report = { ...benchReport(), runs: [], ratios: [], notes: [] };
  const html = renderHtmlReport(empty);
  t.notMatch(html, '<svg', 'no chart at all');
  for (const id of CHART_IDS) t.match(html, new RegExp(`<p class="no-data" data-no-data="${id}">No data: [^<]+</p>`), `${id}: note`);
  t.match(html, '<p class="no-data" data-no-data="runs">No runs.</p>');
  t.notMatch(html, '<h2>Notes</h2>');

  const bench = renderHtmlReport(benchReport());
  t.match(bench, 'data-no-data="latency-over-time"', 'wrk runs have no per-second p99');
  t.ok(chartSvg(bench, 'rate-over-time'), 'but do have a rate timeline');
  t.match(renderHtmlReport(gateReport()), 'data-no-data="ratios"', 'a gate compares nothing');

  // What comes back from JSON when a ratio or figure was NaN: null.
  const holes = JSON.parse(JSON.stringify({ ...benchReport(), ratios: [{ label: 'broken', ratio: Number.NaN }, { label: 'fine', ratio: 1.5 }] })) as Report;
  const runs = holes.runs as RunReport[];
  runs[0] = { ...(runs[0] as RunReport), latency: { mean: 0, p50: 0, p90: 0, p99: Number.NaN, p999: 0, max: 0 }, timeline: [] };
  const out = renderHtmlReport(JSON.parse(JSON.stringify({ ...holes, runs })) as Report);
  t.notMatch(out, /NaN|undefined|Infinity/);
  t.equal(chartSvg(out, 'ratios')?.match(/<rect class="bar"/g)?.length, 1, 'no bar for a missing ratio');
  t.match(chartSvg(out, 'ratios'), '>n/a</text>', 'but its label and n/a');
  t.equal(chartSvg(out, 'latency-percentiles')?.match(/<circle /g)?.length, 5 * 5, 'a run without latency draws no markers');
  t.match(out, /<th scope="row">pi-origin 1KB<\/th>.*?<td class="num">n\/a<\/td>/, 'n/a in the table');
  t.end();
});

t.test('deterministic: same report, same bytes; JSON round trip changes nothing', (t) => {
  const a = renderHtmlReport(gateReport());
  t.equal(renderHtmlReport(gateReport()), a);
  t.equal(renderHtmlReport(JSON.parse(JSON.stringify(gateReport())) as Report), a);
  t.match(a, '<time datetime="2026-03-14T09:26:53.000Z">2026-03-14T09:26:53.000Z</time>', 'the report\'s time, not the clock');
  t.match(a, /^<!doctype html>\n<html lang="en"><head><meta charset="utf-8">/);
  t.end();
});

t.test('writeReport writes both files atomically into a new directory', (t) => {
  const dir = join(t.testdir(), 'out', 'nested');
  const report = gateReport();
  const paths = writeReport(report, dir, 'gate-2026-03-14');
  t.same(paths, { html: join(dir, 'gate-2026-03-14.html'), json: join(dir, 'gate-2026-03-14.json') });
  t.equal(readFileSync(paths.html, 'utf8'), renderHtmlReport(report));
  t.equal(readFileSync(paths.json, 'utf8'), JSON.stringify(report, null, 2) + '\n');
  t.same(JSON.parse(readFileSync(paths.json, 'utf8')), report);
  writeReport(benchReport(), dir, 'gate-2026-03-14');
  t.match(readFileSync(paths.html, 'utf8'), '<h1>Peers: pi-origin vs raw uWS vs nginx</h1>', 'replaced in place');
  t.same(readdirSync(dir).sort(), ['gate-2026-03-14.html', 'gate-2026-03-14.json'], 'no temp files left');
  for (const bad of ['', '../x', 'a/b', '..']) {
    t.throws(() => writeReport(report, dir, bad), { name: 'TypeError', message: /report basename must be a plain file name/ }, JSON.stringify(bad));
  }
  t.end();
});
