/**
 * The machine rig: N Debian machines (and one proxy host) booted with systemd as PID 1 by
 * systemd-nspawn, each in its own IPv6-only network namespace on the namespace rig's bridge. Where
 * test/rig/netns.ts gives a namespace with an sshd and the host's /etc, this gives a real node:
 * its own root (an overlay over one shared Debian root), systemd, journald, apt, users, nftables,
 * sysctls and reboots. Built for running the roles in their real mode.
 *
 * Layout (prefix `pim`, subnet `fd00:cafe:0:9`, 3 nodes + proxy):
 *   root namespace: bridge `pimbr0` with fd00:cafe:0:9::1/64, one veth per machine, an apt proxy
 *                   on [fd00:cafe:0:9::1]:PORT that forwards to the Debian mirror (and nowhere else)
 *   machine:        netns `pim-nodeN` (`pim-node91` for the proxy), `eth0` ::1N (proxy ::2),
 *                   systemd-nspawn -b over `<base>/<name>/merged`, sshd with the rig's host key
 *   files:          /tmp/pim-rig-<pid>/{ssh_config,known_hosts,inventory.ini,client/,<name>/}
 *   cgroups:        /sys/fs/cgroup/{unified,systemd}/pi-origin-rig/pim-<pid>-<name>/ per machine
 *   root:           /var/cache/pi-origin-test/<suite>-root.tar (made by machine-root.sh when
 *                   absent), extracted once to /var/cache/pi-origin-test/<suite>-root/
 *
 * The network, ssh client files and stale-rig cleanup are the namespace rig's (netns.ts). See
 * README.md next to this file for the choices, traps and figures.
 *
 * Needs root and Debian packages debootstrap, systemd-container (install with
 * --no-install-recommends), iproute2, openssh-client, util-linux.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync, createWriteStream, createReadStream, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addNodeNetwork,
  bridgeUp,
  checkPrerequisites,
  checkRigOptions,
  checkSubnetFree,
  cleanStale,
  DEFAULT_ENV,
  must,
  pidAlive,
  publicKey,
  run,
  sleep,
  tcpOpen,
  teardownArgs,
  writeSshClientFiles,
  type ExecOptions,
  type ExecResult,
  type ToolList,
} from './netns.js';

export interface MachineRigOptions {
  /** Origin nodes `node1..nodeN` (default 3). */
  readonly nodes?: number;
  /** One more machine, `proxy1`, in group `proxies` (default true). */
  readonly proxy?: boolean;
  /** Names: bridge `<prefix>br0`, namespaces `<prefix>-<name>`. Lowercase, 1-8 chars (default `pim`). */
  readonly prefix?: string;
  /** A ULA /64 without the trailing `::` (default `fd00:cafe:0:9`). */
  readonly subnet?: string;
  /** Debian suite of the root (default trixie). */
  readonly suite?: string;
  /** Where the rig's files go (default /tmp). */
  readonly parentDir?: string;
  /** Milliseconds a machine may take to boot (default 60000). */
  readonly bootTimeoutMs?: number;
}

export interface Machine {
  /** `nodeN` or `proxy1`: hostname, inventory name and ssh alias. */
  readonly name: string;
  readonly group: 'origins' | 'proxies';
  readonly netns: string;
  readonly hostVeth: string;
  /** IPv6 address without brackets. */
  readonly address: string;
  /** `<base>/<name>`: the overlay's upper and work directories, the merged mount point, logs. */
  readonly dir: string;
  /** The machine's own files (its writes to the shared root), as a host path. */
  readonly upper: string;
  /** systemd-nspawn's output (the boot messages). */
  readonly log: string;
}

export interface MachineMemory {
  /** Sum over the machine's processes, nspawn included, in bytes. */
  readonly rss: number;
  readonly pss: number;
  readonly processes: number;
}

export interface MachineRig {
  readonly prefix: string;
  readonly subnet: string;
  readonly suite: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly baseDir: string;
  readonly sshConfig: string;
  readonly knownHosts: string;
  readonly clientKey: string;
  /** `http://[gateway]:port`: what the machines' apt uses as Acquire::http::Proxy. */
  readonly aptProxy: string;
  /** Requests the apt proxy answered, refused (not the mirror) and served from its .deb cache. */
  readonly aptProxyStats: { forwarded: number; refused: number; cached: number };
  /** Origin nodes. */
  readonly nodes: readonly Machine[];
  readonly proxy: Machine | undefined;
  /** Nodes, then the proxy. */
  readonly machines: readonly Machine[];
  /** Milliseconds from launch to `systemctl is-system-running` = running, per machine name (the last boot). */
  readonly bootMs: ReadonlyMap<string, number>;
  machine(which: string | Machine): Machine;
  /** PID (in the host's PID namespace) of the machine's systemd, or undefined when it is not running. */
  pid1(which: string | Machine): number | undefined;
  /** Runs argv inside the machine (all its namespaces and root), to completion. Never rejects on a non-zero exit. */
  exec(which: string | Machine, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `ssh -F sshConfig root@address command`. */
  ssh(which: string | Machine, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Waits until the machine's systemd says running (or degraded: the error names the failed units) and sshd answers; resolves with ms waited. */
  waitRunning(which: string | Machine): Promise<number>;
  /** Boots a machine that is not running (after powerOff or hardPowerOff). */
  start(which: string | Machine): Promise<number>;
  /** Kills the machine's systemd and nspawn with SIGKILL: a power cut. Resolves when every process of it is gone. */
  hardPowerOff(which: string | Machine): Promise<void>;
  memory(which: string | Machine): MachineMemory;
  /** INI inventory: `origins` (nodes) and `proxies`, with the rig's ssh config. */
  inventory(): string;
  readonly inventoryPath: string;
  /** Kills every machine, removes cgroups, namespaces, veths, bridge, files; closes the apt proxy. Idempotent. */
  destroy(): Promise<void>;
}

const CACHE_DIR = '/var/cache/pi-origin-test';
/** The Debian suite of the machines' root unless a rig names another. */
export const DEFAULT_SUITE = 'trixie';
const CGROUP_PARENT = 'pi-origin-rig';
const CGROUP_HIERARCHIES = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd'] as const;
const ROOT_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'machine-root.sh');

const MACHINE_TOOLS: ToolList = [
  ['ip', 'iproute2'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['unshare', 'util-linux'],
  ['nsenter', 'util-linux'],
  ['flock', 'util-linux'],
  ['tar', 'tar'],
  ['debootstrap', 'debootstrap'],
  ['systemd-nspawn', 'systemd-container'],
];

/**
 * The Debian mirror this machine's apt uses: the first `URIs:` (deb822) or `deb URI` line of
 * /etc/apt/sources.list{,.d/*.sources,.d/*.list} that is not a security or ports archive.
 * PI_ORIGIN_TEST_MIRROR overrides it.
 */
export function debianMirror(): string {
  const env = process.env.PI_ORIGIN_TEST_MIRROR;
  if (env !== undefined && env !== '') return env.replace(/\/+$/, '');
  const files = ['/etc/apt/sources.list'];
  if (existsSync('/etc/apt/sources.list.d')) {
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) if (/\.(sources|list)$/.test(f)) files.push(join('/etc/apt/sources.list.d', f));
  }
  for (const f of files) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+)/.exec(line);
      const uri = m?.[1];
      if (uri !== undefined && /\/debian\/?$/.test(uri) && !/security/.test(uri)) return uri.replace(/\/+$/, '');
    }
  }
  throw new Error('machine rig: no Debian mirror (a URIs:/deb line ending in /debian) in /etc/apt/sources.list*; set PI_ORIGIN_TEST_MIRROR=http://MIRROR/debian');
}

/**
 * The extracted root of `suite`, made when absent: the tar by machine-root.sh (debootstrap), then
 * extracted next to it. Serialised with flock, so parallel rigs build it once.
 */
export async function machineRoot(suite: string, tools: Record<string, string> = checkPrerequisites(MACHINE_TOOLS)): Promise<string> {
  if (!/^[a-z]+$/.test(suite)) throw new Error(`machine rig: suite must be a Debian code name like trixie: ${suite}`);
  const tar = join(CACHE_DIR, `${suite}-root.tar`);
  const dir = join(CACHE_DIR, `${suite}-root`);
  const stamp = join(dir, '.pi-origin-extracted');
  const fresh = (): boolean => existsSync(stamp) && existsSync(tar) && statSync(stamp).mtimeMs >= statSync(tar).mtimeMs;
  if (fresh()) return dir;
  mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
  const script = [
    'set -e',
    `[ -s "$1" ] || sh "$4" "$5" "$6" "$1"`,
    `if [ ! -e "$3" ] || [ "$1" -nt "$3" ]; then rm -rf -- "$2"; mkdir -p "$2"; tar --numeric-owner --xattrs -C "$2" -xf "$1"; touch "$3"; fi`,
  ].join('\n');
  const r = await run(tools.flock as string, [join(CACHE_DIR, `.${suite}.lock`), '/bin/sh', '-c', script, 'machine-root', tar, dir, stamp, ROOT_SCRIPT, suite, debianMirror()], {
    timeoutMs: 15 * 60_000,
  });
  if (r.code !== 0 || !fresh()) throw new Error(`machine rig: could not make the ${suite} root ${tar}: ${(r.stderr || r.stdout).trim()}`);
  return dir;
}

/** A process's parent and, when it is PID 1 of a nested PID namespace, true. */
function procInfo(pid: number): { ppid: number; nsInit: boolean } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (/^State:\s+Z/m.test(status)) return undefined;
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
    return { ppid, nsInit: nspid.length > 1 && nspid[nspid.length - 1] === '1' };
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Every cgroup directory under `dir`, deepest first. */
function cgroupTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...cgroupTree(join(dir, e.name)));
  out.push(dir);
  return out;
}

function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  for (const d of cgroupTree(dir)) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p !== '') pids.push(Number(p));
    } catch {
      // removed meanwhile
    }
  }
  return pids;
}

/** SIGKILLs everything in the machine's cgroups until they are empty, then removes them (deepest first). */
async function removeCgroups(name: string): Promise<void> {
  try {
    writeFileSync(join(CGROUP_HIERARCHIES[0], CGROUP_PARENT, name, 'cgroup.kill'), '1'); // cgroup v2: the whole subtree at once
  } catch {
    // no such cgroup, or a kernel without cgroup.kill: the loop below does it
  }
  for (let i = 0; i < 200; i++) {
    const pids = CGROUP_HIERARCHIES.flatMap((h) => cgroupPids(join(h, CGROUP_PARENT, name))).filter(pidAlive);
    if (pids.length === 0) break;
    // The machine's PID 1 first: the kernel then kills its whole PID namespace.
    for (const p of pids.sort((a, b) => Number(procInfo(b)?.nsInit) - Number(procInfo(a)?.nsInit))) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(25);
  }
  for (const h of CGROUP_HIERARCHIES) {
    for (const d of cgroupTree(join(h, CGROUP_PARENT, name))) {
      for (let i = 0; i < 40; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          await sleep(25); // EBUSY while the last processes exit
        }
      }
    }
    try {
      rmdirSync(join(h, CGROUP_PARENT)); // the shared parent, once no rig uses it
    } catch {
      // another rig's machines are in it
    }
  }
}

/** Machine cgroups of `prefix` whose owning process (the pid in the name) is dead. */
async function cleanStaleCgroups(prefix: string): Promise<void> {
  const re = new RegExp(`^${prefix}-(\\d+)-`);
  const names = new Set<string>();
  for (const h of CGROUP_HIERARCHIES) {
    const parent = join(h, CGROUP_PARENT);
    if (!existsSync(parent)) continue;
    for (const n of readdirSync(parent)) {
      const m = re.exec(n);
      if (m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) names.add(n);
    }
  }
  for (const n of names) await removeCgroups(n);
}

/**
 * The launcher of one machine: joins its own cgroups (nspawn --keep-unit leaves the machine in
 * its caller's cgroup), mounts the overlay in a private mount namespace (gone with the machine),
 * and boots it, again after every reboot (nspawn exits 133 when the machine reboots).
 */
const LAUNCH_SH = `
cg=$1; lower=$2; upper=$3; work=$4; merged=$5; name=$6; netns=$7
for h in ${CGROUP_HIERARCHIES.join(' ')}; do
  mkdir -p "$h/${CGROUP_PARENT}/$cg" && echo $$ > "$h/${CGROUP_PARENT}/$cg/cgroup.procs" || exit 90
done
exec unshare --mount --propagation private /bin/sh -c '
  mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4" || exit 91
  while :; do
    SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn -b -D "$4" -M "$5" \\
      --register=no --keep-unit --network-namespace-path="/run/netns/$6" --capability=CAP_NET_ADMIN \\
      --system-call-filter=bpf --link-journal=no --resolv-conf=off --timezone=off --console=read-only
    rc=$?
    rm -rf -- "/run/systemd/nspawn/propagate/$5"
    [ $rc -eq 133 ] || exit $rc
  done' machine "$lower" "$upper" "$work" "$merged" "$name" "$netns"
`;

/** Prefixes with a live machine rig in this process. */
const active = new Set<string>();

export async function createMachineRig(options: MachineRigOptions = {}): Promise<MachineRig> {
  const prefix = options.prefix ?? 'pim';
  const subnet = (options.subnet ?? 'fd00:cafe:0:9').toLowerCase();
  const count = options.nodes ?? 3;
  const withProxy = options.proxy ?? true;
  const suite = options.suite ?? DEFAULT_SUITE;
  const parentDir = options.parentDir ?? '/tmp';
  const bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
  checkRigOptions(prefix, subnet, count);
  if (active.has(prefix)) throw new Error(`machine rig: a rig with prefix ${prefix} is already up in this process; destroy() it first`);
  const tools = checkPrerequisites(MACHINE_TOOLS);
  const t = (name: string): string => tools[name] as string;
  const mirror = new URL(debianMirror());
  const lower = await machineRoot(suite, tools);

  const bridge = `${prefix}br0`;
  const gateway = `${subnet}::1`;
  const baseDir = join(parentDir, `${prefix}-rig-${process.pid}`);
  const clientKey = join(baseDir, 'client', 'id_ed25519');
  const sshConfig = join(baseDir, 'ssh_config');
  const knownHosts = join(baseDir, 'known_hosts');
  const inventoryPath = join(baseDir, 'inventory.ini');

  active.add(prefix);
  try {
    await cleanStaleCgroups(prefix);
    await cleanStale(t, prefix, parentDir);
    await checkSubnetFree(t, subnet, bridge);
  } catch (e) {
    active.delete(prefix);
    throw e;
  }

  const machines: Machine[] = [];
  for (let i = 1; i <= count; i++) machines.push(describe(`node${i}`, 'origins', i, `${subnet}::1${i}`));
  if (withProxy) machines.push(describe('proxy1', 'proxies', 91, `${subnet}::2`));
  // Namespace and veth names as the namespace rig's (`<prefix>-nodeN`, `<prefix>-vN`; the proxy is
  // N = 91), so its stale-rig cleanup finds them.
  function describe(name: string, group: Machine['group'], index: number, address: string): Machine {
    const dir = join(baseDir, name);
    return { name, group, netns: `${prefix}-node${index}`, hostVeth: `${prefix}-v${index}`, address, dir, upper: join(dir, 'upper'), log: join(dir, 'nspawn.log') };
  }
  const cgroupName = (m: Machine): string => `${prefix}-${process.pid}-${m.name}`;
  const launchers = new Map<string, ChildProcess>();
  const bootMs = new Map<string, number>();
  const stats = { forwarded: 0, refused: 0, cached: 0 };
  let destroying: Promise<void> | undefined;
  let aptServer: Server | undefined;

  const resolve = (which: string | Machine): Machine => {
    const m = typeof which === 'string' ? machines.find((x) => x.name === which || x.address === which) : which;
    if (m === undefined) throw new Error(`machine rig: no machine ${typeof which === 'string' ? which : which.name} (have ${machines.map((x) => x.name).join(', ')})`);
    return m;
  };

  const pid1 = (which: string | Machine): number | undefined => {
    const launcher = launchers.get(resolve(which).name);
    if (launcher?.pid === undefined || !pidAlive(launcher.pid)) return undefined;
    const infos = new Map(allPids().map((p) => [p, procInfo(p)] as const));
    const nspawn = [...infos].filter(([, i]) => i?.ppid === launcher.pid).map(([p]) => p);
    return [...infos].find(([, i]) => i !== undefined && i.nsInit && nspawn.includes(i.ppid))?.[0];
  };

  const exec = (which: string | Machine, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> => {
    if (destroying !== undefined) return Promise.reject(new Error('machine rig: destroyed'));
    const m = resolve(which);
    const pid = pid1(m);
    if (pid === undefined) return Promise.reject(new Error(`machine rig: ${m.name} is not running`));
    return run(t('nsenter'), ['-t', String(pid), '-m', '-u', '-i', '-n', '-p', '-C', '-r', '-w', '--', ...argv], opts);
  };

  const waitRunning = async (which: string | Machine): Promise<number> => {
    const m = resolve(which);
    const started = Date.now();
    let state = '';
    while (Date.now() - started < bootTimeoutMs) {
      if (destroying !== undefined) throw new Error('machine rig: destroyed');
      if (!pidAlive(launchers.get(m.name)?.pid ?? 0)) throw new Error(`machine rig: ${m.name} stopped while booting: ${tail(m.log)}`);
      if (pid1(m) !== undefined) {
        const r = await exec(m, ['systemctl', 'is-system-running'], { timeoutMs: 5000 }).catch(() => undefined);
        state = r?.stdout.trim() ?? '';
        if (state === 'degraded') {
          const failed = await exec(m, ['systemctl', '--failed', '--no-legend', '--plain']);
          throw new Error(`machine rig: ${m.name} booted degraded: ${failed.stdout.trim()}`);
        }
        if (state === 'running' && (await tcpOpen(m.address, 22))) return Date.now() - started;
      }
      await sleep(100);
    }
    throw new Error(`machine rig: ${m.name} not running after ${bootTimeoutMs} ms (state ${state || 'unknown'}): ${tail(m.log)}`);
  };

  const launch = (m: Machine): void => {
    const logFd = openSync(m.log, 'a');
    const child = spawn('/bin/sh', ['-c', LAUNCH_SH, 'launch', cgroupName(m), lower, m.upper, join(m.dir, 'work'), join(m.dir, 'merged'), m.name, m.netns], {
      env: { ...DEFAULT_ENV, PATH: `${dirname(t('systemd-nspawn'))}:${DEFAULT_ENV.PATH ?? ''}` },
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    child.unref();
    child.on('error', () => undefined);
    launchers.set(m.name, child);
  };

  const start = async (which: string | Machine): Promise<number> => {
    const m = resolve(which);
    if (pid1(m) !== undefined) throw new Error(`machine rig: ${m.name} is already running`);
    await removeCgroups(cgroupName(m));
    launch(m);
    const ms = await waitRunning(m);
    bootMs.set(m.name, ms);
    return ms;
  };

  const hardPowerOff = async (which: string | Machine): Promise<void> => {
    const m = resolve(which);
    const launcher = launchers.get(m.name);
    await removeCgroups(cgroupName(m));
    if (launcher !== undefined && launcher.exitCode === null && launcher.signalCode === null) await new Promise((r) => launcher.once('exit', r));
  };

  const inventory = (): string =>
    [
      '[origins]',
      ...machines.filter((m) => m.group === 'origins').map((m) => `${m.name} ansible_host=${m.address}`),
      '',
      '[proxies]',
      ...machines.filter((m) => m.group === 'proxies').map((m) => `${m.name} ansible_host=${m.address}`),
      '',
      '[all:vars]',
      'ansible_user=root',
      `ansible_ssh_common_args='-F ${sshConfig}'`,
      'ansible_python_interpreter=/usr/bin/python3',
      '',
    ].join('\n');

  const teardown = async (): Promise<void> => {
    await Promise.all(machines.map((m) => removeCgroups(cgroupName(m))));
    for (const m of machines) rmSync(`/run/systemd/nspawn/propagate/${m.name}`, { recursive: true, force: true });
    if (aptServer !== undefined) {
      aptServer.closeAllConnections();
      await new Promise((r) => aptServer?.close(r));
    }
    await run('/bin/sh', teardownArgs(bridge, baseDir, machines.map((m) => [m.netns, m.hostVeth])), { timeoutMs: 30000 });
  };
  const onExit = (): void => {
    if (destroying !== undefined) return;
    // Synchronous last resort: kill what is in the cgroups, then the network and files.
    for (const m of machines) for (const h of CGROUP_HIERARCHIES) for (const p of cgroupPids(join(h, CGROUP_PARENT, cgroupName(m)))) spawnSync('kill', ['-9', String(p)]);
    spawnSync('/bin/sh', teardownArgs(bridge, baseDir, machines.map((m) => [m.netns, m.hostVeth])), { env: DEFAULT_ENV, stdio: 'ignore', timeout: 20000 });
  };
  process.once('exit', onExit);

  try {
    mkdirSync(join(baseDir, 'client'), { recursive: true, mode: 0o700 });
    await must(t('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', `${prefix}-rig-client`, '-f', clientKey]);
    await bridgeUp(t, bridge, gateway);
    aptServer = await startAptProxy(gateway, mirror, stats);
    const port = (aptServer.address() as { port: number }).port;
    await Promise.all(
      machines.map(async (m) => {
        await addNodeNetwork(t, { netns: m.netns, hostVeth: m.hostVeth, bridge, address: m.address, gateway });
        await prepareUpper(t, m, clientKey, `http://[${gateway}]:${port}`, gateway);
      }),
    );
    writeSshClientFiles(
      { prefix, sshConfig, knownHosts, clientKey },
      machines.map((m) => ({ name: m.name, address: m.address, hostKey: publicKey(join(m.dir, 'ssh_host_ed25519_key')) })),
    );
    writeFileSync(inventoryPath, inventory());
    // One after another: 2 cores boot one machine in ~2 s; all at once they time each other out.
    for (const m of machines) {
      launch(m);
      bootMs.set(m.name, await waitRunning(m));
    }
  } catch (e) {
    destroying = teardown();
    await destroying;
    process.removeListener('exit', onExit);
    active.delete(prefix);
    throw e;
  }

  const port = (aptServer.address() as { port: number }).port;
  return {
    prefix,
    subnet,
    suite,
    bridge,
    gateway,
    baseDir,
    sshConfig,
    knownHosts,
    clientKey,
    inventoryPath,
    aptProxy: `http://[${gateway}]:${port}`,
    aptProxyStats: stats,
    nodes: machines.filter((m) => m.group === 'origins'),
    proxy: machines.find((m) => m.group === 'proxies'),
    machines,
    bootMs,
    machine: resolve,
    pid1,
    exec,
    ssh(which, command, opts = {}) {
      return run(t('ssh'), ['-F', sshConfig, `root@${resolve(which).address}`, command], opts);
    },
    waitRunning,
    start,
    hardPowerOff,
    memory(which) {
      const m = resolve(which);
      const pids = CGROUP_HIERARCHIES.slice(0, 1).flatMap((h) => cgroupPids(join(h, CGROUP_PARENT, cgroupName(m))));
      let rss = 0;
      let pss = 0;
      for (const p of pids) {
        try {
          const s = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
          rss += Number(/^Rss:\s+(\d+)/m.exec(s)?.[1] ?? 0) * 1024;
          pss += Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0) * 1024;
        } catch {
          // exited
        }
      }
      return { rss, pss, processes: pids.length };
    },
    inventory,
    destroy() {
      destroying ??= (async () => {
        process.removeListener('exit', onExit);
        await teardown();
        active.delete(prefix);
      })();
      return destroying;
    },
  };
}

/**
 * What differs per machine, written into its overlay's upper directory before the first boot:
 * hostname, hosts, the rig's ed25519 host key, root's authorized key, and the apt proxy.
 */
async function prepareUpper(t: (n: string) => string, m: Machine, clientKey: string, aptProxy: string, gateway: string): Promise<void> {
  const u = m.upper;
  for (const [d, mode] of [
    [m.dir, 0o755],
    [join(m.dir, 'work'), 0o755],
    [join(m.dir, 'merged'), 0o755],
    [u, 0o755],
    [join(u, 'etc'), 0o755],
    [join(u, 'etc/ssh'), 0o755],
    [join(u, 'etc/apt'), 0o755],
    [join(u, 'etc/apt/apt.conf.d'), 0o755],
    [join(u, 'root'), 0o700],
    [join(u, 'root/.ssh'), 0o700],
  ] as const) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, mode);
  }
  const hostKey = join(m.dir, 'ssh_host_ed25519_key');
  await must(t('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${m.name}`, '-f', hostKey]);
  writeFileSync(join(u, 'etc/ssh/ssh_host_ed25519_key'), readFileSync(hostKey), { mode: 0o600 });
  writeFileSync(join(u, 'etc/ssh/ssh_host_ed25519_key.pub'), readFileSync(`${hostKey}.pub`), { mode: 0o644 });
  writeFileSync(join(u, 'root/.ssh/authorized_keys'), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  writeFileSync(join(u, 'etc/hostname'), `${m.name}\n`);
  writeFileSync(join(u, 'etc/hosts'), `127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n${m.address} ${m.name}\n${gateway} rig-host\n`);
  writeFileSync(join(u, 'etc/apt/apt.conf.d/01rig-proxy'), `// test rig: the host forwards to the Debian mirror, nothing else\nAcquire::http::Proxy "${aptProxy}";\n`);
}

/**
 * An HTTP proxy for apt on the bridge: forwards GETs for the Debian mirror (only) and keeps
 * every .deb and by-hash package list it fetched in /var/cache/pi-origin-test/debs (a .deb's name
 * is its version, a by-hash file's its checksum: neither changes), so a second run installs
 * without the network and each node's `apt-get update` costs one InRelease. Anything else gets 403.
 */
function startAptProxy(gateway: string, mirror: URL, stats: { forwarded: number; refused: number; cached: number }): Promise<Server> {
  const debs = join(CACHE_DIR, 'debs');
  mkdirSync(debs, { recursive: true });
  const server = createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      target = new URL('http://invalid/');
    }
    const mirrorPath = mirror.pathname.replace(/\/?$/, '/');
    if ((req.method !== 'GET' && req.method !== 'HEAD') || target.protocol !== 'http:' || target.host !== mirror.host || !target.pathname.startsWith(mirrorPath) || target.pathname.includes('..')) {
      stats.refused++;
      res.writeHead(403, { 'content-type': 'text/plain' }).end('test rig apt proxy: only the Debian mirror\n');
      return;
    }
    // A .deb's name is its version and a by-hash index is named by its SHA-256: neither ever
    // changes, so both are kept (apt fetches the package lists by hash; only InRelease is live).
    const immutable = target.pathname.endsWith('.deb') || /\/by-hash\/SHA256\/[0-9a-f]{64}$/.test(target.pathname);
    const debName = immutable ? target.pathname.slice(mirrorPath.length).replace(/\//g, '_') : undefined;
    const cached = debName === undefined ? undefined : join(debs, debName);
    if (cached !== undefined && existsSync(cached)) {
      stats.cached++;
      res.writeHead(200, { 'content-length': statSync(cached).size });
      if (req.method === 'HEAD') res.end();
      else createReadStream(cached).pipe(res);
      return;
    }
    stats.forwarded++;
    const headers: Record<string, string> = {};
    for (const h of ['if-modified-since', 'range', 'if-range', 'cache-control', 'user-agent', 'accept']) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const up = httpRequest(target, { method: req.method, headers, timeout: 60000 }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (cached !== undefined && upRes.statusCode === 200 && headers.range === undefined) {
        const tmp = `${cached}.${process.pid}.part`;
        const file = createWriteStream(tmp);
        upRes.pipe(file);
        file.on('finish', () => {
          try {
            renameSync(tmp, cached);
          } catch {
            // another rig renamed it first
          }
        });
        file.on('error', () => undefined);
      }
      upRes.pipe(res);
    });
    up.on('timeout', () => up.destroy(new Error('timeout')));
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`test rig apt proxy: ${e.message}\n`);
      else res.destroy();
    });
    up.end();
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, gateway, () => ok(server));
  });
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}
