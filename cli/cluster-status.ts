/** `pi-origin cluster status`: every node's /_origin/status as one table. */
import { DEFAULT_GROUP } from '../cluster/inventory.js';
import { renderTable, statusJson, summaryLine } from '../cluster/status.js';
import { askCluster, clusterTarget, DEFAULT_TIMEOUT } from './cluster-target.js';
import type { Subcommand } from './subcommands.js';

export const STATUS: Subcommand = {
  summary: "ask every node for /_origin/status and compare releases",
  usage: `pi-origin cluster status --inventory FILE [--group ${DEFAULT_GROUP}] [--timeout ${DEFAULT_TIMEOUT}] [--json]`,
  help: [
    'Reads the Ansible inventory (INI or YAML), asks every host of the group for',
    'http://ADDRESS:PORT/_origin/status at once, and prints one row per node: name, address,',
    'health (ok, draining, invalid-root, or DOWN with the reason), release, uptime, requests',
    'and body-cache use, then a summary line. ADDRESS is ansible_host (else the host name),',
    `PORT is origin_node_port (else 8080, as in the origin_node role). This machine must be in each node's --admin-allow.`,
    '',
    'Exit 0 when every node is up, healthy and on the same release; 1 otherwise; 2 for a usage error.',
    '',
    'Options:',
    '  -i, --inventory FILE  the Ansible inventory the playbooks use (required)',
    `  --group NAME          inventory group to ask, children included (default ${DEFAULT_GROUP})`,
    `  --timeout DURATION    per-node deadline: 500ms, 2s, 1.5s (default ${DEFAULT_TIMEOUT}, at most 5m)`,
    '  --json                print {nodes, up, total, releases, ok} as JSON instead of the table',
  ].join('\n'),
  examples: [
    'pi-origin cluster status -i inventory.ini',
    'pi-origin cluster status -i inventory.ini --group proxies --timeout 5s',
    'pi-origin cluster status -i inventory.ini --json',
  ],
  flags: { inventory: 'value', group: 'value', timeout: 'value', json: 'boolean' },
  short: { i: 'inventory' },
  run: status,
};

async function status(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const report = await askCluster(clusterTarget(flags));
  if (flags.has('json')) process.stdout.write(JSON.stringify(statusJson(report), null, 2) + '\n');
  else process.stdout.write(renderTable(report) + '\n' + summaryLine(report) + '\n');
  return report.ok ? 0 : 1;
}
