/** `pi-origin cluster provision`: ansible/provision.yml. */
import { readInventory } from '../cluster/inventory.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, LIMIT_OPTION, limitOf, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import type { Subcommand } from './subcommands.js';

export const PROVISION: Subcommand = {
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
};

async function provision(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], {});
  readInventory(inventory);
  return playbook('provision', inventory, extra, 'provisioning', limitOf(flags));
}
