/**
 * The Ansible role ansible/roles/origin_node, run for real against two IPv6-only nodes of the
 * test rig (test/rig/netns.ts): the artifact is unpacked, the server starts (service manager
 * "none": no systemd here) and answers /_origin/health over IPv6, the rendered unit is hardened,
 * the rendered nftables ruleset passes `nft -c` in the node and accepts no IPv4, and ansible-lint
 * passes. With a certificate from a test CA (openssl) the node serves HTTPS on 443, verified over
 * IPv6 with curl --cacert; the ruleset, loaded in a node, admits 443 from http_allow only; a
 * second run with a renewed certificate changes the key and the certificate and nothing else, and
 * the running server presents the new one without a restart.
 *
 * The rig shares /etc, /opt, /run and the process table with this machine; only /srv is per
 * node. So the role runs with origin_node_apply_host_config=false, renders etc files under
 * /srv/origin/test-etc, installs the app under /srv/opt/pi-origin and uses the existing nobody
 * account (creating pi-origin would edit this machine's /etc/passwd). The test checks that the
 * host's /etc and /opt were not touched.
 *
 * Port 443 as nobody: production gets CAP_NET_BIND_SERVICE from the unit; here each node's
 * namespace lowers net.ipv4.ip_unprivileged_port_start (per network namespace) instead.
 *
 * Needs root, the rig's packages, `ansible ansible-lint openssl curl` (Debian). Traffic stays on
 * the rig's bridge (fd00:cafe:0:a::/64).
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ansibleEnv, buildArtifact, recap, REPO, run, waitHttp, type Run } from './helpers/ansible.js';
import { createRig, type Rig, type RigNode } from './rig/netns.js';
import { issue, makeCa, servedCertificateCn } from './helpers/test-ca.js';
import { waitFor } from './helpers/wait.js';

const PORT = 8080;
const TLS_PORT = 443;
const TEST_ETC = '/srv/origin/test-etc';
const APP_DIR = '/srv/opt/pi-origin';

/** Things on this machine the role must never create when run against the rig. */
// Three playbook runs and ansible-lint on a shared 2-core machine (a guard against a hang).
t.setTimeout(12 * 60_000);

const HOST_PATHS = ['/etc/systemd/system/pi-origin.service', '/etc/sysctl.d/90-pi-origin.conf', '/etc/nftables.d/pi-origin.nft', '/opt/pi-origin', '/srv/origin', '/srv/opt'];

t.test('origin_node role against two IPv6-only rig nodes', async (t) => {
  const hostBefore = HOST_PATHS.filter((p) => existsSync(p));
  const resolvBefore = readFileSync('/etc/resolv.conf', 'utf8');
  const passwdBefore = readFileSync('/etc/passwd', 'utf8');

  const rig: Rig = await createRig({ nodes: 2, prefix: 'pia', subnet: 'fd00:cafe:0:a' });
  t.teardown(() => rig.destroy());
  const work = mkdtempSync(join(tmpdir(), 'pia-ansible-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // The artifact: dist + production node_modules (npm ls --omit=dev) + package.json, as a plain
  // tar (faster than gzip here; unarchive takes either).
  const artifact = join(work, 'pi-origin.tar');
  const tar = await buildArtifact(artifact);
  t.equal(tar.code, 0, `artifact built by pi-origin cluster artifact (${tar.ms} ms) ${tar.stderr}`);
  t.match(tar.stdout, new RegExp(`production packages, linux-${process.arch} \\(uws_linux_${process.arch}_115\\.node\\)`));

  // Content: the bundled demo release in each node's private /srv/origin/releases (content
  // rollout is another role's job).
  const releaseId = readlinkSync(join(REPO, 'dist/demo-releases/current'));
  for (const n of rig.nodes) {
    const releases = join(n.srvOrigin, 'releases');
    mkdirSync(releases, { recursive: true });
    cpSync(join(REPO, 'dist/demo-releases', releaseId), join(releases, releaseId), { recursive: true });
    symlinkSync(releaseId, join(releases, 'current'));
  }

  // Certificates: one CA; the first leaf and its renewal name both nodes' addresses.
  const certs = join(work, 'certs');
  mkdirSync(certs);
  const ca = await makeCa(certs);
  const sans = rig.nodes.map((n) => `IP:${n.address}`);
  const [leaf, renewed] = await Promise.all([issue(ca, certs, 'origin-1', sans), issue(ca, certs, 'origin-2', sans)]);
  for (const n of rig.nodes) {
    const low = await rig.exec(n, ['sysctl', '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=0']);
    t.equal(low.code, 0, `${n.name}: unprivileged port 443 in the node's namespace ${low.stderr}`);
  }
  const demoFile = 'robots.txt';
  const demoBytes = readFileSync(join(REPO, 'dist/demo-releases', releaseId, demoFile));

  const vars = {
    origin_node_artifact: artifact,
    origin_node_service_manager: 'none',
    origin_node_apply_host_config: false,
    origin_node_etc_root: TEST_ETC,
    origin_node_app_dir: APP_DIR,
    origin_node_create_user: false,
    origin_node_user: 'nobody',
    origin_node_group: 'nogroup',
    origin_node_port: PORT,
    origin_node_workers: 1,
    origin_node_admin_allow: ['::1/128', `${rig.gateway}/128`],
    // Only the controller (the bridge's address): node2 stands for a prefix outside the allow list.
    origin_node_http_allow: [`${rig.gateway}/128`],
    origin_node_tls_cert_src: leaf.cert,
    origin_node_tls_key_src: leaf.key,
    origin_node_ssh_allow: [`${rig.subnet}::/64`],
    origin_node_dns64_servers: ['fd00:cafe:0:a::53'],
  };
  const varsFile = join(work, 'vars.json');
  writeFileSync(varsFile, JSON.stringify(vars));
  const env = ansibleEnv();
  const playbook = (extraVars: Record<string, unknown> = {}): Promise<Run> =>
    run('ansible-playbook', ['-i', rig.inventoryPath, join(REPO, 'ansible/provision.yml'), '-e', `@${varsFile}`, '-e', JSON.stringify(extraVars)], { env, timeoutMs: 360_000 });
  /** curl from the controller (`from` undefined: the root namespace, the bridge's address) or from inside a node. */
  const curlTls = (from: RigNode | undefined, address: string, path: string): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    // No -k: the chain is verified against the test CA and the address against the SANs.
    const argv = ['curl', '-sS', '--globoff', '--connect-timeout', '3', '--max-time', '10', '--cacert', ca.cert, '-o', '-', '-w', '', `https://[${address}]:${TLS_PORT}${path}`];
    return from === undefined ? run(argv[0] as string, argv.slice(1)) : rig.exec(from, argv);
  };

  const [first, lint] = await Promise.all([playbook(), run('ansible-lint', ['--offline', '--nocolor', 'ansible/'], { env: { ...env, ANSIBLE_CONFIG: '' }, timeoutMs: 240_000 })]);
  t.equal(first.code, 0, `first ansible-playbook run exits 0 (${first.ms} ms)`, { stdout: first.stdout.slice(-4000), stderr: first.stderr.slice(-2000) });
  t.equal(lint.code, 0, `ansible-lint ansible/ passes (${lint.ms} ms)`, { out: (lint.stdout + lint.stderr).slice(-3000) });
  const r1 = recap(first.stdout);
  t.same([...r1.keys()].sort(), ['node1', 'node2'], 'both nodes in the recap');
  for (const [host, c] of r1) t.ok((c.changed ?? 0) > 0 && c.failed === 0 && c.unreachable === 0, `${host}: first run changed things, no failures`);

  for (const n of rig.nodes) {
    const res = await waitHttp(`http://[${n.address}]:${PORT}/_origin/health`, 30000).catch(async (e: Error) => {
      // The server's own words: the background start logs to the node's run directory.
      const log = await rig.exec(n, ['cat', '/srv/origin/run/pi-origin.log']);
      throw new Error(`${n.name}: no answer on /_origin/health (${e.message}); server log:\n${log.stdout}${log.stderr}`);
    });
    t.equal(res.status, 200, `${n.name}: /_origin/health answers 200 over IPv6`);
    t.equal(res.body.toString().trim(), `ok ${releaseId}`, `${n.name}: health names the release`);
  }

  const pids = new Map<string, string>();
  await Promise.all(
    rig.nodes.map(async (n) => {
      const unit = readFileSync(join(n.dir, 'srv', TEST_ETC.slice('/srv/'.length), 'etc/systemd/system/pi-origin.service'), 'utf8');
      for (const line of [
        'Restart=on-failure',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ReadWritePaths=/srv/origin/run',
        'LogsDirectory=pi-origin',
        'AmbientCapabilities=CAP_NET_BIND_SERVICE',
        'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
        'LimitNOFILE=65536',
        'User=nobody',
      ]) {
        t.match(unit, new RegExp(`^${line}$`, 'm'), `${n.name}: unit has ${line}`);
      }
      t.match(unit, new RegExp(`^ExecStart=/usr/bin/node ${APP_DIR}/current/dist/cli/main.js serve /srv/origin/releases/current --listen \\[::\\]:${PORT} --admin-allow ::1/128 --admin-allow ${rig.gateway}/128`, 'm'), `${n.name}: unit ExecStart`);
      const tlsDir = `${TEST_ETC}/etc/pi-origin/tls`;
      t.match(unit, new RegExp(` --tls-listen \\[::\\]:${TLS_PORT} --tls-cert ${tlsDir}/origin\\.crt\\.pem --tls-key ${tlsDir}/origin\\.key\\.pem( |$)`, 'm'), `${n.name}: ExecStart serves TLS on ${TLS_PORT} from the installed files`);
      const modes = await rig.exec(n, ['stat', '-c', '%n %a %U:%G', tlsDir, `${tlsDir}/origin.key.pem`, `${tlsDir}/origin.crt.pem`]);
      t.equal(modes.stdout, [`${tlsDir} 750 root:nogroup`, `${tlsDir}/origin.key.pem 600 nobody:nogroup`, `${tlsDir}/origin.crt.pem 644 root:nogroup`, ''].join('\n'), `${n.name}: key readable by the service user only`);
      const https = await curlTls(undefined, n.address, `/${demoFile}`);
      t.equal(https.code, 0, `${n.name}: HTTPS on ${TLS_PORT} verified against the test CA over IPv6 ${https.stderr}`);
      t.equal(https.stdout, demoBytes.toString(), `${n.name}: the demo's ${demoFile}, exact bytes`);
      t.equal(await servedCertificateCn(n.address, TLS_PORT, ca.cert), 'origin-1', `${n.name}: the installed certificate`);

      const nftPath = `${TEST_ETC}/etc/nftables.d/pi-origin.nft`;
      const nft = readFileSync(join(n.dir, 'srv', nftPath.slice('/srv/'.length)), 'utf8');
      const check = await rig.exec(n, ['nft', '-c', '-f', nftPath]);
      t.equal(check.code, 0, `${n.name}: rendered ruleset passes nft -c -f in the node ${check.stderr}`);
      t.match(nft, /meta nfproto ipv4 drop/, `${n.name}: ruleset drops IPv4`);
      t.notMatch(nft, /\bip saddr|\bip daddr|nfproto ipv4 accept/, `${n.name}: ruleset accepts no IPv4`);
      t.match(nft, /policy drop/, `${n.name}: input policy drop`);
      t.match(nft, /icmpv6 type \{ nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect \} ip6 hoplimit 255 accept/, `${n.name}: neighbour discovery allowed on-link (the whole ruleset is checked in hardening.test.ts)`);
      t.match(nft, new RegExp(`tcp dport ${PORT} ip6 saddr @http_allow accept`), `${n.name}: HTTP only from http_allow`);
      t.match(nft, new RegExp(`tcp dport ${TLS_PORT} ip6 saddr @http_allow accept`), `${n.name}: HTTPS only from http_allow`);

      const sysctl = readFileSync(join(n.dir, 'srv', TEST_ETC.slice('/srv/'.length), 'etc/sysctl.d/90-pi-origin.conf'), 'utf8');
      t.match(sysctl, /^net\.core\.somaxconn\s*=\s*4096$/m, `${n.name}: sysctl file written (ansible.posix.sysctl, not applied in test mode)`);
      const resolv = readFileSync(join(n.dir, 'srv', TEST_ETC.slice('/srv/'.length), 'etc/resolv.conf'), 'utf8');
      t.match(resolv, /^nameserver fd00:cafe:0:a::53$/m, `${n.name}: resolv.conf rendered with DNS64 servers`);

      const link = await rig.exec(n, ['readlink', `${APP_DIR}/current`]);
      t.match(link.stdout.trim(), /^releases-app\/[0-9a-f]{12}$/, `${n.name}: app current -> releases-app/<version>`);
      const pid = await rig.exec(n, ['cat', '/srv/origin/run/pi-origin.pid']);
      pids.set(n.name, pid.stdout.trim());
    }),
  );

  await t.test('on the wire: the ruleset admits 443 from http_allow only', async (t) => {
    const [node1, node2] = rig.nodes as [RigNode, RigNode];
    const before = await curlTls(node2, node1.address, `/${demoFile}`);
    t.equal(before.code, 0, `without the ruleset node2 reaches node1:${TLS_PORT} (the probe works) ${before.stderr}`);
    const load = await rig.exec(node1, ['nft', '-f', `${TEST_ETC}/etc/nftables.d/pi-origin.nft`]);
    t.equal(load.code, 0, `the rendered ruleset loads in node1's namespace ${load.stderr}`);
    const allowed = await curlTls(undefined, node1.address, `/${demoFile}`);
    t.equal(allowed.code, 0, `from http_allow (the controller): HTTPS answered ${allowed.stderr}`);
    t.equal(allowed.stdout, demoBytes.toString(), 'exact bytes through the firewall');
    const denied = await curlTls(node2, node1.address, `/${demoFile}`);
    t.equal(denied.code, 28, 'from outside http_allow (node2): the SYN is dropped, curl times out connecting (exit 28)');
  });

  // Renewal: new files on the controller, a second run copies them; the server is not restarted
  // and presents the new certificate (it watches the files). changed=2 (the key and the
  // certificate) is also the idempotence check: every other task of the role changes nothing
  // on its second run (a run of its own for that alone cost ~40 s of CI).
  const second = await playbook({ origin_node_tls_cert_src: renewed.cert, origin_node_tls_key_src: renewed.key });
  t.equal(second.code, 0, `second run with a renewed certificate exits 0 (${second.ms} ms)`, { stdout: second.stdout.slice(-4000) });
  const r2 = recap(second.stdout);
  t.same([...r2.keys()].sort(), ['node1', 'node2'], 'both nodes in the second recap');
  for (const [host, c] of r2) t.equal(c.changed, 2, `${host}: the second run changed the key and the certificate, nothing else`);
  for (const n of rig.nodes) {
    const cn = await waitFor('the renewed certificate', async () => {
      const seen = await servedCertificateCn(n.address, TLS_PORT, ca.cert).catch(() => undefined);
      return seen === 'origin-2' ? seen : undefined;
    }, 15000).catch(async (e: Error) => `${e.message}; server log: ${(await rig.exec(n, ['cat', '/srv/origin/run/pi-origin.log'])).stdout.slice(-2000)}`);
    t.equal(cn, 'origin-2', `${n.name}: the renewed certificate is served`);
    const pid = await rig.exec(n, ['cat', '/srv/origin/run/pi-origin.pid']);
    t.equal(pid.stdout.trim(), pids.get(n.name), `${n.name}: without a restart`);
    const https = await curlTls(undefined, n.address, `/${demoFile}`);
    t.equal(https.stdout, demoBytes.toString(), `${n.name}: exact bytes over the renewed certificate ${https.stderr}`);
  }

  t.same(HOST_PATHS.filter((p) => existsSync(p)), hostBefore, "the host's /etc, /opt and /srv were not touched");
  t.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolvBefore, "the host's resolv.conf is unchanged");
  t.equal(readFileSync('/etc/passwd', 'utf8'), passwdBefore, "the host's /etc/passwd is unchanged");
});
