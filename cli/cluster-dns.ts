/** `pi-origin cluster dns`: the origin hostname's AAAA records from the healthy nodes. */
import { DEFAULT_TTL, DnsOptionError, originRecordSet, recordSetJson, recordWarnings, refuseUnreachable, renderZone, resolveDnsOptions, TTL_RULE, type ResolvedDnsOptions } from '../cluster/dns.js';
import { DEFAULT_GROUP, readInventory } from '../cluster/inventory.js';
import { clusterStatus } from '../cluster/status.js';
import { clusterTarget, DEFAULT_TIMEOUT } from './cluster-target.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';

export const DNS: Subcommand = {
  summary: "print the origin hostname's AAAA records from the healthy nodes",
  usage: `pi-origin cluster dns --inventory FILE --name FQDN [--ttl ${DEFAULT_TTL}] [--release ID] [--group ${DEFAULT_GROUP}] [--timeout ${DEFAULT_TIMEOUT}] [--json]`,
  help: [
    'Asks every node of the group for /_origin/status, as cluster status does, and prints the',
    'AAAA records of the origin hostname for a CDN to fetch from: one per node that is up,',
    'health ok, addressed by an IPv6 literal (ansible_host) and serving the release most such',
    'nodes serve (or --release). The output is a zone-file fragment: comments naming the nodes',
    "left out and why, then 'FQDN. TTL IN AAAA ADDRESS' lines sorted by address. A '; CDN origin:'",
    'comment names the scheme and port to give the CDN: https on origin_node_tls_port (443) when',
    'the inventory gives every node origin TLS (origin_node_tls_cert_src), else http on',
    'origin_node_port.',
    '',
    'An inventory address no CDN can reach (loopback, link-local, multicast, the documentation',
    'prefixes 2001:db8::/32 and 3fff::/20, anything outside 2000::/3) is refused before any',
    'node is asked; a unique-local one (fc00::/7) is published with a warning on stderr.',
    '',
    'Exit 0 when there is at least one record; 1 when every node was left out (the reasons go',
    'to stderr and nothing to stdout), the inventory is invalid or names an address no CDN can',
    'reach; 2 for a usage error.',
    '',
    'Options:',
    '  -i, --inventory FILE  the Ansible inventory the playbooks use (required)',
    '  --name FQDN           the origin hostname the CDN fetches from, e.g. origin.example.org (required)',
    `  --ttl SECONDS         TTL of the records (default ${DEFAULT_TTL})`,
    '  --release ID          publish only nodes serving this release (default: the release most',
    '                        healthy nodes serve; a tie is refused)',
    `  --group NAME          inventory group to ask, children included (default ${DEFAULT_GROUP})`,
    `  --timeout DURATION    per-node deadline: 500ms, 2s, 1.5s (default ${DEFAULT_TIMEOUT}, at most 5m)`,
    '  --json                print {name, ttl, release, generated, nodes, records, skipped, cdn} as JSON',
  ].join('\n'),
  examples: [
    'pi-origin cluster dns -i inventory.ini --name origin.example.org',
    'pi-origin cluster dns -i inventory.ini --name origin.example.org --ttl 60 --release 0123456789ab',
    'pi-origin cluster dns -i inventory.ini --name origin.example.org --json',
  ],
  flags: { inventory: 'value', name: 'value', ttl: 'value', release: 'value', group: 'value', timeout: 'value', json: 'boolean' },
  short: { i: 'inventory' },
  run: dns,
};

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
  const { hosts } = readInventory(target.inventory, target.group);
  refuseUnreachable(hosts.map((h) => ({ name: h.name, address: h.address.text })));
  const set = originRecordSet(await clusterStatus(hosts, target.timeoutMs), { ...options, now: new Date() });
  for (const w of recordWarnings(set)) process.stderr.write(`pi-origin: warning: ${w}\n`);
  const empty = set.records.length === 0;
  if (flags.has('json')) process.stdout.write(JSON.stringify(recordSetJson(set), null, 2) + '\n');
  // An empty fragment on stdout could be loaded as a zone with no origin at all: keep it off stdout.
  else (empty ? process.stderr : process.stdout).write(renderZone(set));
  if (!empty) return 0;
  return fail(`no node to publish as ${set.name} AAAA: every node was left out (${flags.has('json') ? 'see "skipped"' : 'reasons above'})`, 1);
}
