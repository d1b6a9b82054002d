/**
 * What `cluster status` and `cluster dns` ask: the hosts of an inventory group, each within a
 * deadline.
 */
import { DEFAULT_GROUP, readInventory } from '../cluster/inventory.js';
import { clusterStatus, type ClusterStatus } from '../cluster/status.js';
import { durationFlag } from './duration.js';
import { UsageError } from './subcommands.js';

/** `--timeout` per node (1 ms to 5 min: long enough for a slow Pi on a busy link, short enough to notice a hang). */
export const DEFAULT_TIMEOUT = '2s';

export interface ClusterTarget {
  readonly inventory: string;
  readonly group: string;
  readonly timeoutMs: number;
}

/** `--inventory`, `--group` and `--timeout`, checked; then every node asked. */
export function clusterTarget(flags: ReadonlyMap<string, string | true>): ClusterTarget {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  const timeoutMs = durationFlag(flags, 'timeout', DEFAULT_TIMEOUT, 1, '500ms or 2s');
  return { inventory, group: (flags.get('group') as string | undefined) ?? DEFAULT_GROUP, timeoutMs };
}

export function askCluster(target: ClusterTarget): Promise<ClusterStatus> {
  const { hosts } = readInventory(target.inventory, target.group);
  return clusterStatus(hosts, target.timeoutMs);
}
