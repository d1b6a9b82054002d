/**
 * `pi-origin cluster rollback`: undoes the last rollout or goes to --to, by one ssh per node at
 * once (cluster/rollback-switch.ts), or by ansible/rollback.yml (--playbook, or when a node is
 * reached in a way only Ansible knows).
 */
import { readInventory } from '../cluster/inventory.js';
import { prepareSwitch, rollbackSwitch } from '../cluster/rollback-switch.js';
import { isReleaseId } from '../content/release-id.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory, withProgress } from './cluster-playbooks.js';
import { UsageError, type Subcommand } from './subcommands.js';

/** Forks for the one parallel switch: every origin at once, bounded so a huge inventory does not fork a process per node on the controller. */
export const ROLLBACK_MAX_FORKS = 100;

export const ROLLBACK: Subcommand = {
  summary: 'undo the last rollout on every origin, or go to --to ID',
  usage: 'pi-origin cluster rollback --inventory FILE [--to ID] [--playbook] [-e KEY=VALUE|@FILE.json ...]',
  help: [
    'Undoes the last rollout, recorded on the canary (the first host of origins) once it passed',
    'the gate: after a rollout of B over A, finished or stopped half-way, every origin goes back',
    'to A. Refuses when the canary does not serve B. With --to, every origin goes to release ID',
    '(origin_rollback_to) instead.',
    '',
    `All origins switch at once: one ssh per node (at most ${ROLLBACK_MAX_FORKS} at once), each running`,
    '`pi-origin release activate` on the node, with the ssh settings Ansible would use (ansible_host,',
    'ansible_port, ansible_user, ansible_ssh_private_key_file, ansible_ssh_common_args and',
    'ansible_ssh_extra_args; host keys always checked). Then the controller confirms every node',
    'over IPv6 on /_origin/health. A node that fails to switch is put back on what it served and',
    'named in the summary; the others still switch. Fix it, then run the rollback again with --to.',
    '',
    'With --playbook, or when a node needs what only Ansible does (another connection, a',
    'password, become, a templated setting), ansible/rollback.yml runs instead: the same steps',
    `as Ansible tasks (forks = the number of origins, at most ${ROLLBACK_MAX_FORKS}, unless ANSIBLE_FORKS is set),`,
    'about a second of controller CPU per node (docs/capacity.md).',
    '',
    ...PLAYBOOK_HELP,
    '',
    'Options:',
    INVENTORY_OPTION,
    '  --to ID                  the release to return to: 12 hex digits (pi-origin release list)',
    '  --playbook               run ansible/rollback.yml instead of the ssh switch',
    ...EXTRA_VARS_OPTION,
  ].join('\n'),
  examples: [
    'pi-origin cluster rollback -i inventory.ini',
    'pi-origin cluster rollback -i inventory.ini --to 0123456789ab',
    'pi-origin cluster rollback -i inventory.ini --playbook',
  ],
  flags: { inventory: 'value', to: 'value', playbook: 'boolean', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  run: rollback,
};

async function rollback(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const to = flags.get('to') as string | undefined;
  if (to !== undefined && !isReleaseId(to)) throw new UsageError(`--to must be a release id, 12 lower-case hex digits (got ${JSON.stringify(to)})`);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_rollback_to: '--to' });
  const hosts = readInventory(inventory).hosts;
  const forks = Math.min(Math.max(hosts.length, 1), ROLLBACK_MAX_FORKS);
  const what = to === undefined ? 'rollback' : `rollback to ${to}`;
  if (!flags.has('playbook')) {
    const prepared = prepareSwitch(hosts, extra);
    if (prepared.ok) {
      const { nodes } = prepared;
      return withProgress(what, (onEvent, signal, now) => rollbackSwitch({ nodes, ...(to === undefined ? {} : { to }), parallel: forks, onEvent, signal, now }));
    }
    process.stdout.write(`the ssh switch cannot reach ${prepared.reason}; running ansible/rollback.yml\n`);
  }
  return playbook('rollback', inventory, { ...extra, ...(to === undefined ? {} : { origin_rollback_to: to }) }, what, undefined, { forks });
}
