/** Write a run's report as `<basename>.html` (the readable one) and `<basename>.json` (the data). */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/write-atomic.js';
import { renderHtmlReport } from './html.js';
import type { Report } from './model.js';

/**
 * Write both files into `dir` (created when missing) and return their absolute paths.
 * Each file is written under a temporary name and renamed into place, so a reader (or a
 * browser left open on the report) never sees a half-written file, and a failed run leaves
 * the previous report intact.
 */
export function writeReport(report: Report, dir: string, basename: string): { html: string; json: string } {
  if (!basename || /[/\\]/.test(basename) || basename === '.' || basename === '..') {
    throw new TypeError(`report basename must be a plain file name, got ${JSON.stringify(basename)}`);
  }
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const html = join(root, `${basename}.html`);
  const json = join(root, `${basename}.json`);
  writeFileAtomic(json, JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(html, renderHtmlReport(report));
  return { html, json };
}
