/**
 * sirv: Lukeed's static middleware (what Vite and Polka serve with) over node:http, in
 * production mode: the tree is walked once at start and each file's headers are built then;
 * bodies are streamed from disk per request (sirv has no memory cache). ETag on and a maxAge,
 * as a user would configure it; setHeaders adds the rest of pi-origin's header policy
 * (nosniff, Accept-Ranges, Vary and the shorter Cache-Control for HTML), which costs sirv one
 * header-object copy per request, as it would for that user.
 *
 * Usage: node dist/load-tests/bench/sirv-server.js --dir DIR [--host ::1] [--port 0]
 */
import { createServer } from 'node:http';
import sirv from 'sirv';
import { parseServerArgs, serveUntilSignalled } from './memory-files.js';
import { CACHE_DEFAULT_MAX_AGE_S, CACHE_HTML } from './shared.js';

function main(): void {
  const args = parseServerArgs('sirv');
  if (!args) return;
  const serve = sirv(args.dir, {
    dev: false,
    etag: true,
    maxAge: CACHE_DEFAULT_MAX_AGE_S,
    gzip: false,
    brotli: false,
    setHeaders: (res, pathname) => {
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (pathname.endsWith('.html')) {
        res.setHeader('Vary', 'Accept-Encoding');
        res.setHeader('Cache-Control', CACHE_HTML);
      }
    },
  });
  const server = createServer((req, res) => serve(req, res));
  serveUntilSignalled(server, 'sirv', args, `files from ${args.dir}`);
}

main();
