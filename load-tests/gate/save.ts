/**
 * Where a gate report goes. The one place that writes it, so the shared report writer
 * (load-tests/report/write.ts `writeReport`, JSON plus HTML) can replace this body.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from '../report/model.js';

export interface Saved {
  /** `<dir>/gate-<timestamp>.json` */
  readonly json: string;
  /** `<dir>/gate-latest.json`, the same content. */
  readonly latest: string;
}

/** Writes the report as `gate-<timestamp>.json` and `gate-latest.json` (each via a temp + rename). */
export function saveReport(report: Report, dir: string): Saved {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(report, null, 2) + '\n';
  const stamp = report.generated.replace(/[:.]/g, '-');
  const json = join(dir, `gate-${stamp}.json`);
  const latest = join(dir, 'gate-latest.json');
  for (const path of [json, latest]) {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  }
  return { json, latest };
}
