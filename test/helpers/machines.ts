/**
 * A machine rig (test/rig/machines.ts) set up for `pi-origin cluster` in real mode: booted
 * machines, a work directory with the ssh ControlPersist masters' directory, the artifact, an
 * inventory whose origins and proxies get the roles' real-mode variables, and the commands tests
 * run on the machines. Torn down at `t`'s teardown.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { DEFAULT_PORT } from '../../common/port.js';
import { ansibleEnv, buildArtifact, closeMasters } from './ansible.js';
import { clusterCommand, parseShowStat, SHOW_STAT } from './cluster.js';
import { createMachineRig, type Machine, type MachineRig, type MachineRigOptions } from '../rig/machines.js';

export interface MachineCluster {
  readonly rig: MachineRig;
  readonly proxy: Machine;
  /** Under the rig's directory: the artifact, inventory, sites and releases go here. */
  readonly work: string;
  /** The ssh ControlPersist masters' directory (`closeMasters` it to force new connections). */
  readonly controlDir: string;
  readonly inventory: string;
  readonly env: NodeJS.ProcessEnv;
  /** `pi-origin cluster ARGS -i inventory`, each run's time and slowest tasks reported as a comment. */
  readonly cluster: ReturnType<typeof clusterCommand>;
  /** `sh -c command` on the machine: its stdout, and `[exit N: stderr]` when it failed. */
  readonly sh: (m: Machine, command: string) => Promise<string>;
  /** HAProxy's `show stat` of the origins backend on the proxy, by server name. */
  readonly proxyStat: () => Promise<ReturnType<typeof parseShowStat>>;
}

export interface MachineClusterOptions extends MachineRigOptions {
  /** The nodes' port (default DEFAULT_PORT, 8080). */
  readonly port?: number;
  /** More variables of group `origins` and `proxies` (values as JSON). */
  readonly originVars?: Readonly<Record<string, unknown>>;
  readonly proxyVars?: Readonly<Record<string, unknown>>;
}

/** Boots the machines (with a proxy), builds the artifact and writes the inventory. */
export async function startMachineCluster(t: Test, options: MachineClusterOptions): Promise<MachineCluster> {
  const rig = await createMachineRig(options);
  const work = join(rig.baseDir, 'work');
  const controlDir = join(work, 'cp');
  mkdirSync(controlDir, { recursive: true });
  t.teardown(async () => {
    closeMasters(controlDir);
    await rig.destroy();
  });
  const proxy = rig.proxy;
  if (proxy === undefined) throw new Error('startMachineCluster: the rig needs its proxy host');
  const artifact = join(work, 'pi-origin.tar');
  const built = await buildArtifact(artifact);
  if (built.code !== 0) throw new Error(`pi-origin cluster artifact failed: ${built.stderr}`);

  const vars = (v: Readonly<Record<string, unknown>>): string[] => Object.entries(v).map(([k, x]) => `        ${k}: ${JSON.stringify(x)}`);
  const inventory = join(work, 'inventory.yml');
  writeFileSync(
    inventory,
    [
      'all:',
      '  vars:',
      '    ansible_user: root',
      `    ansible_ssh_common_args: "-F ${rig.sshConfig}"`,
      '    ansible_python_interpreter: /usr/bin/python3',
      '  children:',
      '    origins:',
      '      hosts:',
      ...rig.nodes.map((n) => `        ${n.name}: { ansible_host: "${n.address}" }`),
      '      vars:',
      ...vars({
        origin_node_artifact: artifact,
        origin_node_port: options.port ?? DEFAULT_PORT,
        origin_node_workers: 1,
        // The host (the controller's health checks) and the proxy reach the admin endpoints.
        origin_node_admin_allow: ['::1/128', `${rig.gateway}/128`, `${proxy.address}/128`],
        origin_node_trusted_proxies: [`${proxy.address}/128`],
        origin_node_http_allow: [`${rig.subnet}::/64`],
        origin_node_ssh_allow: [`${rig.subnet}::/64`],
        origin_release_controller_node: process.execPath,
        ...options.originVars,
      }),
      '    proxies:',
      '      hosts:',
      `        ${proxy.name}: { ansible_host: "${proxy.address}" }`,
      '      vars:',
      ...vars({ dualstack_proxy_check_interval: '500ms', ...options.proxyVars }),
      '',
    ].join('\n'),
  );

  const env = ansibleEnv({ ANSIBLE_CALLBACKS_ENABLED: 'ansible.posix.profile_tasks', PROFILE_TASKS_TASK_OUTPUT_LIMIT: '6' }, controlDir);
  const sh = async (m: Machine, command: string): Promise<string> => {
    const r = await rig.exec(m, ['/bin/sh', '-c', command], { timeoutMs: 60_000 });
    return r.stdout + (r.code === 0 ? '' : `[exit ${r.code}: ${r.stderr.trim()}]`);
  };
  return {
    rig,
    proxy,
    work,
    controlDir,
    inventory,
    env,
    // apt on fresh machines: the first run fetches every .deb (the rig's apt proxy keeps them).
    cluster: clusterCommand(inventory, env, (line) => t.comment(line), 600_000),
    sh,
    proxyStat: async () => parseShowStat((await rig.exec(proxy, ['socat', 'stdio', 'unix-connect:/run/haproxy/admin.sock'], { input: `${SHOW_STAT}\n` })).stdout),
  };
}
