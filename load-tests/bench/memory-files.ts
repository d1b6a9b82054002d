/**
 * The in-memory corpus of the two baseline servers (raw-uws.ts over uWebSockets.js and
 * node-http.ts over node:http): every regular file of a directory read into a Buffer at start,
 * with the header values pi-origin sends for it computed once. Sharing this module is what makes
 * the two baselines send the same header block, so their difference is the HTTP stack alone.
 * It also holds what every peer process shares: its arguments, its listening line and, for the
 * node:http peers, listening until a signal.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { createHash } from 'node:crypto';
import { join, extname, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { isCompressible } from '../../common/compressible.js';
import { cacheControlFor } from './shared.js';

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bin': 'application/octet-stream',
};

export interface MemoryFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly cacheControl: string;
  /** `Vary: Accept-Encoding` is sent for types pi-origin would compress. */
  readonly vary: boolean;
  /** Same shape as pi-origin's strong ETag: 32 hex digits of the body's sha256, quoted. */
  readonly etag: string;
  readonly lastModified: string;
}

/** URL path (`/a/b.png`) -> file, for every regular file under root. */
export function loadDir(root: string): Map<string, MemoryFile> {
  const files = new Map<string, MemoryFile>();
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, d.name);
      if (d.isDirectory()) {
        walk(full);
        continue;
      }
      if (!d.isFile()) continue;
      const st = statSync(full);
      const body = readFileSync(full);
      const contentType = MIME[extname(d.name).toLowerCase()] ?? 'application/octet-stream';
      files.set('/' + relative(root, full).split(sep).join('/'), {
        body,
        contentType,
        cacheControl: cacheControlFor(contentType),
        vary: isCompressible(contentType),
        etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`,
        lastModified: new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString(),
      });
    }
  };
  walk(root);
  return files;
}

/** `--dir DIR [--host ::1] [--port 0]`, as every in-memory peer takes them; undefined after --help. Exits with a one-line error. */
export function parseServerArgs(name: string): { dir: string; host: string; port: number } | undefined {
  const fail = (msg: string): never => {
    process.stderr.write(`${name}: ${msg}\n`);
    process.exit(1);
  };
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        dir: { type: 'string' },
        host: { type: 'string', default: '::1' },
        port: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`usage: ${name} --dir DIR [--host ::1] [--port 0]\n`);
    return undefined;
  }
  if (values.dir === undefined || values.dir === '') return fail('--dir is required');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${values.port}`);
  return { dir: values.dir, host: values.host.replace(/^\[(.*)\]$/, '$1'), port };
}

/** The line the harness waits for: `<name>: ... on http://[host]:port/`. */
export function listeningLine(name: string, host: string, port: number, what: string): string {
  return `${name}: ${what} on http://${host.includes(':') ? `[${host}]` : host}:${port}/\n`;
}

/**
 * Runs a node:http peer: listens on `args`, prints its listening line, and on SIGTERM or SIGINT
 * closes every connection (idle keep-alive ones too) and exits.
 */
export function serveUntilSignalled(server: Server, name: string, args: { readonly host: string; readonly port: number }, what: string): void {
  // uWS and nginx (as configured) never close a busy keep-alive connection; neither does this.
  server.keepAliveTimeout = 60_000;
  server.listen({ host: args.host, port: args.port }, () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : args.port;
    process.stdout.write(listeningLine(name, args.host, port, what));
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
