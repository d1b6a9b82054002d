/** The gate and bench reports the dashboard links to, and the only paths it serves files from. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ReportLink } from './dashboard-state.js';

/** Reports listed, newest first: enough for a launch day's gate runs without a wall of links. */
export const MAX_REPORTS = 12;
/** The names load-tests/report/write.ts gives reports: `gate-<time>`, `gate-latest`, `bench-report`. */
export const REPORT_FILE = /^(gate-[A-Za-z0-9-]+|bench-report)\.(html|json)$/;

/**
 * The gate and bench reports in `dirs` (not recursive), newest first, at most {@link MAX_REPORTS}.
 * A missing directory lists nothing: `load-tests/out` exists only once the gate has run.
 */
export function listReports(dirs: readonly string[]): ReportLink[] {
  const found: (ReportLink & { mtime: number })[] = [];
  dirs.forEach((dir, i) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = REPORT_FILE.exec(name);
      if (m === null || m[2] !== 'html') continue;
      let stat;
      try {
        stat = statSync(join(dir, name));
      } catch {
        continue;
      }
      if (!stat.isFile()) continue;
      const json = `${m[1] as string}.json`;
      found.push({
        kind: name.startsWith('gate-') ? 'gate' : 'bench',
        name,
        href: reportHref(i, name),
        jsonHref: existsSync(join(dir, json)) ? reportHref(i, json) : null,
        modified: stat.mtime.toISOString(),
        mtime: stat.mtimeMs,
      });
    }
  });
  found.sort((a, b) => b.mtime - a.mtime || (a.name < b.name ? -1 : 1));
  return found.slice(0, MAX_REPORTS).map(({ mtime: _, ...link }) => link);
}

/** `/reports/<index of the directory>/<file>`: the only paths the dashboard serves files from. */
export function reportHref(dirIndex: number, name: string): string {
  return `/reports/${dirIndex}/${encodeURIComponent(name)}`;
}
