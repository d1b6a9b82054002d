/**
 * The scale rig: N IPv6-only nodes (test/rig/netns.ts: a network namespace each, with its own
 * sshd and /srv), provisioned with the real playbooks as cluster-e2e does (origin_node installs
 * the artifact built from dist/, in the roles' test mode), and HAProxy in the root namespace
 * in front of them (dualstack_proxy). Timed, and its memory per node measured.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ansibleEnv, buildArtifact, closeMasters, REPO, run, type Run } from '../helpers/ansible.js';
import { clusterInventory, freePort, killPidFile } from '../helpers/cluster.js';
import { createRig, DEFAULT_ENV, run as rigRun, type Rig } from '../rig/netns.js';

export const NODE_PORT = 8080;

export interface Fleet {
  readonly rig: Rig;
  readonly work: string;
  readonly inventory: string;
  readonly proxyPort: number;
  readonly env: NodeJS.ProcessEnv;
  /** Seconds: namespaces + sshd up, the artifact built, provision (nodes and HAProxy). */
  readonly bringUp: { readonly rigSec: number; readonly artifactSec: number; readonly provisionSec: number };
  /** `pi-origin cluster ARGS -i inventory`, its output streamed to `onLine` when given. */
  cluster(args: readonly string[], onStdout?: (s: string) => void): Promise<Run>;
  destroy(): Promise<void>;
}

export interface FleetRigOptions {
  readonly nodes: number;
  readonly prefix: string;
  readonly subnet: string;
  readonly forks: number;
  readonly log: (line: string) => void;
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;

export async function startFleet(o: FleetRigOptions): Promise<Fleet> {
  let t0 = performance.now();
  const rig = await createRig({ nodes: o.nodes, prefix: o.prefix, subnet: o.subnet });
  const rigSec = seconds(performance.now() - t0);
  o.log(`rig: ${o.nodes} namespaces with sshd up in ${rigSec} s`);
  const work = mkdtempSync(join(tmpdir(), `${o.prefix}-fleet-`));
  const controlDir = join(work, 'cp');
  const haproxyDir = join(work, 'haproxy');
  const pidfile = join(haproxyDir, 'haproxy.pid');
  const destroy = async (): Promise<void> => {
    closeMasters(controlDir);
    await rig.destroy();
    killPidFile(pidfile);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    t0 = performance.now();
    const artifact = join(work, 'pi-origin.tar');
    const built = await buildArtifact(artifact);
    if (built.code !== 0) throw new Error(`pi-origin cluster artifact failed: ${built.stderr.slice(-2000)}`);
    const artifactSec = seconds(performance.now() - t0);
    const proxyPort = await freePort();
    const inventory = join(work, 'inventory.yml');
    // The load gate would put the canary under a minute of load: the bench times the rollout
    // machinery, and the content gate still checks every file of the canary.
    writeFileSync(inventory, clusterInventory({ rig, nodes: rig.nodes, artifact, port: NODE_PORT, haproxyDir, socket: join(haproxyDir, 'admin.sock'), proxyPort, originVars: { origin_release_load_gate: false } }));
    const env = ansibleEnv({ ANSIBLE_FORKS: String(o.forks) }, controlDir);
    const cluster = (args: readonly string[], onStdout?: (s: string) => void): Promise<Run> =>
      run(process.execPath, [join(REPO, 'dist/cli/main.js'), 'cluster', ...args, '-i', inventory], { env, timeoutMs: 3_600_000, ...(onStdout === undefined ? {} : { onStdout }) });
    t0 = performance.now();
    const provision = await cluster(['provision']);
    if (provision.code !== 0) throw new Error(`pi-origin cluster provision failed (${provision.code}):\n${provision.stdout.slice(-4000)}\n${provision.stderr.slice(-2000)}`);
    const provisionSec = seconds(performance.now() - t0);
    o.log(`provision: ${o.nodes} nodes and HAProxy in ${provisionSec} s (artifact ${artifactSec} s)`);
    return { rig, work, inventory, proxyPort, env, bringUp: { rigSec, artifactSec, provisionSec }, cluster, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** Resident memory of every process in a node's namespace (holder, sshd, the origin server), in bytes. */
export async function nodeMemory(netns: string): Promise<{ totalBytes: number; serverBytes: number }> {
  const pids = (await rigRun('ip', ['netns', 'pids', netns], { env: DEFAULT_ENV })).stdout.split(/\s+/).filter((p) => p !== '');
  let totalBytes = 0;
  let serverBytes = 0;
  for (const pid of pids) {
    try {
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
      totalBytes += rss;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/cli/main.js')) serverBytes += rss;
    } catch {
      // gone meanwhile
    }
  }
  return { totalBytes, serverBytes };
}

/** Bytes the root namespace (the controller) sent into the rig: the bridge's tx counter. */
export function bridgeTxBytes(bridge: string): number {
  return Number(readFileSync(`/sys/class/net/${bridge}/statistics/tx_bytes`, 'utf8'));
}
