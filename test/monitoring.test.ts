/**
 * monitoring/ as it ships: promtool accepts the rules and the scrape configuration (with
 * file_sd files as `cluster prometheus-targets` writes them), the rules' unit tests pass and
 * cover every alert, and the Grafana dashboard (Grafana is not packaged in Debian, so checked
 * structurally) has unique panel ids, one data source variable every query uses, and selects
 * only metric names the server (issue 14's contract), HAProxy's exporter and the Blackbox
 * exporter expose. Needs Debian's `prometheus` package for promtool.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { parseNodeAddress, type NodeAddress } from '../cluster/address.js';
import { originTargets, renderFileSd, haproxyTargets } from '../cluster/prometheus-targets.js';
import type { Inventory } from '../cluster/inventory.js';
import { allPanels, dashboardExprs, metricNames, ruleExprs, type Panel } from './helpers/promql.js';

const DIR = fileURLToPath(new URL('../monitoring/', import.meta.url));
const PROMTOOL = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
const NO_PROMTOOL = PROMTOOL ? false : 'promtool is not installed (Debian: apt install prometheus)';

/** What the server exposes (/work/wt/CONTRACT-14.md: pi_origin_*, prom-client's process_* and nodejs_*), `up` from Prometheus, and the exporters'. */
const SERVER_METRICS = new Set([
  'pi_origin_http_requests_total',
  'pi_origin_http_response_duration_seconds_bucket',
  'pi_origin_http_response_duration_seconds_sum',
  'pi_origin_http_response_duration_seconds_count',
  'pi_origin_http_response_bytes_total',
  'pi_origin_http_responses_aborted_total',
  'pi_origin_cache_hits_total',
  'pi_origin_cache_misses_total',
  'pi_origin_cache_bytes',
  'pi_origin_read_errors_total',
  'pi_origin_inflight_responses',
  'pi_origin_active_connections',
  'pi_origin_workers_serving',
  'pi_origin_worker_restarts_total',
  'pi_origin_release_info',
  'pi_origin_build_info',
  'process_resident_memory_bytes',
  'process_open_fds',
  'process_max_fds',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'nodejs_eventloop_lag_p99_seconds',
]);
/** Checked against a real HAProxy's exporter in test/front.test.ts. */
const HAPROXY = /^haproxy_[a-z_]+$/;
const OTHER = new Set(['up', 'probe_ssl_earliest_cert_expiry']);

function known(name: string): boolean {
  return SERVER_METRICS.has(name) || HAPROXY.test(name) || OTHER.has(name);
}

function promtool(args: readonly string[], cwd = DIR): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as Parameters<typeof ruleExprs>[0];
const alerts = ruleExprs(rules);
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] } };

t.test('promtool check rules and promtool test rules pass', { skip: NO_PROMTOOL }, (t) => {
  const check = promtool(['check', 'rules', 'alerts.yml']);
  t.equal(check.code, 0, check.out);
  const test = promtool(['test', 'rules', 'alerts.test.yml']);
  t.equal(test.code, 0, test.out);
  t.end();
});

t.test('every alert has a unit test that sees it fire', (t) => {
  const tests = parse(readFileSync(join(DIR, 'alerts.test.yml'), 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
  const fired = new Set(tests.tests.flatMap((c) => (c.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  t.ok(alerts.size >= 8, `alerts: ${[...alerts.keys()].join(', ')}`);
  for (const name of alerts.keys()) t.ok(fired.has(name), `${name} is seen firing in alerts.test.yml`);
  t.end();
});

t.test('the issue\'s alerts are there, on the series they are about', (t) => {
  t.equal(alerts.get('PiOriginNodeDown'), 'up{job="pi-origin"} == 0');
  t.equal(alerts.get('PiOriginReleaseSkew'), 'count(count by (release) (pi_origin_release_info{job="pi-origin"})) > 1');
  t.match(alerts.get('PiOrigin5xxRatioHigh'), /pi_origin_http_requests_total\{job="pi-origin",code=~"5\.\."\}/);
  t.match(alerts.get('PiOriginLatencyP99High'), /histogram_quantile\(0\.99, sum by \(node, le\) \(rate\(pi_origin_http_response_duration_seconds_bucket/);
  t.match(alerts.get('PiOriginWorkerRestarts'), /pi_origin_worker_restarts_total/);
  t.match(alerts.get('PiOriginMemoryGrowth'), /process_resident_memory_bytes/);
  t.match(alerts.get('HAProxyBackendNoServerUp'), /haproxy_backend_active_servers\{job="haproxy"\} == 0/);
  t.match(alerts.get('TLSCertificateExpiresSoon'), /probe_ssl_earliest_cert_expiry/);
  t.end();
});

t.test('rules and dashboard select only metric names that are exposed', (t) => {
  const exprs = [...alerts.values(), ...dashboardExprs(dashboard)];
  t.ok(exprs.length > 30, `${exprs.length} expressions`);
  for (const expr of exprs) {
    const names = metricNames(expr);
    t.ok(names.length > 0, `selects something: ${expr}`);
    for (const name of names) t.ok(known(name), `${name} is exposed (in: ${expr})`);
  }
  t.same(metricNames('sum by (le) (rate(a_bucket{x="y{z}"}[5m])) / on(node) group_left(release) b and c offset 5m > bool time()'), ['a_bucket', 'b', 'c'], 'the extractor itself');
  t.end();
});

t.test('dashboard: unique ids, one data source variable every panel and query uses, a node variable', (t) => {
  const panels = allPanels(dashboard.panels);
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  t.ok(ids.every((id) => Number.isInteger(id) && id > 0), 'positive integer ids');
  const ds = dashboard.templating.list.filter((v) => v.type === 'datasource');
  t.same(ds.map((v) => [v.name, v.query]), [['datasource', 'prometheus']], 'one Prometheus data source variable');
  const ref = { type: 'prometheus', uid: '${datasource}' };
  for (const p of panels.filter((p) => p.type !== 'row')) {
    t.same(p.datasource, ref, `${p.title}: the panel uses $datasource`);
    t.ok((p.targets ?? []).length > 0, `${p.title}: has a query`);
    for (const q of p.targets ?? []) t.same(q.datasource, ref, `${p.title} ${q.refId}: the query uses $datasource`);
    const refIds = (p.targets ?? []).map((q) => q.refId);
    t.equal(new Set(refIds).size, refIds.length, `${p.title}: unique refIds`);
  }
  const node = dashboard.templating.list.find((v) => v.name === 'node');
  t.same(node?.datasource, ref, 'the node variable asks $datasource');
  t.ok(dashboardExprs(dashboard).filter((e) => e.includes('job="pi-origin"')).every((e) => e.includes('node=~"$node"')), 'every origin query follows the node variable');
  t.end();
});

t.test('promtool check config accepts prometheus.yml with file_sd files from prometheus-targets', { skip: NO_PROMTOOL }, (t) => {
  const dir = t.testdir({});
  const v6 = parseNodeAddress('fd00:cafe:0:0::11') as NodeAddress;
  const inventory: Inventory = { file: 'hosts.ini', format: 'ini', reader: 'own', group: 'origins', hosts: [{ name: 'node1', address: v6, port: 8080, vars: {} }] };
  writeFileSync(join(dir, 'origins.json'), renderFileSd(originTargets(inventory)));
  writeFileSync(join(dir, 'haproxy.json'), renderFileSd(haproxyTargets({ ...inventory, group: 'proxies' })));
  copyFileSync(join(DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
  const config = readFileSync(join(DIR, 'prometheus.yml'), 'utf8');
  const parsed = parse(config) as { rule_files: string[]; scrape_configs: { job_name: string; file_sd_configs?: { files: string[] }[] }[] };
  const files = [...parsed.rule_files, ...parsed.scrape_configs.flatMap((j) => (j.file_sd_configs ?? []).flatMap((f) => f.files))];
  t.same(files, ['/etc/prometheus/pi-origin/alerts.yml', '/etc/prometheus/pi-origin/origins.json', '/etc/prometheus/pi-origin/haproxy.json'], 'the rules and both target files, in /etc/prometheus/pi-origin/');
  t.same(parsed.scrape_configs.map((j) => j.job_name), ['pi-origin', 'haproxy', 'blackbox-tls'], 'the jobs the alerts and the dashboard select');
  writeFileSync(join(dir, 'prometheus.yml'), config.replaceAll('/etc/prometheus/pi-origin/', `${dir}/`));
  const good = promtool(['check', 'config', 'prometheus.yml'], dir);
  t.equal(good.code, 0, good.out);
  // promtool reads the file_sd files too: a broken one fails the check, so the pass means something.
  writeFileSync(join(dir, 'origins.json'), '[{"targets": "[fd00:cafe::11]:8080"}]\n');
  t.not(promtool(['check', 'config', 'prometheus.yml'], dir).code, 0, 'a malformed targets file is refused');
  t.end();
});

t.test('monitoring/ ships in the npm package', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { files: string[] };
  t.ok(pkg.files.includes('monitoring'), 'package.json "files" lists monitoring');
  t.end();
});
