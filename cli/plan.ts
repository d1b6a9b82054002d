/**
 * `pi-origin plan`: how many Pis a launch needs. Parses human units, optionally takes the
 * per-node capacity from a gate or bench report, and prints the figures behind the number. The
 * arithmetic is in capacity/plan.ts.
 */
import { readFileSync } from 'node:fs';
import {
  capacityFromReport, LIMIT_NAMES, plan, PLAN_DEFAULTS, PLAN_FLAGS, PlanError, proxyLine, summaryLine, type Plan, type PlanInput, type PlanOptions, type ReportCapacity,
} from '../capacity/plan.js';
import { parseBytes } from '../common/units.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';
import { renderRollout, ROLLOUT_FLAGS, ROLLOUT_HELP, rolloutPlan } from './plan-rollout.js';

const USAGE = 'pi-origin plan --visitors N --requests-per-visit N --bytes-per-visit SIZE (--node-rps N | --from REPORT.json) [options]';

const HELP = [
  'Turns a day of visitors into origin req/s and Mbit/s at peak, and those into nodes: the most any',
  'one limit (CPU, NIC, memory) needs, plus spare nodes. Formulas and worked examples:',
  `docs/capacity.md. ${ROLLOUT_HELP.join(' ')}`,
  '',
  'Traffic:',
  '  --visitors N               visitors in the day (20000000, 20M)',
  `  --peak-factor X            busiest hour's rate / the day's average (default ${PLAN_DEFAULTS.peakFactor})`,
  '  --requests-per-visit N     requests one visit makes',
  '  --bytes-per-visit SIZE     bytes one visit downloads (2.5MB = 2,500,000 B; 2.5MiB = 2.5 x 2^20)',
  '  --response-bytes SIZE      or: the average response; bytes per visit = this x requests per visit',
  '  --cdn-hit-ratio R          share of requests the CDN answers, 0..1 or 98% (default 0: no CDN)',
  '  --cdn-byte-hit-ratio R     share of bytes the CDN answers (default: --cdn-hit-ratio)',
  '',
  'One node (measure it: docs/capacity.md):',
  '  --node-rps N               req/s one node served at saturation (CPU-bound)',
  "  --from REPORT.json         take --node-rps from a gate or bench report's best pi-origin run;",
  '                             a flag given explicitly wins',
  `  --nic-mbps RATE            NIC line rate, Mbit/s (default ${PLAN_DEFAULTS.nicMbps}; also 1Gbit, 940Mbit, 125MB/s)`,
  `  --nic-ceiling R            share of the line rate to plan for (default ${PLAN_DEFAULTS.nicCeiling})`,
  '  --cache-size SIZE          body cache, as serve --cache-size (default 1GiB)',
  `  --workers N                worker threads, as serve --workers; each caches cache-size / N (default ${PLAN_DEFAULTS.workers})`,
  '  --working-set SIZE         distinct content requested at the origin at peak (default: fits the cache)',
  `  --disk-mbps RATE           cache-miss read rate, Mbit/s (default ${PLAN_DEFAULTS.diskMbps} = 40MB/s, an SD card; USB 3 SSD: 300MB/s)`,
  '',
  'Plan:',
  `  --target-utilisation R     share of measured CPU and disk capacity to use at peak (default ${PLAN_DEFAULTS.targetUtilisation})`,
  `  --headroom N               spare nodes: 1 is N+1, 2 is N+2 (default ${PLAN_DEFAULTS.headroom})`,
  'Proxy, the HTTPS front, per core (measure it: npm run bench:front; defaults from RESULTS.md):',
  `  --proxy-core-rps N         HTTPS req/s on kept-alive connections (default ${PLAN_DEFAULTS.proxyCoreReqPerSec})`,
  `  --proxy-core-mbps RATE     HTTPS response Mbit/s encrypted (default ${PLAN_DEFAULTS.proxyCoreMbps})`,
  `  --proxy-core-handshakes N  new TLS connections/s (default ${PLAN_DEFAULTS.proxyCoreHandshakes})`,
  `  --connections-per-visit N  new TLS connections a visit opens (default ${PLAN_DEFAULTS.connectionsPerVisit})`,
  `  --proxy-cores N            cores of one proxy host; 0: no proxy (default ${PLAN_DEFAULTS.proxyCores})`,
  `  --proxy-uplink-mbps RATE   uplink of one proxy host (default ${PLAN_DEFAULTS.proxyUplinkMbps})`,
  '  --json                     print the plan and every figure as JSON',
  '',
  'Exit 0 with a plan; 2 for a bad option; 1 when --from cannot be read as a report.',
].join('\n');

type Parse = (text: string) => number | undefined;

const COUNT_SUFFIX: Readonly<Record<string, number>> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9 };
/** `20000000`, `20M`, `1.5k`, `20_000_000`. */
export const parseCount: Parse = (text) => {
  const m = /^(\d+(?:\.\d+)?)([kKMG]?)$/.exec(text.replaceAll('_', ''));
  return m === null ? undefined : Number(m[1]) * (COUNT_SUFFIX[m[2] as string] as number);
};

/** `0.98` or `98%`. */
export const parseRatio: Parse = (text) => {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  return m === null ? undefined : m[2] === '%' ? Number(m[1]) / 100 : Number(m[1]);
};

const RATE_UNITS: Readonly<Record<string, number>> = { '': 1, mbit: 1, mbps: 1, 'mbit/s': 1, gbit: 1000, gbps: 1000, 'gbit/s': 1000, 'mb/s': 8, 'gb/s': 8000 };
/** Mbit/s: `1000`, `1Gbit`, `940Mbit`, `40MB/s` (megabytes, = 320). */
export const parseRate: Parse = (text) => {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z/]*)$/i.exec(text);
  const unit = m === null ? undefined : RATE_UNITS[(m[2] as string).toLowerCase()];
  return m === null || unit === undefined ? undefined : Number(m[1]) * unit;
};

export const parseNumber: Parse = (text) => (/^\d+(?:\.\d+)?$/.test(text) ? Number(text) : undefined);

const FLAG_PARSERS: Readonly<Record<keyof PlanOptions, { parse: Parse; like: string }>> = {
  visitorsPerDay: { parse: parseCount, like: 'a count like 20000000 or 20M' },
  peakFactor: { parse: parseNumber, like: 'a number like 5' },
  requestsPerVisit: { parse: parseCount, like: 'a count like 30' },
  bytesPerVisit: { parse: parseBytes, like: 'a size like 2.5MB' },
  responseBytes: { parse: parseBytes, like: 'a size like 80KB' },
  cdnHitRatio: { parse: parseRatio, like: 'a ratio like 0.98 or 98%' },
  cdnByteHitRatio: { parse: parseRatio, like: 'a ratio like 0.98 or 98%' },
  nodeReqPerSec: { parse: parseCount, like: 'a rate like 15000 or 15k' },
  nicMbps: { parse: parseRate, like: 'a rate in Mbit/s like 1000, 1Gbit or 125MB/s' },
  nicCeiling: { parse: parseRatio, like: 'a ratio like 0.7 or 70%' },
  cacheBytes: { parse: parseBytes, like: 'a size like 1GiB' },
  workers: { parse: parseNumber, like: 'a number of worker threads like 4' },
  workingSetBytes: { parse: parseBytes, like: 'a size like 20GB' },
  diskMbps: { parse: parseRate, like: 'a rate in Mbit/s like 320 or 40MB/s' },
  targetUtilisation: { parse: parseRatio, like: 'a ratio like 0.6 or 60%' },
  headroom: { parse: parseNumber, like: 'a number of spare nodes like 1' },
  proxyCoreReqPerSec: { parse: parseCount, like: 'a rate like 9000 or 9k' },
  proxyCoreMbps: { parse: parseRate, like: 'a rate in Mbit/s like 2100 or 260MB/s' },
  proxyCoreHandshakes: { parse: parseCount, like: 'a rate like 900' },
  connectionsPerVisit: { parse: parseNumber, like: 'a number like 1' },
  proxyCores: { parse: parseNumber, like: 'a number of cores like 4' },
  proxyUplinkMbps: { parse: parseRate, like: 'a rate in Mbit/s like 1000 or 1Gbit' },
};

const KEY_OF_FLAG: ReadonlyMap<string, keyof PlanOptions> = new Map(Object.entries(PLAN_FLAGS).map(([key, flag]) => [flag.slice(2), key as keyof PlanOptions]));

export const PLAN: Subcommand = {
  summary: 'how many Pis a launch needs, and which limit binds',
  usage: USAGE,
  help: HELP,
  examples: [
    'pi-origin plan --visitors 20M --requests-per-visit 30 --bytes-per-visit 2.5MB --node-rps 15k',
    'pi-origin plan --visitors 20M --requests-per-visit 30 --bytes-per-visit 2.5MB --from load-tests/out/gate-latest.json --cdn-hit-ratio 98%',
  ],
  flags: { ...Object.fromEntries([...KEY_OF_FLAG.keys(), ...ROLLOUT_FLAGS].map((f) => [f, 'value' as const])), from: 'value', json: 'boolean', rollout: 'boolean' },
  // Plans are arithmetic: nothing here waits, and the file --from names is small.
  run: (_positional, flags) => Promise.resolve(flags.has('rollout') ? rolloutRun(flags) : planRun(flags)),
};

/** Flags to plan input, each value parsed by its kind. */
export function planInput(flags: ReadonlyMap<string, string | true>): PlanInput {
  const input: Record<string, number> = {};
  for (const [flag, key] of KEY_OF_FLAG) {
    const text = flags.get(flag);
    if (typeof text !== 'string') continue;
    const { parse, like } = FLAG_PARSERS[key];
    const n = parse(text);
    if (n === undefined) throw new UsageError(`--${flag} must be ${like} (got ${JSON.stringify(text)})`);
    input[key] = n;
  }
  for (const required of ['visitorsPerDay', 'requestsPerVisit'] as const) if (input[required] === undefined) throw new UsageError(`${PLAN_FLAGS[required]} is required`);
  return input as unknown as PlanInput;
}

function planRun(flags: ReadonlyMap<string, string | true>): number {
  const rolloutOnly = ROLLOUT_FLAGS.find((f) => flags.has(f));
  if (rolloutOnly !== undefined) throw new UsageError(`--${rolloutOnly} is a flag of --rollout`);
  try {
    const input = planInput(flags); // bad values are usage errors before any file is read
    const from = flags.get('from');
    const source = typeof from === 'string' ? readReport(from) : undefined;
    // --from fills --node-rps only when it is not given: a flag given explicitly wins.
    const fromUsed = source !== undefined && input.nodeReqPerSec === undefined ? source : undefined;
    const result = plan(fromUsed === undefined ? input : { ...input, nodeReqPerSec: fromUsed.reqPerSec });
    process.stdout.write(flags.has('json') ? JSON.stringify({ ...result, summary: summaryLine(result), capacityFrom: fromUsed ?? null }, null, 2) + '\n' : render(result, fromUsed));
    return 0;
  } catch (e) {
    if (e instanceof PlanError && e.code === 'PI_ORIGIN_PLAN_INVALID_OPTION') throw new UsageError(e.message);
    if (e instanceof PlanError) return fail(`plan: ${e.message}`, 1);
    throw e;
  }
}

function rolloutRun(flags: ReadonlyMap<string, string | true>): number {
  const other = [...KEY_OF_FLAG.keys(), 'from'].find((f) => flags.has(f));
  if (other !== undefined) throw new UsageError(`--${other} is a flag of the launch plan, not of --rollout: plan one or the other`);
  const p = rolloutPlan(flags, parseRate);
  process.stdout.write(flags.has('json') ? JSON.stringify(p, null, 2) + '\n' : renderRollout(p));
  return 0;
}

function readReport(file: string): ReportCapacity {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PlanError(`--from ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'PI_ORIGIN_PLAN_BAD_REPORT');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PlanError(`--from ${file}: not JSON`, 'PI_ORIGIN_PLAN_BAD_REPORT');
  }
  return capacityFromReport(json, `--from ${file}`);
}

const nf = (min: number, max: number): Intl.NumberFormat => new Intl.NumberFormat('en-US', { minimumFractionDigits: min, maximumFractionDigits: max });
const N0 = nf(0, 0);
const N1 = nf(0, 1);
const N2 = nf(2, 2);
/** Whole numbers from 100 up; below, one decimal at most, so 0.4 req/s does not print as 0. */
function num(n: number): string {
  return Math.abs(n) >= 100 ? N0.format(n) : N1.format(n);
}
const pct = (r: number): string => `${+(r * 100).toFixed(2)}%`;
function size(bytes: number): string {
  // A size given in binary units (the cache: 1GiB) prints the way it was given.
  for (const [unit, scale] of [['GiB', 2 ** 30], ['MiB', 2 ** 20]] as const) if (bytes >= scale && bytes % scale === 0) return `${bytes / scale} ${unit}`;
  for (const [unit, scale] of [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) if (bytes >= scale) return `${+(bytes / scale).toPrecision(3)} ${unit}`;
  return `${Math.round(bytes)} B`;
}

/** One screen: the inputs, the demand, one node, the limits, the plan. */
export function render(p: Plan, from?: ReportCapacity): string {
  const o = p.options;
  const d = p.demand;
  const n = p.node;
  const x = p.proxy;
  const row = (label: string, value: string, how = ''): string => `  ${label.padEnd(26)} ${value.padEnd(24)} ${how}`.trimEnd();
  const lines = [
    'Traffic',
    row('visitors per day', num(o.visitorsPerDay)),
    row('average visits', `${num(d.avgVisitsPerSec)} visits/s`, 'visitors / 86,400 s'),
    row('per visit', `${num(o.requestsPerVisit)} req, ${size(o.bytesPerVisit)}`, `average response ${size(o.responseBytes)}`),
    row('edge, average / peak', `${num(d.avgEdgeReqPerSec)} / ${num(d.peakEdgeReqPerSec)} req/s`, `peak = average x ${o.peakFactor}`),
    row('', `${num(d.avgEdgeMbps)} / ${num(d.peakEdgeMbps)} Mbit/s`, 'visits/s x bytes/visit x 8 / 10^6'),
    row('CDN hit ratio', o.cdnByteHitRatio === o.cdnHitRatio ? pct(o.cdnHitRatio) : `${pct(o.cdnHitRatio)} req, ${pct(o.cdnByteHitRatio)} bytes`, o.cdnHitRatio === 0 ? 'no CDN: the origin sees every request' : 'the origin sees the rest'),
    row('origin, average / peak', `${num(d.avgOriginReqPerSec)} / ${num(d.peakOriginReqPerSec)} req/s`, `edge x ${pct(d.originRequestShare)}`),
    row('', `${num(d.avgOriginMbps)} / ${num(d.peakOriginMbps)} Mbit/s`, `edge x ${pct(d.originByteShare)}`),
    'One node',
    row('CPU', `${num(n.usableReqPerSec)} req/s usable`, `${num(o.nodeReqPerSec)} req/s measured x ${pct(o.targetUtilisation)} target${from ? ` (${from.kind} run "${from.run}" on ${from.machine})` : ''}`),
    row('NIC', `${num(n.usableNicMbps)} Mbit/s usable`, `${num(o.nicMbps)} Mbit/s x ${pct(o.nicCeiling)} ceiling`),
    row('memory', o.workingSetBytes === undefined ? 'working set fits' : `${pct(n.cacheByteShare)} of bytes cached`, `cache ${size(o.cacheBytes)} / ${o.workers} workers = ${size(n.workerCacheBytes)} each${o.workingSetBytes === undefined ? '; no --working-set' : ` / working set ${size(o.workingSetBytes)}`}`),
    row('storage', `${num(n.usableDiskMbps)} Mbit/s usable`, `${num(o.diskMbps)} Mbit/s x ${pct(o.targetUtilisation)} target, for the ${pct(n.diskByteShare)} missed`),
    'Nodes at peak',
    ...p.limits.map((l) => row(LIMIT_NAMES[l.limit], `${l.nodes}${p.binding === l.limit ? '  <- binds' : ''}`, `${num(l.peakDemand)} / ${num(l.perNode)} ${l.unit} = ${N2.format(l.load)}`)),
    row('per node, headroom spent', `${num(p.perNodeAtPeak.reqPerSec)} req/s, ${num(p.perNodeAtPeak.mbps)} Mbit/s`, `${pct(p.perNodeAtPeak.cpuShare)} of measured CPU, ${pct(p.perNodeAtPeak.nicShare)} of the NIC`),
    row('headroom', `+${p.headroom}`, p.headroom === 0 ? 'no spare node' : `N+${p.headroom}: peak survives ${p.headroom} node${p.headroom === 1 ? '' : 's'} down`),
    'Proxy at peak (HTTPS front, all origin traffic)',
    row('CPU', `${N1.format(x.coresBusy)} cores busy`, `${num(d.peakOriginReqPerSec)}/${num(o.proxyCoreReqPerSec)} + ${num(d.peakOriginMbps)}/${num(o.proxyCoreMbps)} Mbit/s + ${num(x.peakHandshakesPerSec)}/${num(o.proxyCoreHandshakes)} handshakes`),
    row('uplink', `${num(d.peakOriginMbps)} / ${num(x.usableUplinkMbps)} Mbit/s`, `${num(o.proxyUplinkMbps)} Mbit/s x ${pct(o.nicCeiling)} ceiling`),
    ...p.notes.map((note) => `note: ${note}`),
  ];
  if (x.uplinkExceeded)
    lines.push(`warning: the origin traffic at peak (${num(d.peakOriginMbps)} Mbit/s) exceeds one proxy's uplink (${num(x.usableUplinkMbps)} Mbit/s usable): ${x.hostsForUplink} proxy hosts, a faster uplink, or a CDN with a higher byte hit ratio`);
  if (from !== undefined && o.responseBytes > 2 * from.responseBytes)
    lines.push(`note: --from's run averaged ${size(from.responseBytes)} responses, this plan ${size(o.responseBytes)}: its req/s overstates a node for this traffic`);
  if (from !== undefined) lines.push(`note: capacity measured on ${from.machine}: replace it with a run on a Pi 4 unless that is one`);
  lines.push(`proxy: ${proxyLine(p)}`);
  lines.push(`plan: ${summaryLine(p)}`);
  return lines.join('\n') + '\n';
}
