/**
 * The machine rig (test/rig/machines.ts): Debian 13 machines booted with systemd as PID 1 by
 * systemd-nspawn, each in an IPv6-only network namespace, reachable by ssh with host-key
 * checking, installing Debian packages through the rig's apt proxy (which forwards to the Debian
 * mirror and nothing else); a reboot and a power cut; nothing left behind after destroy(), nor
 * after a run that was killed. Needs root, debootstrap and systemd-container; the first run
 * makes the Debian root (/var/cache/pi-origin-test, ~2-4 min).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createMachineRig, type MachineRig } from './rig/machines.js';
import { rigInterfaces } from './rig/netns.js';

const PREFIX = 'pimr';
const SUBNET = 'fd00:cafe:0:91';

t.setTimeout(10 * 60_000);

/** What a rig of PREFIX could leave on this machine: namespaces, links, cgroups, mounts, processes, files. */
function leftovers(base: string): { netns: string[]; links: string[]; cgroups: string[]; mounts: string[]; processes: string[]; files: string[] } {
  const { netns, links } = rigInterfaces(PREFIX);
  const cgroups = ['/sys/fs/cgroup/unified/pi-origin-rig', '/sys/fs/cgroup/systemd/pi-origin-rig'].flatMap((d) =>
    existsSync(d) ? readdirSync(d).filter((n) => n.startsWith(`${PREFIX}-`)).map((n) => join(d, n)) : [],
  );
  const mounts: string[] = [];
  const processes: string[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/mountinfo`, 'utf8').includes(base)) mounts.push(p);
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(base) || cmd.includes(`${PREFIX}-node`)) processes.push(`${p} ${cmd}`);
    } catch {
      // exited
    }
  }
  const files = existsSync(base) ? [base] : [];
  return { netns, links, cgroups, mounts, processes, files };
}
const NOTHING = { netns: [], links: [], cgroups: [], mounts: [], processes: [], files: [] };

t.test('a rig left by a killed process is cleaned up by the next createMachineRig', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'machines-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'stale.mts');
  writeFileSync(
    script,
    `import { createMachineRig } from ${JSON.stringify(new URL('./rig/machines.ts', import.meta.url).href)};\n` +
      `const rig = await createMachineRig({ nodes: 1, proxy: false, prefix: ${JSON.stringify(PREFIX)}, subnet: ${JSON.stringify(SUBNET)} });\n` +
      'console.log(JSON.stringify({ base: rig.baseDir, pid1: rig.pid1("node1") }));\nsetInterval(() => {}, 1000);\n',
  );
  const loader = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', loader, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const info = await new Promise<{ base: string; pid1: number }>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as { base: string; pid1: number });
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('exit', (code) => reject(new Error(`stale-rig child exited ${code}: ${err}`)));
  });
  child.kill('SIGKILL'); // no destroy(), no exit hook: the machine keeps running
  await new Promise((r) => child.once('close', r));
  const left = leftovers(info.base);
  t.same(left.netns, [`${PREFIX}-node1`], 'the killed run left its namespace');
  t.equal(left.cgroups.length, 2, 'and its cgroups');
  t.ok(existsSync(`/proc/${info.pid1}`), 'and its machine running');

  const fresh = await createMachineRig({ nodes: 1, proxy: false, prefix: PREFIX, subnet: SUBNET });
  t.teardown(() => fresh.destroy());
  t.notOk(existsSync(info.base), 'stale base dir removed');
  t.notOk(existsSync(`/proc/${info.pid1}`) && !/State:\s+Z/.test(readFileSync(`/proc/${info.pid1}/status`, 'utf8')), 'stale machine killed');
  const r = await fresh.ssh('node1', 'hostname');
  t.equal(r.stdout.trim(), 'node1', `the fresh rig works ${r.stderr}`);
  await fresh.destroy();
  t.same(leftovers(info.base), NOTHING, 'nothing left of either');
});

t.test('machines: Debian 13 with systemd, IPv6-only, ssh with host keys, apt through the proxy, reboot, power cut, teardown', async (t) => {
  const t0 = Date.now();
  const rig: MachineRig = await createMachineRig({ nodes: 2, prefix: PREFIX, subnet: SUBNET });
  t.teardown(() => rig.destroy());
  const upMs = Date.now() - t0;
  t.comment(`2 nodes + proxy up in ${upMs} ms; boot (launch to running): ${[...rig.bootMs].map(([n, ms]) => `${n} ${ms} ms`).join(', ')}`);
  t.same(
    rig.machines.map((m) => [m.name, m.group, m.address]),
    [
      ['node1', 'origins', `${SUBNET}::11`],
      ['node2', 'origins', `${SUBNET}::12`],
      ['proxy1', 'proxies', `${SUBNET}::2`],
    ],
  );

  for (const m of rig.machines) {
    const r = await rig.ssh(m, 'hostname; . /etc/os-release; echo $VERSION_CODENAME; ps -o comm= -p 1; systemctl is-system-running; ip -4 -o addr show | cut -d" " -f2,7; ip -4 route show; whoami');
    t.equal(r.code, 0, `${m.name}: ssh exits 0 ${r.stderr}`);
    t.equal(r.stdout, `${m.name}\ntrixie\nsystemd\nrunning\nlo 127.0.0.1/8\nroot\n`, `${m.name}: Debian 13, systemd as PID 1, running, no IPv4 but loopback, no IPv4 route`);
    const mem = rig.memory(m);
    t.ok(mem.processes > 3 && mem.rss > 0, `${m.name}: ${mem.processes} processes, RSS ${(mem.rss / 2 ** 20).toFixed(1)} MiB, PSS ${(mem.pss / 2 ** 20).toFixed(1)} MiB`);
  }
  const hosts = await rig.ssh('node1', `ping -6 -c1 -W2 ${SUBNET}::2 >/dev/null && echo reached`);
  t.equal(hosts.stdout, 'reached\n', 'node1 reaches the proxy host over IPv6');

  // Host-key checking: a known_hosts with another key for node1 makes ssh refuse.
  const wrong = join(rig.baseDir, 'known_hosts.wrong');
  writeFileSync(wrong, readFileSync(rig.knownHosts, 'utf8').replace(/^(\S+,node1 ssh-ed25519 )\S+/m, `$1${readFileSync(`${rig.clientKey}.pub`, 'utf8').split(' ')[1]}`));
  const genuine = await rig.ssh('node1', 'true', {});
  const refused = spawnExit('ssh', ['-F', rig.sshConfig, '-o', `UserKnownHostsFile=${wrong}`, `root@${rig.nodes[0]!.address}`, 'true']);
  t.equal(genuine.code, 0, 'the right key is accepted');
  t.equal(await refused, 255, 'a changed host key is refused');

  // apt through the proxy: lists, then a package (the root has none of either).
  const lists = await rig.exec('node2', ['sh', '-c', 'ls /var/lib/apt/lists | grep -c _Packages; command -v rsync || echo no-rsync']);
  t.equal(lists.stdout, '0\nno-rsync\n', 'a fresh machine has no package lists and no rsync');
  const apt = await rig.exec('node2', ['sh', '-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rsync >/dev/null && rsync --version | head -1'], { timeoutMs: 300_000 });
  t.equal(apt.code, 0, `apt-get install through the rig's proxy ${apt.stderr}`);
  t.match(apt.stdout, /^rsync\s+version/, 'rsync installed');
  t.ok(rig.aptProxyStats.forwarded + rig.aptProxyStats.cached > 0, `apt proxy: ${JSON.stringify(rig.aptProxyStats)}`);
  const other = await rig.exec('node2', ['python3', '-c', `import urllib.request as u\ntry:\n  u.build_opener(u.ProxyHandler({"http": "${rig.aptProxy}"})).open("http://example.com/")\nexcept Exception as e:\n  print(getattr(e, "code", e))`]);
  t.equal(other.stdout.trim(), '403', 'the proxy refuses anything but the Debian mirror');

  // A reboot: the machine comes back with a new systemd and its own files.
  await rig.ssh('node1', 'echo kept > /root/marker');
  const before = rig.pid1('node1');
  const tr = Date.now();
  await rig.exec('node1', ['systemctl', 'reboot']);
  let after = rig.pid1('node1');
  for (let i = 0; i < 600 && (after === undefined || after === before); i++) {
    await new Promise((r) => setTimeout(r, 50));
    after = rig.pid1('node1');
  }
  t.not(after, before, 'node1 rebooted (new PID 1)');
  const rebootWait = await rig.waitRunning('node1');
  t.comment(`reboot to running: ${Date.now() - tr} ms (${rebootWait} ms after the new PID 1)`);
  t.equal((await rig.ssh('node1', 'cat /root/marker')).stdout, 'kept\n', 'its files survived the reboot');

  // A power cut: every process of the machine killed; it boots again from the same disk.
  const cut = rig.pid1('node2') as number;
  await rig.hardPowerOff('node2');
  t.equal(rig.pid1('node2'), undefined, 'node2 is off');
  t.notOk(existsSync(`/proc/${cut}`) && !/State:\s+Z/.test(readFileSync(`/proc/${cut}/status`, 'utf8')), 'its systemd is gone');
  const again = await rig.start('node2');
  t.comment(`node2 booted again in ${again} ms`);
  t.equal((await rig.ssh('node2', 'command -v rsync')).stdout, '/usr/bin/rsync\n', 'node2 is back with what it had installed');

  const base = rig.baseDir;
  const td = Date.now();
  await rig.destroy();
  await rig.destroy();
  t.comment(`rig down in ${Date.now() - td} ms`);
  t.same(leftovers(base), NOTHING, 'no namespace, link, cgroup, mount, process or file left');
  await t.rejects(rig.exec('node1', ['true']), /destroyed/);
});

function spawnExit(cmd: string, args: readonly string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', () => resolve(-1));
    c.on('close', (code) => resolve(code));
  });
}
