/**
 * A multi-node test rig: N IPv6-only "hosts" on this machine, each a network namespace with its
 * own sshd, hostname and /srv, joined by a bridge in the root namespace. Built for driving
 * Ansible (or plain ssh/rsync) against something that looks like a small cluster.
 *
 * Layout (prefix `pio`, subnet `fd00:cafe`):
 *   root namespace: bridge `piobr0` with fd00:cafe::1/64, one veth `pio-vN` per node on it
 *   node N:         namespace `pio-nodeN`, `eth0` fd00:cafe::1N/64, default route via ::1,
 *                   nftables dropping IPv4 (except on lo) and all ARP
 *   files:          /tmp/pio-rig-<pid>/{ssh_config,known_hosts,inventory.ini,client/,nodeN/}
 *
 * Each node has a "holder" process (`sleep infinity`) that owns the node's private mount and
 * UTS namespaces: `<nodeDir>/srv` is bind-mounted on /srv there (so /srv/origin is per node and
 * the host's /srv is never written), and the hostname is `nodeN`. sshd and everything run
 * through `exec`/`spawn` join the holder's namespaces, and ssh sessions inherit them from sshd.
 * See README.md next to this file for the choices and traps.
 *
 * Needs root, iproute2, openssh-server, openssh-client, nftables and util-linux.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync, readFileSync, openSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface RigOptions {
  /** Nodes to create at once (default 3, at most 99 over the rig's life). */
  readonly nodes?: number;
  /** Names: bridge `<prefix>br0`, namespaces `<prefix>-nodeN`, veths `<prefix>-vN`. Lowercase, 1-8 chars. */
  readonly prefix?: string;
  /** A ULA prefix of a /64 without the trailing `::` (default `fd00:cafe`). */
  readonly subnet?: string;
  /** Where the rig's files go (default /tmp). The rig makes `<parent>/<prefix>-rig-<pid>` in it. */
  readonly parentDir?: string;
}

export interface RigNode {
  /** 1-based. */
  readonly index: number;
  /** `nodeN`: the hostname inside, the inventory name and an ssh alias in the rig's ssh_config. */
  readonly name: string;
  readonly netns: string;
  /** The root-namespace end of the node's veth pair. */
  readonly hostVeth: string;
  /** IPv6 address without brackets, e.g. fd00:cafe::11. */
  readonly address: string;
  /** The node's directory on the host. */
  readonly dir: string;
  /** What the node sees as /srv/origin, as a host path (`<dir>/srv/origin`). */
  readonly srvOrigin: string;
  /** Holds the node's mount and UTS namespaces; `nsenter -t holderPid -m -u -n` enters the node. */
  readonly holderPid: number;
  /** The node's sshd (listening on [address]:22). */
  readonly sshdPid: number;
  readonly sshdConfig: string;
  readonly sshdLog: string;
}

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to stdin, which is then closed. */
  readonly input?: string;
  /** SIGKILL after this many ms (default 15000). */
  readonly timeoutMs?: number;
  /** Environment (default: a minimal PATH/HOME/LANG, not the test's environment). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Rig {
  readonly prefix: string;
  readonly subnet: string;
  readonly bridge: string;
  /** The bridge's address, the nodes' default gateway: `<subnet>::1`. */
  readonly gateway: string;
  readonly baseDir: string;
  /** `ssh -F <sshConfig> root@<address> CMD` reaches a node with strict host-key checking. */
  readonly sshConfig: string;
  readonly knownHosts: string;
  readonly clientKey: string;
  /** inventory() as a file, rewritten by addNode(). */
  readonly inventoryPath: string;
  readonly nodes: readonly RigNode[];
  /** A node by 1-based index, name (`node2`) or node. */
  node(which: number | string | RigNode): RigNode;
  /** Runs argv inside the node (its network, mount and UTS namespaces), to completion. Never rejects on a non-zero exit. */
  exec(which: number | string | RigNode, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running argv inside the node. destroy() kills it with everything else in the namespace. */
  spawn(which: number | string | RigNode, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** `ssh -F sshConfig root@address command` from the root namespace. */
  ssh(which: number | string | RigNode, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Ansible INI inventory: group `origins`, one line per node. */
  inventory(): string;
  /** One more node (index = highest + 1), up and reachable by ssh when this resolves. */
  addNode(): Promise<RigNode>;
  /** Kills everything in the namespaces, removes veths, namespaces, bridge and files. Idempotent. */
  destroy(): Promise<void>;
}

export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_ENV: NodeJS.ProcessEnv = { PATH: SAFE_PATH, HOME: '/root', LANG: 'C.UTF-8' };

/** Tool, Debian package that provides it. */
export type ToolList = ReadonlyArray<readonly [string, string]>;

/** What the namespace rig runs. */
export const TOOLS: ToolList = [
  ['ip', 'iproute2'],
  ['sshd', 'openssh-server'],
  ['nft', 'nftables'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['unshare', 'util-linux'],
  ['nsenter', 'util-linux'],
  ['mount', 'mount'],
  ['sleep', 'coreutils'],
];

function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SAFE_PATH.split(':')].filter((d) => d !== '');
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Absolute paths of the tools, or an Error naming what is missing and how to get it. */
export function checkPrerequisites(tools: ToolList = TOOLS): Record<string, string> {
  if (process.platform !== 'linux') throw new Error(`test rig: needs Linux network namespaces (this is ${process.platform})`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`test rig: needs root (uid 0) to create network namespaces, veths and a bridge; running as uid ${process.getuid()}`);
  }
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const [tool, pkg] of tools) {
    const p = findTool(tool);
    if (p === undefined) missing.push(`${tool} (Debian package ${pkg})`);
    else found[tool] = p;
  }
  if (missing.length > 0) {
    const pkgs = [...new Set(tools.filter(([t]) => found[t] === undefined).map(([, p]) => p))].join(' ');
    throw new Error(`test rig: missing ${missing.join(', ')}; install with: apt-get install -y --no-install-recommends ${pkgs}`);
  }
  return found;
}

export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? DEFAULT_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs and throws with the command and its stderr unless it exits 0. */
export async function must(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`test rig: \`${[cmd, ...args].join(' ')}\` failed (${r.code ?? r.signal}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 500 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

/** A zombie counts as dead: PID 1 on a container may never reap orphans. */
export function pidAlive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function nftRules(): string {
  return `# test rig: this namespace is IPv6-only
table inet rig_v6only {
  chain input {
    type filter hook input priority 0; policy accept;
    iif "lo" accept
    meta nfproto ipv4 drop
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    meta nfproto ipv4 drop
  }
  chain output {
    type filter hook output priority 0; policy accept;
    oif "lo" accept
    meta nfproto ipv4 drop
  }
}
table arp rig_noarp {
  chain input {
    type filter hook input priority 0; policy drop;
  }
  chain output {
    type filter hook output priority 0; policy drop;
  }
}
`;
}

/**
 * The shell teardown shared by destroy(), the exit hook and stale-rig cleanup. Arguments:
 * bridge, base dir (or ''), then pairs of netns and root-side veth.
 */
const TEARDOWN_SH = `
bridge=$1; base=$2; shift 2
while [ $# -ge 2 ]; do
  ns=$1; veth=$2; shift 2
  if [ -e "/run/netns/$ns" ]; then
    i=0
    while [ $i -lt 40 ]; do
      pids=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$pids" ] && break
      kill -9 $pids 2>/dev/null
      i=$((i + 1))
      sleep 0.025
    done
  fi
  ip link del "$veth" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
done
ip link del "$bridge" 2>/dev/null
[ -n "$base" ] && rm -rf -- "$base"
exit 0
`;

export function teardownArgs(bridge: string, base: string, pairs: ReadonlyArray<readonly [string, string]>): string[] {
  return ['-c', TEARDOWN_SH, 'rig-teardown', bridge, base, ...pairs.flatMap(([ns, v]) => [ns, v])];
}

export interface NodeNetwork {
  readonly netns: string;
  /** The root-namespace end of the veth; the node's end is `eth0`. */
  readonly hostVeth: string;
  readonly bridge: string;
  /** The node's address on eth0 (a /64 in the bridge's subnet). */
  readonly address: string;
  /** The bridge's address, the node's default route. */
  readonly gateway: string;
  /** An nftables file loaded in the namespace, if any. */
  readonly nftFile?: string;
}

/** A node's network: namespace, DAD and RA off inside before eth0 exists, veth pair on the bridge, address, default route. */
export async function addNodeNetwork(t: (n: string) => string, n: NodeNetwork): Promise<void> {
  await must(t('ip'), ['netns', 'add', n.netns]);
  await must(t('ip'), [
    'netns', 'exec', n.netns, '/bin/sh', '-c',
    'for f in all default; do echo 0 > /proc/sys/net/ipv6/conf/$f/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/$f/accept_ra; done',
  ]);
  await must(t('ip'), ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
  await must(t('ip'), ['link', 'set', n.hostVeth, 'master', n.bridge, 'up']);
  await must(t('ip'), ['-n', n.netns, '-batch', '-'], {
    env: DEFAULT_ENV,
    input: ['link set lo up', 'link set eth0 up', `addr add ${n.address}/64 dev eth0 nodad`, `route add default via ${n.gateway} dev eth0`, ''].join('\n'),
  });
  if (n.nftFile !== undefined) await must(t('ip'), ['netns', 'exec', n.netns, t('nft'), '-f', n.nftFile]);
}

/** A host in the rig's ssh client files. */
export interface SshHost {
  readonly name: string;
  readonly address: string;
  /** `type base64` of its host key. */
  readonly hostKey: string;
}

export interface SshClientFiles {
  readonly prefix: string;
  readonly sshConfig: string;
  readonly knownHosts: string;
  readonly clientKey: string;
}

/**
 * Writes known_hosts (the hosts' keys by address and name) and an ssh_config that uses only the
 * rig's key and known_hosts with strict host-key checking, one `Host` alias per host.
 */
export function writeSshClientFiles(f: SshClientFiles, hosts: readonly SshHost[]): void {
  writeFileSync(f.knownHosts, hosts.map((h) => `${h.address},${h.name} ${h.hostKey}\n`).join(''), { mode: 0o600 });
  const aliases = hosts.map((h) => `Host ${h.name}\n  HostName ${h.address}\n`).join('');
  writeFileSync(
    f.sshConfig,
    `# test rig ${f.prefix}: ssh -F ${f.sshConfig} root@<node address> (or nodeN)\n${aliases}` +
      `Host *\n  User root\n  IdentityFile ${f.clientKey}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${f.knownHosts}\n  GlobalKnownHostsFile /dev/null\n` +
      `  StrictHostKeyChecking yes\n  CheckHostIP no\n  UpdateHostKeys no\n  HashKnownHosts no\n  KexAlgorithms curve25519-sha256\n  ControlMaster no\n  ControlPath none\n` +
      `  AddressFamily inet6\n  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n`,
    { mode: 0o600 },
  );
}

/** The public half of an ssh key file as `type base64`. */
export function publicKey(keyFile: string): string {
  return readFileSync(`${keyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

/** Checks a rig's names and size, throwing a message that names the bad option. */
export function checkRigOptions(prefix: string, subnet: string, count: number): void {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`test rig: prefix must be 1-8 lowercase letters/digits starting with a letter (interface names are at most 15 chars): ${prefix}`);
  if (!/^fd[0-9a-f]{2}(:[0-9a-f]{1,4}){0,3}$/.test(subnet)) throw new Error(`test rig: subnet must be a ULA /64 prefix like fd00:cafe (no trailing ::): ${subnet}`);
  if (!Number.isInteger(count) || count < 1 || count > 99) throw new Error(`test rig: nodes must be 1..99: ${count}`);
}

/** Prefixes with a live rig in this process. */
const active = new Set<string>();

export async function createRig(options: RigOptions = {}): Promise<Rig> {
  const prefix = options.prefix ?? 'pio';
  const subnet = (options.subnet ?? 'fd00:cafe').toLowerCase();
  const count = options.nodes ?? 3;
  const parentDir = options.parentDir ?? '/tmp';
  checkRigOptions(prefix, subnet, count);
  if (active.has(prefix)) throw new Error(`test rig: a rig with prefix ${prefix} is already up in this process; destroy() it first`);

  const tools = checkPrerequisites();
  const t = (name: string): string => tools[name] as string;
  const bridge = `${prefix}br0`;
  const gateway = `${subnet}::1`;
  const baseDir = join(parentDir, `${prefix}-rig-${process.pid}`);

  active.add(prefix);
  try {
    await cleanStale(t, prefix, parentDir);
    await checkSubnetFree(t, subnet, bridge);
  } catch (e) {
    active.delete(prefix);
    throw e;
  }

  const nodes: RigNode[] = [];
  const children: ChildProcess[] = [];
  const clientDir = join(baseDir, 'client');
  const clientKey = join(clientDir, 'id_ed25519');
  const sshConfig = join(baseDir, 'ssh_config');
  const knownHosts = join(baseDir, 'known_hosts');
  const inventoryPath = join(baseDir, 'inventory.ini');
  const nftFile = join(baseDir, 'nft-v6only.conf');
  const hostKeys = new Map<number, string>();
  let createdSrv = false;
  let destroying: Promise<void> | undefined;

  const syncTeardown = (): void => {
    spawnSync('/bin/sh', teardownArgs(bridge, baseDir, allPairs()), { env: DEFAULT_ENV, stdio: 'ignore', timeout: 10000 });
  };
  const allPairs = (): Array<[string, string]> => {
    const pairs = new Map<string, string>(nodes.map((n) => [n.netns, n.hostVeth]));
    // Nodes half-way through creation are not in `nodes` yet; cover every index we may have used.
    for (let i = 1; i <= maxIndex; i++) pairs.set(`${prefix}-node${i}`, `${prefix}-v${i}`);
    return [...pairs];
  };
  let maxIndex = 0;
  const onExit = (): void => {
    if (destroying === undefined) syncTeardown();
  };
  process.once('exit', onExit);

  const inventory = (): string =>
    [
      '[origins]',
      ...nodes.map((n) => `${n.name} ansible_host=${n.address} ansible_user=root ansible_ssh_common_args='-F ${sshConfig}'`),
      '',
      '[origins:vars]',
      'ansible_python_interpreter=/usr/bin/python3',
      '',
    ].join('\n');

  const writeClientFiles = (): void => {
    writeSshClientFiles({ prefix, sshConfig, knownHosts, clientKey }, nodes.map((n) => ({ name: n.name, address: n.address, hostKey: hostKeys.get(n.index) ?? '' })));
    writeFileSync(inventoryPath, inventory());
  };

  const resolve = (which: number | string | RigNode): RigNode => {
    const n =
      typeof which === 'number' ? nodes.find((x) => x.index === which) : typeof which === 'string' ? nodes.find((x) => x.name === which || x.netns === which || x.address === which) : which;
    if (n === undefined) throw new Error(`test rig: no node ${String(typeof which === 'object' ? which.name : which)} (have ${nodes.map((x) => x.name).join(', ')})`);
    return n;
  };

  const enterArgs = (n: RigNode, argv: readonly string[]): string[] => ['-t', String(n.holderPid), '-m', '-u', '-n', '--', ...argv];

  const startNode = async (index: number): Promise<RigNode> => {
    maxIndex = Math.max(maxIndex, index);
    const name = `node${index}`;
    const netns = `${prefix}-node${index}`;
    const hostVeth = `${prefix}-v${index}`;
    const address = `${subnet}::1${index}`;
    const dir = join(baseDir, name);
    const srv = join(dir, 'srv');
    const srvOrigin = join(srv, 'origin');
    const sshDir = join(dir, 'ssh');
    const runDir = join(dir, 'run');
    for (const d of [srvOrigin, sshDir, runDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
    const hostKey = join(sshDir, 'ssh_host_ed25519_key');
    const sshdConfig = join(sshDir, 'sshd_config');
    const sshdLog = join(runDir, 'sshd.log');
    const pidFile = join(runDir, 'sshd.pid');

    const keygen = must(t('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', `${prefix}-${name}`, '-f', hostKey]);

    await addNodeNetwork(t, { netns, hostVeth, bridge, address, gateway, nftFile });

    // The holder: private mount + UTS namespaces inside the node's netns, /srv and hostname set.
    const holder = spawn(
      t('ip'),
      ['netns', 'exec', netns, t('unshare'), '--mount', '--uts', '--propagation', 'private', '/bin/sh', '-c',
        'mount --bind "$1" /srv && hostname "$2" && echo ready && exec sleep infinity', 'rig-holder', srv, name],
      { env: DEFAULT_ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    children.push(holder);
    await new Promise<void>((ok, fail) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => fail(new Error(`test rig: ${name} holder did not start in 5 s: ${err.trim()}`)), 5000);
      holder.stdout?.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (out.includes('ready\n')) {
          clearTimeout(timer);
          ok();
        }
      });
      holder.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
      holder.once('error', (e) => {
        clearTimeout(timer);
        fail(e);
      });
      holder.once('exit', (code, sig) => {
        clearTimeout(timer);
        fail(new Error(`test rig: ${name} holder exited (${code ?? sig}) before it was ready: ${err.trim()}`));
      });
    });
    holder.stdout?.destroy();
    holder.stderr?.destroy();
    holder.removeAllListeners('exit');
    holder.unref();
    const holderPid = holder.pid as number;

    // sshd in the node.
    await keygen;
    hostKeys.set(index, publicKey(hostKey));
    writeFileSync(
      sshdConfig,
      [
        `# test rig ${prefix} ${name}`,
        `ListenAddress ${address}`,
        'Port 22',
        'AddressFamily inet6',
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        // The second file is the node's own (/srv is per node): origin_release's peer-trust writes the other nodes' keys there in the fan-out test.
        `AuthorizedKeysFile ${clientKey}.pub /srv/peer/authorized_keys`,
        'StrictModes no',
        'UseDNS no',
        'PrintMotd no',
        'PrintLastLog no',
        'X11Forwarding no',
        'LogLevel INFO',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        '',
      ].join('\n'),
    );
    const logFd = openSync(sshdLog, 'a');
    const sshd = spawn(t('nsenter'), ['-t', String(holderPid), '-m', '-u', '-n', '--', t('sshd'), '-D', '-f', sshdConfig, '-E', sshdLog], {
      env: DEFAULT_ENV,
      stdio: ['ignore', logFd, logFd],
      detached: true,
    });
    closeSync(logFd);
    children.push(sshd);
    sshd.unref();
    let sshdExit: string | undefined;
    sshd.once('exit', (code, sig) => (sshdExit = String(code ?? sig)));
    const deadline = Date.now() + 5000;
    for (;;) {
      if (await tcpOpen(address, 22)) break;
      const log = (): string => (existsSync(sshdLog) ? readFileSync(sshdLog, 'utf8').trim() : '');
      if (sshdExit !== undefined) throw new Error(`test rig: ${name} sshd exited (${sshdExit}): ${log()}`);
      if (Date.now() > deadline) throw new Error(`test rig: ${name} sshd not listening on [${address}]:22 after 5 s: ${log()}`);
      await sleep(10);
    }
    const node: RigNode = { index, name, netns, hostVeth, address, dir, srvOrigin, holderPid, sshdPid: sshd.pid as number, sshdConfig, sshdLog };
    nodes.push(node);
    nodes.sort((a, b) => a.index - b.index);
    return node;
  };

  try {
    mkdirSync(clientDir, { recursive: true, mode: 0o700 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation directory
    if (!existsSync('/srv')) {
      mkdirSync('/srv');
      createdSrv = true;
    }
    writeFileSync(nftFile, nftRules());
    const clientKeygen = must(t('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', `${prefix}-rig-client`, '-f', clientKey]);
    await bridgeUp(t, bridge, gateway);
    await clientKeygen;
    await Promise.all(Array.from({ length: count }, (_, i) => startNode(i + 1)));
    writeClientFiles();
  } catch (e) {
    syncTeardown();
    if (createdSrv) rmdirQuiet('/srv');
    process.removeListener('exit', onExit);
    active.delete(prefix);
    throw e;
  }

  const rig: Rig = {
    prefix,
    subnet,
    bridge,
    gateway,
    baseDir,
    sshConfig,
    knownHosts,
    clientKey,
    inventoryPath,
    get nodes() {
      return nodes;
    },
    node: resolve,
    exec(which, argv, opts = {}) {
      if (destroying !== undefined) return Promise.reject(new Error('test rig: destroyed'));
      return run(t('nsenter'), enterArgs(resolve(which), argv), opts);
    },
    spawn(which, argv, opts = {}) {
      if (destroying !== undefined) throw new Error('test rig: destroyed');
      const child = spawn(t('nsenter'), enterArgs(resolve(which), argv), { env: DEFAULT_ENV, ...opts });
      children.push(child);
      return child;
    },
    ssh(which, command, opts = {}) {
      const n = resolve(which);
      return run(t('ssh'), ['-F', sshConfig, `root@${n.address}`, command], opts);
    },
    inventory,
    async addNode() {
      if (destroying !== undefined) throw new Error('test rig: destroyed');
      const index = Math.max(maxIndex, ...nodes.map((n) => n.index)) + 1;
      if (index > 99) throw new Error('test rig: at most 99 nodes');
      const node = await startNode(index);
      writeClientFiles();
      return node;
    },
    destroy() {
      destroying ??= (async () => {
        process.removeListener('exit', onExit);
        await run('/bin/sh', teardownArgs(bridge, baseDir, allPairs()), { timeoutMs: 20000 });
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        if (createdSrv) rmdirQuiet('/srv');
        active.delete(prefix);
      })();
      return destroying;
    },
  };
  return rig;
}

function rmdirQuiet(p: string): void {
  try {
    rmdirSync(p);
  } catch {
    // not empty or gone: leave it
  }
}

export async function bridgeUp(t: (n: string) => string, bridge: string, gateway: string): Promise<void> {
  // With br_netfilter loaded, bridged frames would go through the root namespace's ip6tables /
  // nft forward rules (e.g. Docker's FORWARD DROP); switch that off for this bridge.
  const r = await run(t('ip'), ['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'nf_call_iptables', '0', 'nf_call_ip6tables', '0', 'nf_call_arptables', '0']);
  if (r.code !== 0) await must(t('ip'), ['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0']);
  await must(t('ip'), ['addr', 'add', `${gateway}/64`, 'dev', bridge, 'nodad']);
  await must(t('ip'), ['link', 'set', bridge, 'up']);
}

/**
 * Removes what a previous run with this prefix left behind (killed test, no teardown). Refuses
 * when another live process owns a rig with this prefix.
 */
export async function cleanStale(t: (n: string) => string, prefix: string, parentDir: string): Promise<void> {
  const dirRe = new RegExp(`^${prefix}-rig-(\\d+)$`);
  const staleDirs: string[] = [];
  for (const entry of existsSync(parentDir) ? readdirSync(parentDir) : []) {
    const m = dirRe.exec(entry);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && pidAlive(pid)) {
      throw new Error(`test rig: prefix ${prefix} is in use by live process ${pid} (${join(parentDir, entry)}); use another prefix and subnet, or stop that process`);
    }
    staleDirs.push(join(parentDir, entry));
  }
  const nsRe = new RegExp(`^${prefix}-node(\\d+)$`);
  const nsList = (await must(t('ip'), ['netns', 'list']))
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => nsRe.test(n));
  const linkRe = new RegExp(`^${prefix}-v(\\d+)$`);
  const links = (await must(t('ip'), ['-o', 'link', 'show']))
    .split('\n')
    .map((l) => (/^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? ''))
    .filter((n) => n !== '');
  const pairs = new Map<string, string>();
  for (const ns of nsList) pairs.set(ns, ns.replace(/-node(\d+)$/, '-v$1'));
  for (const l of links) if (linkRe.test(l)) pairs.set(l.replace(/-v(\d+)$/, '-node$1'), l);
  const bridgeExists = links.includes(`${prefix}br0`);
  if (pairs.size === 0 && !bridgeExists && staleDirs.length === 0) return;
  await run('/bin/sh', teardownArgs(`${prefix}br0`, '', [...pairs]), { timeoutMs: 20000 });
  for (const d of staleDirs) await run('rm', ['-rf', '--', d]);
}

export async function checkSubnetFree(t: (n: string) => string, subnet: string, bridge: string): Promise<void> {
  const out = await must(t('ip'), ['-6', '-o', 'addr', 'show', 'to', `${subnet}::/64`]);
  const devs = out
    .split('\n')
    .map((l) => /^\d+:\s+(\S+)/.exec(l)?.[1])
    .filter((d): d is string => d !== undefined && d !== bridge);
  if (devs.length > 0) throw new Error(`test rig: ${subnet}::/64 is already configured on ${[...new Set(devs)].join(', ')} in the root namespace (another rig?); use another subnet`);
}

/** Namespaces (`<prefix>-...`) and root-namespace links (`<prefix>...`) of a rig prefix that exist now: what a teardown must leave empty. */
export function rigInterfaces(prefix: string): { netns: string[]; links: string[] } {
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(prefix));
  return { netns, links };
}
