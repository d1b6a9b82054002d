import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../common/package-root.js';
import { fmtInt, readJson } from './util.js';

/** One `npm run bench:index -- --files N` run (load-tests/bench/index-cost.ts). */
export interface IndexCostRun {
  readonly date: string;
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly files: number;
  readonly perDirectory: number;
  readonly build: { readonly ms: number; readonly peakRssMiB: number };
  readonly manifestBytes: number;
  readonly table: { readonly bytes: number; readonly bytesPerFile: number; readonly loadMs: number };
  readonly lookup: { readonly tableNs: number; readonly statNs: number };
  readonly serve: readonly { readonly workers: number; readonly readyMs: number; readonly rssMiB: number; readonly peakRssMiB: number }[];
  readonly publish: { readonly files: number; readonly ms: number; readonly peakRssMiB: number; readonly incremental: boolean; readonly verifyMs?: number; readonly verifyPeakRssMiB?: number };
  readonly command: string;
}

/** load-tests/index-cost.json: the latest run per file count. */
export interface IndexCostFile {
  readonly runs: Readonly<Record<string, IndexCostRun>>;
}

export const INDEX_COST_FILE = (): string => join(packageRoot(), 'load-tests', 'index-cost.json');

/** The runs on record, smallest first (an older single-run file has none). */
export function indexCostRuns(path = INDEX_COST_FILE()): IndexCostRun[] {
  if (!existsSync(path)) return [];
  const data = readJson(path) as Partial<IndexCostFile>;
  return Object.values(data.runs ?? {}).sort((a, b) => a.files - b.files);
}

const MiB = 1024 * 1024;
const sec = (ms: number): string => (ms / 1000).toFixed(1) + ' s';
const serveOf = (r: IndexCostRun, workers: number): IndexCostRun['serve'][number] | undefined => r.serve.find((s) => s.workers === workers);

/**
 * The index-cost figures (`npm run bench:index` writes load-tests/index-cost.json) are kept in
 * RESULTS.md too, so every speed and memory claim lives in one file. With runs at two sizes,
 * 10,000,000 files are extrapolated from them (linear in the file count).
 */
export function indexCostSection(runs = indexCostRuns()): string {
  if (runs.length === 0) return '';
  const mib = (n: number): string => `${fmtInt(n)} MiB`;
  const serve = (w: number, pick: (s: IndexCostRun['serve'][number]) => number) => (r: IndexCostRun): number => {
    const s = serveOf(r, w);
    return s === undefined ? NaN : pick(s);
  };
  // Each row: its name, the figure of a run, and how to print it (so a scaled run prints alike).
  const rows: [string, (r: IndexCostRun) => number, (n: number) => string, boolean?][] = [
    ['`release build` (first)', (r) => r.build.ms, sec],
    ['build peak RSS', (r) => r.build.peakRssMiB, mib],
    ['manifest.json', (r) => r.manifestBytes / MiB, (n) => `${n.toFixed(1)} MiB`],
    ['file table (shared by the workers)', (r) => r.table.bytes / MiB, (n) => `${n.toFixed(1)} MiB`],
    ['table built from the manifest (in-process)', (r) => r.table.loadMs, sec],
    ...[2, 4].flatMap((w): [string, (r: IndexCostRun) => number, (n: number) => string][] => [
      [`\`serve\` ready, ${w} workers`, serve(w, (x) => x.readyMs), sec],
      [`serve RSS after 2,000 requests, ${w} workers`, serve(w, (x) => x.rssMiB), mib],
    ]),
    ['publish 1,000 files: incremental build', (r) => (r.publish.incremental ? r.publish.ms : NaN), sec],
    ['publish: its peak RSS', (r) => (r.publish.incremental ? r.publish.peakRssMiB : NaN), mib],
    ['publish: `verify --parent` of the new release', (r) => r.publish.verifyMs ?? NaN, sec],
    // A hash probe does not grow with the files: the largest run's figure, not a line through two.
    ['one lookup: the table (a stat(2) of the path costs ~4x)', (r) => r.lookup.tableNs, (n) => `${fmtInt(n)} ns`, false],
  ];
  const cell = (f: (n: number) => string, n: number): string => (Number.isFinite(n) ? f(n) : 'n/a');
  // Two sizes measured: 10,000,000 files on paper, each figure a + b x files through the two largest.
  const [small, large] = runs.slice(-2);
  const scaled = runs.length >= 2 && small !== undefined && large !== undefined && large.files < PAPER_FILES;
  const onPaper = (get: (r: IndexCostRun) => number): number => {
    const [a, b] = [get(small as IndexCostRun), get(large as IndexCostRun)];
    return a + ((b - a) * (PAPER_FILES - (small as IndexCostRun).files)) / ((large as IndexCostRun).files - (small as IndexCostRun).files);
  };
  const last = runs[runs.length - 1] as IndexCostRun;
  return [
    '',
    '## Index cost',
    '',
    `From \`npm run bench:index -- --files N\` (${last.cpu}, ${last.cores} cores, Node ${last.node}; latest ${last.date}): a piwheels-shaped tree, ${fmtInt(last.perDirectory)} small files per project directory, built into a release and served. RSS is the process's (all workers are threads of it).` +
      (scaled ? ` The last column is not measured: each figure is scaled linearly from the ${fmtInt(small.files)}- and ${fmtInt(large.files)}-file runs.` : ''),
    '',
    `| measure | ${runs.map((r) => `${fmtInt(r.files)} files`).join(' | ')}${scaled ? ` | ${fmtInt(PAPER_FILES)} (scaled) |` : ' |'}`,
    `| --- | ${runs.map(() => '---:').join(' | ')}${scaled ? ' | ---: |' : ' |'}`,
    ...rows.map(([name, get, f, scales = true]) => `| ${name} | ${runs.map((r) => cell(f, get(r))).join(' | ')}${scaled ? ` | ${scales ? cell(f, onPaper(get)) : `${cell(f, get(last))} (as at ${fmtInt(last.files)})`} |` : ' |'}`),
    '',
  ].join('\n');
}

/** The file count RESULTS.md plans for on paper. */
export const PAPER_FILES = 10_000_000;
