/** Fixtures for the cluster-side units: one node's status document and the probe that carries it. */
import type { NodeProbe, NodeStatus } from '../../cluster/node-probe.js';

/**
 * A healthy node's `/_origin/status` on `release`, up ten minutes with nothing served yet;
 * `extra` overrides any field a test asserts on.
 */
export function nodeStatus(release: string | null, extra: Partial<NodeStatus> = {}): NodeStatus {
  return { node: 'n', version: '0.1.0', release, health: 'ok', files: 1, contentBytes: 1, cacheBytes: 0, uptimeSeconds: 600, workers: 1, requests: 0, bytesOut: 0, connections: 0, ...extra };
}

/** The probe of `name` at `address`:`port`: up with `result`, or down with `result` as its error. */
export function nodeProbe(name: string, result: NodeStatus | string, address = '::1', port = 80): NodeProbe {
  const host = address.includes(':') ? `[${address}]` : address;
  const base = { name, address, port, endpoint: `${host}:${port}`, url: `http://${host}:${port}/_origin/status` };
  return typeof result === 'string' ? { ...base, up: false, error: result } : { ...base, up: true, status: result };
}
