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
  const rows: [string, (r: IndexCostRun) => string][] = [
    ['`release build` (first)', (r) => sec(r.build.ms)],
    ['build peak RSS', (r) => `${fmtInt(r.build.peakRssMiB)} MiB`],
    ['manifest.json', (r) => `${(r.manifestBytes / MiB).toFixed(1)} MiB`],
    ['file table (shared by the workers)', (r) => `${(r.table.bytes / MiB).toFixed(1)} MiB (${r.table.bytesPerFile} B/file)`],
    ['table built from the manifest (in-process)', (r) => sec(r.table.loadMs)],
    ...[2, 4].flatMap((w): [string, (r: IndexCostRun) => string][] => [
      [`\`serve\` ready, ${w} workers`, (r) => (serveOf(r, w) === undefined ? 'n/a' : sec(serveOf(r, w)?.readyMs ?? NaN))],
      [`serve RSS after 2,000 requests, ${w} workers`, (r) => (serveOf(r, w) === undefined ? 'n/a' : `${fmtInt(serveOf(r, w)?.rssMiB ?? NaN)} MiB`)],
    ]),
    ['publish: build with new files', (r) => `${fmtInt(r.publish.files)} files: ${sec(r.publish.ms)}, ${fmtInt(r.publish.peakRssMiB)} MiB${r.publish.incremental ? ' (incremental)' : ' (full build)'}`],
    ['publish: `verify --parent` of the new release', (r) => (r.publish.verifyMs === undefined ? 'n/a' : `${sec(r.publish.verifyMs)}, ${fmtInt(r.publish.verifyPeakRssMiB ?? NaN)} MiB`)],
    ['one lookup: table / stat(2) of the path', (r) => `${fmtInt(r.lookup.tableNs)} ns / ${fmtInt(r.lookup.statNs)} ns`],
  ];
  const first = runs[runs.length - 1] as IndexCostRun;
  return [
    '',
    '## Index cost',
    '',
    `From \`npm run bench:index -- --files N\` (${first.cpu}, ${first.cores} cores, Node ${first.node}; latest ${first.date}): a piwheels-shaped tree, ${fmtInt(first.perDirectory)} small files per project directory, built into a release and served. RSS is the process's (all workers are threads of it).`,
    '',
    `| measure | ${runs.map((r) => `${fmtInt(r.files)} files`).join(' | ')} |`,
    `| --- | ${runs.map(() => '---:').join(' | ')} |`,
    ...rows.map(([name, cell]) => `| ${name} | ${runs.map(cell).join(' | ')} |`),
    '',
  ].join('\n');
}
