/**
 * The dual-stack front as the operator deploys it: ansible/proxy.yml (the dualstack_proxy role in
 * test mode: HAProxy as a daemon, no systemd) on this machine, bound to 127.0.0.1 and [::1], with
 * origins on [::1] as its backend servers. HAProxy keeps the role's defaults otherwise (user
 * haproxy, chroot /var/lib/haproxy), and is killed at teardown.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ansibleEnv, REPO, run, type Run } from './ansible.js';
import { freePort, killPidFile, writeLoopbackInventory } from './cluster.js';

export interface Front {
  /** HAProxy's configuration, PID file, runtime API socket (and whatever the test adds). */
  readonly dir: string;
  readonly socket: string;
  readonly config: string;
  /** The plain HTTP frontend's port on 127.0.0.1 and ::1. */
  readonly httpPort: number;
  /** Runs ansible/proxy.yml with the role variables given at start plus `extra` (extra vars win). */
  readonly apply: (extra?: Readonly<Record<string, unknown>>) => Promise<Run>;
}

/**
 * A work directory (outside t.testdir: unix socket paths stay under 108 bytes), an inventory
 * with `origins` = [::1]:PORT for each port and `proxy1` local; `vars` are more role variables.
 */
export async function prepareFront(t: Test, originPorts: readonly number[], vars: Readonly<Record<string, unknown>> = {}): Promise<Front> {
  const dir = mkdtempSync(join(tmpdir(), 'pi-front-'));
  const pidfile = join(dir, 'haproxy.pid');
  t.teardown(() => {
    killPidFile(pidfile);
    rmSync(dir, { recursive: true, force: true });
  });
  const httpPort = await freePort();
  const socket = join(dir, 'admin.sock');
  const json = JSON.stringify;
  const inventory = join(dir, 'inventory.yml');
  writeLoopbackInventory(inventory, originPorts.map((port, i) => ({ name: `node${i + 1}`, port })), { haproxyDir: dir, socket, proxyPort: httpPort }, vars);
  const apply = async (extra: Readonly<Record<string, unknown>> = {}): Promise<Run> => {
    const extraFile = join(dir, 'extra.json');
    writeFileSync(extraFile, json(extra));
    return run('ansible-playbook', ['-i', inventory, join(REPO, 'ansible/proxy.yml'), '-e', `@${extraFile}`], { env: ansibleEnv(), timeoutMs: 120_000 });
  };
  return { dir, socket, config: join(dir, 'haproxy.cfg'), httpPort, apply };
}
