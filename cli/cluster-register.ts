/** `pi-origin cluster register`: a node into HAProxy's rotation (ansible/register.yml). */
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, nodePlaybook, PLAYBOOK_HELP } from './cluster-playbooks.js';
import type { Subcommand } from './subcommands.js';

export const REGISTER: Subcommand = {
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
  examples: [
    'pi-origin cluster register pi5 -i inventory.ini',
  ],
  flags: { inventory: 'value', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  positional: ['NODE'],
  run: (positional, flags, lists) => nodePlaybook('register', 'registration', positional, flags, lists),
};
