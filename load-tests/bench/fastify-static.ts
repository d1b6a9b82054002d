/**
 * fastify-static: Fastify 5 with @fastify/static, the common "Node framework" way to serve a
 * directory. Each request stats and streams the file (@fastify/send); ETag and Last-Modified on.
 * Cache-Control comes from setHeaders rather than the plugin's maxAge, because the plugin's
 * header would override setHeaders and pi-origin's policy differs for HTML.
 *
 * Usage: node dist/load-tests/bench/fastify-static.js --dir DIR [--host ::1] [--port 0]
 */
import { resolve } from 'node:path';
import Fastify from 'fastify';
import fastifyStatic from '@fastify/static';
import { listeningLine, parseServerArgs } from './memory-files.js';
import { CACHE_DEFAULT, CACHE_HTML } from './shared.js';

async function main(): Promise<void> {
  const args = parseServerArgs('fastify-static');
  if (!args) return;
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
  await app.register(fastifyStatic, {
    root: resolve(args.dir),
    etag: true,
    lastModified: true,
    acceptRanges: true,
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (path.endsWith('.html')) {
        res.setHeader('Vary', 'Accept-Encoding');
        res.setHeader('Cache-Control', CACHE_HTML);
      } else res.setHeader('Cache-Control', CACHE_DEFAULT);
    },
  });
  await app.listen({ host: args.host, port: args.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : args.port;
  process.stdout.write(listeningLine('fastify-static', args.host, port, `files from ${args.dir}`));
  const stop = (): void => {
    void app.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`fastify-static: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
