/** `pi-origin cluster rollout`: ansible/rollout.yml with a checked release directory. */
import { realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { readInventory } from '../cluster/inventory.js';
import { PlaybookError } from '../cluster/playbook.js';
import { readManifest } from '../release/manifest.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, LIMIT_OPTION, limitOf, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import { UsageError, type Subcommand } from './subcommands.js';

export const ROLLOUT: Subcommand = {
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
  examples: [
    'pi-origin cluster rollout releases/0123456789ab -i inventory.ini',
    'pi-origin cluster rollout releases/current -i inventory.ini --batch 25%',
    'pi-origin cluster rollout releases/current -i inventory.ini --limit pi5',
  ],
  flags: { inventory: 'value', batch: 'value', limit: 'value', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  positional: ['RELEASE_DIR'],
  run: rollout,
};

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
