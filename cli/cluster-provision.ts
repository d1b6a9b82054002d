/** `pi-origin cluster provision`: ansible/provision.yml. */
import { readInventory } from '../cluster/inventory.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, LIMIT_OPTION, limitOf, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import type { Subcommand } from './subcommands.js';

export const PROVISION: Subcommand = {
  summary: 'install or update pi-origin and its host setup on the origins',
  usage: 'pi-origin cluster provision --inventory FILE [--limit HOSTS] [--check] [--diff] [-e KEY=VALUE|@FILE.json ...]',
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
    "  --check                  Ansible's check mode (ansible-playbook --check): report what would",
    '                           change, change nothing',
    '  --diff                   show the changes to files and templates (ansible-playbook --diff);',
    '                           with --check, the changes that would be made',
    ...EXTRA_VARS_OPTION,
  ].join('\n'),
  examples: [
    'pi-origin cluster provision -i inventory.ini -e origin_node_artifact=pi-origin-arm64.tgz',
    'pi-origin cluster provision -i inventory.ini --check --diff',
    'pi-origin cluster provision -i inventory.ini --limit pi5',
  ],
  flags: { inventory: 'value', limit: 'value', check: 'boolean', diff: 'boolean', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  run: provision,
};

async function provision(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], {});
  readInventory(inventory);
  const check = flags.has('check');
  return playbook('provision', inventory, extra, check ? 'provisioning in check mode' : 'provisioning', limitOf(flags), { check, diff: flags.has('diff') });
}
