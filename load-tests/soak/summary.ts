/** The soak's progress line (stderr) and its one-screen summary (stdout). */
import type { Report } from '../report/model.js';
import { formatSeconds, type Progress } from './profile.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const signedMib = (bytes: number): string => `${bytes < 0 ? '-' : '+'}${mib(Math.abs(bytes))}`;
const signedInt = (n: number): string => `${n < 0 ? '' : '+'}${int(n)}`;

/** `soak  1m40s/10m  500 req/s  RSS 71.2 MiB (+1.3 MiB)  fds 42 (+0)` */
export function progressLine(p: Progress, rate: number): string {
  const parts = [`soak  ${formatSeconds(p.t)}/${formatSeconds(p.durationSec)}`, `${int(rate)} req/s`, `${int(p.responses)} responses`];
  if (p.sample !== undefined) {
    // Changes are from the baseline after warm-up; none are shown before it.
    parts.push(`RSS ${mib(p.sample.rssBytes)}${p.rssDelta === undefined ? ' (warming up)' : ` (${signedMib(p.rssDelta)})`}`);
    parts.push(`fds ${int(p.sample.fds)}${p.fdDelta === undefined ? '' : ` (${signedInt(p.fdDelta)})`}`);
  }
  return parts.join('  ');
}

export function renderSoakSummary(report: Report, saved: string | undefined): string {
  const run = report.runs[0];
  const out = [`${report.title}: ${report.passed === true ? 'PASS' : 'FAIL'}`];
  if (run !== undefined) {
    out.push(`${int(run.requests)} responses, ${int(run.achievedRate)}/s achieved of ${int(run.offeredRate ?? 0)}/s offered, p99 ${run.latency.p99.toFixed(2)} ms (corrected)`, '');
    const verdicts = run.verdicts ?? [];
    const width = Math.max(...verdicts.map((v) => v.check.length));
    for (const v of verdicts) out.push(`${v.check.padEnd(width)}  ${v.ok ? 'ok  ' : 'FAIL'}  ${v.detail}`);
  }
  const target = report.notes.find((n) => n.startsWith('target: '));
  if (target !== undefined) out.push('', target);
  if (saved !== undefined) out.push('', `report: ${saved}`);
  return out.join('\n');
}
