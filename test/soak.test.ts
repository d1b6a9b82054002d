/**
 * `pi-origin soak`: the growth verdict on its own, flag errors, then two real soaks: pi-origin
 * started by the soak passes and writes its report; a server that keeps memory and a file
 * descriptor per request (this test process, sampled through --pid) fails, naming both growths.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { SOAK_FLAGS } from '../dist/cli/soak.js';
import { renderHtmlReport } from '../dist/load-tests/report/html.js';
import type { Report, ResourceSample } from '../dist/load-tests/report/model.js';
import { growthOf, resourceVerdicts } from '../dist/load-tests/soak/verdicts.js';
import { runCli } from './helpers/cli.js';

const MiB = 1048576;
const DEMO = new URL('../dist/demo-releases/current', import.meta.url).pathname;

/** One sample a second for `n` seconds; `rss(t)` in MiB. */
const samples = (n: number, rss: (t: number) => number, fds: (t: number) => number = () => 40): ResourceSample[] =>
  Array.from({ length: n }, (_, t) => ({ t, rssBytes: Math.round(rss(t) * MiB), fds: fds(t) }));

t.test('growth: medians of the first and last fifth after warm-up', (t) => {
  // 10 s warm-up, then 50 samples: windows of 10 (t = 10-19 and 50-59).
  const flat = samples(60, (s) => (s < 10 ? 40 + s : 70) + (s % 7 === 0 ? 9 : 0));
  t.same(growthOf(flat, 10, (s) => s.rssBytes / MiB), { baseline: 70, final: 70, growth: 0, first: [10, 19], last: [50, 59] }, 'warm-up climb and GC spikes decide nothing');
  const leak = samples(60, (s) => 70 + s * 0.5);
  t.same(growthOf(leak, 10, (s) => s.rssBytes / MiB)?.growth, 20, 'a steady leak: the distance between the two window middles');
  t.equal(growthOf(samples(11, () => 1), 10, (s) => s.rssBytes), undefined, 'one sample after warm-up is not enough');

  const allowance = { warmUpSec: 10, maxRssGrowthBytes: 16 * MiB, maxFdGrowth: 16 };
  const ok = resourceVerdicts(flat, allowance, undefined);
  t.same(ok.verdicts.map((v) => [v.check, v.ok]), [['rss growth', true], ['fd growth', true]]);
  t.same(ok.limits, { warmUpSec: 10, rssBytes: 86 * MiB, fds: 56 }, 'limits to draw: baseline plus allowance');
  const bad = resourceVerdicts(samples(60, (s) => 70 + s * 0.5, (s) => 40 + s), allowance, 42.5);
  t.same(bad.verdicts, [
    { check: 'server', ok: false, detail: 'the server process was gone at 42.5 s' },
    { check: 'rss growth', ok: false, detail: 'RSS +20.0 MiB: 77.3 MiB after warm-up (median, 10-19 s), 97.3 MiB at the end (median, 50-59 s); more than --max-rss-growth 16.0 MiB' },
    { check: 'fd growth', ok: false, detail: 'open fds +40: 55 after warm-up (median, 10-19 s), 95 at the end (median, 50-59 s); more than --max-fd-growth 16' },
  ]);
  t.same(resourceVerdicts(samples(3, () => 70), allowance, 2).verdicts.map((v) => v.check), ['server', 'samples'], 'too few samples is a failure, not a pass');
  t.end();
});

t.test('the report draws memory and descriptors for a soak only', (t) => {
  const resources = samples(30, (s) => 70 + s * 0.1, (s) => 40 + (s > 20 ? 2 : 0));
  const soak: Report = {
    schema: 1,
    kind: 'soak',
    title: 'soak',
    generated: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'x', cores: 2, node: 'v20', os: 'Linux' },
    command: 'pi-origin soak',
    passed: true,
    runs: [
      {
        name: '<b>mixed</b>',
        target: 'http://[::1]:1',
        offeredRate: 100,
        achievedRate: 100,
        bytesPerSec: 1,
        durationSec: 30,
        requests: 3000,
        errors: 0,
        non2xx3xx: 0,
        latency: { mean: 1, p50: 1, p90: 1, p99: 2, p999: 3, max: 4 },
        timeline: Array.from({ length: 30 }, (_, t) => ({ t, requests: 100, p99: 2 })),
        resources,
        resourceLimits: { warmUpSec: 6, rssBytes: 88 * MiB, fds: 56 },
      },
    ],
    ratios: [],
    notes: [],
  };
  const html = renderHtmlReport(soak);
  const chart = (id: string): string => new RegExp(`<svg data-chart="${id}"[^>]*>.*?</svg>`, 's').exec(html)?.[0] ?? '';
  t.match(chart('memory-over-time'), '>Server resident memory (RSS) over time, per run (MiB)</title>');
  t.match(chart('memory-over-time'), '<title>&lt;b&gt;mixed&lt;/b&gt;: limit 88.0 MiB</title>', 'the limit, named and escaped');
  t.match(chart('fds-over-time'), '<title>&lt;b&gt;mixed&lt;/b&gt;: limit 56 fds</title>');
  for (const id of ['memory-over-time', 'fds-over-time']) {
    t.equal(chart(id).match(/<path /g)?.length, 1, `${id}: one line`);
    t.match(chart(id), '>warm-up ends</text>', `${id}: the warm-up marked`);
  }
  t.notMatch(html, '<b>', 'names escaped');
  t.notMatch(html, 'data-chart="ratios"', 'a soak compares nothing, and says nothing about it');
  const gate: Report = { ...soak, kind: 'gate', runs: soak.runs.map(({ resources: _r, resourceLimits: _l, ...run }) => run) };
  t.notMatch(renderHtmlReport(gate), /memory-over-time|fds-over-time/, 'no resource charts without samples');
  t.end();
});

t.test('--help documents every flag; bad flags are refused, named, exit 2', async (t) => {
  const help = await runCli(['soak', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: pi-origin soak /);
  for (const flag of Object.keys(SOAK_FLAGS)) t.match(help.stdout, new RegExp(`^  --${flag}\\b`, 'm'), `--${flag} documented`);
  t.match((await runCli(['--help'])).stdout, /^ {2}soak +\S/m, 'listed among the commands');
  const see = ' (see pi-origin soak --help)\n';
  const cases: [string[], string][] = [
    [['--duration', '2s'], '--duration must be a duration from 10s to 24h, like 30m or 2h (got "2s")'],
    [['--duration', 'forever'], '--duration must be a duration from 10s to 24h, like 30m or 2h (got "forever")'],
    [['--duration', '25h'], '--duration must be a duration from 10s to 24h, like 30m or 2h (got "25h")'],
    [['--duration', '30s', '--warm-up', '28s'], '--warm-up (28s) must leave at least 5s of --duration (30s) to compare'],
    [['--rate', '0'], '--rate must be an integer from 1 to 100000 (got "0")'],
    [['--rate', '10', '--connections', '20'], '--connections (20) must not exceed --rate (10): each connection sends at least one request a second'],
    [['--scenario', 'cold-start'], '--scenario must be one of mixed, launch-day, package-index, revalidate (got "cold-start")'],
    [['--max-rss-growth', 'lots'], '--max-rss-growth must be a size like 16MiB or 64MB (got "lots")'],
    [['--max-fd-growth=-1'], '--max-fd-growth must be an integer from 0 to 1000000 (got "-1")'],
    [['--pid', '1'], '--pid needs --target: without it the soak samples the server it starts'],
    [['--target', 'http://[::1]:1/x'], '--target must be an origin with no path, query or user (got http://[::1]:1/x)'],
    [['--target', 'http://[::1]:1/', '--workers', '4'], '--workers applies to the server the soak starts, not to --target'],
    [['--target', 'http://[::1]:1/', '--pid', '4194303'], '--pid 4194303: no process 4194303 on this machine (the pid must be the server\'s, on the machine running the soak)'],
    [['--frobnicate'], 'unknown option --frobnicate'],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(['soak', ...args], {}, 30_000)));
  cases.forEach(([args, message], i) => {
    const r = results[i];
    t.equal(r?.code, 2, args.join(' '));
    t.equal(r?.stderr, `pi-origin soak: ${message}${see}`, `${args.join(' ')}: one line naming the flag`);
  });
});

t.test('a short soak of pi-origin passes and writes its report', async (t) => {
  const out = t.testdir({});
  // Under tap the server carries coverage hooks too: about 130 MiB after warm-up, falling as V8
  // gives start-up memory back (72 MiB without them, flat within a megabyte over 30 minutes).
  const r = await runCli(['soak', '--duration', '20s', '--rate', '200', '--connections', '8', '--out', out], {}, 60_000);
  t.equal(r.code, 0, 'exit 0');
  t.comment(r.stdout);
  t.match(r.stdout, /^pi-origin soak: mixed at 200 req\/s for 20s: PASS$/m);
  for (const check of ['errors', 'non-2xx/3xx', 'rss growth', 'fd growth']) t.match(r.stdout, new RegExp(`^${check.replace('/', '\\/')} +ok +\\S`, 'm'), `${check} ok`);
  t.match(r.stderr, /^soak {2}10s\/20s {2}\d+ req\/s {2}[\d,]+ responses {2}RSS [\d.]+ MiB \([+-][\d.]+ MiB\) {2}fds \d+ \([+-]?\d+\)$/m, 'a progress line every 10 s when not on a terminal');
  const report = JSON.parse(readFileSync(join(out, 'soak-latest.json'), 'utf8')) as Report;
  t.equal(report.kind, 'soak');
  t.equal(report.passed, true);
  const soak = report.runs[0];
  t.equal(soak?.name, 'mixed');
  // A busy machine may keep autocannon from sending all 4,000; what it sent was answered.
  t.ok((soak?.requests ?? 0) >= 3600, `most of 200/s for 20 s sent and answered (${soak?.requests})`);
  t.equal(soak?.errors, 0);
  t.same(soak?.verdicts?.map((v) => v.check), ['errors', 'non-2xx/3xx', 'rss growth', 'fd growth']);
  t.ok((soak?.resources?.length ?? 0) >= 18, `a sample a second (${soak?.resources?.length})`);
  t.ok(soak?.resources?.every((s) => s.rssBytes > 20 * MiB && s.fds > 8), 'the samples are of the server: tens of MiB and its sockets');
  t.equal(soak?.resourceLimits?.warmUpSec, 4, 'warm-up: a fifth of the run');
  t.comment(soak?.verdicts?.map((v) => `${v.check}: ${v.detail}`).join('\n'));
  const html = readFileSync(join(out, 'soak-latest.html'), 'utf8');
  for (const id of ['memory-over-time', 'fds-over-time', 'rate-over-time']) t.match(html, `<svg data-chart="${id}"`, `${id} drawn`);
  t.notMatch(html, 'data-no-data="ratios"', 'no empty ratios section');
  t.match(html, '<p class="banner pass" data-verdict="pass">✓ PASSED (all 4 checks passed)</p>');
  t.match(html, '>warm-up ends</text>');
});

t.test('a server that leaks memory and descriptors per request fails, naming both', async (t) => {
  // This process is the leaking server: 48 KiB kept and, every 10th request, /dev/null opened
  // and never closed. The soak samples it through --pid.
  const kept: Buffer[] = [];
  const fds: number[] = [];
  const server = createServer((req, res) => {
    kept.push(Buffer.alloc(48 * 1024, kept.length & 0xff));
    if (kept.length % 10 === 0) fds.push(openSync('/dev/null', 'r'));
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' }).end('ok\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
  t.teardown(() => {
    server.close();
    server.closeAllConnections();
    for (const fd of fds) closeSync(fd);
    kept.length = 0;
  });
  const port = (server.address() as AddressInfo).port;
  const out = t.testdir({});
  const r = await runCli(['soak', '--target', `http://[::1]:${port}/`, '--pid', String(process.pid), '--release', DEMO, '--duration', '15s', '--rate', '100', '--connections', '4', '--out', out], {}, 60_000);
  t.equal(r.code, 1, 'exit 1');
  t.comment(r.stderr.split('\n').filter((l) => l.includes('FAIL')).join('\n'));
  t.match(r.stdout, /^pi-origin soak: mixed at 100 req\/s for 15s on http:\/\/\[::1\]:\d+: FAIL$/m);
  t.match(r.stdout, /^errors +ok /m, 'every request answered');
  t.match(r.stderr, /^pi-origin soak: FAIL rss growth: RSS \+(\d+\.\d) MiB: [\d.]+ MiB after warm-up \(median, \d+-\d+ s\), [\d.]+ MiB at the end \(median, \d+-\d+ s\); more than --max-rss-growth 16\.0 MiB$/m);
  t.match(r.stderr, /^pi-origin soak: FAIL fd growth: open fds \+\d+: \d+ after warm-up \(median, \d+-\d+ s\), \d+ at the end \(median, \d+-\d+ s\); more than --max-fd-growth 16$/m);
  t.match(r.stdout, /^target: http:\/\/\[::1\]:\d+, process \d+$/m);
  const report = JSON.parse(readFileSync(join(out, 'soak-latest.json'), 'utf8')) as Report;
  t.equal(report.passed, false);
  t.match(readFileSync(join(out, 'soak-latest.html'), 'utf8'), '<p class="banner fail" data-verdict="fail">✗ FAILED (2 of 4 checks failed)</p>');
});
