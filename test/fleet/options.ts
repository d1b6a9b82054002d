/**
 * `npm run bench:fleet` options: one table, read with the project's one argument parser
 * (common/args.ts), every value checked here with a message that names the option.
 */
import { parseArgs, UsageError, type ArgSpec } from '../../common/args.js';
import { parseBytes } from '../../common/units.js';
import { parseBatch } from '../../cli/cluster-rollout.js';
import { checkRigOptions } from '../rig/netns.js';

export const FLEET_ARGS: ArgSpec = {
  flags: {
    nodes: 'value',
    size: 'value',
    files: 'value',
    changed: 'value',
    batch: 'value',
    forks: 'value',
    rate: 'value',
    out: 'value',
    name: 'value',
    prefix: 'value',
    subnet: 'value',
    help: 'boolean',
  },
  short: { h: 'help' },
};

export const FLEET_USAGE = 'npm run bench:fleet -- [--nodes N] [--size SIZE] [--changed R] [--batch N|N%] [--forks N] [--rate N] [--out DIR]';

export const FLEET_HELP = `Brings up N IPv6-only nodes on this machine (network namespaces with their own
sshd, test/rig/netns.ts), provisions them and HAProxy with the real playbooks,
rolls out release A, then measures, with a client at a steady rate through
HAProxy: the rollout of a successor B in which --changed of the files differ
(\`pi-origin cluster rollout\`: push, canary, gate, batches) and the cluster
rollback (\`pi-origin cluster rollback\`). Writes a JSON and an HTML report and
prints one line:
  fleet N nodes: rollout X s, rollback Y s, controller MB Z, failed requests F
Needs root, ansible-playbook, haproxy and socat. A benchmark: never part of npm test.

Options:
  --nodes N        nodes, 1-99 (default 24)
  --size SIZE      release size (default 1GB; 100MB for a short run)
  --files N        files in the release (default: one per MB, at least 20)
  --changed R      share of the files that differ in B: 1% or 0.01 (default 1%)
  --batch N|N%     nodes per batch after the canary (default 25%)
  --forks N        Ansible forks (default: the node count)
  --rate N         the steady client's requests per second (default 20)
  --out DIR        where the reports go (default load-tests/out)
  --name NAME      report file name without extension (default fleet-<N>)
  --prefix P       rig name prefix (default flt)
  --subnet S       rig ULA /64 prefix (default fd00:f1ee)
  -h, --help       this text`;

export interface FleetOptions {
  readonly nodes: number;
  readonly sizeBytes: number;
  readonly files: number;
  /** Share of the files that differ between A and B, 0 < changed <= 1. */
  readonly changed: number;
  /** A count, or a percentage string for Ansible's `serial`. */
  readonly batch: number | string;
  readonly forks: number;
  readonly rate: number;
  readonly out: string;
  readonly name: string;
  readonly prefix: string;
  readonly subnet: string;
}

export const FLEET_DEFAULTS = Object.freeze({ nodes: 24, size: '1GB', changed: 0.01, batch: '25%', rate: 20, out: 'load-tests/out', prefix: 'flt', subnet: 'fd00:f1ee' });

function integer(flags: ReadonlyMap<string, string | true>, name: string, min: number, max: number, fallback: number): number {
  const text = flags.get(name);
  if (text === undefined) return fallback;
  const n = typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  return n;
}

/** `1%` or `0.01`: a share above 0 and at most 1. */
export function parseShare(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  if (m === null) return undefined;
  const r = m[2] === '%' ? Number(m[1]) / 100 : Number(m[1]);
  return r > 0 && r <= 1 ? r : undefined;
}

/** The options of `args`, or a UsageError naming the bad one; undefined for --help. */
export function parseFleetArgs(args: readonly string[]): FleetOptions | undefined {
  const { flags } = parseArgs(args, FLEET_ARGS);
  if (flags.has('help')) return undefined;
  const nodes = integer(flags, 'nodes', 1, 99, FLEET_DEFAULTS.nodes);
  const sizeText = (flags.get('size') as string | undefined) ?? FLEET_DEFAULTS.size;
  const sizeBytes = parseBytes(sizeText);
  if (sizeBytes === undefined || sizeBytes < 1e6 || sizeBytes > 64e9) throw new UsageError(`--size must be a size from 1MB to 64GB like 100MB or 1GB (got ${JSON.stringify(sizeText)})`);
  const files = integer(flags, 'files', 1, 1_000_000, Math.max(20, Math.round(sizeBytes / 1e6)));
  const changedText = flags.get('changed') as string | undefined;
  const changed = changedText === undefined ? FLEET_DEFAULTS.changed : parseShare(changedText);
  if (changed === undefined) throw new UsageError(`--changed must be a share above 0 and at most 1, like 1% or 0.01 (got ${JSON.stringify(changedText)})`);
  const batchText = (flags.get('batch') as string | undefined) ?? FLEET_DEFAULTS.batch;
  const batch = parseBatch(batchText);
  if (batch === undefined) throw new UsageError(`--batch must be a positive integer or a percentage from 1% to 100% (got ${JSON.stringify(batchText)})`);
  const prefix = (flags.get('prefix') as string | undefined) ?? FLEET_DEFAULTS.prefix;
  const subnet = ((flags.get('subnet') as string | undefined) ?? FLEET_DEFAULTS.subnet).toLowerCase();
  try {
    checkRigOptions(prefix, subnet, nodes);
  } catch (e) {
    throw new UsageError(`--prefix/--subnet: ${(e as Error).message}`);
  }
  const name = (flags.get('name') as string | undefined) ?? `fleet-${nodes}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name must be a plain file name (got ${JSON.stringify(name)})`);
  return {
    nodes,
    sizeBytes,
    files,
    changed,
    batch,
    forks: integer(flags, 'forks', 1, 500, nodes),
    rate: integer(flags, 'rate', 1, 10_000, FLEET_DEFAULTS.rate),
    out: (flags.get('out') as string | undefined) ?? FLEET_DEFAULTS.out,
    name,
    prefix,
    subnet,
  };
}
