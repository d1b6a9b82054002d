/**
 * Prometheus file-based service discovery (file_sd) from the inventory: the same hosts the
 * playbooks configure, as scrape targets. One target group per host, so every series carries the
 * inventory name (`node`) and group (`group`) whatever address the host has; IPv6 targets are
 * `[RFC 5952 literal]:port`, the form Prometheus's `instance` label then shows.
 */
import { hostPort } from './address.js';
import { InventoryError, type Inventory, type InventoryHost } from './inventory.js';

/** The group whose hosts run HAProxy (the dualstack_proxy role; ansible/proxy.yml). */
export const PROXY_GROUP = 'proxies';
/** dualstack_proxy's `dualstack_proxy_metrics_port` default: HAProxy's exporter frontend. */
export const HAPROXY_EXPORTER_PORT = 8405;
const METRICS_PORT_VAR = 'dualstack_proxy_metrics_port';

/** One entry of a file_sd file: https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

function targetGroup(inventory: Inventory, host: InventoryHost, port: number): TargetGroup {
  return { targets: [hostPort(host.address, port)], labels: { node: host.name, group: inventory.group } };
}

/** The origin nodes' `/_origin/metrics` endpoints: ansible_host and origin_node_port. */
export function originTargets(inventory: Inventory): TargetGroup[] {
  return inventory.hosts.map((h) => targetGroup(inventory, h, h.port));
}

/**
 * The proxies' HAProxy exporter endpoints: ansible_host and `dualstack_proxy_metrics_port`
 * (default {@link HAPROXY_EXPORTER_PORT}); a proxy with the exporter off (port 0) is left out.
 * Throws InventoryError for a port that is not an integer from 0 to 65535.
 */
export function haproxyTargets(inventory: Inventory): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const h of inventory.hosts) {
    const port = metricsPort(inventory.file, h);
    if (port !== 0) groups.push(targetGroup(inventory, h, port));
  }
  return groups;
}

function metricsPort(file: string, host: InventoryHost): number {
  const value = host.vars[METRICS_PORT_VAR];
  if (value === undefined) return HAPROXY_EXPORTER_PORT;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InventoryError(`${file}: host ${host.name}: ${METRICS_PORT_VAR} must be an integer from 0 (exporter off) to 65535 (got ${JSON.stringify(value)})`);
  return n;
}

/** The file_sd JSON text: an array of target groups, one per line for readable diffs. */
export function renderFileSd(groups: readonly TargetGroup[]): string {
  if (groups.length === 0) return '[]\n';
  return `[\n${groups.map((g) => `  ${JSON.stringify(g)}`).join(',\n')}\n]\n`;
}
