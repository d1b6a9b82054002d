/**
 * The one place the bench writes its model Report (load-tests/report/model.ts): JSON and the
 * HTML report side by side (load-tests/report/write.ts).
 */
import type { Report } from '../report/model.js';
import { writeReport } from '../report/write.js';

export const REPORT_BASENAME = 'bench-report';

/** Writes `<dir>/bench-report.json` and `<dir>/bench-report.html`; returns the paths written. */
export function saveReport(report: Report, dir: string): string[] {
  const { json, html } = writeReport(report, dir, REPORT_BASENAME);
  return [json, html];
}
