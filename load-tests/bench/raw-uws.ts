/**
 * raw-uws: the "how fast can uWebSockets.js go" baseline for the peer benchmark.
 *
 * A deliberately minimal static server: every regular file of --dir is read
 * into a Map<string, Buffer> at start-up and served from memory with the same
 * response header set pi-origin sends (Content-Type, Accept-Ranges, Vary for
 * compressible types, X-Content-Type-Options, Cache-Control, a 32-hex-digit
 * sha256 ETag, Last-Modified), one res.writeHeader call per header. No range requests,
 * no compression, no file watching, no path normalisation beyond an exact map
 * lookup. It is the ceiling pi-origin can approach, not a server to deploy.
 *
 * Usage: node dist/load-tests/bench/raw-uws.js --dir DIR [--host ::1] [--port 0]
 * Prints `http://[<host>]:<port>/` on stdout once listening.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { listeningLine, loadDir, parseServerArgs, type MemoryFile } from './memory-files.js';

const require = createRequire(import.meta.url);

/** Bodies above this size are streamed with tryEnd/onWritable instead of res.end(). */
const STREAM_THRESHOLD = 64 * 1024;

type Entry = MemoryFile;

function fail(msg: string): never {
  process.stderr.write(`raw-uws: ${msg}\n`);
  process.exit(1);
}

function main(): void {
  const args = parseServerArgs('raw-uws');
  if (args === undefined) return;
  const { dir, host, port } = args;

  const uWS = require('uWebSockets.js') as typeof UWS;
  // The packaged fork silently falls back to a pure-Node implementation if the
  // native addon does not load; a benchmark against that would be meaningless.
  if (!String(uWS.App).includes('[native code]')) fail('uWebSockets.js native addon not loaded (JS fallback in use)');

  const files = loadDir(dir);
  const app = uWS.App();

  const writeHeaders = (res: UWS.HttpResponse, f: Entry): void => {
    res.writeStatus('200 OK').writeHeader('Content-Type', f.contentType).writeHeader('Accept-Ranges', 'bytes');
    if (f.vary) res.writeHeader('Vary', 'Accept-Encoding');
    res
      .writeHeader('X-Content-Type-Options', 'nosniff')
      .writeHeader('Cache-Control', f.cacheControl)
      .writeHeader('ETag', f.etag)
      .writeHeader('Last-Modified', f.lastModified);
  };

  const notFound = (res: UWS.HttpResponse): void => {
    res.writeStatus('404 Not Found').writeHeader('Content-Type', 'text/plain; charset=utf-8').end('not found\n');
  };

  app.get('/*', (res, req) => {
    const f = files.get(req.getUrl());
    if (!f) return notFound(res);
    if (req.getHeader('if-none-match') === f.etag) {
      res.writeStatus('304 Not Modified').writeHeader('ETag', f.etag).endWithoutBody();
      return;
    }
    const body = f.body;
    if (body.length <= STREAM_THRESHOLD) {
      writeHeaders(res, f);
      res.end(body);
      return;
    }
    // Backpressure-aware streaming, as in uWS's VideoStreamer example.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    writeHeaders(res, f);
    const startOffset = res.getWriteOffset();
    const [ok, done] = res.tryEnd(body, body.length);
    if (ok || done) return;
    res.onWritable((offset) => {
      if (aborted) return true;
      const [ok2] = res.tryEnd(body.subarray(offset - startOffset), body.length);
      return ok2;
    });
  });

  app.head('/*', (res, req) => {
    const f = files.get(req.getUrl());
    if (!f) return notFound(res);
    writeHeaders(res, f);
    res.endWithoutBody(f.body.length);
  });

  app.any('/*', (res) => {
    res.writeStatus('405 Method Not Allowed').writeHeader('Allow', 'GET, HEAD').end();
  });

  app.listen(host, port, (ls) => {
    if (!ls) fail(`could not listen on [${host}]:${port}`);
    const actual = uWS.us_socket_local_port(ls);
    process.stdout.write(listeningLine('raw-uws', host, actual, `${files.size} files from ${dir}`));
    const stop = (): void => {
      uWS.us_listen_socket_close(ls);
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

main();
