/**
 * node-http: "Node without uWS", the baseline that tells how much of pi-origin's speed is
 * uWebSockets.js. node:http serving the same in-memory Buffers as raw-uws.ts, with the same
 * header block (memory-files.ts), built once per file as a flat array so a request costs one
 * Map.get, one writeHead and one end(). node:http adds Date, Connection and Keep-Alive itself.
 * Large bodies go out in one end(): node:http queues the Buffer and writes it as the socket drains.
 *
 * Usage: node dist/load-tests/bench/node-http.js --dir DIR [--host ::1] [--port 0]
 * Prints `node-http: N files from DIR on http://[<host>]:<port>/` once listening.
 */
import { createServer } from 'node:http';
import { loadDir, parseServerArgs, serveUntilSignalled } from './memory-files.js';

interface Prepared {
  readonly body: Buffer;
  readonly etag: string;
  /** Name, value, name, value, ...: writeHead takes it as is, no per-request object. */
  readonly headers: readonly string[];
}

function prepare(dir: string): Map<string, Prepared> {
  const out = new Map<string, Prepared>();
  for (const [path, f] of loadDir(dir)) {
    const headers = ['Content-Type', f.contentType, 'Accept-Ranges', 'bytes'];
    if (f.vary) headers.push('Vary', 'Accept-Encoding');
    headers.push(
      'X-Content-Type-Options', 'nosniff',
      'Cache-Control', f.cacheControl,
      'ETag', f.etag,
      'Last-Modified', f.lastModified,
      'Content-Length', String(f.body.length),
    );
    out.set(path, Object.freeze({ body: f.body, etag: f.etag, headers: Object.freeze(headers) }));
  }
  return out;
}

function main(): void {
  const args = parseServerArgs('node-http');
  if (!args) return;
  const files = prepare(args.dir);
  const server = createServer((req, res) => {
    const f = req.url === undefined ? undefined : files.get(req.url);
    if (f === undefined) {
      res.writeHead(404, ['Content-Type', 'text/plain; charset=utf-8']).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, ['Allow', 'GET, HEAD']).end();
      return;
    }
    if (req.headers['if-none-match'] === f.etag) {
      res.writeHead(304, ['ETag', f.etag]).end();
      return;
    }
    // writeHead's types want a mutable array; the frozen one is only read.
    res.writeHead(200, f.headers as string[]);
    if (req.method === 'HEAD') res.end();
    else res.end(f.body);
  });
  serveUntilSignalled(server, 'node-http', args, `${files.size} files from ${args.dir}`);
}

main();
