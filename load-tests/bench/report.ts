/** Aggregation (medians, ratios) and rendering (RESULTS.md, results.json, stdout table). */
import type { BenchFile } from './content.js';
import type { LoadResult } from './loadgen.js';
import { PEER_IDS, type ServerId } from './servers.js';
import { fmtFixed, fmtInt, maxOf, median, minOf } from './util.js';

export interface RunRecord extends LoadResult {
  round: number;
  server: ServerId;
  file: string;
  /** Position of this run within its round/file group (0 = ran first). */
  order: number;
  /** Server process-tree VmRSS right after the run, KiB. */
  rssKiB: number;
  /** Server process-tree CPU over the run, % of one core. */
  serverCpuPct: number;
  /** Server CPU time per completed request, microseconds (robust when the load generator is the bottleneck). */
  serverCpuUsPerReq: number;
  /** CPU used during the run by unrelated processes (incl. idle servers not being measured), % of one core. */
  foreignCpuPct: number;
  /** Hypervisor steal time during the run, % of one core (summed over CPUs). */
  stealPct: number;
}

export interface SummaryRow {
  server: ServerId;
  serverLabel: string;
  file: string;
  fileLabel: string;
  runs: number;
  medianReqPerSec: number;
  minReqPerSec: number;
  maxReqPerSec: number;
  medianMBPerSec: number;
  medianP50Ms: number;
  medianP99Ms: number;
  maxRssMiB: number;
  medianServerCpuPct: number;
  medianServerCpuUsPerReq: number;
  medianLoadgenCpuPct: number;
  non2xx3xx: number;
  socketErrors: number;
  /** Status line + headers of one response, from the probe. */
  headerBytes: number | undefined;
}

export interface RatioRow {
  numerator: ServerId;
  denominator: ServerId;
  file: string;
  fileLabel: string;
  metric: 'req/s';
  perRound: number[];
  median: number;
  min: number;
  max: number;
  /** Median over rounds of (numerator CPU µs/request) / (denominator CPU µs/request); below 1 = numerator cheaper. */
  cpuPerReqMedian: number;
}

export interface ServerInfo {
  id: ServerId;
  label: string;
  command: string;
  cpus: string;
  processes: number;
  threads: number;
  headerBytes: Record<string, number>;
  headers: string[];
}

export interface Environment {
  cpuModel: string;
  nproc: number;
  memTotal: string;
  kernel: string;
  node: string;
  loadgen: string;
  loadgenVersion: string;
  nginx: string;
  uws: string;
  piOrigin: string;
  loadAvgAtStart: string;
}

export interface Parameters {
  rounds: number;
  durationS: number;
  warmupS: number;
  quietWaitS: number;
  connections: number;
  threads: number;
  quick: boolean;
  serverCpus: string;
  loadgenCpus: string;
  loadgenCommand: string;
  files: BenchFile[];
}

export interface Report {
  schema: 1;
  generatedAt: string;
  /** How it was invoked: npm script and/or `pi-origin bench`, and always the node command. */
  command: { npm: string | undefined; cli?: string | undefined; node: string; cwd: string };
  environment: Environment;
  parameters: Parameters;
  servers: ServerInfo[];
  summary: SummaryRow[];
  ratios: RatioRow[];
  notes: string[];
  runs: RunRecord[];
  elapsedS: number;
}

export const LABELS: Readonly<Record<ServerId, string>> = {
  'pi-origin': 'pi-origin',
  'pi-origin-w2': 'pi-origin --workers 2',
  'pi-origin-rules': 'pi-origin + 2,100 _redirects rules',
  'raw-uws': 'raw-uws',
  nginx: 'nginx',
  'node-http': 'node-http',
  sirv: 'sirv',
  'fastify-static': 'fastify-static',
};

/** The servers pi-origin is compared with: every peer but itself. */
export const PEERS: readonly ServerId[] = PEER_IDS.filter((id) => id !== 'pi-origin');

export function summarize(runs: readonly RunRecord[], files: readonly BenchFile[], servers: readonly ServerInfo[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const f of files) {
    for (const s of servers) {
      const rs = runs.filter((r) => r.server === s.id && r.file === f.name);
      if (rs.length === 0) continue;
      const reqs = rs.map((r) => r.reqPerSec);
      rows.push({
        server: s.id,
        serverLabel: s.label,
        file: f.name,
        fileLabel: f.label,
        runs: rs.length,
        medianReqPerSec: median(reqs),
        minReqPerSec: minOf(reqs),
        maxReqPerSec: maxOf(reqs),
        medianMBPerSec: median(rs.map((r) => r.bytesPerSec / 1e6)),
        medianP50Ms: median(rs.map((r) => r.latencyP50Ms)),
        medianP99Ms: median(rs.map((r) => r.latencyP99Ms)),
        maxRssMiB: maxOf(rs.map((r) => r.rssKiB)) / 1024,
        medianServerCpuPct: median(rs.map((r) => r.serverCpuPct)),
        medianServerCpuUsPerReq: median(rs.map((r) => r.serverCpuUsPerReq)),
        medianLoadgenCpuPct: median(rs.map((r) => r.loadgenCpuPct)),
        non2xx3xx: rs.reduce((a, r) => a + r.non2xx3xx, 0),
        socketErrors: rs.reduce(
          (a, r) => a + r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout,
          0,
        ),
        headerBytes: s.headerBytes[f.name],
      });
    }
  }
  return rows;
}

/** Ratio of medians would hide round-to-round drift; use the median of per-round ratios. */
export function ratio(
  runs: readonly RunRecord[],
  num: ServerId,
  den: ServerId,
  f: BenchFile,
): RatioRow | undefined {
  const perRound: number[] = [];
  const cpu: number[] = [];
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  for (const round of rounds) {
    const a = runs.find((r) => r.round === round && r.server === num && r.file === f.name);
    const b = runs.find((r) => r.round === round && r.server === den && r.file === f.name);
    if (a && b && b.reqPerSec > 0) {
      perRound.push(a.reqPerSec / b.reqPerSec);
      if (b.serverCpuUsPerReq > 0) cpu.push(a.serverCpuUsPerReq / b.serverCpuUsPerReq);
    }
  }
  if (perRound.length === 0) return undefined;
  return {
    numerator: num,
    denominator: den,
    file: f.name,
    fileLabel: f.label,
    metric: 'req/s',
    perRound,
    median: median(perRound),
    min: minOf(perRound),
    max: maxOf(perRound),
    cpuPerReqMedian: median(cpu),
  };
}

export function allRatios(runs: readonly RunRecord[], files: readonly BenchFile[]): RatioRow[] {
  const pairs: [ServerId, ServerId][] = [
    ...PEERS.map((p): [ServerId, ServerId] => ['pi-origin', p]),
    ['raw-uws', 'nginx'],
    ['raw-uws', 'node-http'],
    ['pi-origin-w2', 'pi-origin'],
    ['pi-origin-rules', 'pi-origin'],
  ];
  const out: RatioRow[] = [];
  for (const [a, b] of pairs) {
    for (const f of files) {
      const r = ratio(runs, a, b, f);
      if (r) out.push(r);
    }
  }
  return out;
}

/** Heuristic notes about what limited each measurement. */
export function bottleneckNotes(rows: readonly SummaryRow[], loadgen: string): string[] {
  const notes: string[] = [];
  for (const r of rows) {
    if (r.non2xx3xx > 0 || r.socketErrors > 0)
      notes.push(
        `${r.serverLabel} ${r.fileLabel}: ${r.non2xx3xx} non-2xx/3xx responses and ${r.socketErrors} socket errors over ${r.runs} run(s).`,
      );
    if (r.server !== 'pi-origin-w2' && r.medianLoadgenCpuPct >= 90 && r.medianServerCpuPct < 90)
      notes.push(
        `${r.serverLabel} ${r.fileLabel}: ${loadgen} used ${fmtFixed(r.medianLoadgenCpuPct, 0)}% of its core while the server used ${fmtFixed(r.medianServerCpuPct, 0)}%: this number is probably load-generator-bound (a lower bound for the server).`,
      );
  }
  return notes;
}

// ------------------------------------------------------------- rendering ---

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function textTable(header: string[], rows: string[][], rightCols: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i] ?? 0, rightCols.has(i))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(header: string[], rows: string[][], rightCols: Set<number>): string {
  const sep = header.map((_, i) => (rightCols.has(i) ? '---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const fmtRatio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) + '×' : 'n/a');

/** The target for `_redirects`: req/s with 2,100 rules within 5 % of none. */
export function rulesVerdict(r: RatioRow): string {
  return r.median >= 0.95 ? 'met' : `missed by ${fmtFixed((0.95 - r.median) * 100, 1)} points`;
}

export function stdoutSummary(rep: Report): string {
  const rows = rep.summary.map((r) => [
    r.serverLabel,
    r.fileLabel,
    fmtInt(r.medianReqPerSec),
    fmtFixed(r.medianMBPerSec, 1),
    fmtFixed(r.medianP99Ms, 2),
    fmtFixed(r.maxRssMiB, 1),
    fmtFixed(r.medianServerCpuUsPerReq, 1),
    r.non2xx3xx + r.socketErrors > 0 ? String(r.non2xx3xx + r.socketErrors) : '0',
  ]);
  let out = textTable(
    ['server', 'file', 'req/s', 'MB/s', 'p99 ms', 'RSS MiB', 'cpu µs/req', 'errors'],
    rows,
    new Set([2, 3, 4, 5, 6, 7]),
  );
  if (rep.ratios.length) {
    out +=
      '\n\n' +
      textTable(
        ['ratio', 'file', 'req/s median', 'req/s range', 'cpu/req'],
        rep.ratios.map((r) => [
          `${LABELS[r.numerator]} / ${LABELS[r.denominator]}`,
          r.fileLabel,
          fmtRatio(r.median),
          `${fmtRatio(r.min)}–${fmtRatio(r.max)}`,
          fmtRatio(r.cpuPerReqMedian),
        ]),
        new Set([2, 4]),
      );
  }
  return out + '\n';
}

export function markdown(rep: Report): string {
  const e = rep.environment;
  const p = rep.parameters;
  const L: string[] = [];
  L.push('# pi-origin peer benchmark: results', '');
  if (p.quick)
    L.push(
      `> **Quick smoke run** (\`--quick\`: ${p.rounds} round(s) × ${p.durationS} s). Too short and too few rounds to support any speed claim; it only proves the harness and the servers work.`,
      '',
    );
  L.push(
    `Generated ${rep.generatedAt} by \`load-tests/bench/peers.ts\` in ${fmtFixed(rep.elapsedS, 0)} s. ` +
      'See [README.md](README.md) for what is measured and how to read it. ' +
      'All numbers come from one interleaved run on one machine; compare servers **within** this file, not across machines or runs.',
    '',
  );
  L.push('## Command', '', '```sh');
  const outer = [rep.command.npm, rep.command.cli].filter((c): c is string => c !== undefined);
  outer.forEach((c, i) => L.push(i === 0 ? c : `# i.e. ${c}`));
  L.push(`${outer.length ? '# i.e. ' : ''}${rep.command.node}`, '```', '');

  L.push('## Environment', '');
  L.push(
    mdTable(
      ['', ''],
      [
        ['CPU', e.cpuModel],
        ['CPUs (nproc)', String(e.nproc)],
        ['Memory', e.memTotal],
        ['Kernel', e.kernel],
        ['Node.js', e.node],
        ['Load generator', `${e.loadgen} (${e.loadgenVersion})`],
        ['nginx', e.nginx],
        ['uWebSockets.js', e.uws],
        ['pi-origin', e.piOrigin],
        ['Load average at start', e.loadAvgAtStart],
      ],
      new Set(),
    ),
    '',
  );

  L.push('## Parameters', '');
  L.push(
    mdTable(
      ['', ''],
      [
        ['Rounds', `${p.rounds} (interleaved: every round runs every server on every file; start order rotates each round)`],
        ['Duration per run', `${p.durationS} s (+ ${p.warmupS} s unrecorded warm-up per server and file before round 1)`],
        ['Quiet wait', p.quietWaitS > 0 ? `before each run, up to ${p.quietWaitS} s waiting for CPU use by other processes to fall below 10% of a core` : 'off'],
        ['Connections', `${p.connections}, keep-alive, ${p.threads} load-generator thread`],
        ['Server CPUs', `\`taskset -c ${p.serverCpus}\` (except \`pi-origin --workers 2\`, see below)`],
        ['Load generator CPUs', `\`taskset -c ${p.loadgenCpus}\``],
        ['Load generator command', `\`${p.loadgenCommand}\``],
        ['Files', p.files.map((f) => `\`${f.name}\` (${f.label}, ${f.bytes.toLocaleString('en-US')} B)`).join(', ')],
      ],
      new Set(),
    ),
    '',
  );

  L.push('## Servers', '');
  L.push(
    mdTable(
      ['server', 'CPUs', 'processes / threads', 'response header bytes (1KB / 200KB / 5MB)', 'command'],
      rep.servers.map((s) => [
        s.label,
        s.cpus,
        `${s.processes} / ${s.threads}`,
        p.files.map((f) => (s.headerBytes[f.name] !== undefined ? String(s.headerBytes[f.name]) : '–')).join(' / '),
        `\`${s.command}\``,
      ]),
      new Set([2]),
    ),
    '',
  );
  L.push('<details><summary>Response headers for the 1 KB file, per server</summary>', '');
  for (const s of rep.servers) {
    L.push(`**${s.label}**`, '', '```', ...s.headers, '```', '');
  }
  L.push('</details>', '');

  L.push('## Results', '');
  L.push(
    'Medians over rounds. req/s range is min–max over rounds. MB/s is 10⁶ bytes/s of response (headers + body) as counted by the load generator. ' +
      'p99 latency is from the load generator’s latency histogram. RSS is the server’s whole process tree (VmRSS), maximum over all post-run samples. ' +
      'CPU columns are % of one core over the run (server process tree / load generator); server CPU µs/req is server CPU time divided by completed requests.',
    '',
  );
  for (const f of p.files) {
    const rows = rep.summary.filter((r) => r.file === f.name);
    if (!rows.length) continue;
    L.push(`### ${f.label} — \`${f.name}\``, '');
    L.push(
      mdTable(
        ['server', 'req/s (median)', 'req/s range', 'MB/s', 'p50 ms', 'p99 ms', 'max RSS MiB', 'server CPU', 'server CPU µs/req', 'load-gen CPU', 'errors', 'pi-origin / this (req/s)'],
        rows.map((r) => [
          r.serverLabel,
          `**${fmtInt(r.medianReqPerSec)}**`,
          `${fmtInt(r.minReqPerSec)}–${fmtInt(r.maxReqPerSec)}`,
          fmtFixed(r.medianMBPerSec, 1),
          fmtFixed(r.medianP50Ms, 2),
          fmtFixed(r.medianP99Ms, 2),
          fmtFixed(r.maxRssMiB, 1),
          `${fmtFixed(r.medianServerCpuPct, 0)}%`,
          fmtFixed(r.medianServerCpuUsPerReq, r.medianServerCpuUsPerReq < 100 ? 1 : 0),
          `${fmtFixed(r.medianLoadgenCpuPct, 0)}%`,
          String(r.non2xx3xx + r.socketErrors),
          r.server === 'pi-origin' || r.server === 'pi-origin-w2' || r.server === 'pi-origin-rules'
            ? '—'
            : fmtRatio(rep.ratios.find((x) => x.numerator === 'pi-origin' && x.denominator === r.server && x.file === f.name)?.median ?? Number.NaN),
        ]),
        new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
      ),
      '',
    );
  }

  L.push('## Ratios', '');
  if (rep.ratios.length === 0) {
    L.push('No ratios: fewer than two comparable servers were measured.', '');
  } else {
    L.push(
      'Throughput (req/s) ratio, computed per round (both runs in the same round, minutes apart at most) and then the median taken; the range is min–max over rounds. ' +
        '1.00× means equal; above 1 means the first server is faster. ' +
        'The last column is the same kind of ratio for server CPU time per request (below 1 = the first server spends less CPU per request); ' +
        'it stays meaningful when the load generator, not the server, limits throughput (large files).',
      '',
    );
    L.push(
      mdTable(
        ['ratio', 'file', 'req/s median', 'req/s range', 'req/s per round', 'server CPU per request'],
        rep.ratios.map((r) => [
          `${LABELS[r.numerator]} / ${LABELS[r.denominator]}`,
          r.fileLabel,
          `**${fmtRatio(r.median)}**`,
          `${fmtRatio(r.min)}–${fmtRatio(r.max)}`,
          r.perRound.map((x) => x.toFixed(2)).join(', '),
          fmtRatio(r.cpuPerReqMedian),
        ]),
        new Set([2, 5]),
      ),
      '',
    );
  }
  const w = rep.ratios.find((r) => r.numerator === 'pi-origin-w2');
  if (w || rep.servers.some((s) => s.id === 'pi-origin-w2')) {
    L.push('### Workers', '');
    L.push(
      `\`pi-origin --workers 2\` is allowed on CPUs ${rep.servers.find((s) => s.id === 'pi-origin-w2')?.cpus ?? '0,1'} while the load generator stays on CPU ${p.loadgenCpus}: ` +
        'on this machine the second worker **shares a core with the load generator**, so this ratio understates what a second core buys on a real multi-core host ' +
        '(and on a 2-core machine it can even be below 1). It is measured on the 1 KB file only, where per-request CPU cost dominates.' +
        (w ? ` Result: **${fmtRatio(w.median)}** (range ${fmtRatio(w.min)}–${fmtRatio(w.max)}).` : ''),
      '',
    );
  }

  const rules = rep.ratios.find((r) => r.numerator === 'pi-origin-rules');
  if (rules) {
    L.push('### `_redirects` rules', '');
    L.push(
      'pi-origin serving the same 1 KB file from a directory whose `_redirects` holds 1,999 static redirects, 99 placeholder rules and an SPA fallback ' +
        '(the format\'s limits; none matches the file), against pi-origin without rules, same worker count and CPU. ' +
        `Result: **${fmtRatio(rules.median)}** (range ${fmtRatio(rules.min)}–${fmtRatio(rules.max)}), server CPU per request ${fmtRatio(rules.cpuPerReqMedian)}; ` +
        `target: within 5 % of none (${rulesVerdict(rules)}).`,
      '',
    );
  }

  if (rep.notes.length) {
    L.push('## Notes', '');
    for (const n of rep.notes) L.push(`- ${n}`);
    L.push('');
  }

  L.push('<details><summary>Every run</summary>', '');
  L.push(
    mdTable(
      ['round', 'order', 'server', 'file', 'req/s', 'MB/s', 'p99 ms', 'RSS MiB', 'server CPU', 'CPU µs/req', 'load-gen CPU', 'other CPU', 'steal', 'non-2xx/3xx', 'socket errors'],
      rep.runs.map((r) => [
        String(r.round),
        String(r.order + 1),
        LABELS[r.server],
        p.files.find((f) => f.name === r.file)?.label ?? r.file,
        fmtInt(r.reqPerSec),
        fmtFixed(r.bytesPerSec / 1e6, 1),
        fmtFixed(r.latencyP99Ms, 2),
        fmtFixed(r.rssKiB / 1024, 1),
        `${fmtFixed(r.serverCpuPct, 0)}%`,
        fmtFixed(r.serverCpuUsPerReq, 1),
        `${fmtFixed(r.loadgenCpuPct, 0)}%`,
        `${fmtFixed(r.foreignCpuPct, 0)}%`,
        `${fmtFixed(r.stealPct, 0)}%`,
        String(r.non2xx3xx),
        String(r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout),
      ]),
      new Set([0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    ),
    '',
    '</details>',
    '',
  );
  return L.join('\n');
}
