/** `pi-origin cluster rollout`: ansible/rollout.yml with a checked release directory. */
import { realpathSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { readInventory, type InventoryHost } from '../cluster/inventory.js';
import { probeNode } from '../cluster/node-probe.js';
import { purgeRelease, purgeTargets, PurgeConfigError, type PurgeTarget } from '../cluster/purge.js';
import { PlaybookError } from '../cluster/playbook.js';
import { readManifestId } from '../release/manifest-text.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, LIMIT_OPTION, limitOf, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import { UsageError, type Subcommand } from './subcommands.js';

export const ROLLOUT: Subcommand = {
  summary: 'roll a built release out to the origins: a canary, then batches',
  usage: 'pi-origin cluster rollout RELEASE_DIR --inventory FILE [--batch N|N%] [--limit HOSTS] [--purge-credentials FILE] [-e KEY=VALUE|@FILE.json ...]',
  help: [
    'Runs ansible/rollout.yml with origin_release_src set to RELEASE_DIR (made absolute, symlinks',
    'resolved): a release directory built by `pi-origin release build`, whose manifest.json id is',
    'its name. The playbook moves one canary node first, then the others --batch at a time.',
    '',
    'Purge: when a CDN is configured (PI_ORIGIN_CLOUDFLARE_ZONE + PI_ORIGIN_CLOUDFLARE_TOKEN,',
    'PI_ORIGIN_FASTLY_SERVICE + PI_ORIGIN_FASTLY_TOKEN, or the same keys in lower case in',
    '--purge-credentials), the release the canary served before is purged by its tag',
    '(release-<id>) once the rollout has completed: Cloudflare by Cache-Tag (or by',
    'PI_ORIGIN_CLOUDFLARE_PREFIXES), Fastly by surrogate key, soft. A failed purge is reported on',
    'stderr and leaves the rollout in place (exit 0); tokens are never printed.',
    '',
    ...PLAYBOOK_HELP,
    '',
    'Options:',
    INVENTORY_OPTION,
    '  --batch N|N%             nodes per batch after the canary: a count or 1%-100%',
    '                           (origin_rollout_batch; default: the playbook\'s)',
    LIMIT_OPTION,
    '  --purge-credentials FILE  CDN settings as JSON (cloudflare_zone, cloudflare_token, fastly_service,',
    '                           fastly_token, ...), plain or encrypted with ansible-vault',
    ...EXTRA_VARS_OPTION,
  ].join('\n'),
  examples: [
    'pi-origin cluster rollout releases/0123456789ab -i inventory.ini',
    'pi-origin cluster rollout releases/current -i inventory.ini --purge-credentials cdn.vault.json',
    'pi-origin cluster rollout releases/current -i inventory.ini --batch 25%',
    'pi-origin cluster rollout releases/current -i inventory.ini --limit pi5',
  ],
  flags: { inventory: 'value', batch: 'value', limit: 'value', 'purge-credentials': 'value', 'extra-vars': 'list' },
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
export function releaseDir(arg: string): { dir: string; id: string } {
  let dir: string;
  try {
    dir = realpathSync(resolve(arg));
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    throw new PlaybookError(`release directory ${arg}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  }
  const id = readManifestId(dir);
  if (id === undefined) throw new PlaybookError(`${dir} has no manifest.json: not a release directory (pi-origin release build makes them)`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  if (id !== basename(dir)) throw new PlaybookError(`${dir}: the manifest's id ${id} is not the directory's name (a release directory is named after its id)`, 'PI_ORIGIN_PLAYBOOK_INPUT');
  return { dir, id };
}

async function rollout(positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const batchText = flags.get('batch') as string | undefined;
  const batch = batchText === undefined ? undefined : parseBatch(batchText);
  if (batchText !== undefined && batch === undefined) throw new UsageError(`--batch must be a positive integer or a percentage from 1% to 100% (got ${JSON.stringify(batchText)})`);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_release_src: 'RELEASE_DIR', origin_rollout_batch: '--batch' });
  const canary = readInventory(inventory).hosts[0];
  const release = releaseDir(positional[0] as string);
  const targets = cdnTargets(flags.get('purge-credentials') as string | undefined);
  const previous = targets.length === 0 || canary === undefined ? undefined : await servedBy(canary);
  const vars = { ...extra, origin_release_src: release.dir, ...(batch === undefined ? {} : { origin_rollout_batch: batch }) };
  const code = await playbook('rollout', inventory, vars, `rollout of ${release.id}`, limitOf(flags));
  if (code === 0 && targets.length > 0) await purgePrevious(targets, previous, release.id);
  return code;
}

/** The CDN settings, checked before anything rolls out: a typo fails the command, not the purge after it. */
function cdnTargets(file: string | undefined): PurgeTarget[] {
  try {
    return purgeTargets(process.env, file);
  } catch (e) {
    if (e instanceof PurgeConfigError) throw new PlaybookError(e.message, 'PI_ORIGIN_PLAYBOOK_INPUT');
    throw e;
  }
}

/** The release the canary serves before the rollout: what the purge drops afterwards; undefined when it cannot say. */
async function servedBy(canary: InventoryHost): Promise<string | undefined> {
  const probe = await probeNode(canary, 5000);
  if (probe.up) return probe.status.release ?? undefined;
  process.stderr.write(`purge: cannot ask the canary ${canary.name} which release it serves (${probe.error}); nothing will be purged\n`);
  return undefined;
}

/** Purges the release the rollout replaced; a failure is reported and the rollout stands. */
async function purgePrevious(targets: readonly PurgeTarget[], previous: string | undefined, current: string): Promise<void> {
  if (previous === undefined || previous === current) {
    process.stdout.write(`purge: nothing to purge (the canary served ${previous ?? 'no release'} before)\n`);
    return;
  }
  for (const o of await purgeRelease(targets, previous)) {
    if (o.ok) process.stdout.write(`purge ${o.cdn}: ${o.detail}\n`);
    else process.stderr.write(`purge ${o.cdn} FAILED: ${o.detail}; release ${current} stays rolled out, the CDN keeps release-${previous} until it expires\n`);
  }
}
