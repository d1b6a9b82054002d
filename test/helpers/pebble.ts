/**
 * A real ACME server on loopback: Debian's `pebble` (Let's Encrypt's test CA) with
 * `pebble-challtestsrv` as its only DNS server. The names given resolve to the proxy
 * (127.0.0.1 and ::1 unless told otherwise) and nothing else does; Pebble validates HTTP-01 on
 * `httpPort`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePort } from './cluster.js';
import { waitFor } from './wait.js';

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** PEM of the certificate Pebble's own API uses (lego must trust it to talk to Pebble). */
  readonly apiCaFile: string;
  /** Pebble's root CA of this run (PEM file), which signs every certificate it issues. */
  readonly rootFile: string;
  readonly root: X509Certificate;
  /** base64(SHA-256(SubjectPublicKeyInfo)) of a certificate, as Chromium's SPKI lists take it. */
  readonly spkiHash: (cert: X509Certificate) => string;
  /** Pebble's intermediate of this run, which signs leaf certificates. */
  readonly intermediate: X509Certificate;
  /** challtestsrv's DNS server (host:port) and its management API (TXT records for DNS-01). */
  readonly dnsServer: string;
  readonly management: string;
}

export const HAS_PEBBLE = spawnSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv && command -v lego'], { stdio: 'ignore' }).status === 0;

export interface PebbleOptions {
  /** Address Pebble's ACME and management APIs listen on, for clients elsewhere (default 127.0.0.1). */
  readonly listen?: string;
  /** What the names resolve to (default 127.0.0.1 and ::1); an empty list: no such record. */
  readonly a?: readonly string[];
  readonly aaaa?: readonly string[];
}

/** Starts challtestsrv and pebble in `dir`, killed at `t`'s teardown. */
export async function startPebble(t: Test, dir: string, httpPort: number, names: readonly string[], options: PebbleOptions = {}): Promise<Pebble> {
  const { listen = '127.0.0.1', a = ['127.0.0.1'], aaaa = ['::1'] } = options;
  const host = listen.includes(':') ? `[${listen}]` : listen;
  const [acmePort, pebbleMgmt, dnsPort, dnsMgmt, tlsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const apiCaFile = join(dir, 'pebble-api.pem');
  const apiKey = join(dir, 'pebble-api.key');
  const cert = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=pebble', '-addext', `subjectAltName=IP:${listen},DNS:localhost`, '-keyout', apiKey, '-out', apiCaFile], { encoding: 'utf8' });
  if (cert.status !== 0) throw new Error(`openssl: ${cert.stderr}`);
  const config = join(dir, 'pebble.json');
  writeFileSync(config, JSON.stringify({ pebble: { listenAddress: `${host}:${acmePort}`, managementListenAddress: `${host}:${pebbleMgmt}`, certificate: apiCaFile, privateKey: apiKey, httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false } }));

  const dnsServer = `127.0.0.1:${dnsPort}`;
  const management = `http://127.0.0.1:${dnsMgmt}`;
  const start = (cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): (() => string) => {
    const child = spawn(cmd, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    return () => out;
  };
  const dnsLog = start('pebble-challtestsrv', ['-dns01', dnsServer, '-management', `127.0.0.1:${dnsMgmt}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '', '-defaultIPv6', '']);
  await waitFor(`challtestsrv (${dnsLog()})`, () => fetch(`${management}/clear-txt`, { method: 'POST', body: '{"host":"none."}' }).then(() => true, () => undefined), 10_000);
  for (const name of names) {
    if (a.length > 0) await post(`${management}/add-a`, { host: name, addresses: a });
    if (aaaa.length > 0) await post(`${management}/add-aaaa`, { host: name, addresses: aaaa });
  }
  // No sleep before validations, no nonce rejections, no reused authorisations: every order
  // (a forced renewal too) is validated again, through the proxy.
  const pebbleLog = start('pebble', ['-config', config, '-dnsserver', dnsServer], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
  const ca = [readFileSync(apiCaFile, 'utf8')];
  const directory = `https://${host}:${acmePort}/dir`;
  await waitFor(`pebble (${pebbleLog()})`, () => httpsGet(directory, ca).then(() => true, () => undefined), 15_000);
  const rootPem = await httpsGet(`https://${host}:${pebbleMgmt}/roots/0`, ca);
  const rootFile = join(dir, 'pebble-root.pem');
  writeFileSync(rootFile, rootPem);
  const intermediate = new X509Certificate(await httpsGet(`https://${host}:${pebbleMgmt}/intermediates/0`, ca));
  const spkiHash = (c: X509Certificate): string => createHash('sha256').update(c.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  return { directory, apiCaFile, rootFile, root: new X509Certificate(rootPem), spkiHash, intermediate, dnsServer, management };
}

async function post(url: string, body: unknown): Promise<void> {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
}

/** GET over HTTPS trusting only `ca`; the body as text. */
function httpsGet(url: string, ca: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca: [...ca], timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => ((res.statusCode ?? 0) === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

