/**
 * HTTPS at the dual-stack front, with real components only: ansible/proxy.yml (the
 * dualstack_proxy role in test mode) on this machine, Debian's Pebble as the ACME CA with
 * challtestsrv as the DNS that resolves the site names to the proxy, Debian's lego driven by the
 * role's renewal script (HTTP-01 answered through HAProxy's port 80), a real origin on [::1]
 * serving the demo release, curl and headless Chromium as clients. Nothing trusts anything but
 * Pebble's root of this run (no -k, no blanket ignore).
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { REPO, run } from './helpers/ansible.js';
import { freePort, haproxyCommand, parseShowStat, SHOW_STAT } from './helpers/cluster.js';
import { CHROMIUM, NO_CHROMIUM } from './helpers/dashboard.js';
import { prepareFront } from './helpers/front.js';
import { HAS_PEBBLE, startPebble } from './helpers/pebble.js';
import { parseResponses, rawExchange, startServer } from './helpers/server.js';
import { until } from './helpers/wait.js';

const HAS_TOOLS = ['ansible-playbook', 'haproxy', 'socat', 'curl'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0);
const SKIP = process.getuid?.() !== 0 ? 'needs root (HAProxy drops to the haproxy account)' : !HAS_TOOLS ? 'needs ansible, haproxy, socat and curl' : !HAS_PEBBLE ? 'needs pebble and lego (Debian packages)' : false;
const NAMES = ['www.launch.test', 'launch.test'] as const;
const RELEASE = join(REPO, 'dist/demo-releases', readlinkSync(join(REPO, 'dist/demo-releases/current')));
const HSTS = 'max-age=63072000; includeSubDomains';

// Pebble, lego and two runs of the role: about 2 minutes here.
t.setTimeout(6 * 60_000);

t.test('https front: Pebble certificates through HTTP-01 on port 80, served by SNI over IPv4 and IPv6 with h2 and HTTP/1.1', { skip: SKIP }, async (t) => {
  const origin = await startServer(t, RELEASE, { trustedProxy: ['::1/128'], adminAllow: ['::1/128'] });
  const front = await prepareFront(t, [origin.port]);
  const pebble = await startPebble(t, front.dir, front.httpPort, NAMES);
  const httpsPort = await freePort();
  const acmeVars = {
    dualstack_proxy_tls_names: NAMES,
    dualstack_proxy_https_port: httpsPort,
    dualstack_proxy_acme_directory: pebble.directory,
    dualstack_proxy_acme_email: 'ops@launch.test',
    dualstack_proxy_acme_ca_bundle: pebble.apiCaFile,
    dualstack_proxy_acme_dir: join(front.dir, 'acme'),
    dualstack_proxy_acme_http_port: await freePort(),
    dualstack_proxy_hsts_max_age: 63072000,
    dualstack_proxy_hsts_include_subdomains: true,
  };
  const applied = await front.apply(acmeVars);
  t.equal(applied.code, 0, `proxy.yml with ACME applied in ${applied.ms} ms`, { stdout: applied.stdout.slice(-3000), stderr: applied.stderr.slice(-3000) });
  t.ok(await until(() => parseShowStat(haproxyCommand(front.socket, SHOW_STAT)).get('node1')?.status === 'UP', 15_000), 'the node is UP behind the front');

  /** The certificate the front presents for `name` (SNI), verified against Pebble's root only. */
  const served = (name: string, host = '127.0.0.1'): Promise<X509Certificate> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host, port: httpsPort, servername: name, ca: readFileSync(pebble.rootFile, 'utf8') }, () => {
        const raw = s.getPeerX509Certificate();
        s.end();
        if (raw === undefined) reject(new Error('no certificate')); else resolve(raw);
      });
      s.on('error', reject);
    });

  t.test('each name has its own certificate from Pebble', async (t) => {
    for (const name of NAMES) {
      const cert = await served(name);
      t.ok(cert.checkHost(name), `${name}: the certificate is for ${name}`);
      t.ok(cert.checkIssued(pebble.intermediate), `${name}: issued by Pebble's intermediate of this run`);
      t.equal(cert.checkHost(NAMES.find((n) => n !== name) as string), undefined, `${name}: and for no other name`);
    }
  });

  const index = readFileSync(join(RELEASE, 'index.html'));
  const curl = (args: readonly string[], url: string): Promise<Curl> => curlTls(front.dir, pebble.rootFile, args, url);

  t.test('curl --http2 and --http1.1 over IPv4 and IPv6: verified chain, exact demo bytes, HSTS', async (t) => {
    for (const name of NAMES) {
      for (const [family, address] of [['IPv4', '127.0.0.1'], ['IPv6', '[::1]']] as const) {
        for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']] as const) {
          const r = await curl([flag, '--resolve', `${name}:${httpsPort}:${address}`], `https://${name}:${httpsPort}/index.html`);
          t.equal(r.meta, `${version} 200 0`, `${name} ${family} ${flag}: HTTP/${version}, 200, chain verified`, { stderr: r.stderr });
          t.ok(r.body.equals(index), `${name} ${family} ${flag}: the demo's index.html byte for byte`);
          t.match(r.headers, new RegExp(`^strict-transport-security: ${HSTS}\\r$`, 'mi'), `${name} ${family} ${flag}: HSTS`);
        }
      }
    }
  });

  t.test('/_origin/* is denied over HTTPS too', async (t) => {
    for (const path of ['/_origin/status', '/_origin/health']) {
      const r = await curl(['--http2', '--resolve', `${NAMES[0]}:${httpsPort}:[::1]`], `https://${NAMES[0]}:${httpsPort}${path}`);
      t.equal(r.meta, '2 404 0', `${path}: 404`);
      t.notMatch(r.body.toString(), /"node"|ok [0-9a-f]{12}/);
    }
  });

  t.test('port 80 redirects with 308 to https, keeping path and query; no HSTS over plain HTTP', async (t) => {
    for (const host of ['127.0.0.1', '::1']) {
      const [r] = parseResponses(await rawExchange(front.httpPort, `GET /docs/?a=1 HTTP/1.1\r\nHost: ${NAMES[0]}\r\nConnection: close\r\n\r\n`, host));
      t.equal(r?.status, 308, `${host}: 308`);
      t.equal(r?.headers['location'], `https://${NAMES[0]}/docs/?a=1`, `${host}: to https, same path and query`);
      t.equal(r?.headers['strict-transport-security'], undefined, `${host}: no HSTS on plain HTTP`);
    }
  });

  t.test('sessions resume over TLS 1.2 and 1.3 (session cache, no stateless tickets)', async (t) => {
    const ca = readFileSync(pebble.rootFile, 'utf8');
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const opts = { host: '::1', port: httpsPort, servername: NAMES[0], ca, minVersion: version, maxVersion: version };
      const session = await new Promise<Buffer>((resolve, reject) => {
        const s = tlsConnect(opts);
        s.once('session', (b: Buffer) => {
          resolve(b);
          s.end();
        });
        s.on('data', () => undefined).on('error', reject);
      });
      const reused = await new Promise<boolean>((resolve, reject) => {
        const s = tlsConnect({ ...opts, session }, () => {
          resolve(s.isSessionReused());
          s.end();
        });
        s.on('error', reject);
      });
      t.ok(reused, `${version}: a second connection resumes the first one's session`);
    }
  });

  t.test('running the role again changes nothing and renews nothing', async (t) => {
    const again = await front.apply(acmeVars);
    t.equal(again.code, 0, `applied again in ${again.ms} ms`);
    t.match(again.stdout, /proxy1\s+: ok=\d+\s+changed=0 /, 'changed=0', { stdout: again.stdout.slice(-2000) });
  });

  t.test('a forced renewal under load: the new certificate goes in through the runtime API with 0 failed requests', async (t) => {
    const before = await served(NAMES[0]);
    const pid = readFileSync(join(front.dir, 'haproxy.pid'), 'utf8');
    const load = httpsLoad(httpsPort, readFileSync(pebble.rootFile, 'utf8'), index);
    const renewal = await run(join(front.dir, 'pi-origin-acme'), ['--force'], { timeoutMs: 120_000 });
    const after = await served(NAMES[0]);
    // Keep the load on until new handshakes have met the new certificate on both families.
    await until(() => load.sawSerial(after.serialNumber, '127.0.0.1') && load.sawSerial(after.serialNumber, '::1'), 20_000);
    const { sent, failed, errors, bySerial } = await load.stop();
    t.equal(renewal.code, 0, `renewal exits 0 (${renewal.ms} ms)`, { stdout: renewal.stdout, stderr: renewal.stderr.slice(-3000) });
    t.same(renewal.stdout.split('\n').filter((l) => l.startsWith('deployed ')).sort(), NAMES.map((n) => `deployed ${n}`).sort(), 'both names renewed and deployed');
    t.not(after.serialNumber, before.serialNumber, 'the front serves the new certificate');
    t.ok(after.checkIssued(pebble.intermediate), "issued by Pebble's intermediate");
    t.equal(readFileSync(join(front.dir, 'haproxy.pid'), 'utf8'), pid, 'HAProxy was not reloaded');
    t.ok((bySerial.get(before.serialNumber) ?? 0) > 0 && (bySerial.get(after.serialNumber) ?? 0) > 0, `handshakes saw the old and the new certificate: ${JSON.stringify([...bySerial])}`);
    t.comment(`forced renewal under load: sent ${sent}, failed ${failed}`);
    t.equal(failed, 0, `sent ${sent}, failed ${failed}`, { errors: errors.slice(0, 5) });
    t.ok(sent >= 20, `enough requests during the swap (${sent})`);
  });

  t.test("DNS-01 through the operator's hook: a name that does not point at the proxy gets its certificate", async (t) => {
    // The hook publishes the TXT record in challtestsrv, the DNS Pebble asks; no A or AAAA record
    // for the name exists anywhere, so HTTP-01 could not work for it.
    const hook = join(front.dir, 'dns-hook');
    writeFileSync(hook, ['#!/bin/sh', 'case "$1" in', `  present) curl -fsS -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" ${pebble.management}/set-txt ;;`, `  cleanup) curl -fsS -d "{\\"host\\":\\"$2\\"}" ${pebble.management}/clear-txt ;;`, 'esac', ''].join('\n'), { mode: 0o700 });
    const name = 'soon.launch.test';
    const applied = await front.apply({ ...acmeVars, dualstack_proxy_tls_names: [...NAMES, name], dualstack_proxy_acme_challenge: 'dns-01', dualstack_proxy_acme_dns_hook: hook, dualstack_proxy_acme_dns_resolvers: [pebble.dnsServer], dualstack_proxy_acme_dns_propagation_check: false });
    t.equal(applied.code, 0, `applied with dns-01 in ${applied.ms} ms`, { stdout: applied.stdout.slice(-3000) });
    const cert = await served(name);
    t.ok(cert.checkHost(name) !== undefined && cert.checkIssued(pebble.intermediate), `${name}: Pebble's certificate, served by SNI`);
  });

  t.test('headless Chromium loads the demo over https, trusting only Pebble\'s CA by SPKI hash; screenshot checked', { skip: NO_CHROMIUM }, async (t) => {
    const launch = (spki: string) =>
      chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${spki}`, `--host-resolver-rules=MAP ${NAMES[0]} 127.0.0.1`] });
    const url = `https://${NAMES[0]}:${httpsPort}/`;
    // Chromium matches the list against the chain the server sent (leaf and intermediate), never
    // against a root it does not have: the intermediate of this run is the narrowest CA to name.
    const browser = await launch(pebble.spkiHash(pebble.intermediate));
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    const response = await page.goto(url);
    t.equal(response?.status(), 200, 'the page loads');
    const security = await response?.securityDetails();
    t.match(security, { subjectName: NAMES[0], issuer: /^Pebble Intermediate CA / }, "the front's Pebble certificate");
    t.equal(await page.title(), /<title>([^<]*)<\/title>/.exec(index.toString())?.[1], "the demo's title");
    t.equal(await page.evaluate('location.protocol'), 'https:');
    const png = await page.screenshot();
    const blank = await browser.newPage();
    const colours = await blank.evaluate<{ width: number; height: number; colours: number }>(COUNT_COLOURS.replace('PNG_BASE64', png.toString('base64')));
    t.match(colours, { width: 1024, height: 700 }, 'a full-viewport screenshot');
    t.ok(colours.colours > 50, `the page is drawn, not blank or an error page (${colours.colours} colours)`);

    const untrusting = await launch(pebble.spkiHash(pebble.root));
    t.teardown(() => untrusting.close());
    const refused = await (await untrusting.newPage()).goto(url).then(() => 'loaded', (e: Error) => e.message);
    t.match(refused, /ERR_CERT_AUTHORITY_INVALID/, "without the intermediate's hash the same page is refused: nothing else trusts Pebble");
  });
});

interface Curl {
  /** `http_version response_code ssl_verify_result` */
  readonly meta: string;
  readonly body: Buffer;
  readonly headers: string;
  readonly stderr: string;
}

let curls = 0;
/** curl trusting only `cacert` (never -k); files go to `dir`. */
async function curlTls(dir: string, cacert: string, args: readonly string[], url: string): Promise<Curl> {
  const out = join(dir, `curl-${++curls}`);
  const r = await run('curl', ['-sS', '--max-time', '20', '--cacert', cacert, '-D', `${out}.head`, '-o', out, '-w', '%{http_version} %{response_code} %{ssl_verify_result}', ...args, url], { timeoutMs: 30_000 });
  const read = (f: string): Buffer => (existsSync(f) ? readFileSync(f) : Buffer.alloc(0));
  return { meta: r.stdout, body: read(out), headers: read(`${out}.head`).toString('latin1'), stderr: r.stderr };
}

/** Run in a blank page: draws a PNG (base64) on a canvas and counts its distinct colours. */
const COUNT_COLOURS = `(async () => {
  const img = new Image();
  img.src = 'data:image/png;base64,PNG_BASE64';
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4) seen.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]);
  return { width: img.width, height: img.height, colours: seen.size };
})()`;

/** New-connection HTTPS loops over IPv4 and IPv6 (each body checked), with the certificate each handshake saw. */
function httpsLoad(port: number, ca: string, want: Buffer): { stop: () => Promise<{ sent: number; failed: number; errors: string[]; bySerial: Map<string, number> }>; sawSerial: (serial: string, host: string) => boolean } {
  let running = true;
  let sent = 0;
  let failed = 0;
  const errors: string[] = [];
  const bySerial = new Map<string, number>();
  const seen = new Set<string>();
  const once = (host: string): Promise<void> =>
    new Promise((resolve) => {
      sent++;
      const fail = (why: string): void => {
        failed++;
        errors.push(why);
        resolve();
      };
      const req = httpsRequest({ host, port, path: '/index.html', servername: NAMES[0], ca, agent: false, timeout: 10_000 }, (res) => {
        const serial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200 || !Buffer.concat(chunks).equals(want)) return fail(`${host}: ${res.statusCode} or body mismatch`);
          bySerial.set(serial, (bySerial.get(serial) ?? 0) + 1);
          seen.add(`${serial} ${host}`);
          resolve();
        });
        res.on('error', (e) => fail(`${host}: ${e.message}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => fail(`${host}: ${e.message}`));
      req.end();
    });
  const loop = async (host: string): Promise<void> => {
    while (running) await once(host);
  };
  const all = Promise.all(['127.0.0.1', '::1', '127.0.0.1', '::1'].map(loop));
  return {
    sawSerial: (serial, host) => seen.has(`${serial} ${host}`),
    stop: async () => {
      running = false;
      await all;
      return { sent, failed, errors, bySerial };
    },
  };
}

t.test('https front: your own certificate files instead of ACME, over IPv4 and IPv6', { skip: SKIP }, async (t) => {
  const origin = await startServer(t, RELEASE, { trustedProxy: ['::1/128'], adminAllow: ['::1/128'] });
  const front = await prepareFront(t, [origin.port]);
  // A corporate CA and one certificate it signed, as the operator would bring them.
  const name = 'own.launch.test';
  const sh = (cmd: string): void => {
    const r = spawnSync('sh', ['-c', cmd], { cwd: front.dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  sh('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=Own Test CA" -keyout ca.key -out ca.pem 2>/dev/null');
  sh(`openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=${name}" -keyout own.key -out own.csr 2>/dev/null`);
  sh(`printf 'subjectAltName=DNS:${name}\\n' > ext && openssl x509 -req -in own.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out own.crt 2>/dev/null`);
  const httpsPort = await freePort();
  const applied = await front.apply({ dualstack_proxy_tls_names: [name], dualstack_proxy_https_port: httpsPort, dualstack_proxy_tls_source: 'files', dualstack_proxy_tls_files: { [name]: { cert: join(front.dir, 'own.crt'), key: join(front.dir, 'own.key') } } });
  t.equal(applied.code, 0, `proxy.yml with own files applied in ${applied.ms} ms`, { stdout: applied.stdout.slice(-3000), stderr: applied.stderr.slice(-3000) });
  t.notOk(existsSync(join(front.dir, 'pi-origin-acme')), 'no ACME renewal script');
  t.notMatch(applied.stdout, /TASK \[dualstack_proxy : Obtain the certificates/, 'no ACME run');
  t.ok(await until(() => parseShowStat(haproxyCommand(front.socket, SHOW_STAT)).get('node1')?.status === 'UP', 15_000), 'the node is UP behind the front');
  const index = readFileSync(join(RELEASE, 'index.html'));
  for (const address of ['127.0.0.1', '[::1]']) {
    const r = await curlTls(front.dir, join(front.dir, 'ca.pem'), ['--http2', '--resolve', `${name}:${httpsPort}:${address}`], `https://${name}:${httpsPort}/index.html`);
    t.equal(r.meta, '2 200 0', `${address}: h2, 200, verified against the own CA`, { stderr: r.stderr });
    t.ok(r.body.equals(index), `${address}: the demo's bytes`);
    t.notMatch(r.headers, /strict-transport-security/i, `${address}: no HSTS by default`);
  }
});
