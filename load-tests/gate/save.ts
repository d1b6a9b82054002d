/**
 * Where a gate report goes: `gate-<timestamp>.json` + `.html` (load-tests/report/write.ts) and
 * the same pair as `gate-latest.*`, each written via a temp + rename.
 */
import type { Report } from '../report/model.js';
import { writeReport } from '../report/write.js';

export interface Saved {
  /** `<dir>/gate-<timestamp>.json` */
  readonly json: string;
  /** `<dir>/gate-<timestamp>.html`: the report to look at. */
  readonly html: string;
  /** `<dir>/gate-latest.json`, the same content. */
  readonly latest: string;
}

export function saveReport(report: Report, dir: string): Saved {
  const stamp = report.generated.replace(/[:.]/g, '-');
  const run = writeReport(report, dir, `gate-${stamp}`);
  const latest = writeReport(report, dir, 'gate-latest');
  return { json: run.json, html: run.html, latest: latest.json };
}
