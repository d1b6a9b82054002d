/**
 * `npm run bench:front`: what TLS costs at the dual-stack front. A real HAProxy on loopback (one
 * thread, so its CPU time is one core's) with a plain HTTP bind and a TLS bind using Mozilla's
 * "intermediate" settings, in front of a pi-origin node on [::1] (PROXY v2 on the hop, as the
 * dualstack_proxy role sends it). autocannon fetches a 1 KB and a 200 KB file over http and
 * https, on kept-alive connections and with a new connection per request (a TLS handshake
 * each). Every figure of one table comes from the same run, so the HTTPS/HTTP ratios compare
 * like with like on a machine whose absolute speed is not the Pi's.
 *
 * The figure the plan uses is "req/s per HAProxy core": requests / HAProxy's CPU seconds. It
 * holds whether or not HAProxy was the bottleneck (on a 2-core machine the load generator,
 * doing the client's half of every handshake in JavaScript, usually is).
 *
 * Usage: node dist/load-tests/bench/front.js [--duration S] [--connections N] [--json FILE]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from './servers.js';
import { cleanUpOnSignal, clockTicks, spawnTracked, stopSpawned, treeCpuTicks, type Spawned } from './procs.js';
import { packageRoot } from '../../common/package-root.js';
import { BenchError, fmtFixed, fmtInt, readJson, sleep, which } from './util.js';

/** Mozilla SSL Configuration Generator, HAProxy 2.6, OpenSSL 3, "intermediate" (version 5.7). */
export const MOZILLA_INTERMEDIATE = Object.freeze({
  ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305',
  ciphersuites: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  options: 'prefer-client-ciphers no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets',
});

export const FRONT_FILES = [
  { name: '1KB.bin', label: '1 KB', bytes: 1024 },
  { name: '200KB.bin', label: '200 KB', bytes: 200 * 1024 },
] as const;
export const CONNECTION_MODES = ['keep-alive', 'new connection'] as const;
export const SCHEMES = ['http', 'https'] as const;

export interface FrontRun {
  readonly file: string;
  readonly connection: (typeof CONNECTION_MODES)[number];
  readonly scheme: (typeof SCHEMES)[number];
  readonly requests: number;
  readonly reqPerSec: number;
  readonly mbytesPerSec: number;
  readonly errors: number;
  /** HAProxy's CPU over the run, % of one core (it runs one thread). */
  readonly haproxyCpuPct: number;
  /** requests / HAProxy CPU seconds: what one proxy core carries of this traffic. */
  readonly reqPerHaproxyCore: number;
  readonly nodeCpuPct: number;
}

export interface FrontRatio {
  readonly file: string;
  readonly connection: (typeof CONNECTION_MODES)[number];
  /** https req/s ÷ http req/s. */
  readonly reqPerSec: number;
  /** https req/s per HAProxy core ÷ http's: the proxy CPU TLS costs. */
  readonly reqPerHaproxyCore: number;
}

/** HTTPS/HTTP for every file and connection mode, from runs of the same invocation. */
export function frontRatios(runs: readonly FrontRun[]): FrontRatio[] {
  const out: FrontRatio[] = [];
  for (const f of FRONT_FILES)
    for (const connection of CONNECTION_MODES) {
      const pick = (scheme: FrontRun['scheme']): FrontRun | undefined => runs.find((r) => r.file === f.label && r.connection === connection && r.scheme === scheme);
      const http = pick('http');
      const https = pick('https');
      if (http !== undefined && https !== undefined) out.push({ file: f.label, connection, reqPerSec: https.reqPerSec / http.reqPerSec, reqPerHaproxyCore: https.reqPerHaproxyCore / http.reqPerHaproxyCore });
    }
  return out;
}

/** What `--json` writes (load-tests/front.json) and RESULTS.md's "TLS at the front" quotes. */
export interface FrontReport {
  readonly schema: 1;
  readonly kind: 'front';
  readonly date: string;
  readonly command: string;
  readonly haproxy: string;
  readonly machine: string;
  readonly node: string;
  /** 1, 5 and 15 minutes, at the start: other work on the machine makes every figure noisier. */
  readonly loadAverage: readonly number[];
  readonly connections: number;
  readonly durationS: number;
  readonly runs: readonly FrontRun[];
  readonly ratios: readonly FrontRatio[];
}

/** RESULTS.md's section from load-tests/front.json, as index-cost-section.ts does for the index cost. */
export function frontSection(): string {
  const path = join(packageRoot(), 'load-tests', 'front.json');
  if (!existsSync(path)) return '';
  const r = readJson(path) as FrontReport;
  const one = (file: string, connection: FrontRun['connection'], scheme: FrontRun['scheme']): FrontRun | undefined => r.runs.find((x) => x.file === file && x.connection === connection && x.scheme === scheme);
  return [
    '',
    '## TLS at the front',
    '',
    `From \`${r.command}\` on ${r.date} (${r.machine}, Node ${r.node}, load average ${r.loadAverage.join(' ')} at the start). ${r.haproxy}, one thread, Mozilla "intermediate" TLS (TLS 1.2 and 1.3, no session tickets), an ECDSA P-256 certificate, in front of one pi-origin node on [::1] with PROXY v2 on the hop; autocannon with ${r.connections} connections, ${r.durationS} s a run, https verified against the certificate. "new connection" sends \`Connection: close\`: a TCP connection, and over https a full handshake, per request.`,
    '',
    '| file | connection | scheme | req/s | MB/s | errors | HAProxy CPU (1 core) | req/s per HAProxy core | node CPU |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.runs.map((x) => `| ${x.file} | ${x.connection} | ${x.scheme} | ${fmtInt(x.reqPerSec)} | ${fmtFixed(x.mbytesPerSec, 1)} | ${x.errors} | ${fmtFixed(x.haproxyCpuPct, 0)}% | ${fmtInt(x.reqPerHaproxyCore)} | ${fmtFixed(x.nodeCpuPct, 0)}% |`),
    '',
    'HTTPS/HTTP in the same run:',
    '',
    '| file | connection | req/s | req/s per HAProxy core |',
    '| --- | --- | ---: | ---: |',
    ...r.ratios.map((x) => `| ${x.file} | ${x.connection} | ${fmtFixed(x.reqPerSec, 2)} | ${fmtFixed(x.reqPerHaproxyCore, 2)} |`),
    '',
    ...frontCosts(one('1 KB', 'keep-alive', 'https'), one('1 KB', 'new connection', 'https'), one('200 KB', 'keep-alive', 'https')),
  ].join('\n');
}

/** The three per-core costs `pi-origin plan` takes (docs/capacity.md, "The proxy"), derived from the https runs. */
function frontCosts(small?: FrontRun, fresh?: FrontRun, large?: FrontRun): string[] {
  if (small === undefined || fresh === undefined || large === undefined) return [];
  const request = 1 / small.reqPerHaproxyCore;
  const handshake = 1 / fresh.reqPerHaproxyCore - request;
  const perLarge = 1 / large.reqPerHaproxyCore - request;
  const bytes = (large.mbytesPerSec * 1e6) / large.reqPerSec;
  return [
    'What one HAProxy core does over TLS, for `pi-origin plan`: kept-alive 1 KB requests ' +
      `${fmtInt(1 / request)}/s (\`--proxy-core-rps\`); a handshake costs ${fmtFixed(handshake * 1e6, 0)} µs on top, ${fmtInt(1 / handshake)}/s ` +
      `(\`--proxy-core-handshakes\`); a 200 KB response ${fmtFixed(perLarge * 1e6, 0)} µs more than a 1 KB one, ${fmtInt((bytes * 8) / perLarge / 1e6)} Mbit/s (\`--proxy-core-mbps\`).`,
    'Absolute req/s here are the load generator\'s (autocannon does the client half of every handshake in JavaScript on the same 2 cores, which other work shared): read the per-core figures, which count HAProxy\'s own CPU time (clock ticks: runs where HAProxy used under 2% of a core are rough).',
    '',
  ];
}

/** haproxy.cfg for the bench: the role's backend shape (PROXY v2 to the node), TLS as Mozilla says. */
export function frontConfig(p: { httpPort: number; httpsPort: number; nodePort: number; pem: string }): string {
  return [
    'global',
    '    nbthread 1',
    '    maxconn 4096',
    `    ssl-default-bind-ciphers ${MOZILLA_INTERMEDIATE.ciphers}`,
    `    ssl-default-bind-ciphersuites ${MOZILLA_INTERMEDIATE.ciphersuites}`,
    `    ssl-default-bind-options ${MOZILLA_INTERMEDIATE.options}`,
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-keep-alive 10s',
    'frontend plain',
    `    bind [::1]:${p.httpPort}`,
    '    default_backend origins',
    'frontend tls',
    `    bind [::1]:${p.httpsPort} ssl crt ${p.pem} alpn h2,http/1.1`,
    '    default_backend origins',
    'backend origins',
    `    server node1 [::1]:${p.nodePort} send-proxy-v2`,
    '',
  ].join('\n');
}

interface Args {
  readonly durationS: number;
  readonly connections: number;
  readonly json: string | undefined;
}

function parse(argv: readonly string[]): Args {
  const { values } = parseArgs({ args: [...argv], options: { duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' }, json: { type: 'string' } } });
  const durationS = Number(values.duration);
  const connections = Number(values.connections);
  if (!Number.isInteger(durationS) || durationS < 1 || durationS > 600) throw new BenchError(`--duration must be whole seconds from 1 to 600 (got ${JSON.stringify(values.duration)})`);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1000) throw new BenchError(`--connections must be from 1 to 1000 (got ${JSON.stringify(values.connections)})`);
  return { durationS, connections, json: values.json };
}

async function waitLine(p: Spawned, pattern: RegExp, what: string): Promise<void> {
  let seen = false;
  p.onLine((l) => {
    if (pattern.test(l)) seen = true;
  });
  const deadline = Date.now() + 20_000;
  while (!seen) {
    if (!p.isRunning()) throw new BenchError(`${what} exited during start-up:\n${p.tail()}`);
    if (Date.now() > deadline) throw new BenchError(`${what} did not start within 20 s:\n${p.tail()}`);
    await sleep(50);
  }
}

/** One autocannon run in its own process; HAProxy's and the node's CPU ticks around it. */
async function measure(a: { runner: string; url: string; ca: string; connections: number; durationS: number; reconnect: boolean; haproxy: Spawned; node: Spawned }): Promise<Omit<FrontRun, 'file' | 'connection' | 'scheme'>> {
  const argv = [a.runner, '--url', a.url, '--connections', String(a.connections), '--duration', String(a.durationS), '--ca', a.ca, ...(a.reconnect ? ['--close'] : [])];
  const h0 = treeCpuTicks(a.haproxy.pid);
  const n0 = treeCpuTicks(a.node.pid);
  const t0 = performance.now();
  const run = spawnTracked(process.execPath, argv, { group: false });
  let json: string | undefined;
  run.onLine((l) => {
    if (l.startsWith('AUTOCANNON_JSON ')) json = l.slice('AUTOCANNON_JSON '.length);
  });
  const { code } = await run.exited;
  const seconds = (performance.now() - t0) / 1000;
  const hz = clockTicks();
  const haproxyS = (treeCpuTicks(a.haproxy.pid) - h0) / hz;
  const nodeS = (treeCpuTicks(a.node.pid) - n0) / hz;
  if (code !== 0 || json === undefined) throw new BenchError(`autocannon failed on ${a.url} (exit ${code}):\n${run.tail()}`);
  const r = JSON.parse(json) as { requests: number; reqPerSec: number; bytesPerSec: number; non2xx3xx: number; socketErrors: { read: number; timeout: number } };
  return {
    requests: r.requests,
    reqPerSec: r.reqPerSec,
    mbytesPerSec: r.bytesPerSec / 1e6,
    errors: r.non2xx3xx + r.socketErrors.read + r.socketErrors.timeout,
    haproxyCpuPct: (100 * haproxyS) / seconds,
    reqPerHaproxyCore: haproxyS > 0 ? r.requests / haproxyS : Number.NaN,
    nodeCpuPct: (100 * nodeS) / seconds,
  };
}

function table(runs: readonly FrontRun[]): string {
  const head = ['file', 'connection', 'scheme', 'req/s', 'MB/s', 'errors', 'HAProxy CPU', 'req/s per HAProxy core', 'node CPU'];
  const rows = runs.map((r) => [r.file, r.connection, r.scheme, fmtInt(r.reqPerSec), fmtFixed(r.mbytesPerSec, 1), String(r.errors), `${fmtFixed(r.haproxyCpuPct, 0)}%`, fmtInt(r.reqPerHaproxyCore), `${fmtFixed(r.nodeCpuPct, 0)}%`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  const haproxyBin = which('haproxy');
  if (haproxyBin === undefined) throw new BenchError('haproxy is not installed (Debian: apt-get install haproxy)');
  if (which('openssl') === undefined) throw new BenchError('openssl is not installed (Debian: apt-get install openssl)');
  const root = packageRoot();
  const cli = join(root, 'dist/cli/main.js');
  const runner = join(root, 'dist/load-tests/bench/autocannon-runner.js');
  const dir = mkdtempSync(join(tmpdir(), 'pi-origin-front-'));
  const spawned: Spawned[] = [];
  const release = cleanUpOnSignal(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const site = join(dir, 'site');
    mkdirSync(site);
    // Random bytes: not compressible, so both schemes carry the same body.
    for (const f of FRONT_FILES) writeFileSync(join(site, f.name), randomBytes(f.bytes));
    // An ECDSA P-256 certificate for [::1], as an ACME client issues by default; HAProxy wants
    // certificate and key in one PEM file, autocannon verifies against the certificate itself.
    const cert = join(dir, 'front.crt.pem');
    const key = join(dir, 'front.key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=front.bench', '-addext', 'subjectAltName=IP:::1'], { stdio: 'ignore' });
    const pem = join(dir, 'front.pem');
    writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));

    const [nodePort, httpPort, httpsPort] = [await freePort(), await freePort(), await freePort()];
    const node = spawnTracked(process.execPath, [cli, 'serve', site, '--listen', `[::1]:${nodePort}`, '--trusted-proxy', '::1/128', '--access-log', 'off'], { group: true });
    spawned.push(node);
    await waitLine(node, /listening on http:/, 'pi-origin');
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, frontConfig({ httpPort, httpsPort, nodePort, pem }));
    const haproxy = spawnTracked(haproxyBin, ['-db', '-f', cfg], { group: true });
    spawned.push(haproxy);
    const version = execFileSync(haproxyBin, ['-v'], { encoding: 'utf8' }).split('\n')[0]?.replace(/ - https?:.*$/, '') ?? 'haproxy';
    for (let i = 0; ; i++) {
      try {
        execFileSync('openssl', ['s_client', '-connect', `[::1]:${httpsPort}`, '-CAfile', cert, '-verify_return_error', '-brief'], { input: '', stdio: ['pipe', 'ignore', 'ignore'], timeout: 5000 });
        break;
      } catch {
        if (!haproxy.isRunning() || i > 100) throw new BenchError(`HAProxy did not come up with TLS on [::1]:${httpsPort}:\n${haproxy.tail()}`);
        await sleep(100);
      }
    }

    const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} cores`;
    const load = loadavg();
    process.stderr.write(`front: ${version}, 1 thread, Mozilla intermediate, ECDSA P-256; pi-origin on [::1]; autocannon, ${args.connections} connections, ${args.durationS} s a run; ${machine}\n`);
    const runs: FrontRun[] = [];
    for (const f of FRONT_FILES)
      for (const connection of CONNECTION_MODES)
        for (const scheme of SCHEMES) {
          const url = `${scheme}://[::1]:${scheme === 'http' ? httpPort : httpsPort}/${f.name}`;
          const m = await measure({ runner, url, ca: cert, connections: args.connections, durationS: args.durationS, reconnect: connection === 'new connection', haproxy, node });
          const run: FrontRun = { file: f.label, connection, scheme, ...m };
          runs.push(run);
          process.stderr.write(`  ${f.label} ${connection} ${scheme}: ${fmtInt(run.reqPerSec)} req/s, HAProxy ${fmtFixed(run.haproxyCpuPct, 0)}%\n`);
        }
    const ratios = frontRatios(runs);
    const lines = [
      `front: ${version} (1 thread, Mozilla intermediate TLS, ECDSA P-256) -> pi-origin on [::1] (PROXY v2); autocannon ${args.connections} connections, ${args.durationS} s a run; ${machine}`,
      table(runs),
      'HTTPS/HTTP, same run:',
      ...ratios.map((r) => `  ${r.file.padEnd(6)} ${r.connection.padEnd(14)} req/s x${fmtFixed(r.reqPerSec, 2)}   req/s per HAProxy core x${fmtFixed(r.reqPerHaproxyCore, 2)}`),
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (args.json !== undefined) {
      const report: FrontReport = { schema: 1, kind: 'front', date: new Date().toISOString(), command: `npm run bench:front -- --duration ${args.durationS} --connections ${args.connections}`, haproxy: version, machine, node: process.version, loadAverage: load.map((l) => +l.toFixed(2)), connections: args.connections, durationS: args.durationS, runs, ratios };
      writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n');
    }
    return runs.some((r) => r.errors > 0) ? 1 : 0;
  } finally {
    for (const s of spawned.reverse()) await stopSpawned(s);
    rmSync(dir, { recursive: true, force: true });
    release();
  }
}

// Run only as a script: the tests import the pure parts (frontConfig, frontRatios).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`bench front: ${e instanceof BenchError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
