/**
 * What the playbook subcommands (provision, rollout, rollback, register, deregister) share: their
 * help, the -i/--limit/-e flags, and running a playbook with progress and a summary.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InventoryError, loadInventoryModel } from '../cluster/inventory.js';
import { ANSIBLE_DIR, PlaybookError, playbookFile, runPlaybook, type PlaybookEvent, type PlaybookResult } from '../cluster/playbook.js';
import { ProgressPrinter, renderSummary } from '../cluster/progress.js';
import { UsageError } from './subcommands.js';

export const PLAYBOOK_HELP = [
  'Prints a line per task and node as Ansible reports them (failures with their whole message; on',
  'a terminal, one more line names the nodes still running the current task), then ok, changed,',
  'failed and unreachable per node and a summary line.',
  '',
  'Exit 0 when the playbook succeeds; 1 when it fails, an input is wrong or ansible-playbook is',
  'missing (Debian package ansible); 2 for a usage error. ANSIBLE_CONFIG, when set, replaces',
  "the package's ansible/ansible.cfg.",
];
export const INVENTORY_OPTION = '  -i, --inventory FILE     the Ansible inventory the playbooks use (required)';
export const LIMIT_OPTION = '  --limit HOSTS            only these hosts (Ansible pattern: pi4, pi4,pi5), e.g. a new node';
export const EXTRA_VARS_OPTION = [
  '  -e, --extra-vars KEY=VALUE|@FILE.json',
  '                           one more playbook variable (a string), or a JSON object of them;',
  '                           repeatable, later ones win',
];

/** The playbooks the commands run; each is `<dir>/<name>.yml`. */
type PlaybookName = 'rollout' | 'preview' | 'rollback' | 'register' | 'deregister' | 'provision';

/**
 * The package's ansible/ directory; PI_ORIGIN_ANSIBLE_DIR replaces it so tests can run fixture
 * playbooks (the callback plugin and ansible.cfg still come from the package).
 */
function playbookPath(name: PlaybookName): string {
  const dir = process.env.PI_ORIGIN_ANSIBLE_DIR !== undefined && process.env.PI_ORIGIN_ANSIBLE_DIR !== '' ? process.env.PI_ORIGIN_ANSIBLE_DIR : ANSIBLE_DIR;
  return playbookFile(name, dir);
}

/** `--limit`: Ansible's host pattern, e.g. `pi4` or `pi4,pi5` (for a new node). */
export function limitOf(flags: ReadonlyMap<string, string | true>): string | undefined {
  const limit = flags.get('limit');
  if (limit === undefined) return undefined;
  if (typeof limit !== 'string' || !/^[A-Za-z0-9_.:,*!&[\]-]+$/.test(limit)) throw new UsageError(`--limit takes an Ansible host pattern like pi4 or pi4,pi5 (got ${JSON.stringify(limit)})`);
  return limit;
}

export function requireInventory(flags: ReadonlyMap<string, string | true>): string {
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

/** register and deregister: one inventory host, named by NODE. */
export async function nodePlaybook(name: 'register' | 'deregister', noun: string, positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
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

export interface PlaybookModes {
  readonly check?: boolean;
  readonly diff?: boolean;
  /** Ansible's forks for this run (how many hosts work at once), unless the operator set ANSIBLE_FORKS. */
  readonly forks?: number;
}

/** `base` with ANSIBLE_FORKS=`forks`; an ANSIBLE_FORKS the operator set wins. */
export function forksEnv(base: NodeJS.ProcessEnv, forks: number | undefined): NodeJS.ProcessEnv {
  if (forks === undefined || (base.ANSIBLE_FORKS !== undefined && base.ANSIBLE_FORKS !== '')) return base;
  return { ...base, ANSIBLE_FORKS: String(forks) };
}

/**
 * Runs a playbook with progress on stdout (Ansible's warnings and errors on stderr) and the
 * summary at the end. Ctrl-C stops ansible-playbook (it gets SIGINT too) and still prints
 * the summary of what ran.
 */
export async function playbook(name: PlaybookName, inventory: string, extraVars: Record<string, unknown>, what: string, limit?: string, modes: PlaybookModes = {}): Promise<number> {
  const path = playbookPath(name);
  const { forks, ...flags } = modes;
  const env = forksEnv(process.env, forks);
  return withProgress(what, (onProgress, signal, now) => runPlaybook({ playbook: path, inventory: resolve(inventory), extraVars, env, ...(limit === undefined ? {} : { limit }), ...flags, onProgress, signal, now }));
}

/**
 * Runs `run` with progress on stdout (warnings and errors on stderr) and the summary at the
 * end: a playbook, or the rollback's ssh switch, which reports the same events. Ctrl-C aborts
 * `signal` and still prints the summary of what ran. Exit 0 when the run succeeded, else 1.
 */
export async function withProgress(what: string, run: (onEvent: (e: PlaybookEvent) => void, signal: AbortSignal, now: () => number) => Promise<PlaybookResult>): Promise<number> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop).on('SIGTERM', stop);
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const printer = new ProgressPrinter(process.stdout, process.stderr, now);
  try {
    const result = await run((e) => printer.onEvent(e), controller.signal, now);
    printer.finish();
    process.stdout.write('\n' + renderSummary(what, result));
    return result.code === 0 && !result.aborted ? 0 : 1;
  } finally {
    printer.finish();
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}
