/** The gate's one-screen summary: a line per scenario, then every failed check with its detail. */
import type { Report } from '../report/model.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');

export function renderSummary(report: Report, saved: string | undefined): string {
  const head = ['scenario', 'offered/s', 'achieved/s', 'p99 ms', 'errors', 'non-2xx/3xx', 'checks'];
  const rows = report.runs.map((r) => {
    const failed = (r.verdicts ?? []).filter((v) => !v.ok).map((v) => v.check);
    return [r.name, int(r.offeredRate ?? 0), int(r.achievedRate), r.latency.p99.toFixed(2), int(r.errors), int(r.non2xx3xx), failed.length === 0 ? 'ok' : `FAIL ${failed.join(', ')}`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
  const out = [`${report.title}: ${report.passed === true ? 'PASS' : 'FAIL'}`, '', line(head), ...rows.map(line)];
  for (const r of report.ratios) out.push(`ratio ${r.label}: ${Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : 'n/a'}`);
  const failures = report.runs.flatMap((r) => (r.verdicts ?? []).filter((v) => !v.ok).map((v) => `  ${r.name} ${v.check}: ${v.detail}`));
  if (failures.length > 0) out.push('', 'failed:', ...failures);
  else if (report.runs.length === 0) out.push('', 'failed: no scenario ran');
  const skipped = report.notes.filter((n) => n.includes(': skipped'));
  if (skipped.length > 0) out.push('', ...skipped);
  if (saved !== undefined) out.push('', `report: ${saved}`);
  return out.join('\n');
}
