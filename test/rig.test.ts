/**
 * The multi-node rig (test/rig/netns.ts): three IPv6-only nodes in network namespaces, each with
 * its own sshd, hostname and /srv/origin; a fourth added later; everything gone after destroy();
 * a rig left behind by a killed process is cleaned up by the next createRig with its prefix.
 * Needs root (CI runs as root). Traffic stays on loopback and fd00:cafe::/64.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createRig, rigInterfaces, type Rig } from './rig/netns.js';

const PREFIX = 'pio';
const SUBNET = 'fd00:cafe';
const SYS_PYTHON = '/usr/bin/python3';

function hostState(): { netns: string[]; links: string[] } {
  return rigInterfaces(PREFIX);
}

/** Running (a zombie waiting for a parent that does not reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** /srv/origin on the host: whether it exists and what is in it, before and after. */
function hostSrvOrigin(): string[] | null {
  return existsSync('/srv/origin') ? readdirSync('/srv/origin').sort() : null;
}

const srvOriginBefore = hostSrvOrigin();
const started = Date.now();
const rig: Rig = await createRig({ nodes: 3, prefix: PREFIX, subnet: SUBNET });
t.teardown(() => rig.destroy());
const setupMs = Date.now() - started;
t.comment(`3-node rig up in ${setupMs} ms (${rig.baseDir})`);

t.test('setup lays out the nodes as specified', (t) => {
  t.same(
    rig.nodes.map((n) => [n.name, n.netns, n.address]),
    [1, 2, 3].map((i) => [`node${i}`, `${PREFIX}-node${i}`, `${SUBNET}::1${i}`]),
  );
  t.same(hostState().netns.sort(), [1, 2, 3].map((i) => `${PREFIX}-node${i}`));
  const inv = rig.inventory();
  t.match(inv, `node1 ansible_host=${SUBNET}::11 ansible_user=root ansible_ssh_common_args='-F ${rig.sshConfig}'`);
  t.match(inv, /\[origins:vars\]\nansible_python_interpreter=\/usr\/bin\/python3/);
  t.equal(readFileSync(rig.inventoryPath, 'utf8'), inv);
  const cfg = readFileSync(rig.sshConfig, 'utf8');
  for (const opt of ['StrictHostKeyChecking yes', `UserKnownHostsFile ${rig.knownHosts}`, `IdentityFile ${rig.clientKey}`, 'KexAlgorithms curve25519-sha256', 'ControlMaster no']) {
    t.ok(cfg.includes(opt), `ssh_config has ${opt}`);
  }
  t.end();
});

t.test('each node answers ssh over IPv6 with its own hostname, using only the rig config', async (t) => {
  const results = await Promise.all(
    rig.nodes.map(async (n) => {
      const t0 = Date.now();
      const out = execFileAsync('ssh', ['-F', rig.sshConfig, `root@${n.address}`, 'hostname']);
      return { n, out: await out, ms: Date.now() - t0 };
    }),
  );
  for (const { n, out, ms } of results) {
    t.equal(out.code, 0, `${n.name}: ssh exits 0 (${ms} ms) ${out.stderr}`);
    t.equal(out.stdout.trim(), n.name, `${n.name}: hostname`);
  }
  const alias = await rig.ssh('node2', 'echo $SSH_CONNECTION');
  t.match(alias.stdout, new RegExp(`^${SUBNET}::1 \\d+ ${SUBNET}::12 22`), 'the session arrives over IPv6 from the bridge address');
});

t.test('nodes are IPv6-only: no IPv4 outside lo, nftables drops IPv4 and ARP', async (t) => {
  for (const n of rig.nodes) {
    const v4 = await rig.exec(n, ['ip', '-4', '-o', 'addr', 'show']);
    t.equal(v4.code, 0);
    const lines = v4.stdout.split('\n').filter((l) => l.trim() !== '');
    t.same(
      lines.map((l) => /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(l)?.slice(1, 3)),
      [['lo', '127.0.0.1/8']],
      `${n.name}: only 127.0.0.1 on lo`,
    );
    t.equal((await rig.exec(n, ['ip', '-4', 'route', 'show'])).stdout.trim(), '', `${n.name}: no IPv4 routes`);
    const v6 = (await rig.exec(n, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    t.match(v6, `inet6 ${n.address}/64`, `${n.name}: eth0 has its address`);
    t.notMatch(v6, /tentative/, `${n.name}: no address waits for DAD`);
    t.match((await rig.exec(n, ['ip', '-6', 'route', 'show', 'default'])).stdout, `default via ${rig.gateway} dev eth0`);
    const rules = (await rig.exec(n, ['nft', 'list', 'ruleset'])).stdout;
    t.match(rules, /meta nfproto ipv4 drop/, `${n.name}: IPv4 dropped`);
    t.match(rules, /iif "lo" accept/, `${n.name}: except on lo`);
    t.match(rules, /table arp \S+ \{[^}]*policy drop/, `${n.name}: ARP dropped`);
  }
  // The host keeps no IPv4 on the rig's links either.
  t.equal(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', rig.bridge], { encoding: 'utf8' }).trim(), '');
});

t.test('each node has its own /srv/origin; the host one is untouched', async (t) => {
  const w = await rig.ssh(1, 'echo from-node1 > /srv/origin/marker && cat /srv/origin/marker');
  t.equal(w.code, 0, w.stderr);
  t.equal(w.stdout.trim(), 'from-node1');
  const other = await rig.ssh(2, 'ls -A /srv/origin; test ! -e /srv/origin/marker');
  t.equal(other.code, 0, 'node2 does not see node1 file');
  t.equal(other.stdout.trim(), '');
  t.equal(readFileSync(join(rig.node(1).srvOrigin, 'marker'), 'utf8'), 'from-node1\n', 'it is in node1 directory on the host');
  t.notOk(existsSync(join(rig.node(2).srvOrigin, 'marker')));
  t.same(hostSrvOrigin(), srvOriginBefore, 'host /srv/origin unchanged');
  // exec() enters the same mount namespace as ssh sessions.
  t.equal((await rig.exec(1, ['cat', '/srv/origin/marker'])).stdout, 'from-node1\n');
  t.equal((await rig.exec(1, ['hostname'])).stdout.trim(), 'node1');
});

t.test('a TCP server in node2 is reachable from the root namespace over IPv6', async (t) => {
  const n2 = rig.node(2);
  writeFileSync(join(n2.srvOrigin, 'hello.txt'), 'hello from node2\n');
  const server = rig.spawn(n2, [SYS_PYTHON, '-m', 'http.server', '--bind', n2.address, '8080', '--directory', '/srv/origin'], { stdio: 'ignore' });
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  const url = `http://[${n2.address}]:8080/hello.txt`;
  const deadline = Date.now() + 5000;
  let body: string | undefined;
  let lastError = '';
  while (body === undefined && Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      body = await res.text();
      t.equal(res.status, 200, 'HTTP 200');
    } catch (e) {
      lastError = String(e);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  t.equal(body, 'hello from node2\n', `GET ${url}${body === undefined ? `: ${lastError}` : ''}`);
  // Node to node: node3 reaches node2's server and node1's sshd (rsync between nodes needs this).
  const fromNode3 = await rig.exec(3, [SYS_PYTHON, '-c', `import urllib.request; print(urllib.request.urlopen("${url}", timeout=3).read().decode(), end="")`]);
  t.equal(fromNode3.stdout, 'hello from node2\n', `node3 -> node2 ${fromNode3.stderr}`);
  const ssh31 = await rig.exec(3, ['ssh', '-F', rig.sshConfig, `root@${rig.node(1).address}`, 'hostname']);
  t.equal(ssh31.stdout.trim(), 'node1', `node3 -> node1 ssh ${ssh31.stderr}`);
});

t.test('addNode() brings up node4, reachable by ssh and in the inventory', async (t) => {
  const t0 = Date.now();
  const n4 = await rig.addNode();
  t.comment(`node4 up in ${Date.now() - t0} ms`);
  t.equal(n4.name, 'node4');
  t.equal(n4.address, `${SUBNET}::14`);
  const r = await execFileAsync('ssh', ['-F', rig.sshConfig, `root@${n4.address}`, 'hostname; ls -A /srv/origin']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'node4\n');
  t.match(rig.inventory(), `node4 ansible_host=${SUBNET}::14`);
  t.match(readFileSync(rig.knownHosts, 'utf8'), `${SUBNET}::14,node4 ssh-ed25519 `);
});

t.test('destroy() removes namespaces, veths, bridge, processes and files; is idempotent', async (t) => {
  const pids = rig.nodes.flatMap((n) => [n.sshdPid, n.holderPid]);
  const t0 = Date.now();
  await rig.destroy();
  t.comment(`4-node rig down in ${Date.now() - t0} ms`);
  await rig.destroy();
  t.same(hostState(), { netns: [], links: [] }, 'no namespace or link with the prefix');
  t.notOk(existsSync(rig.baseDir), 'base dir removed');
  t.same(
    pids.filter((p) => alive(p)),
    [],
    'sshd and holder processes gone',
  );
  t.same(hostSrvOrigin(), srvOriginBefore, 'host /srv/origin as before');
  await t.rejects(rig.exec(1, ['true']), /destroyed/);
});

t.test('a rig left by a killed process is cleaned up by the next createRig', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rig-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'stale.mts'); // .mts: no package.json there says "module"
  const mod = new URL('./rig/netns.ts', import.meta.url).href;
  writeFileSync(
    script,
    `import { createRig } from ${JSON.stringify(mod)};\n` +
      `const rig = await createRig({ nodes: 2, prefix: ${JSON.stringify(PREFIX)}, subnet: ${JSON.stringify(SUBNET)} });\n` +
      `console.log(JSON.stringify({ base: rig.baseDir, pids: rig.nodes.flatMap((n) => [n.sshdPid, n.holderPid]) }));\n` +
      'setInterval(() => {}, 1000);\n',
  );
  // node with tsx's loader, not the tsx binary: that one is a wrapper, and killing it would leave
  // the real process (and the rig) running.
  const loader = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', loader, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const info = await new Promise<{ base: string; pids: number[] }>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined && out.includes('\n')) resolve(JSON.parse(line) as { base: string; pids: number[] });
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('exit', (code) => reject(new Error(`stale-rig child exited ${code}: ${err}`)));
  });
  child.kill('SIGKILL'); // no teardown, no exit hook: the rig stays behind
  await new Promise((r) => child.once('close', r));
  t.same(hostState().netns.sort(), [`${PREFIX}-node1`, `${PREFIX}-node2`], 'the killed run left its namespaces');
  t.ok(existsSync(info.base));

  const fresh = await createRig({ nodes: 1, prefix: PREFIX, subnet: SUBNET });
  t.teardown(() => fresh.destroy());
  t.notOk(existsSync(info.base), 'stale base dir removed');
  t.same(info.pids.filter((p) => alive(p)), [], 'stale sshd and holders killed');
  t.same(hostState().netns, [`${PREFIX}-node1`]);
  const r = await fresh.ssh(1, 'hostname');
  t.equal(r.stdout.trim(), 'node1', `the fresh rig works ${r.stderr}`);
  await fresh.destroy();
  t.same(hostState(), { netns: [], links: [] });
});

function execFileAsync(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    c.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    c.on('error', (e) => resolve({ code: -1, stdout, stderr: String(e) }));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
