/** `pi-origin cluster rollback`: ansible/rollback.yml, undoing the last rollout or going to --to. */
import { readInventory } from '../cluster/inventory.js';
import { isReleaseId } from '../content/release-id.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import { UsageError, type Subcommand } from './subcommands.js';

/** Forks for the one parallel switch: every origin at once, bounded so a huge inventory does not fork a process per node on the controller. */
export const ROLLBACK_MAX_FORKS = 100;

export const ROLLBACK: Subcommand = {
  summary: 'undo the last rollout on every origin, or go to --to ID',
  usage: 'pi-origin cluster rollback --inventory FILE [--to ID] [-e KEY=VALUE|@FILE.json ...]',
  help: [
    'Runs ansible/rollback.yml: undoes the last rollout, recorded on the canary (the first host of',
    'origins) once it passed the gate: after a rollout of B over A, finished or stopped half-way,',
    'every origin goes back to A. Refuses when the canary does not serve B. With --to, every',
    'origin goes to release ID (origin_rollback_to) instead.',
    '',
    'All origins switch at once, in one task (Ansible forks = the number of origins, at most',
    `${ROLLBACK_MAX_FORKS}, unless ANSIBLE_FORKS is set), each confirmed over IPv6 on /_origin/health.`,
    'A node that fails to switch is put back on what it served and named in the summary; the',
    'others still switch. Fix it, then run the rollback again with --to.',
    '',
    ...PLAYBOOK_HELP,
    '',
    'Options:',
    INVENTORY_OPTION,
    '  --to ID                  the release to return to: 12 hex digits (pi-origin release list)',
    ...EXTRA_VARS_OPTION,
  ].join('\n'),
  examples: [
    'pi-origin cluster rollback -i inventory.ini',
    'pi-origin cluster rollback -i inventory.ini --to 0123456789ab',
  ],
  flags: { inventory: 'value', to: 'value', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  run: rollback,
};

async function rollback(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const to = flags.get('to') as string | undefined;
  if (to !== undefined && !isReleaseId(to)) throw new UsageError(`--to must be a release id, 12 lower-case hex digits (got ${JSON.stringify(to)})`);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_rollback_to: '--to' });
  const origins = readInventory(inventory).hosts.length;
  const forks = Math.min(Math.max(origins, 1), ROLLBACK_MAX_FORKS);
  return playbook('rollback', inventory, { ...extra, ...(to === undefined ? {} : { origin_rollback_to: to }) }, to === undefined ? 'rollback' : `rollback to ${to}`, undefined, { forks });
}
