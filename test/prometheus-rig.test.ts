/**
 * A real Prometheus (Debian's binary) scraping real origin nodes over IPv6 on the namespace rig
 * (test/rig/netns.ts): two IPv6-only hosts on fd00:cafe:0:b::/64, each serving the built server,
 * and Prometheus in the root namespace on [::1] with monitoring/alerts.yml loaded and the
 * targets file that `pi-origin cluster prometheus-targets` writes from the rig's own inventory.
 * Every target comes up with its node and group labels, the release info series is queryable,
 * every alert and dashboard expression is valid PromQL to this Prometheus and every rule
 * evaluates without error, and a killed node turns PiOriginNodeDown pending.
 * Needs root (CI runs as root) and the `prometheus` package.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { MAIN, runCli } from './helpers/cli.js';
import { freePort } from './helpers/cluster.js';
import { dashboardExprs, ruleExprs, type Panel } from './helpers/promql.js';
import { waitFor } from './helpers/wait.js';
import { createRig } from './rig/netns.js';

const PREFIX = 'pip';
const SUBNET = 'fd00:cafe:0:b';
const PORT = 8080;
const MONITORING = fileURLToPath(new URL('../monitoring/', import.meta.url));
const SKIP = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'prometheus is not installed (Debian: apt install prometheus)' : false;

interface Target {
  readonly labels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: string;
  readonly lastError: string;
}
interface RuleState {
  readonly name: string;
  readonly health: string;
  readonly lastError?: string;
  readonly lastEvaluation: string;
}

t.test('Prometheus scrapes two rig nodes over IPv6 from prometheus-targets output', { skip: SKIP }, async (t) => {
  const dir = t.testdir({ site: { 'index.html': '<h1>rig</h1>\n' }, sd: {} });
  const rig = await createRig({ nodes: 2, prefix: PREFIX, subnet: SUBNET });
  t.teardown(() => rig.destroy());
  // Prometheus asks from the root namespace: the bridge address, which --admin-allow names.
  const servers = rig.nodes.map((n) =>
    rig.spawn(n, [process.execPath, MAIN, 'serve', join(dir, 'site'), '--listen', `[${n.address}]:${PORT}`, '--workers', '1', '--no-watch', '--node-name', n.name, '--admin-allow', `${rig.gateway}/128`], { stdio: 'ignore' }),
  );
  t.teardown(() => servers.forEach((s) => s.kill('SIGKILL')));
  const releases = new Map<string, string>();
  for (const n of rig.nodes) {
    const health = await waitFor(`${n.name}'s origin server`, async () => {
      try {
        const res = await fetch(`http://[${n.address}]:${PORT}/_origin/health`, { signal: AbortSignal.timeout(1000) });
        return res.status === 200 ? await res.text() : undefined;
      } catch {
        return undefined;
      }
    }, 15_000);
    releases.set(n.name, /^ok ([0-9a-f]{12})\n$/.exec(health)?.[1] ?? `unexpected health ${JSON.stringify(health)}`);
  }

  // The rig's inventory as the operator's: no origin_node_port, so the default 8080.
  const targetsFile = join(dir, 'sd/origins.json');
  const targets = await runCli(['cluster', 'prometheus-targets', '-i', rig.inventoryPath, '-o', targetsFile]);
  t.equal(targets.code, 0, targets.stderr);

  const port = await freePort();
  const api = `http://[::1]:${port}/api/v1`;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}',
      `rule_files: [${JSON.stringify(join(MONITORING, 'alerts.yml'))}]`,
      'scrape_configs:',
      '  - job_name: pi-origin',
      '    metrics_path: /_origin/metrics',
      `    file_sd_configs: [{files: [${JSON.stringify(targetsFile)}]}]`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'data'));
  const prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=[::1]:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  prometheus.stderr.setEncoding('utf8').on('data', (s: string) => (log += s));
  t.teardown(() => prometheus.kill('SIGKILL'));
  const get = async <T>(path: string): Promise<T | undefined> => {
    try {
      const res = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { status: string; data: T };
      return body.status === 'success' ? body.data : undefined;
    } catch {
      return undefined;
    }
  };

  const startedAt = Date.now();
  let up: Target[];
  try {
    up = await waitFor(
      'both targets up',
      async () => {
        const data = await get<{ activeTargets: Target[] }>('/targets?state=active');
        const active = data?.activeTargets ?? [];
        return active.length === 2 && active.every((a) => a.health === 'up') ? active : undefined;
      },
      30_000,
    );
  } catch (e) {
    t.fail(`${(e as Error).message}\nPrometheus: ${log}`);
    return;
  }
  t.comment(`both targets up ${Date.now() - startedAt} ms after start`);
  t.same(
    up.map((a) => [a.labels.node, a.labels.group, a.labels.instance, a.scrapeUrl]).sort(),
    rig.nodes.map((n) => [n.name, 'origins', `[${n.address}]:${PORT}`, `http://[${n.address}]:${PORT}/_origin/metrics`]),
    'one target per node: bracketed IPv6 instance, node and group labels from the inventory',
  );

  const info = await get<{ result: { metric: Record<string, string> }[] }>('/query?query=' + encodeURIComponent('pi_origin_release_info{job="pi-origin"}'));
  t.same(
    (info?.result ?? []).map((r) => [r.metric.node, r.metric.release]).sort(),
    rig.nodes.map((n) => [n.name, releases.get(n.name)]),
    "pi_origin_release_info through /api/v1/query: each node's release, labelled with its inventory name",
  );

  // Every expression monitoring/ ships is valid PromQL to a real Prometheus (Grafana's
  // variables filled in as Grafana would).
  const alerts = ruleExprs(parse(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')) as Parameters<typeof ruleExprs>[0]);
  const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[] };
  for (const expr of [...alerts.values(), ...dashboardExprs(dashboard)]) {
    const q = expr.replaceAll('$__rate_interval', '1m').replaceAll('$node', '.*');
    t.ok((await get<unknown>('/query?query=' + encodeURIComponent(q))) !== undefined, `accepted: ${q}`);
  }
  const rules = await waitFor(
    'every rule evaluated',
    async () => {
      const data = await get<{ groups: { rules: RuleState[] }[] }>('/rules');
      const all = (data?.groups ?? []).flatMap((g) => g.rules);
      return all.length === alerts.size && all.every((r) => !r.lastEvaluation.startsWith('0001-')) ? all : undefined;
    },
    15_000,
  );
  t.same(rules.filter((r) => r.health !== 'ok').map((r) => [r.name, r.lastError]), [], 'every rule evaluates without error on real series');

  // A node that stops answering: its target goes down and PiOriginNodeDown waits out its `for`.
  servers[1]?.kill('SIGKILL');
  const pending = await waitFor(
    'PiOriginNodeDown pending for node2',
    async () => {
      const data = await get<{ alerts: { labels: Record<string, string>; state: string }[] }>('/alerts');
      return data?.alerts.find((a) => a.labels.alertname === 'PiOriginNodeDown' && a.labels.node === 'node2');
    },
    20_000,
  );
  t.equal(pending.state, 'pending', 'pending (it fires after a minute down)');
});
