import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../common/package-root.js';
import { fmtInt, readJson } from './util.js';

/**
 * The index-cost figures (`npm run bench:index` writes load-tests/index-cost.json) are kept in
 * RESULTS.md too, so every speed and memory claim lives in one file.
 */
export function indexCostSection(): string {
  const path = join(packageRoot(), 'load-tests', 'index-cost.json');
  if (!existsSync(path)) return '';
  const c = readJson(path) as Record<string, string | number>;
  return [
    '',
    '## Index cost',
    '',
    `From \`${String(c['command'])}\` on ${String(c['date'])} (${String(c['cpu'])}, ${String(c['cores'])} cores, Node ${String(c['node'])}).`,
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| files | ${fmtInt(Number(c['files']))} |`,
    `| scan + hash (main thread) | ${fmtInt(Number(c['scanAndHashMs']))} ms |`,
    `| build the lookup (each worker) | ${fmtInt(Number(c['buildLookupMs']))} ms |`,
    `| total | ${fmtInt(Number(c['totalMs']))} ms |`,
    `| worker lookup heap per file | ${fmtInt(Number(c['workerLookupBytesPerFile']))} B |`,
    `| main-thread scan data per file (plain index + hash cache, kept for re-scans and worker restarts) | ${fmtInt(Number(c['mainThreadScanBytesPerFile']))} B |`,
    '',
  ].join('\n');
}
