/** `pi-origin cluster prometheus-targets`: Prometheus file_sd targets from the inventory. */
import { DEFAULT_GROUP, readInventory } from '../cluster/inventory.js';
import { HAPROXY_EXPORTER_PORT, haproxyTargets, originTargets, PROXY_GROUP, renderFileSd } from '../cluster/prometheus-targets.js';
import { writeFileAtomic } from '../common/write-atomic.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';

export const PROMETHEUS_TARGETS: Subcommand = {
  summary: 'write Prometheus file_sd targets (origin nodes or HAProxy exporters) from the inventory',
  usage: `pi-origin cluster prometheus-targets --inventory FILE [--output FILE] [--group NAME] [--haproxy]`,
  help: [
    'Reads the Ansible inventory (INI or YAML) and writes a Prometheus file_sd_configs file: one',
    'target group per host, target ADDRESS:PORT with IPv6 literals in brackets (RFC 5952), labels',
    'node (the inventory name) and group. ADDRESS is ansible_host (else the host name).',
    '',
    `Origin nodes (default, group ${DEFAULT_GROUP}): PORT is origin_node_port (else 8080); scrape them`,
    'with metrics_path /_origin/metrics (the Prometheus host must be in --admin-allow).',
    `With --haproxy (group ${PROXY_GROUP}): the dualstack_proxy role's HAProxy exporter, PORT is`,
    `dualstack_proxy_metrics_port (else ${HAPROXY_EXPORTER_PORT}; 0 leaves the proxy out), metrics_path /metrics.`,
    '',
    "With --output the file is replaced atomically (Prometheus reloads it on change and never",
    'reads half of it); without, the JSON goes to stdout. monitoring/prometheus.yml in the',
    'package is a scrape configuration that reads both files.',
    '',
    'Exit 0 when written; 1 when the inventory is invalid; 2 for a usage error.',
    '',
    'Options:',
    '  -i, --inventory FILE  the Ansible inventory the playbooks use (required)',
    '  -o, --output FILE     write here instead of stdout (e.g. /etc/prometheus/pi-origin/origins.json)',
    `  --group NAME          inventory group, children included (default ${DEFAULT_GROUP}, ${PROXY_GROUP} with --haproxy)`,
    "  --haproxy             the proxies' HAProxy exporters instead of the origin nodes",
  ].join('\n'),
  examples: [
    'pi-origin cluster prometheus-targets -i inventory.ini -o /etc/prometheus/pi-origin/origins.json',
    'pi-origin cluster prometheus-targets -i inventory.ini --haproxy -o /etc/prometheus/pi-origin/haproxy.json',
  ],
  flags: { inventory: 'value', output: 'value', group: 'value', haproxy: 'boolean' },
  short: { i: 'inventory', o: 'output' },
  run: prometheusTargets,
};

function prometheusTargets(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const inventoryPath = flags.get('inventory');
  if (typeof inventoryPath !== 'string') throw new UsageError('--inventory FILE is required');
  const haproxy = flags.has('haproxy');
  const group = (flags.get('group') as string | undefined) ?? (haproxy ? PROXY_GROUP : DEFAULT_GROUP);
  const inventory = readInventory(inventoryPath, group);
  const text = renderFileSd(haproxy ? haproxyTargets(inventory) : originTargets(inventory));
  const output = flags.get('output');
  if (typeof output !== 'string') {
    process.stdout.write(text);
    return Promise.resolve(0);
  }
  try {
    writeFileAtomic(output, text);
  } catch (e) {
    return Promise.resolve(fail(`--output: cannot write ${output}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 1));
  }
  return Promise.resolve(0);
}
