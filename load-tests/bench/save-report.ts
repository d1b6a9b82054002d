/**
 * The one place the bench writes its model Report (load-tests/report/model.ts). When
 * load-tests/report/write.ts lands, this becomes `writeReport(report, dir, REPORT_BASENAME)`
 * (JSON and HTML side by side) and nothing else changes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../report/model.js';

export const REPORT_BASENAME = 'bench-report';

/** Writes `<dir>/bench-report.json`; returns the paths written. */
export function saveReport(report: Report, dir: string): string[] {
  const path = join(dir, `${REPORT_BASENAME}.json`);
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
  return [path];
}
