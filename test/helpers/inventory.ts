/** Ansible INI inventories for tests that point cluster commands at real servers. */
import { writeFileSync } from 'node:fs';

/** `[node name, ansible_host, origin_node_port]`: one host line each. */
export type HostLine = readonly [string, string, number];

/** Writes `[group]` with one `NAME ansible_host=ADDRESS origin_node_port=PORT` line per host; returns `path`. */
export function writeInventory(path: string, hosts: readonly HostLine[], group = 'origins'): string {
  writeFileSync(path, [`[${group}]`, ...hosts.map(([name, address, port]) => `${name} ansible_host=${address} origin_node_port=${port}`), ''].join('\n'));
  return path;
}
