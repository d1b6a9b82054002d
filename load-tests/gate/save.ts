/**
 * Where a gate or soak report goes: `<kind>-<timestamp>.json` + `.html`
 * (load-tests/report/write.ts) and the same pair as `<kind>-latest.*`, each written via a temp +
 * rename.
 */
import type { Report } from '../report/model.js';
import { writeReport } from '../report/write.js';

export interface Saved {
  /** `<dir>/<kind>-<timestamp>.json` */
  readonly json: string;
  /** `<dir>/<kind>-<timestamp>.html`: the report to look at. */
  readonly html: string;
  /** `<dir>/<kind>-latest.json`, the same content. */
  readonly latest: string;
}

export function saveReport(report: Report, dir: string): Saved {
  const stamp = report.generated.replace(/[:.]/g, '-');
  const run = writeReport(report, dir, `${report.kind}-${stamp}`);
  const latest = writeReport(report, dir, `${report.kind}-latest`);
  return { json: run.json, html: run.html, latest: latest.json };
}
