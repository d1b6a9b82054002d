/**
 * `pi-origin cluster <command>`: the cluster as Ansible's inventory describes it. The work is
 * in cluster/*.ts; this module parses arguments and prints.
 */
import { DEFAULT_GROUP, InventoryError, readInventory } from '../cluster/inventory.js';
import { clusterStatus, renderTable, statusJson, summaryLine } from '../cluster/status.js';
import { CHECK } from './cluster-check.js';
import { parseDuration } from './duration.js';
import { fail, runGroup, UsageError, type Subcommand } from './subcommands.js';



/** `--timeout` bounds: long enough for a slow Pi on a busy link, short enough to notice a hang. */
const TIMEOUT_MIN_MS = 1;
const TIMEOUT_MAX_MS = 5 * 60_000;
const DEFAULT_TIMEOUT = '2s';

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  status: {
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
    flags: { inventory: 'value', group: 'value', timeout: 'value', json: 'boolean' },
    short: { i: 'inventory' },
    run: status,
  },
  check: CHECK,
};

export function clusterCommand(args: readonly string[]): Promise<number> {
  return runGroup('cluster', SUBCOMMANDS, args, (e) => (e instanceof InventoryError ? fail(e.message, 1) : undefined));
}

async function status(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  const timeoutText = (flags.get('timeout') as string | undefined) ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs < TIMEOUT_MIN_MS || timeoutMs > TIMEOUT_MAX_MS)
    throw new UsageError(`--timeout must be a duration from 1ms to 5m, like 500ms or 2s (got ${JSON.stringify(timeoutText)})`);
  const group = (flags.get('group') as string | undefined) ?? DEFAULT_GROUP;
  const { hosts } = readInventory(inventory, group);
  const report = await clusterStatus(hosts, timeoutMs);
  if (flags.has('json')) process.stdout.write(JSON.stringify(statusJson(report), null, 2) + '\n');
  else process.stdout.write(renderTable(report) + '\n' + summaryLine(report) + '\n');
  return report.ok ? 0 : 1;
}
