/**
 * The metric names a PromQL expression selects, for checking monitoring/ against the names the
 * server and HAProxy expose. Not a parser: strings, label matchers, ranges and grouping clauses
 * are cut out, then every identifier not called as a function and not an operator keyword is a
 * metric name.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:ms|s|m|h|d|w|y)?\b/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?/g)) {
    if (m[1] !== undefined) continue;
    const name = m[0];
    if (!KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** Every `expr` of a Grafana dashboard's panels (rows' nested panels included). */
export function dashboardExprs(dashboard: { panels?: readonly Panel[] }): string[] {
  return allPanels(dashboard.panels ?? []).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly type: string; readonly uid: string };
  readonly targets?: readonly { readonly refId: string; readonly expr: string; readonly datasource?: { readonly type: string; readonly uid: string } }[];
  readonly panels?: readonly Panel[];
}

export function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every `expr` of a Prometheus rules file, by alert (or record) name. */
export function ruleExprs(rules: { groups: readonly { rules: readonly { alert?: string; record?: string; expr: string }[] }[] }): Map<string, string> {
  return new Map(rules.groups.flatMap((g) => g.rules.map((r) => [r.alert ?? r.record ?? '', r.expr] as const)));
}

/** Every metric name monitoring/alerts.yml and monitoring/grafana-dashboard.json select. */
export function monitoringMetricNames(): string[] {
  const read = (file: string): string => readFileSync(new URL(`../../monitoring/${file}`, import.meta.url), 'utf8');
  const exprs = [...ruleExprs(parse(read('alerts.yml')) as Parameters<typeof ruleExprs>[0]).values(), ...dashboardExprs(JSON.parse(read('grafana-dashboard.json')) as { panels: Panel[] })];
  return [...new Set(exprs.flatMap(metricNames))];
}
