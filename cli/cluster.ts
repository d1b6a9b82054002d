/**
 * `pi-origin cluster <command>`: the cluster as Ansible's inventory describes it. The work is
 * in cluster/*.ts; this module parses arguments and prints.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { DEFAULT_TTL, DnsAddressError, DnsOptionError, originRecordSet, recordSetJson, recordWarnings, refuseUnreachable, renderZone, resolveDnsOptions, TTL_RULE, type ResolvedDnsOptions } from '../cluster/dns.js';
import { DEFAULT_GROUP, InventoryError, readInventory, loadInventoryModel } from '../cluster/inventory.js';
import { ANSIBLE_DIR, PlaybookError, runPlaybook } from '../cluster/playbook.js';
import { ProgressPrinter, renderSummary } from '../cluster/progress.js';
import { clusterStatus, renderTable, statusJson, summaryLine, type ClusterStatus } from '../cluster/status.js';
import { ManifestError, readManifest } from '../release/manifest.js';
import { isReleaseId } from '../content/release-id.js';
import { ARTIFACT } from './cluster-artifact.js';
import { CHECK } from './cluster-check.js';
import { DASHBOARD } from './cluster-dashboard.js';
import { durationFlag } from './duration.js';
import { fail, runGroup, UsageError, type Subcommand } from './subcommands.js';

/** `--timeout` per node (1 ms to 5 min: long enough for a slow Pi on a busy link, short enough to notice a hang). */
const DEFAULT_TIMEOUT = '2s';

const PLAYBOOK_HELP = [
  'Prints a line per task and node as Ansible reports them (failures with their whole message; on',
  'a terminal, one more line names the nodes still running the current task), then ok, changed,',
  'failed and unreachable per node and a summary line.',
  '',
  'Exit 0 when the playbook succeeds; 1 when it fails, an input is wrong or ansible-playbook is',
  'missing (Debian package ansible); 2 for a usage error. ANSIBLE_CONFIG, when set, replaces',
  "the package's ansible/ansible.cfg.",
];
const INVENTORY_OPTION = '  -i, --inventory FILE     the Ansible inventory the playbooks use (required)';
const LIMIT_OPTION = '  --limit HOSTS            only these hosts (Ansible pattern: pi4, pi4,pi5), e.g. a new node';
const EXTRA_VARS_OPTION = [
  '  -e, --extra-vars KEY=VALUE|@FILE.json',
  '                           one more playbook variable (a string), or a JSON object of them;',
  '                           repeatable, later ones win',
];

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
    flags: { inventory: 'value', name: 'value', ttl: 'value', release: 'value', group: 'value', timeout: 'value', json: 'boolean' },
    short: { i: 'inventory' },
    run: dns,
  },
  check: CHECK,
  dashboard: DASHBOARD,
  artifact: ARTIFACT,
  provision: {
    summary: 'install or update pi-origin and its host setup on the origins',
    usage: 'pi-origin cluster provision --inventory FILE [--limit HOSTS] [-e KEY=VALUE|@FILE.json ...]',
    help: [
      'Runs ansible/provision.yml: the origin_node role on the origins group, then the',
      'dualstack_proxy role on the proxies group. Variables such as origin_node_artifact',
      '(`pi-origin cluster artifact` makes it) come from the inventory or from -e.',
      '',
      ...PLAYBOOK_HELP,
      '',
      'Options:',
      INVENTORY_OPTION,
      LIMIT_OPTION,
      ...EXTRA_VARS_OPTION,
    ].join('\n'),
    flags: { inventory: 'value', limit: 'value', 'extra-vars': 'list' },
    short: { i: 'inventory', e: 'extra-vars' },
    run: provision,
  },
  rollout: {
    summary: 'roll a built release out to the origins: a canary, then batches',
    usage: 'pi-origin cluster rollout RELEASE_DIR --inventory FILE [--batch N|N%] [--limit HOSTS] [-e KEY=VALUE|@FILE.json ...]',
    help: [
      'Runs ansible/rollout.yml with origin_release_src set to RELEASE_DIR (made absolute, symlinks',
      'resolved): a release directory built by `pi-origin release build`, whose manifest.json id is',
      'its name. The playbook moves one canary node first, then the others --batch at a time.',
      '',
      ...PLAYBOOK_HELP,
      '',
      'Options:',
      INVENTORY_OPTION,
      '  --batch N|N%             nodes per batch after the canary: a count or 1%-100%',
      '                           (origin_rollout_batch; default: the playbook\'s)',
      LIMIT_OPTION,
      ...EXTRA_VARS_OPTION,
    ].join('\n'),
    flags: { inventory: 'value', batch: 'value', limit: 'value', 'extra-vars': 'list' },
    short: { i: 'inventory', e: 'extra-vars' },
    positional: ['RELEASE_DIR'],
    run: rollout,
  },
  rollback: {
    summary: 'undo the last rollout on every origin, or go to --to ID',
    usage: 'pi-origin cluster rollback --inventory FILE [--to ID] [-e KEY=VALUE|@FILE.json ...]',
    help: [
      'Runs ansible/rollback.yml: undoes the last rollout, recorded on the canary (the first host of',
      'origins) once it passed the gate: after a rollout of B over A, finished or stopped half-way,',
      'every origin goes back to A (the canary last). Refuses when the canary does not serve B.',
      'With --to, every origin goes to release ID (origin_rollback_to) instead.',
      '',
      ...PLAYBOOK_HELP,
      '',
      'Options:',
      INVENTORY_OPTION,
      '  --to ID                  the release to return to: 12 hex digits (pi-origin release list)',
      ...EXTRA_VARS_OPTION,
    ].join('\n'),
    flags: { inventory: 'value', to: 'value', 'extra-vars': 'list' },
    short: { i: 'inventory', e: 'extra-vars' },
    run: rollback,
  },
  register: {
    summary: "put a node into HAProxy's rotation through the runtime API (no reload)",
    usage: 'pi-origin cluster register NODE --inventory FILE [-e KEY=VALUE|@FILE.json ...]',
    help: [
      'Runs ansible/register.yml with origin_node=NODE on the proxies group: HAProxy adds the server',
      'if it is missing, enables its health checks, waits until it is UP, and its configuration file',
      'is re-rendered (not reloaded). NODE must be a host of the origins group; provision it and roll',
      'the current release out to it (--limit NODE) first.',
      '',
      ...PLAYBOOK_HELP,
      '',
      'Options:',
      INVENTORY_OPTION,
      ...EXTRA_VARS_OPTION,
    ].join('\n'),
    flags: { inventory: 'value', 'extra-vars': 'list' },
    short: { i: 'inventory', e: 'extra-vars' },
    positional: ['NODE'],
    run: (positional, flags, lists) => nodePlaybook('register', 'registration', positional, flags, lists),
  },
  deregister: {
    summary: 'drain a node at HAProxy and delete it there (no reload)',
    usage: 'pi-origin cluster deregister NODE --inventory FILE [-e KEY=VALUE|@FILE.json ...]',
    help: [
      'Runs ansible/deregister.yml with origin_node=NODE. NODE is a host name of the inventory, in',
      'any group.',
      '',
      ...PLAYBOOK_HELP,
      '',
      'Options:',
      INVENTORY_OPTION,
      ...EXTRA_VARS_OPTION,
    ].join('\n'),
    flags: { inventory: 'value', 'extra-vars': 'list' },
    short: { i: 'inventory', e: 'extra-vars' },
    positional: ['NODE'],
    run: (positional, flags, lists) => nodePlaybook('deregister', 'deregistration', positional, flags, lists),
  },
};

export function clusterCommand(args: readonly string[]): Promise<number> {
  return runGroup('cluster', SUBCOMMANDS, args, (e) => (e instanceof InventoryError || e instanceof PlaybookError || e instanceof ManifestError || e instanceof DnsAddressError ? fail(e.message, 1) : undefined));
}

/** `--inventory`, `--group` and `--timeout`, checked; then every node asked. */
function clusterTarget(flags: ReadonlyMap<string, string | true>): { inventory: string; group: string; timeoutMs: number } {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  const timeoutMs = durationFlag(flags, 'timeout', DEFAULT_TIMEOUT, 1, '500ms or 2s');
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

// ---------------------------------------------------------------------------------------------
// Playbook commands

/** The playbooks the commands run; each is `<dir>/<name>.yml`. */
type PlaybookName = 'rollout' | 'rollback' | 'register' | 'deregister' | 'provision';

/**
 * The package's ansible/ directory; PI_ORIGIN_ANSIBLE_DIR replaces it so tests can run fixture
 * playbooks (the callback plugin and ansible.cfg still come from the package).
 */
function playbookPath(name: PlaybookName): string {
  const dir = process.env.PI_ORIGIN_ANSIBLE_DIR !== undefined && process.env.PI_ORIGIN_ANSIBLE_DIR !== '' ? process.env.PI_ORIGIN_ANSIBLE_DIR : ANSIBLE_DIR;
  const path = resolve(dir, `${name}.yml`);
  if (!existsSync(path)) throw new PlaybookError(`playbook ${path} does not exist`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  return path;
}

/** `--limit`: Ansible's host pattern, e.g. `pi4` or `pi4,pi5` (for a new node). */
function limitOf(flags: ReadonlyMap<string, string | true>): string | undefined {
  const limit = flags.get('limit');
  if (limit === undefined) return undefined;
  if (typeof limit !== 'string' || !/^[A-Za-z0-9_.:,*!&[\]-]+$/.test(limit)) throw new UsageError(`--limit takes an Ansible host pattern like pi4 or pi4,pi5 (got ${JSON.stringify(limit)})`);
  return limit;
}

function requireInventory(flags: ReadonlyMap<string, string | true>): string {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  return inventory;
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The `-e` values as one object: `KEY=VALUE` (VALUE a string, as Ansible reads it) or
 * `@FILE.json` (a JSON object). `owned` maps the variables the command sets itself to the
 * argument that sets them; -e may not set those.
 */
export function parseExtraVars(values: readonly string[], owned: Readonly<Record<string, string>>): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const value of values) {
    let more: Record<string, unknown>;
    if (value.startsWith('@')) {
      more = readVarsFile(value.slice(1));
    } else {
      const eq = value.indexOf('=');
      const key = value.slice(0, Math.max(eq, 0));
      if (!VAR_NAME.test(key)) throw new UsageError(`--extra-vars takes KEY=VALUE or @FILE.json, KEY a variable name (got ${JSON.stringify(value)})`);
      more = { [key]: value.slice(eq + 1) };
    }
    for (const key of Object.keys(more)) {
      const by = owned[key];
      if (by !== undefined) throw new UsageError(`--extra-vars cannot set ${key}: give ${by} instead`);
    }
    Object.assign(vars, more);
  }
  return vars;
}

function readVarsFile(path: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new PlaybookError(`cannot read extra vars ${path}: ${err.code ?? err.message}`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new PlaybookError(`extra vars ${path} must hold a JSON object`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  return data as Record<string, unknown>;
}

/** `--batch`: a count (a number for Ansible's `serial`) or `1%`-`100%` (a string). */
export function parseBatch(text: string): number | string | undefined {
  if (/^[1-9]\d{0,5}$/.test(text)) return Number(text);
  const m = /^([1-9]\d{0,2})%$/.exec(text);
  return m !== null && Number(m[1]) <= 100 ? text : undefined;
}

/**
 * The release directory as the playbook gets it: absolute, symlinks resolved (so `current`
 * works), and checked to be a release: its manifest reads and its id is the directory's name.
 */
function releaseDir(arg: string): { dir: string; id: string } {
  let dir: string;
  try {
    dir = realpathSync(resolve(arg));
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    throw new PlaybookError(`release directory ${arg}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  }
  const manifest = readManifest(dir);
  if (manifest === undefined) throw new PlaybookError(`${dir} has no manifest.json: not a release directory (pi-origin release build makes them)`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  if (manifest.id !== basename(dir)) throw new PlaybookError(`${dir}: the manifest's id ${manifest.id} is not the directory's name (a release directory is named after its id)`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  return { dir, id: manifest.id };
}

async function rollout(positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const batchText = flags.get('batch') as string | undefined;
  const batch = batchText === undefined ? undefined : parseBatch(batchText);
  if (batchText !== undefined && batch === undefined) throw new UsageError(`--batch must be a positive integer or a percentage from 1% to 100% (got ${JSON.stringify(batchText)})`);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_release_src: 'RELEASE_DIR', origin_rollout_batch: '--batch' });
  readInventory(inventory);
  const release = releaseDir(positional[0] as string);
  const vars = { ...extra, origin_release_src: release.dir, ...(batch === undefined ? {} : { origin_rollout_batch: batch }) };
  return playbook('rollout', inventory, vars, `rollout of ${release.id}`, limitOf(flags));
}

async function rollback(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const to = flags.get('to') as string | undefined;
  if (to !== undefined && !isReleaseId(to)) throw new UsageError(`--to must be a release id, 12 lower-case hex digits (got ${JSON.stringify(to)})`);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_rollback_to: '--to' });
  readInventory(inventory);
  return playbook('rollback', inventory, { ...extra, ...(to === undefined ? {} : { origin_rollback_to: to }) }, to === undefined ? 'rollback' : `rollback to ${to}`);
}

async function nodePlaybook(name: 'register' | 'deregister', noun: string, positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const node = positional[0] as string;
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_node: 'NODE' });
  const model = loadInventoryModel(inventory);
  if (!model.hosts.has(node)) {
    const known = [...model.hosts.keys()];
    throw new InventoryError(`${inventory}: no host "${node}" (hosts: ${known.length === 0 ? 'none' : known.join(', ')})`);
  }
  return playbook(name, inventory, { ...extra, origin_node: node }, `${noun} of ${node}`);
}

async function provision(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], {});
  readInventory(inventory);
  return playbook('provision', inventory, extra, 'provisioning', limitOf(flags));
}

/**
 * Runs a playbook with progress on stdout (Ansible's warnings and errors on stderr) and the
 * summary at the end. Ctrl-C stops ansible-playbook (it gets SIGINT too) and still prints
 * the summary of what ran.
 */
async function playbook(name: PlaybookName, inventory: string, extraVars: Record<string, unknown>, what: string, limit?: string): Promise<number> {
  const path = playbookPath(name);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop).on('SIGTERM', stop);
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const printer = new ProgressPrinter(process.stdout, process.stderr, now);
  try {
    const result = await runPlaybook({ playbook: path, inventory: resolve(inventory), extraVars, ...(limit === undefined ? {} : { limit }), onProgress: (e) => printer.onEvent(e), signal: controller.signal, now });
    printer.finish();
    process.stdout.write('\n' + renderSummary(what, result));
    return result.code === 0 && !result.aborted ? 0 : 1;
  } finally {
    printer.finish();
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}
