/**
 * `pi-origin cluster <command>`: the cluster as Ansible's inventory describes it. The work is
 * in cluster/*.ts; this module parses arguments and prints.
 */
import { DEFAULT_GROUP, InventoryError, readInventory } from '../cluster/inventory.js';
import { clusterStatus, renderTable, statusJson, summaryLine } from '../cluster/status.js';

type FlagKind = 'value' | 'boolean';

interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly flags: Readonly<Record<string, FlagKind>>;
  /** Short spellings: `-i` for `--inventory`, as ansible-playbook has it. */
  readonly short?: Readonly<Record<string, string>>;
  run(flags: ReadonlyMap<string, string | true>): Promise<number>;
}

class UsageError extends Error {}

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
      `PORT is origin_port (else 80). This machine must be in each node's --admin-allow.`,
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
};

export async function clusterCommand(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const sub = SUBCOMMANDS[name];
  if (sub === undefined) return fail(`unknown cluster command "${name}" (expected ${Object.keys(SUBCOMMANDS).join(', ')}; see 'pi-origin cluster --help')`, 2);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: ${sub.usage}\n\n${sub.help}\n`);
    return 0;
  }
  try {
    return await sub.run(parseFlags(rest, sub));
  } catch (e) {
    if (e instanceof UsageError) return fail(`${name}: ${e.message} (see 'pi-origin cluster ${name} --help')`, 2);
    if (e instanceof InventoryError) return fail(e.message, 1);
    throw e;
  }
}

function usage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(9)} ${s.summary}`);
  return ['Usage: pi-origin cluster <command> [options]', '', 'Commands:', ...lines, '', "Run 'pi-origin cluster <command> --help' for a command's options."].join('\n');
}

function fail(message: string, code: number): number {
  process.stderr.write(`pi-origin: error: ${message}\n`);
  return code;
}

function parseFlags(args: readonly string[], sub: Subcommand): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = arg.slice(2, eq === -1 ? undefined : eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg) && sub.short?.[arg.slice(1)] !== undefined) {
      name = sub.short[arg.slice(1)] as string;
    } else {
      throw new UsageError(arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
    const kind = sub.flags[name];
    if (kind === undefined) throw new UsageError(`unknown option --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    if (kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      const value = inline ?? args[++i];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    }
  }
  return flags;
}

/** `500ms`, `2s`, `1.5s`, `1m`, or a bare number of seconds, in milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  return Math.round(ms);
}

async function status(flags: ReadonlyMap<string, string | true>): Promise<number> {
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
