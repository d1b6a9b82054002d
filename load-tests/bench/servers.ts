/**
 * The servers under test: how to start them, how to know they are ready, and
 * a correctness probe (status, length and sha256 of every body) so that a fast
 * but wrong server can never win the benchmark.
 */
import { get } from 'node:http';
import { createServer, connect } from 'node:net';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchFile } from './content.js';
import { spawnTracked, stopSpawned, processTree, treeThreads, type Spawned } from './procs.js';
import { BenchError, shellJoin, sleep } from './util.js';
import { CACHE_DEFAULT, CACHE_HTML } from './shared.js';

/**
 * Servers `--only` can select, in start order; `pi-origin-w2` and `pi-origin-rules` come with
 * `pi-origin`.
 */
export const PEER_IDS = ['pi-origin', 'raw-uws', 'nginx', 'node-http', 'sirv', 'fastify-static'] as const;
export type PeerId = (typeof PEER_IDS)[number];
export type ServerId = PeerId | 'pi-origin-w2' | 'pi-origin-rules';

/** The peer servers' scripts under dist/load-tests/bench/ (run with node after tsc). */
export const PEER_SCRIPTS: Readonly<Partial<Record<ServerId, string>>> = {
  'raw-uws': 'raw-uws.js',
  'node-http': 'node-http.js',
  sirv: 'sirv-server.js',
  'fastify-static': 'fastify-static.js',
};

/**
 * The npm packages a peer script imports. They are dev dependencies: a source checkout has them
 * after `npm ci`, the installed package (npm install --omit=dev) does not, and the bench runs
 * there with the other peers.
 */
export const PEER_PACKAGES: Readonly<Partial<Record<ServerId, readonly string[]>>> = {
  sirv: ['sirv'],
  'fastify-static': ['fastify', '@fastify/static'],
};

/** The first of `id`'s peer packages that does not resolve from this package, if any. */
export function missingPeerPackage(id: ServerId): string | undefined {
  return PEER_PACKAGES[id]?.find((name) => {
    try {
      import.meta.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}


export interface ServerDef {
  id: ServerId;
  label: string;
  /** taskset CPU list, or undefined for no pinning. */
  cpus: string | undefined;
  /** Which files this server is measured on. */
  measures: (f: BenchFile) => boolean;
  /** Command (before taskset) for a given port. */
  argv: (port: number) => string[];
  /** Substring printed on stdout when listening; undefined = poll the port only. */
  readyLine: ((port: number) => string) | undefined;
  /** Optional per-start preparation (nginx writes its config here). */
  prepare?: (port: number) => void;
}

export interface ProbeInfo {
  file: string;
  status: number;
  /** Size of the status line + header block, bytes (what each response costs on top of the body). */
  headerBytes: number;
  headers: string[];
}

export interface RunningServer {
  def: ServerDef;
  port: number;
  proc: Spawned;
  command: string;
  probes: ProbeInfo[];
  processes: number;
  /** OS threads (includes V8/libuv helper threads, not only request-serving ones). */
  threads: number;
  url: (f: BenchFile) => string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) =>
      reject(new BenchError(`cannot bind [::1]: ${e.code ?? e.message} (is IPv6 loopback enabled?)`)),
    );
    srv.listen({ host: '::1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '::1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const FALLBACK_MARKERS = ['Falling back to a NodeJS implementation', 'Using µWS fallback implementation'];

async function waitReady(def: ServerDef, port: number, p: Spawned, timeoutMs = 20_000): Promise<void> {
  let lineSeen = false;
  let fallback = false;
  const want = def.readyLine?.(port);
  p.onLine((l) => {
    if (want && l.includes(want)) lineSeen = true;
    if (FALLBACK_MARKERS.some((m) => l.includes(m))) fallback = true;
  });
  const deadline = Date.now() + timeoutMs;
  let openSince: number | undefined;
  for (;;) {
    if (fallback)
      throw new BenchError(`${def.label}: uWebSockets.js fell back to its pure-JS implementation; numbers would be meaningless`);
    if (!p.isRunning()) {
      const { code, signal } = await p.exited;
      throw new BenchError(`${def.label} exited during start-up (code ${code}, signal ${signal}):\n${p.tail()}`);
    }
    if (lineSeen) return;
    if (await portOpen(port)) {
      if (!want) return;
      // Port open but no ready line yet: give it a moment (multi-worker start-up), then go anyway.
      openSince ??= Date.now();
      if (Date.now() - openSince > 3000) {
        process.stderr.write(`warning: ${def.label} accepts connections but never printed "${want}"\n`);
        return;
      }
    }
    if (Date.now() > deadline)
      throw new BenchError(`${def.label} did not start listening on [::1]:${port} within ${timeoutMs / 1000}s:\n${p.tail()}`);
    await sleep(100);
  }
}

function fetchOnce(port: number, path: string): Promise<{ status: number; body: Buffer; headerBytes: number; headers: string[] }> {
  return new Promise((resolve, reject) => {
    // Ask for keep-alive so the recorded header block matches what wrk sees.
    const headers = { 'User-Agent': 'pi-origin-bench-probe', Connection: 'keep-alive' };
    const req = get({ host: '::1', port, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        let headerBytes = `HTTP/${res.httpVersion} ${res.statusCode ?? 0} ${res.statusMessage ?? ''}\r\n`.length + 2;
        const lines: string[] = [];
        for (let i = 0; i + 1 < raw.length; i += 2) {
          headerBytes += `${raw[i]}: ${raw[i + 1]}\r\n`.length;
          lines.push(`${raw[i]}: ${raw[i + 1]}`);
        }
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headerBytes, headers: lines });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/** GET every file once and compare with what we wrote. */
async function probe(def: ServerDef, port: number, files: readonly BenchFile[]): Promise<ProbeInfo[]> {
  const out: ProbeInfo[] = [];
  for (const f of files) {
    let r;
    try {
      r = await fetchOnce(port, '/' + f.name);
    } catch (e) {
      throw new BenchError(`${def.label}: probe GET /${f.name} failed: ${(e as Error).message}`);
    }
    if (r.status !== 200) throw new BenchError(`${def.label}: GET /${f.name} returned ${r.status}, expected 200`);
    const sha = createHash('sha256').update(r.body).digest('hex');
    if (r.body.length !== f.bytes || sha !== f.sha256)
      throw new BenchError(`${def.label}: GET /${f.name} returned ${r.body.length} bytes that do not match the file (${f.bytes} bytes)`);
    out.push({ file: f.name, status: r.status, headerBytes: r.headerBytes, headers: r.headers });
  }
  return out;
}

export async function startServer(def: ServerDef, files: readonly BenchFile[], cwd: string): Promise<RunningServer> {
  const port = await freePort();
  def.prepare?.(port);
  const argv = def.argv(port);
  const full = def.cpus === undefined ? argv : ['taskset', '-c', def.cpus, ...argv];
  let proc: Spawned;
  try {
    proc = spawnTracked(full[0] as string, full.slice(1), { group: true, cwd });
  } catch (e) {
    throw new BenchError(`${def.label}: ${(e as Error).message}`);
  }
  try {
    await waitReady(def, port, proc);
    const probes = await probe(def, port, files);
    return {
      def,
      port,
      proc,
      command: shellJoin(full),
      probes,
      processes: processTree(proc.pid).length,
      threads: treeThreads(proc.pid),
      url: (f) => `http://[::1]:${port}/${f.name}`,
    };
  } catch (e) {
    await stopSpawned(proc);
    throw e;
  }
}

// ----------------------------------------------------------- definitions ---

export interface DefsInput {
  pkgRoot: string;
  contentDir: string;
  /** The same files with a `_redirects` at the format's limits (content.ts createRulesSite). */
  rulesDir: string;
  tmpDir: string;
  nginxPath: string | undefined;
  serverCpus: string | undefined;
  allCpus: string | undefined;
  smallFile: string;
}

export function serverDefs(o: DefsInput): Record<ServerId, ServerDef> {
  const node = process.execPath;
  const piMain = join(o.pkgRoot, 'dist/cli/main.js');
  const all = (): boolean => true;
  const ready = (port: number): string => `http://[::1]:${port}/`;
  /** A peer script from PEER_SCRIPTS, pinned like the others, given the content dir and a port. */
  const script = (id: ServerId, label: string): ServerDef => ({
    id,
    label,
    cpus: o.serverCpus,
    measures: all,
    argv: (port) => [node, join(o.pkgRoot, 'dist/load-tests/bench', PEER_SCRIPTS[id] ?? ''), '--dir', o.contentDir, '--host', '::1', '--port', String(port)],
    readyLine: ready,
  });
  const piArgv = (workers: number, dir = o.contentDir) => (port: number) => [
    node,
    piMain,
    'serve',
    dir,
    '--listen',
    `[::1]:${port}`,
    '--workers',
    String(workers),
    '--no-watch',
  ];
  const nginxDir = join(o.tmpDir, 'nginx');
  return {
    'pi-origin': {
      id: 'pi-origin',
      label: 'pi-origin',
      cpus: o.serverCpus,
      measures: all,
      argv: piArgv(1),
      readyLine: ready,
    },
    'pi-origin-w2': {
      id: 'pi-origin-w2',
      label: 'pi-origin --workers 2',
      cpus: o.allCpus,
      measures: (f) => f.name === o.smallFile,
      argv: piArgv(2),
      readyLine: ready,
    },
    'pi-origin-rules': {
      id: 'pi-origin-rules',
      label: 'pi-origin + 2,100 _redirects rules',
      cpus: o.serverCpus,
      measures: (f) => f.name === o.smallFile,
      argv: piArgv(1, o.rulesDir),
      readyLine: ready,
    },
    'raw-uws': script('raw-uws', 'raw-uws'),
    nginx: {
      id: 'nginx',
      label: 'nginx',
      cpus: o.serverCpus,
      measures: all,
      argv: () => [o.nginxPath ?? 'nginx', '-p', nginxDir + '/', '-c', join(nginxDir, 'nginx.conf'), '-e', join(nginxDir, 'error.log')],
      readyLine: undefined,
      prepare: (port) => writeNginxConf(nginxDir, o.contentDir, port),
    },
    'node-http': script('node-http', 'node-http'),
    sirv: script('sirv', 'sirv'),
    'fastify-static': script('fastify-static', 'fastify-static'),
  };
}

export function nginxConf(dir: string, root: string, port: number): string {
  return `# generated by load-tests/bench/servers.ts
worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
    worker_connections 4096;
}

http {
    types {
        text/html html htm;
        image/png png;
        application/octet-stream bin;
    }
    default_type application/octet-stream;
    charset utf-8;

    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    access_log off;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # uWS does not, so lift the limit to compare keep-alive against keep-alive.
    keepalive_requests 10000000;

    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

    # Same Cache-Control / Vary / nosniff policy as pi-origin and raw-uws.
    server {
        listen [::1]:${port};
        root ${root};
        location / {
            add_header X-Content-Type-Options nosniff;
            add_header Cache-Control "${CACHE_DEFAULT}";
        }
        location ~ \\.html?$ {
            add_header Vary Accept-Encoding;
            add_header X-Content-Type-Options nosniff;
            add_header Cache-Control "${CACHE_HTML}";
        }
    }
}
`;
}

function writeNginxConf(dir: string, root: string, port: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, root, port));
}
