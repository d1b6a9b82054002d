/**
 * Helpers for the cluster tests on the namespace rig (cluster-e2e, cluster-faults): the
 * inventory of rig nodes plus HAProxy on loopback, the operator's `pi-origin cluster` command,
 * its summary table, HAProxy's runtime API and ending the HAProxy daemon.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { Manifest } from '../../dist/release/manifest.js';
import { buildArtifact, closeMasters, httpGet, REPO, run, type Run } from './ansible.js';
import { createRig, type Rig, type RigNode } from '../rig/netns.js';

export interface ClusterRig {
  readonly rig: Rig;
  /** A temporary directory for releases, inventory and HAProxy's files. */
  readonly work: string;
  /** SSH masters live here during the test (ansibleEnv's controlDir). */
  readonly controlDir: string;
  /** HAProxy's configuration, PID file and runtime API socket. */
  readonly haproxyDir: string;
  readonly pidfile: string;
  readonly socket: string;
  /** Free on 127.0.0.1 and ::1, for HAProxy's frontend. */
  readonly proxyPort: number;
  /** The artifact origin_node installs, and how building it went. */
  readonly artifact: string;
  readonly artifactBuild: Run;
}

/**
 * Three rig nodes (prefix and subnet of the test's own), a work directory, a proxy port and the
 * artifact; at `t`'s teardown SSH masters are closed, the rig destroyed, HAProxy killed and the
 * work directory removed.
 */
export async function startClusterRig(t: Test, prefix: string, subnet: string): Promise<ClusterRig> {
  const rig = await createRig({ nodes: 3, prefix, subnet });
  const work = mkdtempSync(join(tmpdir(), `${prefix}-cluster-`));
  const controlDir = join(work, 'cp');
  t.teardown(() => {
    closeMasters(controlDir);
    return rig.destroy();
  });
  const haproxyDir = join(work, 'haproxy');
  const pidfile = join(haproxyDir, 'haproxy.pid');
  t.teardown(() => {
    killPidFile(pidfile);
    rmSync(work, { recursive: true, force: true });
  });
  const proxyPort = await freePort();
  const artifact = join(work, 'pi-origin.tar');
  const artifactBuild = await buildArtifact(artifact);
  return { rig, work, controlDir, haproxyDir, pidfile, socket: join(haproxyDir, 'admin.sock'), proxyPort, artifact, artifactBuild };
}

/** A node's `/_origin/health` over IPv6 as `<status> <body>` (`200 ok <id>`), or the error's message. */
export async function nodeHealth(node: RigNode, port: number): Promise<string> {
  try {
    const r = await httpGet(`http://[${node.address}]:${port}/_origin/health`);
    return `${r.status} ${r.body.toString().trim()}`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** A port free on both 127.0.0.1 and ::1 (HAProxy binds both). */
export async function freePort(): Promise<number> {
  for (;;) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    const v6 = createServer();
    const ok = await new Promise<boolean>((r) => v6.once('error', () => r(false)).listen(port, '::1', () => r(true)));
    if (ok) {
      await new Promise((r) => v6.close(r));
      return port;
    }
  }
}

/** The CLI's summary table (NODE OK CHANGED FAILED ...): host -> counts by lower-case column. */
export function summaryTable(out: string): Map<string, Record<string, number>> {
  const lines = out.split('\n');
  const start = lines.findIndex((l) => /^NODE\s+OK\s+CHANGED/.test(l));
  const table = new Map<string, Record<string, number>>();
  if (start === -1) return table;
  const columns = (lines[start] as string).trim().split(/\s+/).slice(1).map((c) => c.toLowerCase());
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const [host, ...counts] = line.trim().split(/\s+/);
    table.set(host as string, Object.fromEntries(columns.map((c, i) => [c, Number(counts[i])])));
  }
  return table;
}

export interface ClusterInventory {
  readonly rig: Rig;
  readonly nodes: readonly RigNode[];
  /** The artifact origin_node installs (`pi-origin cluster artifact`). */
  readonly artifact: string;
  /** The nodes' HTTP port. */
  readonly port: number;
  /** HAProxy's configuration, PID file and runtime API socket go here. */
  readonly haproxyDir: string;
  readonly socket: string;
  /** HAProxy's frontend port on 127.0.0.1 and ::1. */
  readonly proxyPort: number;
  /** More variables for the origins group, e.g. `{ origin_release_load_gate: false }`. */
  readonly originVars?: Readonly<Record<string, unknown>>;
}

/**
 * A YAML inventory: the rig's nodes as `origins` in the roles' test mode (no systemd, no host
 * configuration, everything under the node's private /srv), and this machine as `proxies`
 * (HAProxy as a daemon on 127.0.0.1 and ::1, health checks every 500 ms, fall 2, rise 2).
 */
export function clusterInventory(c: ClusterInventory): string {
  const json = (v: unknown): string => JSON.stringify(v);
  const subnet = c.rig.subnet;
  return [
    'all:',
    '  children:',
    '    origins:',
    '      hosts:',
    // Each node's own sshd host key, which the other nodes pin for the peer fan-out.
    ...c.nodes.map((n) => `        ${n.name}: { ansible_host: "${n.address}", origin_release_peer_host_key: ${json(join(n.dir, 'ssh/ssh_host_ed25519_key.pub'))} }`),
    '      vars:',
    '        ansible_user: root',
    `        ansible_ssh_common_args: "-F ${c.rig.sshConfig}"`,
    '        ansible_python_interpreter: /usr/bin/python3',
    `        origin_node_artifact: ${json(c.artifact)}`,
    '        origin_node_service_manager: none',
    '        origin_node_apply_host_config: false',
    '        origin_node_etc_root: /srv/origin/test-etc',
    '        origin_node_app_dir: /srv/opt/pi-origin',
    '        origin_node_create_user: false',
    '        origin_node_user: nobody',
    '        origin_node_group: nogroup',
    `        origin_node_port: ${c.port}`,
    '        origin_node_workers: 1',
    `        origin_node_admin_allow: ${json(['::1/128', `${c.rig.gateway}/128`])}`,
    `        origin_node_trusted_proxies: ${json([`${c.rig.gateway}/128`])}`,
    `        origin_node_http_allow: ${json([`${subnet}::/64`])}`,
    `        origin_node_ssh_allow: ${json([`${subnet}::/64`])}`,
    `        origin_node_dns64_servers: ${json([`${subnet}::53`])}`,
    `        origin_release_controller_node: ${json(process.execPath)}`,
    '        origin_release_confirm_timeout: 5',
    // The peer trust in each node's private /srv (the rig shares /etc and /root with this machine).
    '        origin_release_peer_dir: /srv/peer',
    '        origin_release_peer_authorized_keys: /srv/peer/authorized_keys',
    ...Object.entries(c.originVars ?? {}).map(([k, v]) => `        ${k}: ${json(v)}`),
    ...proxiesInventory(c),
    '',
  ].join('\n');
}

/**
 * Writes a YAML inventory to `path`: `origins` answering on [::1] at the given ports, and the
 * local `proxies` group of {@link proxiesInventory} with `vars`.
 */
export function writeLoopbackInventory(
  path: string,
  origins: readonly { readonly name: string; readonly port: number }[],
  proxy: { readonly haproxyDir: string; readonly socket: string; readonly proxyPort: number },
  vars: Readonly<Record<string, unknown>> = {},
): void {
  writeFileSync(
    path,
    [
      'all:',
      '  children:',
      '    origins:',
      '      hosts:',
      ...origins.map((o) => `        ${o.name}: { ansible_host: "::1", origin_node_port: ${o.port} }`),
      ...proxiesInventory(proxy, vars),
      '',
    ].join('\n'),
  );
}

/**
 * The `proxies` group of a test inventory (YAML lines, indented under `all: children:`): this
 * machine, HAProxy as a daemon on 127.0.0.1 and ::1 with its files in `haproxyDir`, health
 * checks every 500 ms, fall 2, rise 2; `extra` adds or overrides variables.
 */
export function proxiesInventory(c: { readonly haproxyDir: string; readonly socket: string; readonly proxyPort: number }, extra: Readonly<Record<string, unknown>> = {}): string[] {
  const json = (v: unknown): string => JSON.stringify(v);
  const vars: Record<string, unknown> = {
    dualstack_proxy_service_manager: 'none',
    dualstack_proxy_install_packages: false,
    dualstack_proxy_config_dir: c.haproxyDir,
    dualstack_proxy_run_dir: c.haproxyDir,
    dualstack_proxy_socket: c.socket,
    dualstack_proxy_port: c.proxyPort,
    dualstack_proxy_bind_ipv4: ['127.0.0.1'],
    dualstack_proxy_bind_ipv6: ['::1'],
    dualstack_proxy_check_interval: `${PROXY_CHECK_INTERVAL_MS}ms`,
    dualstack_proxy_fall: PROXY_FALL,
    dualstack_proxy_log_target: '',
    dualstack_proxy_wait_timeout: 20,
    dualstack_proxy_maxconn: 1000,
    // Off: several rigs at once on ::1 would fight over the exporter's one port (front.test.ts turns it on, on a free port).
    dualstack_proxy_metrics_port: 0,
    ...extra,
  };
  return [
    '    proxies:',
    '      hosts:',
    '        proxy1: { ansible_connection: local, ansible_python_interpreter: /usr/bin/python3 }',
    '      vars:',
    ...Object.entries(vars).map(([k, v]) => `        ${k}: ${json(v)}`),
  ];
}

/** The rig inventory's HAProxy health checks: a node is out after PROXY_FALL failed checks PROXY_CHECK_INTERVAL_MS apart. */
export const PROXY_CHECK_INTERVAL_MS = 500;
export const PROXY_FALL = 2;

/** `pi-origin cluster ARGS -i inventory` as the operator runs it; `report` gets one line per run (its time and slowest tasks). */
export function clusterCommand(inventory: string, env: NodeJS.ProcessEnv, report: (line: string) => void, timeoutMs = 900_000): (args: readonly string[], onStdout?: (s: string) => void) => Promise<Run> {
  return (args, onStdout) =>
    // The kill timer guards against a hang; it is no speed test: under load a provision that takes
    // 30 s on an idle machine took more than 180 s.
    run(process.execPath, [join(REPO, 'dist/cli/main.js'), 'cluster', ...args, '-i', inventory], { env, timeoutMs, ...(onStdout === undefined ? {} : { onStdout }) }).then((r) => {
      const profile = r.stdout.lastIndexOf('=====');
      report(`pi-origin cluster ${args.join(' ')}: ${r.ms} ms${profile === -1 ? '' : `; slowest tasks:\n${r.stdout.slice(profile).split('\n').slice(1, 7).join('\n')}`}`);
      return r;
    });
}

/** The end of a run's output, for a failed assertion's diagnostics. */
export function runTail(r: Run): { stdout: string; stderr: string } {
  return { stdout: r.stdout.slice(-6000), stderr: r.stderr.slice(-2000) };
}

export interface ProxyServer {
  /** `show stat` status: UP, DOWN, `UP 1/2` (going down), MAINT, ... */
  readonly status: string;
  /** Sessions the server took in total. */
  readonly total: number;
  /** The last health check's status: L7OK, L4CON (connection refused), L4TOUT, ... */
  readonly check: string;
  /** Connection errors, response errors, retries and redispatches to another server. */
  readonly econ: number;
  readonly eresp: number;
  readonly retries: number;
  readonly redispatches: number;
}

/** One command to HAProxy's runtime API on `socket`, through socat (as the dualstack_proxy role uses it); blocks until answered. */
export function haproxyCommand(socket: string, command: string): string {
  return spawnSync('socat', ['stdio', `unix-connect:${socket}`], { input: command + '\n', encoding: 'utf8', timeout: 5000 }).stdout;
}

/** The same without blocking the event loop (for use while a load client runs): HAProxy answers and closes the connection. */
export function haproxyCommandAsync(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = connect(socket, () => c.end(command + '\n'));
    c.setEncoding('utf8').on('data', (s: string) => (out += s));
    c.setTimeout(5000, () => c.destroy(new Error(`runtime API ${socket}: no answer to ${command} in 5 s`)));
    c.on('error', reject).on('close', () => resolve(out));
  });
}

/** The backend's servers in `show stat origins 4 -1` output, by name. */
export function parseShowStat(showStat: string): Map<string, ProxyServer> {
  const m = new Map<string, ProxyServer>();
  for (const line of showStat.split('\n')) {
    const f = line.split(',');
    if (f[0] === 'origins' && f[1] !== undefined) m.set(f[1], { status: f[17] ?? '', total: Number(f[7]), check: f[36] ?? '', econ: Number(f[13]), eresp: Number(f[14]), retries: Number(f[15]), redispatches: Number(f[16]) });
  }
  return m;
}

export const SHOW_STAT = 'show stat origins 4 -1';

/** SIGKILLs every process named in a PID file (HAProxy's, at teardown); a missing file or process is fine. */
export function killPidFile(pidfile: string): void {
  if (!existsSync(pidfile)) return;
  for (const pid of readFileSync(pidfile, 'utf8').split(/\s+/).filter((p) => p !== '')) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface Sample {
  readonly status: number;
  readonly release: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** A keep-alive client loop through the proxy over IPv4: each body is checked against the manifest of the release in its header. */
export function loadThroughProxy(port: number, manifests: ReadonlyMap<string, Manifest>, paths: readonly string[], loops: number): { stop: () => Promise<Sample[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: loops });
  const samples: Sample[] = [];
  let running = true;
  // Each release's path -> sha256, once: the client checks every body against it.
  const hashes = new Map([...manifests].map(([id, m]) => [id, new Map(m.files.map((f) => [f.path, f.sha256]))]));
  const once = (path: string): Promise<Sample> =>
    new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
        const hash = createHash('sha256');
        res.on('data', (c: Buffer) => hash.update(c));
        res.on('end', () => {
          const release = String(res.headers['x-origin-release'] ?? '');
          const want = hashes.get(release)?.get(path);
          resolve({ status: res.statusCode ?? 0, release, ok: want !== undefined && want === hash.digest('hex') });
        });
        res.on('error', (e) => resolve({ status: 0, release: '', ok: false, error: e.message }));
      });
      req.on('error', (e) => resolve({ status: 0, release: '', ok: false, error: e.message }));
      req.end();
    });
  const loop = async (i: number): Promise<void> => {
    for (let n = i; running; n++) samples.push(await once(paths[n % paths.length] as string));
  };
  const all = Promise.all(Array.from({ length: loops }, (_, i) => loop(i)));
  return {
    stop: async () => {
      running = false;
      await all;
      agent.destroy();
      return samples;
    },
  };
}
