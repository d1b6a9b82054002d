/**
 * `pi-origin cluster <command>`: the cluster as Ansible's inventory describes it. The work is
 * in cluster/*.ts; this module parses arguments and prints.
 */
import { DEFAULT_GROUP, InventoryError, readInventory } from '../cluster/inventory.js';
import { DEFAULT_TTL, DnsOptionError, originRecordSet, recordSetJson, renderZone, resolveDnsOptions, TTL_RULE, type ResolvedDnsOptions } from '../cluster/dns.js';
import { clusterStatus, renderTable, statusJson, summaryLine, type ClusterStatus } from '../cluster/status.js';
import { ARTIFACT } from './cluster-artifact.js';
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
  dns: {
    summary: "print the origin hostname's AAAA records from the healthy nodes",
    usage: `pi-origin cluster dns --inventory FILE --name FQDN [--ttl ${DEFAULT_TTL}] [--release ID] [--group ${DEFAULT_GROUP}] [--timeout ${DEFAULT_TIMEOUT}] [--json]`,
    help: [
      'Asks every node of the group for /_origin/status, as cluster status does, and prints the',
      'AAAA records of the origin hostname for a CDN to fetch from: one per node that is up,',
      'health ok, addressed by an IPv6 literal (ansible_host) and serving the release most such',
      'nodes serve (or --release). The output is a zone-file fragment: comments naming the nodes',
      "left out and why, then 'FQDN. TTL IN AAAA ADDRESS' lines sorted by address.",
      '',
      'Exit 0 when there is at least one record; 1 when every node was left out (the reasons go',
      'to stderr and nothing to stdout) or the inventory is invalid; 2 for a usage error.',
      '',
      'Options:',
      '  -i, --inventory FILE  the Ansible inventory the playbooks use (required)',
      '  --name FQDN           the origin hostname the CDN fetches from, e.g. origin.example.org (required)',
      `  --ttl SECONDS         TTL of the records (default ${DEFAULT_TTL})`,
      '  --release ID          publish only nodes serving this release (default: the release most',
      '                        healthy nodes serve; a tie is refused)',
      `  --group NAME          inventory group to ask, children included (default ${DEFAULT_GROUP})`,
      `  --timeout DURATION    per-node deadline: 500ms, 2s, 1.5s (default ${DEFAULT_TIMEOUT}, at most 5m)`,
      '  --json                print {name, ttl, release, generated, nodes, records, skipped} as JSON',
    ].join('\n'),
    flags: { inventory: 'value', name: 'value', ttl: 'value', release: 'value', group: 'value', timeout: 'value', json: 'boolean' },
    short: { i: 'inventory' },
    run: dns,
  },
  check: CHECK,
  artifact: ARTIFACT,
};

export function clusterCommand(args: readonly string[]): Promise<number> {
  return runGroup('cluster', SUBCOMMANDS, args, (e) => (e instanceof InventoryError ? fail(e.message, 1) : undefined));
}

/** `--inventory`, `--group` and `--timeout`, checked; then every node asked. */
function clusterTarget(flags: ReadonlyMap<string, string | true>): { inventory: string; group: string; timeoutMs: number } {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  const timeoutText = (flags.get('timeout') as string | undefined) ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs < TIMEOUT_MIN_MS || timeoutMs > TIMEOUT_MAX_MS)
    throw new UsageError(`--timeout must be a duration from 1ms to 5m, like 500ms or 2s (got ${JSON.stringify(timeoutText)})`);
  return { inventory, group: (flags.get('group') as string | undefined) ?? DEFAULT_GROUP, timeoutMs };
}

function askCluster(target: { inventory: string; group: string; timeoutMs: number }): Promise<ClusterStatus> {
  const { hosts } = readInventory(target.inventory, target.group);
  return clusterStatus(hosts, target.timeoutMs);
}

async function status(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const report = await askCluster(clusterTarget(flags));
  if (flags.has('json')) process.stdout.write(JSON.stringify(statusJson(report), null, 2) + '\n');
  else process.stdout.write(renderTable(report) + '\n' + summaryLine(report) + '\n');
  return report.ok ? 0 : 1;
}

/** Checked before any node is asked: a typo in --name should not cost a round of probes. */
function dnsOptions(name: string, ttlText: string | undefined, release: string | undefined): ResolvedDnsOptions {
  try {
    return resolveDnsOptions({ name, ttl: ttlText === undefined ? undefined : /^\d+$/.test(ttlText) ? Number(ttlText) : NaN, release });
  } catch (e) {
    if (!(e instanceof DnsOptionError)) throw e;
    // The flag's text, not the number it parsed to, is what the person typed.
    throw new UsageError(e.option === 'ttl' ? `--ttl ${TTL_RULE} (got ${JSON.stringify(ttlText)})` : `--${e.option} ${e.problem}`);
  }
}

async function dns(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const target = clusterTarget(flags);
  const name = flags.get('name');
  if (typeof name !== 'string') throw new UsageError('--name FQDN is required');
  const options = dnsOptions(name, flags.get('ttl') as string | undefined, flags.get('release') as string | undefined);
  const set = originRecordSet(await askCluster(target), { ...options, now: new Date() });
  const empty = set.records.length === 0;
  if (flags.has('json')) process.stdout.write(JSON.stringify(recordSetJson(set), null, 2) + '\n');
  // An empty fragment on stdout could be loaded as a zone with no origin at all: keep it off stdout.
  else (empty ? process.stderr : process.stdout).write(renderZone(set));
  if (!empty) return 0;
  return fail(`no node to publish as ${set.name} AAAA: every node was left out (${flags.has('json') ? 'see "skipped"' : 'reasons above'})`, 1);
}
