/**
 * The dual-stack front (`dualstack_proxy`) in its real mode on a Debian 13 machine booted with
 * systemd (test/rig/machines.ts): a fresh proxy host with no apt lists, Debian 13's HAProxy 3.0
 * under haproxy.service, one origin node behind it. As an operator would, with `pi-origin
 * cluster`: provision on the fresh host, reloads that cannot work (a maxconn the running HAProxy
 * has no descriptors for, a port another program holds), what the build says about QUIC, HTTPS
 * with certificates from a real ACME server (Pebble on the host, lego on the proxy, HTTP-01
 * through HAProxy), and nodes registered and deregistered through the runtime API.
 * Needs root, debootstrap, systemd-container, ansible, pebble, lego, curl.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease } from '../dist/release/release.js';
import { httpGet, run } from './helpers/ansible.js';
import { runTail as out, summaryTable } from './helpers/cluster.js';
import { startMachineCluster } from './helpers/machines.js';
import { HAS_PEBBLE, startPebble } from './helpers/pebble.js';
import { until } from './helpers/wait.js';

const PREFIX = 'pimf';
const SUBNET = 'fd00:cafe:0:93';
const NAME = 'www.front.test';
/** The inventory's maxconn: 2256 descriptors, within what the fd test gives the unit (3000). */
const MAXCONN = 1000;

t.setTimeout(15 * 60_000);

const started = Date.now();
const { rig, proxy, work, cluster, sh, proxyStat } = await startMachineCluster(t, {
  nodes: 1,
  prefix: PREFIX,
  subnet: SUBNET,
  proxyVars: { dualstack_proxy_maxconn: MAXCONN },
});
t.comment(`node + proxy booted and the artifact built in ${Date.now() - started} ms`);

const siteDir = join(work, 'site');
mkdirSync(siteDir, { recursive: true });
writeFileSync(join(siteDir, 'index.html'), '<!doctype html><h1>front</h1>\n');
writeFileSync(join(siteDir, 'notes.txt'), `through the front\n${'.'.repeat(3000)}\n`);
const A = await buildRelease(siteDir, join(work, 'releases'));
const notes = readFileSync(join(siteDir, 'notes.txt'));

/** Extra variables as an operator gives them: `-e @FILE.json`. */
const varsFile = (name: string, vars: Record<string, unknown>): string => {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify(vars));
  return `@${file}`;
};
const showInfo = async (field: string): Promise<string> =>
  /^(.*)$/m.exec((await sh(proxy, `echo 'show info' | socat stdio unix-connect:/run/haproxy/admin.sock | sed -n 's/^${field}: //p'`)).trim())?.[1] ?? '';
const times: string[] = [];

t.test('a fresh proxy host with empty apt lists: provision installs Debian 13\'s HAProxy 3.0 and the front serves a node', async (t) => {
  t.equal(await sh(proxy, 'ls /var/lib/apt/lists | grep -c _Packages; command -v haproxy socat || true'), '0\n', 'the proxy host starts with no package lists, no haproxy, no socat');
  // The node at the same time (its own run): the proxy's time is its own.
  const [r, node] = await Promise.all([cluster(['provision', '--limit', 'proxy1']), cluster(['provision', '--limit', 'node1'])]);
  times.push(`provision of a fresh proxy host (apt update and install included): ${r.ms} ms`);
  t.equal(r.code, 0, `cluster provision --limit proxy1 exits 0 (${r.ms} ms)`, out(r));
  t.match(await sh(proxy, 'haproxy -v | head -1'), /^HAProxy version 3\.0\.\d+/, "Debian 13's HAProxy 3.0");
  t.equal(await sh(proxy, 'systemctl is-enabled haproxy; systemctl is-active haproxy'), 'enabled\nactive\n', 'haproxy.service enabled and running');
  t.equal(await showInfo('Maxconn'), String(MAXCONN), 'HAProxy runs the rendered configuration (its maxconn)');
  const listeners = (await sh(proxy, 'ss -Hltnp | grep \'"haproxy"\' | awk \'{print $4}\' | sort')).split('\n').filter(Boolean);
  t.same(listeners, ['0.0.0.0:80', '[::]:80', '[::]:8405'], 'HAProxy itself listens on 0.0.0.0:80 and [::]:80, and its exporter on [::]:8405 (IPv6 only)');

  t.equal(node.code, 0, `provision of node1 exits 0 (${node.ms} ms)`, out(node));
  const rollout = await cluster(['rollout', A.dir]);
  t.equal(rollout.code, 0, `rollout of A exits 0 (${rollout.ms} ms)`, out(rollout));
  t.ok(await until(async () => (await proxyStat()).get('node1')?.status === 'UP', 20_000), 'HAProxy 3.0 has node1 UP (health checks with PROXY v2)');
  // Read from the host as Prometheus would: the bridge address is in fc00::/7, which the default
  // dualstack_proxy_metrics_allow admits.
  const scrape = await httpGet(`http://[${proxy.address}]:8405/metrics`);
  t.equal(scrape.status, 200, "HAProxy 3.0's built-in exporter answers /metrics on the proxy's IPv6 address");
  t.match(scrape.body.toString(), /^haproxy_backend_active_servers\{proxy="origins"\} 1$/m, 'with node1 up in the origins backend');
  const r2 = await httpGet(`http://[${proxy.address}]/notes.txt`);
  t.equal(`${r2.status} ${String(r2.headers['x-origin-release'])}`, `200 ${A.id}`, 'the front serves release A from node1 over IPv6');
  t.ok(r2.body.equals(notes), 'byte for byte');
});

t.test('QUIC: Debian 13\'s HAProxy 3.0 is built with it, in OpenSSL compatibility mode', async (t) => {
  const vv = await sh(proxy, 'haproxy -vv');
  t.match(vv, /^Feature list : .*\+QUIC .*\+QUIC_OPENSSL_COMPAT /m, 'the feature list has +QUIC and +QUIC_OPENSSL_COMPAT');
  t.match(vv, /^\s+quic : mode=HTTP\s+side=FE\s+mux=QUIC/m, 'the QUIC multiplexer is there (frontends only)');
  t.comment(vv.split('\n').filter((l) => /^(HAProxy version| {2}OPTIONS|Built with OpenSSL|Running on OpenSSL)/.test(l)).join('\n'));
  // What HTTP/3 at the front takes (docs/operations.md): a quic bind with the same certificates,
  // which this build only accepts with `limited-quic` (no 0-RTT through OpenSSL's compatibility layer).
  const cfg = (global: string): string =>
    `global\n${global}\ndefaults\n    mode http\n    timeout client 5s\n    timeout connect 5s\n    timeout server 5s\nfrontend h3\n    bind quic6@[::]:8443 ssl crt /tmp/h3.pem alpn h3\n    http-response set-header alt-svc 'h3=":8443"; ma=900'\n    http-request return status 200\n`;
  await sh(proxy, `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=${NAME} -keyout /tmp/h3.key -out /tmp/h3.crt 2>/dev/null && cat /tmp/h3.crt /tmp/h3.key > /tmp/h3.pem`);
  const check = async (global: string): Promise<number> => {
    const r = await rig.exec(proxy, ['/bin/sh', '-c', 'cat > /tmp/h3.cfg && haproxy -c -f /tmp/h3.cfg'], { input: cfg(global), timeoutMs: 30_000 });
    return r.code ?? -1;
  };
  t.equal(await check('    limited-quic'), 0, 'a quic6@ bind with alpn h3 is accepted with limited-quic');
  t.not(await check(''), 0, 'and refused without it');
});

t.test('maxconn is checked against the descriptors the running HAProxy really has, not the unit file', async (t) => {
  // The running master gets 3000; then the unit says 100000, but a reload keeps the process and
  // its limit, and a container's root may not raise it.
  const dropIn = (n: number): string => `mkdir -p /etc/systemd/system/haproxy.service.d && printf '[Service]\\nLimitNOFILE=${n}\\n' > /etc/systemd/system/haproxy.service.d/nofile.conf && systemctl daemon-reload`;
  await sh(proxy, `${dropIn(3000)} && systemctl restart haproxy`);
  await sh(proxy, dropIn(100000));
  t.teardown(() => sh(proxy, 'rm -rf /etc/systemd/system/haproxy.service.d && systemctl daemon-reload && systemctl restart haproxy'));
  t.match(await sh(proxy, 'systemctl show haproxy -p LimitNOFILE --value; grep "Max open files" /proc/$(systemctl show haproxy -p MainPID --value)/limits'), /^100000\nMax open files\s+3000\s+3000/, 'the unit says 100000, the running master has 3000');

  const r = await cluster(['provision', '--limit', 'proxy1', '-e', varsFile('maxconn-4000', { dualstack_proxy_maxconn: 4000 })]);
  t.not(r.code, 0, 'maxconn 4000 (about 8256 descriptors) is refused', out(r));
  t.match(r.stdout, /proxy1: dualstack_proxy_maxconn 4000 needs about 8256 file descriptors, but haproxy\.service gets LimitNOFILE=3000 \(its running master has 3000/, 'naming the proxy, maxconn and the limit the running master has');
  t.equal(await showInfo('Maxconn'), String(MAXCONN), 'nothing was reloaded: HAProxy still runs the last good configuration');
  t.equal((await httpGet(`http://[${proxy.address}]/notes.txt`)).status, 200, 'and serves');

  await sh(proxy, 'systemctl restart haproxy');
  const limit = Number(/Max open files\s+\d+\s+(\d+)/.exec(await sh(proxy, 'grep "Max open files" /proc/$(systemctl show haproxy -p MainPID --value)/limits'))?.[1]);
  t.ok(limit > 8256, `after a restart the master has ${limit} descriptors`);
  const ok = await cluster(['provision', '--limit', 'proxy1', '-e', varsFile('maxconn-4000', { dualstack_proxy_maxconn: 4000 })]);
  t.equal(ok.code, 0, 'and the same maxconn goes through', out(ok));
  t.equal(await showInfo('Maxconn'), '4000', 'HAProxy runs with maxconn 4000');
});

t.test('a reload HAProxy cannot complete fails provision, naming the proxy and HAProxy\'s error, on every run until it can load', async (t) => {
  // Another program holds [::]:8081: `haproxy -c` passes (it binds nothing), the reload fails and
  // the master keeps the old worker on port 80; systemd says the reload succeeded.
  await sh(proxy, `systemd-run --unit=squatter python3 -c "import socket, time; s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s.bind(('::', 8081)); s.listen(); time.sleep(600)"`);
  // Freed at the end: the next provision (HTTPS, back on port 80) is the run that recovers.
  t.teardown(() => sh(proxy, 'systemctl stop squatter'));
  t.ok(await until(async () => (await sh(proxy, 'ss -Hltn')).includes('[::]:8081'), 10_000), 'another program listens on [::]:8081');
  // Only the port differs from what runs (maxconn as it runs), so only the listener can tell.
  const moved = varsFile('port-8081', { dualstack_proxy_port: 8081, dualstack_proxy_bind_ipv4: [], dualstack_proxy_maxconn: Number(await showInfo('Maxconn')) });
  const first = await cluster(['provision', '--limit', 'proxy1', '-e', moved]);
  t.not(first.code, 0, 'provision fails', out(first));
  t.match(first.stdout, /stopped: proxy1 failed at Fail when HAProxy does not run the configuration: proxy1: HAProxy does not run \/etc\/haproxy\/haproxy\.cfg: [^\n]*nothing listens on \[::\]:8081/, 'naming the proxy and the listener HAProxy lacks (the other program\'s socket does not count)');
  t.match(first.stdout, /HAProxy said: [^\n]*ALERT[^\n]*8081/, "quoting HAProxy's own alert about that address");
  t.equal((await httpGet(`http://[${proxy.address}]/notes.txt`)).status, 200, 'the old worker serves on meanwhile');

  const again = await cluster(['provision', '--limit', 'proxy1', '-e', moved]);
  t.not(again.code, 0, 'the next run, with nothing left to change, fails too', out(again));
  t.match(again.stdout, /stopped: proxy1 failed at Fail when HAProxy does not run the configuration/, 'for the same reason');

});

const HAS_CURL = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
t.test('HTTPS at the front: a certificate from Pebble through lego and HTTP-01 on the proxy, a client over TLS to the node', { skip: !HAS_PEBBLE || !HAS_CURL ? 'needs pebble, lego and curl (Debian packages)' : false }, async (t) => {
  const dir = join(work, 'pebble');
  mkdirSync(dir, { recursive: true });
  // On the bridge, where the proxy reaches its API; the name resolves to the proxy (IPv6 only),
  // and Pebble validates HTTP-01 at [proxy]:80, that is through HAProxy to lego.
  const pebble = await startPebble(t, dir, 80, [NAME], { listen: rig.gateway, a: [], aaaa: [proxy.address] });
  await rig.exec(proxy, ['/bin/sh', '-c', 'mkdir -p /etc/pi-origin-test && cat > /etc/pi-origin-test/pebble-api.pem'], { input: readFileSync(pebble.apiCaFile, 'utf8') });
  const tls = varsFile('tls', {
    dualstack_proxy_tls_names: [NAME],
    dualstack_proxy_acme_directory: pebble.directory,
    dualstack_proxy_acme_email: 'ops@front.test',
    dualstack_proxy_acme_ca_bundle: '/etc/pi-origin-test/pebble-api.pem',
  });
  const r = await cluster(['provision', '--limit', 'proxy1', '-e', tls]);
  times.push(`provision of the proxy with ACME (lego installed, first certificate): ${r.ms} ms`);
  t.equal(r.code, 0, `provision with ACME exits 0 (${r.ms} ms)`, out(r));

  const cert = await new Promise<X509Certificate>((resolve, reject) => {
    const s = tlsConnect({ host: proxy.address, port: 443, servername: NAME, ca: readFileSync(pebble.rootFile, 'utf8') }, () => {
      const c = s.getPeerX509Certificate();
      s.end();
      if (c === undefined) reject(new Error('no certificate'));
      else resolve(c);
    });
    s.on('error', reject);
  });
  t.ok(cert.checkHost(NAME) !== undefined && cert.checkIssued(pebble.intermediate), `the front presents a certificate for ${NAME} issued by Pebble's intermediate of this run`);

  for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']] as const) {
    const body = join(dir, `body-${version}`);
    const c = await run('curl', ['-sS', flag, '--cacert', pebble.rootFile, '--resolve', `${NAME}:443:[${proxy.address}]`, '-o', body, '-w', '%{http_version} %{http_code} %{ssl_verify_result}', `https://${NAME}/notes.txt`], { timeoutMs: 30_000 });
    t.equal(c.stdout, `${version} 200 0`, `curl ${flag}: HTTP/${version}, 200, chain verified against Pebble's root only`, { stderr: c.stderr });
    t.ok(readFileSync(body).equals(notes), `curl ${flag}: the node's bytes`);
  }
  const plain = await httpGet(`http://[${proxy.address}]/notes.txt?a=1`, 2000, { host: NAME });
  t.equal(`${plain.status} ${String(plain.headers.location)}`, `308 https://${NAME}/notes.txt?a=1`, 'port 80 redirects to https');
  t.equal(await sh(proxy, 'systemctl is-enabled pi-origin-acme.timer; systemctl is-active pi-origin-acme.timer'), 'enabled\nactive\n', 'the renewal timer is enabled and active under systemd');
  const listeners = (await sh(proxy, 'ss -Hltnp | grep \'"haproxy"\' | awk \'{print $4}\' | sort')).split('\n').filter(Boolean);
  t.same(listeners, ['0.0.0.0:443', '0.0.0.0:80', '[::]:443', '[::]:80', '[::]:8405'], 'HAProxy listens on 80 and 443, IPv4 and IPv6, the exporter on [::]:8405 (recovered from the failed reload of the test before)');

  t.test('register and deregister through the runtime API of HAProxy 3.0, over HTTPS', async (t) => {
    const https = async (): Promise<string> => {
      const c = await run('curl', ['-sS', '--http2', '--cacert', pebble.rootFile, '--resolve', `${NAME}:443:[${proxy.address}]`, '-o', '/dev/null', '-w', '%{http_code}', `https://${NAME}/notes.txt`], { timeoutMs: 30_000 });
      return c.stdout;
    };
    const dereg = await cluster(['deregister', 'node1', '-e', tls]);
    t.equal(dereg.code, 0, `deregister node1 exits 0 (${dereg.ms} ms)`, out(dereg));
    t.notOk((await proxyStat()).has('node1'), 'node1 is out of HAProxy');
    t.equal(await https(), '503', 'the front has no node to send to: 503');
    const reg = await cluster(['register', 'node1', '-e', tls]);
    t.equal(reg.code, 0, `register node1 exits 0 (${reg.ms} ms)`, out(reg));
    t.equal((await proxyStat()).get('node1')?.status, 'UP', 'node1 is UP in HAProxy again');
    t.equal(await https(), '200', 'and serves over HTTPS');
    const again = await cluster(['provision', '--limit', 'proxy1', '-e', tls]);
    times.push(`provision of the proxy again (nothing to do): ${again.ms} ms`);
    t.equal(again.code, 0, 'the proxy passes its state check after register and deregister', out(again));
    t.same([...summaryTable(again.stdout)].filter(([, c]) => c.changed !== 0).map(([h]) => h), [], 'and a second provision changes nothing (no reload, no renewal)');
  });
});

t.test('times', (t) => {
  for (const line of times) t.comment(line);
  const mem = rig.memory(proxy);
  t.comment(`proxy1 after the tests: RSS ${(mem.rss / 2 ** 20).toFixed(1)} MiB, PSS ${(mem.pss / 2 ** 20).toFixed(1)} MiB`);
  t.comment(`whole file: ${Math.round((Date.now() - started) / 1000)} s`);
  t.end();
});
