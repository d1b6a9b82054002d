/** `pi-origin cluster preview`: ansible/preview.yml (push without activating), then the preview URLs. */
import { nodeUrl } from '../cluster/address.js';
import { readInventory, type InventoryHost } from '../cluster/inventory.js';
import { EXTRA_VARS_OPTION, INVENTORY_OPTION, LIMIT_OPTION, limitOf, parseExtraVars, PLAYBOOK_HELP, playbook, requireInventory } from './cluster-playbooks.js';
import { releaseDir } from './cluster-rollout.js';
import type { Subcommand } from './subcommands.js';

export const PREVIEW: Subcommand = {
  summary: 'push a release to the origins without activating it; print its preview URLs',
  usage: 'pi-origin cluster preview RELEASE_DIR --inventory FILE [--limit HOSTS] [-e KEY=VALUE|@FILE.json ...]',
  help: [
    'Runs ansible/preview.yml with origin_release_src set to RELEASE_DIR (made absolute, symlinks',
    'resolved; its manifest.json id is its name): the push of a rollout on every node (copied,',
    'verified on the node, renamed into place), and nothing else: every node keeps serving its',
    'current release. Then prints where the release can be seen, from the inventory\'s',
    'origin_node_preview_host (https://<id>.<suffix>/) and origin_node_preview_path (that prefix on',
    'each node). Previews are never cacheable by a CDN and carry X-Robots-Tag: noindex;',
    'origin_node_preview_allow limits who may see them. A later rollout of the release finds it',
    'on the nodes already.',
    '',
    ...PLAYBOOK_HELP,
    '',
    'Options:',
    INVENTORY_OPTION,
    LIMIT_OPTION,
    ...EXTRA_VARS_OPTION,
  ].join('\n'),
  examples: [
    'pi-origin cluster preview releases/0123456789ab -i inventory.ini',
    'pi-origin cluster preview releases/0123456789ab -i inventory.ini --limit pi5',
  ],
  flags: { inventory: 'value', limit: 'value', 'extra-vars': 'list' },
  short: { i: 'inventory', e: 'extra-vars' },
  positional: ['RELEASE_DIR'],
  run: preview,
};

async function preview(positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = requireInventory(flags);
  const extra = parseExtraVars(lists.get('extra-vars') ?? [], { origin_release_src: 'RELEASE_DIR' });
  const hosts = readInventory(inventory).hosts;
  const release = releaseDir(positional[0] as string);
  const code = await playbook('preview', inventory, { ...extra, origin_release_src: release.dir }, `preview of ${release.id}`, limitOf(flags));
  if (code !== 0) return code;
  const urls = previewUrls(hosts, release.id);
  if (urls.length === 0) process.stdout.write(`preview: release ${release.id} is on the nodes, but no node has origin_node_preview_host or origin_node_preview_path set: set one and run cluster provision\n`);
  for (const url of urls) process.stdout.write(`preview: ${url}\n`);
  return 0;
}

/** Each distinct preview URL of release `id` the inventory's variables give: one per host suffix, one per node for a path prefix. */
export function previewUrls(hosts: readonly InventoryHost[], id: string): string[] {
  const urls = new Set<string>();
  for (const h of hosts) {
    const suffix = h.vars['origin_node_preview_host'];
    const prefix = h.vars['origin_node_preview_path'];
    if (typeof suffix === 'string' && suffix !== '') urls.add(`${h.tlsPort === undefined ? 'http' : 'https'}://${id}.${suffix.toLowerCase()}/`);
    if (typeof prefix === 'string' && prefix !== '') urls.add(nodeUrl(h.address, h.port, `${prefix}${id}/`));
  }
  return [...urls];
}
