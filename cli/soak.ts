/**
 * `pi-origin soak`: a steady rate for a long time (load-tests/soak/), with the server's memory and
 * open descriptors sampled every second. Exit 0 pass, 1 fail, 2 usage.
 */
import { packageRoot } from '../common/package-root.js';
import { reportsDir } from '../common/reports-dir.js';
import { SOAK_SCENARIOS, type Progress, type SoakOptions, type SoakScenario } from '../load-tests/soak/profile.js';
import { unsampleable } from '../load-tests/soak/sample.js';
import { parseBytes } from '../common/units.js';
import { DEMO_ROOT } from './demo-root.js';
import { formatDuration } from '../common/units.js';
import { durationFlag } from './duration.js';
import { commandLine, loadTestModules, targetOrigin, UsageError, type ArgOption, type Subcommand } from './subcommands.js';

const DEFAULTS = { duration: '10m', rate: 500, connections: 16, workers: 2, scenario: 'mixed', maxRssGrowth: '16MiB', maxFdGrowth: 16 } as const;
const MIN_DURATION_MS = 10_000;
const MAX_DURATION_MS = 24 * 3_600_000;
/** Without --warm-up: a fifth of the run, at most a minute. */
const WARM_UP_SHARE = 0.2;
const WARM_UP_MAX_SEC = 60;
/** After the warm-up there must be this long left to compare two windows. */
const MIN_MEASURED_SEC = 5;

/** Every flag; --help documents each one (test/soak.test.ts checks). */
export const SOAK_FLAGS = {
  duration: 'value',
  'warm-up': 'value',
  rate: 'value',
  connections: 'value',
  scenario: 'value',
  release: 'value',
  workers: 'value',
  target: 'value',
  pid: 'value',
  'max-rss-growth': 'value',
  'max-fd-growth': 'value',
  out: 'value',
  json: 'boolean',
} as const satisfies Subcommand['flags'];

export const SOAK: Subcommand = {
  summary: 'a steady rate for a long time: fails when server memory or descriptors grow',
  usage: 'pi-origin soak [--duration D] [--rate N] [--target URL [--pid PID]] [options]',
  help: [
    'Offers a steady request rate for a long time and samples the server process every second:',
    'resident memory (VmRSS of /proc/PID/status) and open file descriptors (/proc/PID/fd). It fails',
    'when either grows after the warm-up beyond its bound (the median of the last fifth of the',
    'samples after warm-up against the median of the first fifth), or when any request gets a',
    'connection error, a timeout or a status outside 2xx/3xx. Without --target it starts',
    '`pi-origin serve` (built dist/) on [::1] serving --release, pinned to CPU 0 with taskset when',
    'there are two or more cores. URLs come from the release manifest, as for the gate.',
    '',
    'Options:',
    `  --duration D          how long to offer load, 10s to 24h, like 30m or 2h [default: ${DEFAULTS.duration}]`,
    `  --warm-up D           left out of the growth check [default: a fifth of --duration, at most ${WARM_UP_MAX_SEC}s]`,
    `  --rate N              requests per second offered, 1 to 100000 [default: ${DEFAULTS.rate}]`,
    `  --connections N       keep-alive connections, 1 to 1000 and at most --rate [default: ${DEFAULTS.connections}]`,
    `  --scenario NAME       ${SOAK_SCENARIOS.join(', ')} [default: ${DEFAULTS.scenario}]`,
    '                        (mixed: launch-day, package-index and revalidate requests in turn)',
    `  --release DIR         release whose manifest gives the URLs (and that a local server serves) [default: ${DEMO_ROOT}]`,
    `  --workers N           worker threads of the server started here, 1 to 256 [default: ${DEFAULTS.workers}]`,
    '  --target URL          soak a running node instead, e.g. http://[::1]:8080/ (no server is started)',
    '  --pid PID             with --target: the node\'s process on this machine, to sample; without it',
    '                        only errors and statuses are checked',
    `  --max-rss-growth SIZE allowed RSS growth after warm-up, like 16MiB or 64MB [default: ${DEFAULTS.maxRssGrowth}]`,
    `  --max-fd-growth N     allowed growth of open descriptors after warm-up [default: ${DEFAULTS.maxFdGrowth}]`,
    `  --out DIR             where soak-<time>.json/.html and soak-latest.* go [default: ${reportsDir()}]`,
    '  --json                print the report as JSON instead of the summary',
    '  --help                show this help',
    '',
    'Progress goes to stderr: a line rewritten every second on a terminal, otherwise a line every',
    '10 s (every minute for runs over 10 minutes).',
    '',
    'Exit status: 0 every check passed, 1 a check failed or the soak could not run, 2 usage.',
  ].join('\n'),
  examples: ['pi-origin soak --duration 30m --rate 500', 'pi-origin soak --target http://[::1]:8080/ --pid "$(pidof -s node)" --duration 2h', 'pi-origin soak --duration 1m --json > soak.json'],
  flags: SOAK_FLAGS,
  run: soak,
};

function integer(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  return n;
}

type Values = Record<string, string | boolean | undefined>;

/** The flags as SoakOptions, every one checked, cross-flag rules included. */
export function soakOptions(values: Values, command: string): SoakOptions {
  const text = (name: string): string | undefined => values[name] as string | undefined;
  const strings = new Map<string, string>(Object.entries(values).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const durationMs = durationFlag(strings, 'duration', DEFAULTS.duration, MIN_DURATION_MS, '30m or 2h', MAX_DURATION_MS);
  const durationSec = Math.round(durationMs / 1000);
  const warmUpSec = text('warm-up') === undefined ? Math.min(WARM_UP_MAX_SEC, Math.round(durationSec * WARM_UP_SHARE)) : durationFlag(strings, 'warm-up', '0', 0, '1m', MAX_DURATION_MS) / 1000;
  if (durationSec - warmUpSec < MIN_MEASURED_SEC)
    throw new UsageError(`--warm-up (${formatDuration(warmUpSec * 1000)}) must leave at least ${MIN_MEASURED_SEC}s of --duration (${formatDuration(durationMs)}) to compare`);
  const rate = integer('rate', text('rate'), DEFAULTS.rate, 1, 100_000);
  const connections = integer('connections', text('connections'), DEFAULTS.connections, 1, 1000);
  if (connections > rate) throw new UsageError(`--connections (${connections}) must not exceed --rate (${rate}): each connection sends at least one request a second`);
  const scenario = text('scenario') ?? DEFAULTS.scenario;
  if (!(SOAK_SCENARIOS as readonly string[]).includes(scenario)) throw new UsageError(`--scenario must be one of ${SOAK_SCENARIOS.join(', ')} (got ${JSON.stringify(scenario)})`);
  const target = text('target') === undefined ? undefined : targetOrigin(text('target') as string);
  if (target === undefined && text('pid') !== undefined) throw new UsageError('--pid needs --target: without it the soak samples the server it starts');
  if (target !== undefined && text('workers') !== undefined) throw new UsageError('--workers applies to the server the soak starts, not to --target');
  const pid = text('pid') === undefined ? undefined : integer('pid', text('pid'), 0, 1, 4_194_304);
  if (pid !== undefined) {
    const why = unsampleable(pid);
    if (why !== undefined) throw new UsageError(`--pid ${pid}: ${why}`);
  }
  const maxRss = parseBytes(text('max-rss-growth') ?? DEFAULTS.maxRssGrowth);
  if (maxRss === undefined || !Number.isSafeInteger(maxRss)) throw new UsageError(`--max-rss-growth must be a size like 16MiB or 64MB (got ${JSON.stringify(text('max-rss-growth'))})`);
  return {
    release: text('release') ?? DEMO_ROOT,
    target,
    pid,
    workers: integer('workers', text('workers'), DEFAULTS.workers, 1, 256),
    scenario: scenario as SoakScenario,
    rate,
    connections,
    durationSec,
    warmUpSec,
    maxRssGrowthBytes: maxRss,
    maxFdGrowth: integer('max-fd-growth', text('max-fd-growth'), DEFAULTS.maxFdGrowth, 0, 1_000_000),
    command,
  };
}

/**
 * A line rewritten every second on a terminal; otherwise one every 10 s (a minute past 10
 * minutes). Its req/s is the mean since the line before.
 */
function progressPrinter(durationSec: number, progressLine: (p: Progress, rate: number) => string): (p: Progress) => void {
  const tty = process.stderr.isTTY;
  const every = durationSec > 600 ? 60 : 10;
  let shown = { t: 0, responses: 0 };
  return (p) => {
    const last = p.t >= p.durationSec;
    if (!tty && p.t % every !== 0 && !last) return;
    const line = progressLine(p, (p.responses - shown.responses) / Math.max(1, p.t - shown.t));
    shown = { t: p.t, responses: p.responses };
    process.stderr.write(tty ? `\r\x1b[2K${line}${last ? '\n' : ''}` : `${line}\n`);
  };
}

async function soak(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, _lists: unknown, ordered: readonly ArgOption[]): Promise<number> {
  const root = packageRoot();
  const say = (line: string): void => void process.stderr.write(`pi-origin soak: ${line}\n`);
  const values: Values = Object.fromEntries(flags);
  const options = soakOptions(values, commandLine('soak', ordered));
  const modules = await loadTestModules('soak', () =>
    Promise.all([import('../load-tests/soak/soak.js'), import('../load-tests/gate/scenarios.js'), import('../load-tests/soak/summary.js'), import('../load-tests/gate/save.js')]),
  );
  if (modules === undefined) return 1;
  const [{ runSoak }, { ScenarioError }, { progressLine, renderSoakSummary }, { saveReport }] = modules;
  let report;
  try {
    report = await runSoak({ ...options, progress: progressPrinter(options.durationSec, progressLine) });
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    say(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const saved = saveReport(report, (values['out'] as string | undefined) ?? reportsDir(root));
  process.stdout.write(values['json'] === true ? JSON.stringify(report, null, 2) + '\n' : renderSoakSummary(report, `${saved.html} (JSON: ${saved.json})`) + '\n');
  for (const v of report.runs.flatMap((r) => r.verdicts ?? []).filter((v) => !v.ok)) say(`FAIL ${v.check}: ${v.detail}`);
  return report.passed === true ? 0 : 1;
}
