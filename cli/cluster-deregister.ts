/** `pi-origin cluster deregister`: a node drained and deleted at HAProxy (ansible/deregister.yml). */
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, nodePlaybook, PLAYBOOK_HELP } from './cluster-playbooks.js';
import type { Subcommand } from './subcommands.js';

export const DEREGISTER: Subcommand = {
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
  examples: [
    'pi-origin cluster deregister pi5 -i inventory.ini',
  ],
  flags: { inventory: 'value', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  positional: ['NODE'],
  run: (positional, flags, lists) => nodePlaybook('deregister', 'deregistration', positional, flags, lists),
};
