/**
 * The server on a release directory: it trusts manifest.json (no hashing at start), takes
 * validators and headers from it, honours its redirects, and names the release in every response.
 */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import t from 'tap';
import { request, startServer } from './helpers/server.js';
import { etagFor, sha256 } from './helpers/hash.js';

const MTIME = Date.parse('2025-03-04T05:06:07Z');

function makeRelease(dir: string, id: string, files: Record<string, string>, extra: { redirects?: unknown[]; lie?: string } = {}): void {
  const manifestFiles = Object.entries(files).map(([name, body]) => {
    writeFileSync(join(dir, name), body);
    // Disk times differ from the manifest's: the manifest wins.
    utimesSync(join(dir, name), new Date(), new Date());
    const variants: Record<string, { size: number; sha256: string }> = {};
    if (name.endsWith('.html')) {
      const br = brotliCompressSync(body);
      writeFileSync(join(dir, name + '.br'), br);
      variants['br'] = { size: br.length, sha256: sha256(br) };
    }
    const claimed = name === extra.lie ? 'different bytes' : body;
    return {
      path: '/' + name,
      size: Buffer.byteLength(claimed),
      sha256: sha256(claimed),
      type: name.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
      mtime: MTIME,
      headers: { 'Cache-Control': 'public, max-age=120', 'Surrogate-Key': `release-${id}` },
      variants,
    };
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 1, id, created: '2025-03-04T05:06:07Z', files: manifestFiles, redirects: extra.redirects ?? [] }));
}

t.test('a release is served from its manifest', async (t) => {
  const dir = t.testdir({});
  makeRelease(dir, 'a1b2c3d4e5f6', { 'index.html': '<h1>release</h1>\n', 'a.txt': 'hello\n', 'liar.txt': 'on disk\n' }, {
    redirects: [
      { from: '/old', to: '/a.txt', status: 301 },
      { from: '/temp', to: 'https://example.org/x', status: 302 },
      { from: '/moved', to: '/index.html', status: 308 },
      { from: '/elsewhere', to: '/a.txt', status: 307 },
      { from: '/a.txt', to: '/index.html', status: 301 },
    ],
    lie: 'liar.txt',
  });
  const { port } = await startServer(t, dir);

  const a = await request(port, '/a.txt');
  t.equal(a.status, 200);
  t.equal(a.body.toString(), 'hello\n');
  t.equal(a.headers['etag'], etagFor('hello\n'));
  t.equal(a.headers['last-modified'], new Date(MTIME).toUTCString(), 'Last-Modified from the manifest, not the disk');
  t.equal(a.headers['cache-control'], 'public, max-age=120');
  t.equal(a.headers['surrogate-key'], 'release-a1b2c3d4e5f6');
  t.equal(a.headers['x-origin-release'], 'a1b2c3d4e5f6');

  const br = await request(port, '/', { headers: { 'Accept-Encoding': 'br' } });
  t.equal(br.headers['content-encoding'], 'br');
  t.equal(br.headers['x-origin-release'], 'a1b2c3d4e5f6');

  const notModified = await request(port, '/a.txt', { headers: { 'If-None-Match': a.headers['etag'] as string } });
  t.equal(notModified.status, 304);
  t.equal(notModified.headers['x-origin-release'], 'a1b2c3d4e5f6');

  const missing = await request(port, '/nope');
  t.equal(missing.status, 404);
  t.equal(missing.headers['x-origin-release'], 'a1b2c3d4e5f6');
  t.equal((await request(port, '/manifest.json')).status, 404, 'the manifest itself is not published');

  // Permanent redirects may be shared for a minute; temporary ones may change with the next
  // release, so no cache keeps them.
  for (const [from, status, location, cacheControl] of [
    ['/old', 301, '/a.txt', 'public, max-age=60'],
    ['/temp', 302, 'https://example.org/x', 'no-store'],
    ['/moved', 308, '/index.html', 'public, max-age=60'],
    ['/elsewhere', 307, '/a.txt', 'no-store'],
  ] as const) {
    const r = await request(port, from);
    t.equal(r.status, status, `${from} status`);
    t.equal(r.headers['location'], location, `${from} location`);
    t.equal(r.headers['cache-control'], cacheControl, `${from}: Cache-Control ${cacheControl}`);
    t.equal(r.headers['x-origin-release'], 'a1b2c3d4e5f6');
  }
  t.equal((await request(port, '/old?x=1')).headers['location'], '/a.txt?x=1', 'query kept on a path redirect');
  t.equal((await request(port, '/a.txt')).status, 200, 'a file wins over a redirect at its path');

  const health = await request(port, '/_origin/health');
  t.equal(health.body.toString(), 'ok a1b2c3d4e5f6\n');

  // Trusted, not hashed at start: the manifest's hash gives the ETag even though the disk disagrees...
  const liarHead = await request(port, '/liar.txt', { method: 'HEAD' });
  t.equal(liarHead.headers['etag'], etagFor('different bytes'));
  // ...and the body check on load refuses to send bytes that disagree with those headers.
  const liar = await request(port, '/liar.txt');
  t.equal(liar.status, 503);
  t.notMatch(liar.body.toString(), /on disk/);
});

t.test('a corrupt manifest is a clear start error', async (t) => {
  const dir = t.testdir({ 'manifest.json': '{"format": 1, "id": "nothex"}' });
  await t.rejects(startServer(t, dir), { name: 'StartError', message: /manifest\.json: id must be 12 hex digits/ });
});
