/**
 * Serving behaviour over real HTTP/1.1: methods, validators and conditional requests, ranges,
 * precompressed variants, content types, directories, 404s and Cache-Control rules.
 * Every check asserts exact status, exact header values and exact body bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request, startServer } from './helpers/server.js';
import { precompress, pseudoRandom } from './helpers/site.js';
import { LAST_MODIFIED, MTIME, expectHeadLikeGet, expectResponse, get, head, setMtime } from './helpers/serving.js';
import { etagFor } from './helpers/hash.js';

// The groups share nothing (each has its own content tree and server), so they may run side by side.
t.jobs = 4;

const CACHE_HTML = 'public, max-age=60, must-revalidate';
const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
const CACHE_DEFAULT = 'public, max-age=3600';
const HTML = 'text/html; charset=utf-8';
const TEXT = 'text/plain; charset=utf-8';
const ETAG_SYNTAX = /^"[0-9a-f]{32}"$/;

/** A compressible page, long enough that its compressed forms are many bytes. */
const PAGE = `<!doctype html>\n<title>page</title>\n<p>${'lorem ipsum dolor sit amet '.repeat(40)}</p>\n`;
/** Bytes that are not a real image: only the extension decides the type. */
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3, 4, 5, 6, 7]);

/** Writes PAGE as `dir/name` with .br and .gz siblings, all at MTIME; returns the three bodies. */
function pageWithVariants(dir: string, name: string, body: string = PAGE): { identity: Buffer; br: Buffer; gzip: Buffer } {
  writeFileSync(join(dir, name), body);
  precompress(dir, name, body, MTIME);
  return { identity: Buffer.from(body), br: readFileSync(join(dir, name + '.br')), gzip: readFileSync(join(dir, name + '.gz')) };
}

t.test('methods: GET, HEAD, OPTIONS and the rest', async (t) => {
  const dir = t.testdir({ 'index.html': PAGE, 'a.txt': 'hello\n', 'logo.png': PNG, '404.html': '<h1>gone</h1>\n', docs: { 'index.html': '<h1>docs</h1>\n' } });
  setMtime(dir, ['index.html', 'a.txt', 'logo.png', '404.html', 'docs/index.html']);
  precompress(dir, 'index.html', PAGE, MTIME);
  const { port, node } = await startServer(t, dir);
  const release = node.releaseId();

  t.test('HEAD has the same headers as GET and an empty body', async (t) => {
    await expectHeadLikeGet(t, port, '/a.txt');
    await expectHeadLikeGet(t, port, '/index.html');
    await expectHeadLikeGet(t, port, '/index.html', { 'Accept-Encoding': 'br, gzip' });
    await expectHeadLikeGet(t, port, '/index.html', { 'Accept-Encoding': 'gzip' });
    await expectHeadLikeGet(t, port, '/logo.png');
    await expectHeadLikeGet(t, port, '/');
  });

  t.test('HEAD of a 206, 301, 404 page, 406 and 416 matches GET too', async (t) => {
    await expectHeadLikeGet(t, port, '/a.txt', { Range: 'bytes=1-3' });
    await expectHeadLikeGet(t, port, '/index.html', { Range: 'bytes=1-3', 'Accept-Encoding': 'br' });
    await expectHeadLikeGet(t, port, '/docs');
    await expectHeadLikeGet(t, port, '/missing');
    await expectHeadLikeGet(t, port, '/index.html', { 'Accept-Encoding': '*;q=0' });
    await expectHeadLikeGet(t, port, '/a.txt', { Range: 'bytes=100-' });
  });

  t.test('GET of a file', async (t) => {
    const r = await get(port, '/a.txt');
    expectResponse(t, r, 200, { 'Content-Type': TEXT, 'Content-Length': '6', ETag: etagFor('hello\n'), 'Last-Modified': LAST_MODIFIED }, 'hello\n');
  });

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    t.test(`${method} gives 405 with Allow: GET, HEAD, OPTIONS (OPTIONS is answered too)`, async (t) => {
      const r = await request(port, '/a.txt', { method, headers: { 'Content-Length': '0' } });
      expectResponse(t, r, 405, { Allow: 'GET, HEAD, OPTIONS', 'Content-Type': TEXT, 'Cache-Control': 'no-store', 'X-Origin-Release': release, ETag: undefined }, '405 Method Not Allowed\n');
    });
  }

  t.test('405 also for a path that does not exist', async (t) => {
    const r = await request(port, '/nope', { method: 'POST', headers: { 'Content-Length': '0' } });
    expectResponse(t, r, 405, { Allow: 'GET, HEAD, OPTIONS' }, '405 Method Not Allowed\n');
  });

  t.test('OPTIONS gives 204 with no body', async (t) => {
    const r = await request(port, '/a.txt', { method: 'OPTIONS' });
    expectResponse(t, r, 204, { Allow: 'GET, HEAD, OPTIONS', 'Content-Type': undefined, 'X-Origin-Release': release }, '');
  });
});

t.test('validators and conditional requests', async (t) => {
  const dir = t.testdir({ 'a.txt': 'same bytes\n', 'b.txt': 'same bytes\n', 'c.txt': 'other bytes\n', 'logo.png': PNG });
  setMtime(dir, ['a.txt', 'b.txt', 'c.txt', 'logo.png']);
  const page = pageWithVariants(dir, 'index.html');
  const { port } = await startServer(t, dir);
  const tag = etagFor(page.identity);
  const brTag = etagFor(page.br);
  const notModifiedHtml = { ETag: tag, 'Last-Modified': LAST_MODIFIED, 'Cache-Control': CACHE_HTML, Vary: 'Accept-Encoding', 'Content-Type': undefined, 'Content-Encoding': undefined };

  t.test('ETag is strong, content-derived and the same for identical bytes', async (t) => {
    const [a, b, c] = await Promise.all([get(port, '/a.txt'), get(port, '/b.txt'), get(port, '/c.txt')]);
    t.match(a.headers['etag'], ETAG_SYNTAX);
    t.equal(a.headers['etag'], etagFor('same bytes\n'));
    t.equal(b.headers['etag'], a.headers['etag'], 'identical bytes, identical ETag');
    t.equal(c.headers['etag'], etagFor('other bytes\n'));
    t.not(c.headers['etag'], a.headers['etag'], 'different bytes, different ETag');
  });

  t.test('each representation has its own ETag', async (t) => {
    const identity = await get(port, '/index.html');
    const br = await get(port, '/index.html', { 'Accept-Encoding': 'br' });
    const gzip = await get(port, '/index.html', { 'Accept-Encoding': 'gzip' });
    t.equal(identity.headers['etag'], tag);
    t.equal(br.headers['etag'], brTag);
    t.equal(gzip.headers['etag'], etagFor(page.gzip));
    for (const r of [identity, br, gzip]) t.match(r.headers['etag'], ETAG_SYNTAX);
    t.equal(new Set([identity.headers['etag'], br.headers['etag'], gzip.headers['etag']]).size, 3, 'three distinct ETags');
  });

  t.test('Last-Modified is the file mtime as an HTTP-date', async (t) => {
    t.equal((await get(port, '/a.txt')).headers['last-modified'], LAST_MODIFIED);
    t.equal((await get(port, '/index.html', { 'Accept-Encoding': 'br' })).headers['last-modified'], LAST_MODIFIED);
    t.equal((await get(port, '/logo.png')).headers['last-modified'], LAST_MODIFIED);
  });

  for (const [name, inm] of [
    ['the exact tag', tag],
    ['a weak tag', `W/${tag}`],
    ['a list holding the weak tag', `"a", W/${tag}`],
    ['a list holding the tag', `"a", ${tag}, "b"`],
    ['*', '*'],
  ] as const) {
    t.test(`If-None-Match with ${name} gives 304`, async (t) => {
      const r = await get(port, '/index.html', { 'If-None-Match': inm });
      expectResponse(t, r, 304, notModifiedHtml, '');
    });
  }

  t.test('HEAD with a matching If-None-Match gives 304', async (t) => {
    const r = await head(port, '/index.html', { 'If-None-Match': tag });
    expectResponse(t, r, 304, notModifiedHtml, '');
  });

  t.test('If-None-Match with a non-matching tag gives 200', async (t) => {
    const r = await get(port, '/index.html', { 'If-None-Match': '"00000000000000000000000000000000"' });
    expectResponse(t, r, 200, { ETag: tag, 'Content-Type': HTML, 'Content-Length': String(page.identity.length) }, page.identity);
  });

  t.test('If-None-Match with the identity tag does not match the br representation', async (t) => {
    const r = await get(port, '/index.html', { 'If-None-Match': tag, 'Accept-Encoding': 'br' });
    expectResponse(t, r, 200, { ETag: brTag, 'Content-Encoding': 'br', Vary: 'Accept-Encoding' }, page.br);
  });

  t.test('If-None-Match with the br tag gives 304 for the br representation', async (t) => {
    const r = await get(port, '/index.html', { 'If-None-Match': brTag, 'Accept-Encoding': 'br' });
    expectResponse(t, r, 304, { ...notModifiedHtml, ETag: brTag }, '');
  });

  t.test('304 of an image has no Vary', async (t) => {
    const r = await get(port, '/logo.png', { 'If-None-Match': etagFor(PNG), 'Accept-Encoding': 'br, gzip' });
    expectResponse(t, r, 304, { ETag: etagFor(PNG), 'Last-Modified': LAST_MODIFIED, 'Cache-Control': CACHE_DEFAULT, Vary: undefined, 'Content-Type': undefined }, '');
  });

  for (const [name, ims] of [
    ['equal to the mtime', LAST_MODIFIED],
    ['after the mtime', 'Tue, 05 Mar 2024 05:06:07 GMT'],
  ] as const) {
    t.test(`If-Modified-Since ${name} gives 304`, async (t) => {
      const r = await get(port, '/index.html', { 'If-Modified-Since': ims });
      expectResponse(t, r, 304, notModifiedHtml, '');
    });
  }

  for (const [name, ims] of [
    ['one second before the mtime', 'Mon, 04 Mar 2024 05:06:06 GMT'],
    ['that is not a date', 'not a date'],
  ] as const) {
    t.test(`If-Modified-Since ${name} gives 200`, async (t) => {
      const r = await get(port, '/index.html', { 'If-Modified-Since': ims });
      expectResponse(t, r, 200, { ETag: tag, 'Last-Modified': LAST_MODIFIED, 'Content-Type': HTML }, page.identity);
    });
  }

  t.test('a non-matching If-None-Match wins over a matching If-Modified-Since', async (t) => {
    const r = await get(port, '/index.html', { 'If-None-Match': '"a"', 'If-Modified-Since': LAST_MODIFIED });
    expectResponse(t, r, 200, { ETag: tag, 'Content-Type': HTML }, page.identity);
  });
});

t.test('ranges', async (t) => {
  const BODY = '0123456789abcdefghijklmnopqrstuvwxyz';
  const SIZE = BODY.length;
  // Bigger than one write (64 KiB) but cached: served with tryEnd and backpressure.
  const mid = pseudoRandom(200 * 1024, 7);
  const dir = t.testdir({ 'r.txt': BODY, 'mid.bin': mid, 'wed.txt': BODY });
  setMtime(dir, ['r.txt', 'mid.bin']);
  // A Last-Modified date that starts with W (like a weak ETag does).
  const WEDNESDAY = 'Wed, 06 Mar 2024 05:06:07 GMT';
  setMtime(dir, ['wed.txt'], new Date(WEDNESDAY));
  const page = pageWithVariants(dir, 'index.html');
  const { port, node } = await startServer(t, dir);
  const tag = etagFor(BODY);
  /** Every 416 names the range it could not serve, is not stored, and names its release like any answer. */
  const unsatisfiable = (size: number) => ({ 'Content-Range': `bytes */${size}`, 'Content-Type': TEXT, 'Cache-Control': 'no-store', 'X-Origin-Release': node.releaseId() });
  const partial = (start: number, end: number) => ({
    'Content-Range': `bytes ${start}-${end}/${SIZE}`,
    'Content-Length': String(end - start + 1),
    'Content-Type': TEXT,
    ETag: tag,
    'Last-Modified': LAST_MODIFIED,
    'Cache-Control': CACHE_DEFAULT,
    Vary: 'Accept-Encoding',
  });
  const full = { 'Content-Range': undefined, 'Content-Length': String(SIZE), ETag: tag };

  for (const [range, start, end] of [
    ['bytes=0-9', 0, 9],
    ['bytes=10-', 10, SIZE - 1],
    ['bytes=-5', SIZE - 5, SIZE - 1],
    ['bytes=30-1000', 30, SIZE - 1],
    ['bytes=35-35', 35, 35],
    ['bytes=-1000', 0, SIZE - 1],
  ] as const) {
    t.test(`${range} gives 206 with the slice`, async (t) => {
      const r = await get(port, '/r.txt', { Range: range });
      expectResponse(t, r, 206, partial(start, end), BODY.slice(start, end + 1));
    });
  }

  t.test('HEAD with a range gives 206 headers and no body', async (t) => {
    const r = await head(port, '/r.txt', { Range: 'bytes=0-9' });
    expectResponse(t, r, 206, partial(0, 9), '');
  });

  for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 10}-${SIZE + 20}`, 'bytes=-0']) {
    t.test(`${range} gives 416`, async (t) => {
      const r = await get(port, '/r.txt', { Range: range });
      expectResponse(t, r, 416, unsatisfiable(SIZE));
    });
  }

  for (const range of ['bytes=5-1', 'bytes=abc', 'items=0-1', 'bytes=-', 'bytes=0-1,4-5']) {
    t.test(`${range} is ignored: 200 with the full body`, async (t) => {
      const r = await get(port, '/r.txt', { Range: range });
      expectResponse(t, r, 200, full, BODY);
    });
  }

  t.test('more than 16 ranges gives 416', async (t) => {
    const many = 'bytes=' + Array.from({ length: 17 }, (_, i) => `${i}-${i}`).join(',');
    const r = await get(port, '/r.txt', { Range: many });
    expectResponse(t, r, 416, unsatisfiable(SIZE));
  });

  t.test('exactly 16 ranges is still a 200 full body', async (t) => {
    const sixteen = 'bytes=' + Array.from({ length: 16 }, (_, i) => `${i}-${i}`).join(',');
    const r = await get(port, '/r.txt', { Range: sixteen });
    expectResponse(t, r, 200, full, BODY);
  });

  t.test('If-Range with the matching ETag honours the range', async (t) => {
    const r = await get(port, '/r.txt', { Range: 'bytes=0-9', 'If-Range': tag });
    expectResponse(t, r, 206, partial(0, 9), BODY.slice(0, 10));
  });

  t.test('If-Range with the exact Last-Modified date honours the range', async (t) => {
    const r = await get(port, '/r.txt', { Range: 'bytes=0-9', 'If-Range': LAST_MODIFIED });
    expectResponse(t, r, 206, partial(0, 9), BODY.slice(0, 10));
  });

  t.test('If-Range with the exact Last-Modified date honours the range on a Wednesday too', async (t) => {
    const r = await get(port, '/wed.txt', { Range: 'bytes=0-9', 'If-Range': WEDNESDAY });
    expectResponse(t, r, 206, { ...partial(0, 9), 'Last-Modified': WEDNESDAY }, BODY.slice(0, 10));
  });

  for (const [name, ifRange] of [
    ['a different ETag', '"00000000000000000000000000000000"'],
    ['the weak form of the ETag', `W/${tag}`],
    ['another date', 'Tue, 05 Mar 2024 05:06:07 GMT'],
  ] as const) {
    t.test(`If-Range with ${name} gives 200 with the full body`, async (t) => {
      const r = await get(port, '/r.txt', { Range: 'bytes=0-9', 'If-Range': ifRange });
      expectResponse(t, r, 200, full, BODY);
    });
  }

  t.test('a range on the br representation slices the compressed bytes', async (t) => {
    const r = await get(port, '/index.html', { Range: 'bytes=0-9', 'Accept-Encoding': 'br' });
    expectResponse(
      t,
      r,
      206,
      {
        'Content-Encoding': 'br',
        'Content-Range': `bytes 0-9/${page.br.length}`,
        'Content-Length': '10',
        'Content-Type': HTML,
        ETag: etagFor(page.br),
        Vary: 'Accept-Encoding',
      },
      page.br.subarray(0, 10),
    );
  });

  t.test('a suffix range on the gzip representation', async (t) => {
    const r = await get(port, '/index.html', { Range: 'bytes=-8', 'Accept-Encoding': 'gzip' });
    const size = page.gzip.length;
    expectResponse(t, r, 206, { 'Content-Encoding': 'gzip', 'Content-Range': `bytes ${size - 8}-${size - 1}/${size}`, Vary: 'Accept-Encoding' }, page.gzip.subarray(size - 8));
  });

  t.test('a range beyond the br representation is 416 with its size', async (t) => {
    const r = await get(port, '/index.html', { Range: `bytes=${page.br.length}-`, 'Accept-Encoding': 'br' });
    expectResponse(t, r, 416, unsatisfiable(page.br.length));
  });

  t.test('a 200 KiB cached body: a range from a cold cache, then a warm one, then the full body', async (t) => {
    for (const when of ['cold', 'warm']) {
      const r = await get(port, '/mid.bin', { Range: 'bytes=1000-150999' });
      expectResponse(t, r, 206, { 'Content-Range': `bytes 1000-150999/${mid.length}`, 'Content-Length': '150000', 'Content-Type': 'application/octet-stream' }, mid.subarray(1000, 151000));
      t.pass(`${when} cache`);
    }
    const r = await get(port, '/mid.bin');
    expectResponse(t, r, 200, { 'Content-Length': String(mid.length), ETag: etagFor(mid) }, mid);
  });
});

t.test('ranges on a file streamed from disk', async (t) => {
  const big = pseudoRandom(300 * 1024);
  const SIZE = big.length;
  const dir = t.testdir({ 'big.bin': big, 'small.txt': 'small\n' });
  setMtime(dir, ['big.bin', 'small.txt']);
  const { port } = await startServer(t, dir, { cacheMaxFile: '64KiB', cacheSize: '1MiB' });
  const tag = etagFor(big);

  t.test('full GET returns exactly the bytes', async (t) => {
    const r = await get(port, '/big.bin');
    expectResponse(t, r, 200, { 'Content-Length': String(SIZE), 'Content-Type': 'application/octet-stream', ETag: tag, 'Last-Modified': LAST_MODIFIED, 'Accept-Ranges': 'bytes', 'Content-Range': undefined, Vary: undefined }, big);
  });

  t.test('HEAD matches GET', async (t) => {
    await expectHeadLikeGet(t, port, '/big.bin');
    await expectHeadLikeGet(t, port, '/big.bin', { Range: 'bytes=100-199' });
  });

  for (const [range, start, end] of [
    ['bytes=0-9', 0, 9],
    ['bytes=100000-299999', 100000, 299999],
    ['bytes=1-', 1, SIZE - 1],
    ['bytes=-1000', SIZE - 1000, SIZE - 1],
    ['bytes=307000-999999', 307000, SIZE - 1],
    ['bytes=262143-262144', 262143, 262144],
  ] as const) {
    t.test(`${range} streams the exact slice`, async (t) => {
      const r = await get(port, '/big.bin', { Range: range });
      expectResponse(t, r, 206, { 'Content-Range': `bytes ${start}-${end}/${SIZE}`, 'Content-Length': String(end - start + 1), ETag: tag }, big.subarray(start, end + 1));
    });
  }

  t.test('If-Range with the ETag honours a range on a streamed file', async (t) => {
    const r = await get(port, '/big.bin', { Range: 'bytes=5-14', 'If-Range': tag });
    expectResponse(t, r, 206, { 'Content-Range': `bytes 5-14/${SIZE}` }, big.subarray(5, 15));
  });

  t.test('an unsatisfiable range on a streamed file is 416', async (t) => {
    const r = await get(port, '/big.bin', { Range: `bytes=${SIZE}-` });
    expectResponse(t, r, 416, { 'Content-Range': `bytes */${SIZE}` });
  });

  t.test('small files are still served from the cache', async (t) => {
    const r = await get(port, '/small.txt');
    expectResponse(t, r, 200, { 'Content-Length': '6' }, 'small\n');
  });
});

t.test('precompressed variants', async (t) => {
  const dir = t.testdir({ 'logo.png': PNG });
  setMtime(dir, ['logo.png']);
  const page = pageWithVariants(dir, 'index.html');
  const STALE = '<p>stale variants</p>\n'.repeat(20);
  const stale = pageWithVariants(dir, 'stale.html', STALE);
  setMtime(dir, ['stale.html.br', 'stale.html.gz'], new Date(MTIME.getTime() - 3600_000));
  // Variants of other bytes, with the source's mtime: they do not decompress to the source.
  const WRONG = '<p>the real page</p>\n'.repeat(20);
  writeFileSync(join(dir, 'wrong.html'), WRONG);
  precompress(dir, 'wrong.html', '<p>some other page</p>\n'.repeat(20), MTIME);
  // One good variant (gzip) and one stale one (br).
  const MIXED = '<p>mixed</p>\n'.repeat(20);
  const mixed = pageWithVariants(dir, 'mixed.html', MIXED);
  setMtime(dir, ['mixed.html.br'], new Date(MTIME.getTime() - 1000));
  const { port } = await startServer(t, dir);
  const bodies = { br: page.br, gzip: page.gzip, identity: page.identity };

  for (const [ae, want] of [
    ['br, gzip', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0.5, br;q=0.9', 'br'],
    ['gzip;q=0.9, br;q=0.5', 'gzip'],
    ['*', 'br'],
    ['identity', 'identity'],
    ['deflate', 'identity'],
    ['', 'identity'],
    [undefined, 'identity'],
  ] as const) {
    t.test(`Accept-Encoding ${ae === undefined ? 'absent' : JSON.stringify(ae)} gives ${want}`, async (t) => {
      const r = await get(port, '/index.html', ae === undefined ? {} : { 'Accept-Encoding': ae });
      const body = bodies[want];
      expectResponse(
        t,
        r,
        200,
        {
          'Content-Encoding': want === 'identity' ? undefined : want,
          'Content-Type': HTML,
          'Content-Length': String(body.length),
          ETag: etagFor(body),
          'Last-Modified': LAST_MODIFIED,
          Vary: 'Accept-Encoding',
          'Cache-Control': CACHE_HTML,
        },
        body,
      );
    });
  }

  for (const ae of ['identity;q=0, deflate', '*;q=0', 'identity;q=0']) {
    t.test(`Accept-Encoding ${JSON.stringify(ae)} with no acceptable variant gives 406`, async (t) => {
      const r = await get(port, '/index.html', { 'Accept-Encoding': ae });
      expectResponse(t, r, 406, { Vary: 'Accept-Encoding', 'Content-Encoding': undefined, ETag: undefined }, '406 Not Acceptable\n');
    });
  }

  t.test('identity;q=0 with an acceptable variant serves the variant', async (t) => {
    const r = await get(port, '/index.html', { 'Accept-Encoding': 'identity;q=0, gzip' });
    expectResponse(t, r, 200, { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' }, page.gzip);
  });

  t.test('Vary on 206 and 304 of a compressible resource', async (t) => {
    const partial = await get(port, '/index.html', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-3' });
    expectResponse(t, partial, 206, { Vary: 'Accept-Encoding', 'Content-Encoding': 'gzip' }, page.gzip.subarray(0, 4));
    const notModified = await get(port, '/index.html', { 'Accept-Encoding': 'gzip', 'If-None-Match': etagFor(page.gzip) });
    expectResponse(t, notModified, 304, { Vary: 'Accept-Encoding', ETag: etagFor(page.gzip) }, '');
    const identity = await get(port, '/index.html', { Range: 'bytes=0-3' });
    expectResponse(t, identity, 206, { Vary: 'Accept-Encoding', 'Content-Encoding': undefined }, page.identity.subarray(0, 4));
  });

  t.test('an image is not negotiated and carries no Vary', async (t) => {
    const requests: Record<string, string>[] = [{ 'Accept-Encoding': 'br, gzip' }, {}];
    for (const headers of requests) {
      const r = await get(port, '/logo.png', headers);
      expectResponse(t, r, 200, { 'Content-Type': 'image/png', Vary: undefined, 'Content-Encoding': undefined }, PNG);
    }
    const partial = await get(port, '/logo.png', { 'Accept-Encoding': 'br', Range: 'bytes=0-3' });
    expectResponse(t, partial, 206, { Vary: undefined }, PNG.subarray(0, 4));
    const notModified = await get(port, '/logo.png', { 'If-None-Match': etagFor(PNG) });
    expectResponse(t, notModified, 304, { Vary: undefined }, '');
  });

  t.test('variants older than their source are not served', async (t) => {
    for (const ae of ['br, gzip', 'br', 'gzip']) {
      const r = await get(port, '/stale.html', { 'Accept-Encoding': ae });
      expectResponse(t, r, 200, { 'Content-Encoding': undefined, ETag: etagFor(stale.identity), Vary: 'Accept-Encoding' }, stale.identity);
    }
  });

  t.test('variants that decompress to other bytes are not served', async (t) => {
    for (const ae of ['br, gzip', 'br', 'gzip']) {
      const r = await get(port, '/wrong.html', { 'Accept-Encoding': ae });
      expectResponse(t, r, 200, { 'Content-Encoding': undefined, ETag: etagFor(WRONG), Vary: 'Accept-Encoding' }, WRONG);
    }
  });

  t.test('a stale br next to a good gzip: gzip is served, br never', async (t) => {
    const r = await get(port, '/mixed.html', { 'Accept-Encoding': 'br, gzip' });
    expectResponse(t, r, 200, { 'Content-Encoding': 'gzip' }, mixed.gzip);
    const brOnly = await get(port, '/mixed.html', { 'Accept-Encoding': 'br' });
    expectResponse(t, brOnly, 200, { 'Content-Encoding': undefined }, mixed.identity);
  });
});

t.test('content types', async (t) => {
  const files = {
    'p.html': '<p>x</p>\n',
    's.css': 'p{}\n',
    'j.js': 'export {};\n',
    't.txt': 'text\n',
    'd.json': '{"a":1}\n',
    'i.png': PNG,
    'x.qqq': 'unknown\n',
    LICENSE: 'no extension\n',
  };
  const dir = t.testdir(files);
  const { port } = await startServer(t, dir);

  for (const [name, type] of [
    ['p.html', 'text/html; charset=utf-8'],
    ['s.css', 'text/css; charset=utf-8'],
    ['j.js', 'text/javascript; charset=utf-8'],
    ['t.txt', 'text/plain; charset=utf-8'],
    ['d.json', 'application/json; charset=utf-8'],
    ['i.png', 'image/png'],
    ['x.qqq', 'application/octet-stream'],
    ['LICENSE', 'application/octet-stream'],
  ] as const) {
    t.test(`${name} is ${type}`, async (t) => {
      const r = await get(port, `/${name}`);
      expectResponse(t, r, 200, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' }, files[name]);
    });
  }
});

t.test('directories and query strings', async (t) => {
  const dir = t.testdir({ 'index.html': '<h1>root</h1>\n', 'a.txt': 'a\n', docs: { 'index.html': '<h1>docs</h1>\n', 'page.txt': 'page\n' } });
  const { port } = await startServer(t, dir);

  t.test('/docs redirects to /docs/', async (t) => {
    const r = await get(port, '/docs');
    expectResponse(t, r, 301, { Location: '/docs/', ETag: undefined }, '');
  });

  t.test('/docs?x=1 keeps the query in the redirect', async (t) => {
    const r = await get(port, '/docs?x=1');
    expectResponse(t, r, 301, { Location: '/docs/?x=1' }, '');
  });

  t.test('/docs/ serves docs/index.html', async (t) => {
    const r = await get(port, '/docs/');
    expectResponse(t, r, 200, { 'Content-Type': HTML, ETag: etagFor('<h1>docs</h1>\n'), 'X-Content-Type-Options': 'nosniff' }, '<h1>docs</h1>\n');
  });

  t.test('/docs/?x=1 serves docs/index.html', async (t) => {
    const r = await get(port, '/docs/?x=1');
    expectResponse(t, r, 200, { 'Content-Type': HTML }, '<h1>docs</h1>\n');
  });

  t.test('/ serves index.html', async (t) => {
    const r = await get(port, '/');
    expectResponse(t, r, 200, { 'Content-Type': HTML, ETag: etagFor('<h1>root</h1>\n'), 'Cache-Control': CACHE_HTML }, '<h1>root</h1>\n');
  });

  for (const path of ['/a.txt?../../etc/passwd', '/a.txt?x=/docs/page.txt', '/a.txt?', '/a.txt?%2e%2e/%2e%2e/etc/passwd']) {
    t.test(`${path} serves a.txt`, async (t) => {
      const r = await get(port, path);
      expectResponse(t, r, 200, { 'Content-Type': TEXT, ETag: etagFor('a\n') }, 'a\n');
    });
  }

  t.test('/?docs/ serves the root index', async (t) => {
    const r = await get(port, '/?docs/');
    expectResponse(t, r, 200, { 'Content-Type': HTML }, '<h1>root</h1>\n');
  });
});

t.test('404 with a custom 404.html', async (t) => {
  const NOT_FOUND = '<!doctype html>\n<h1>Nothing here</h1>\n';
  const dir = t.testdir({ 'index.html': '<h1>root</h1>\n', '404.html': NOT_FOUND });
  const { port } = await startServer(t, dir);

  t.test('a missing path gets the page with status 404', async (t) => {
    const r = await get(port, '/missing/page');
    expectResponse(t, r, 404, { 'Content-Type': HTML, 'Content-Length': String(Buffer.byteLength(NOT_FOUND)), 'X-Content-Type-Options': 'nosniff' }, NOT_FOUND);
  });

  t.test('HEAD of a missing path: 404, no body', async (t) => {
    const r = await head(port, '/missing');
    expectResponse(t, r, 404, { 'Content-Type': HTML, 'Content-Length': String(Buffer.byteLength(NOT_FOUND)) }, '');
  });
});

t.test("the 404 page keeps its own header rules, with a short shared Cache-Control", async (t) => {
  const NOT_FOUND = '<!doctype html>\n<h1>Nothing here</h1>\n';
  const CSP = "default-src 'self'";
  const dir = t.testdir({ 'index.html': '<h1>root</h1>\n', '404.html': NOT_FOUND });
  const { port, node } = await startServer(t, dir, { headers: [{ pattern: '*.html', headers: { 'Content-Security-Policy': CSP, 'X-Frame-Options': 'DENY' } }] });
  const page = {
    'Content-Type': HTML,
    'Content-Security-Policy': CSP,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'X-Origin-Release': node.releaseId(),
  };
  expectResponse(t, await get(port, '/missing'), 404, { ...page, 'Cache-Control': 'public, max-age=60' }, NOT_FOUND);
  expectResponse(t, await head(port, '/missing'), 404, { ...page, 'Cache-Control': 'public, max-age=60', 'Content-Length': String(Buffer.byteLength(NOT_FOUND)) }, '');
  expectResponse(t, await get(port, '/404.html'), 200, { ...page, 'Cache-Control': CACHE_HTML }, NOT_FOUND);
});

t.test('404 without a 404.html', async (t) => {
  const dir = t.testdir({ 'index.html': '<h1>root</h1>\n' });
  const { port } = await startServer(t, dir);

  t.test('a missing path gets plain text', async (t) => {
    const r = await get(port, '/missing');
    expectResponse(t, r, 404, { 'Content-Type': TEXT, 'Content-Length': '14', 'X-Content-Type-Options': 'nosniff', ETag: undefined }, '404 Not Found\n');
  });

  t.test('HEAD of a missing path: 404, no body', async (t) => {
    const r = await head(port, '/missing');
    expectResponse(t, r, 404, { 'Content-Type': TEXT }, '');
    await expectHeadLikeGet(t, port, '/missing');
  });
});

t.test('Cache-Control', (t) => {
  const fixture = {
    'index.html': '<h1>root</h1>\n',
    'app.3f9a1c2b.js': 'export {};\n',
    'logo.png': PNG,
    assets: { 'logo.png': PNG, 'page.html': '<p>asset page</p>\n' },
    docs: { 'index.html': '<h1>docs</h1>\n' },
  };

  t.test('built-in defaults', async (t) => {
    const { port } = await startServer(t, t.testdir(fixture));
    for (const [path, value] of [
      ['/index.html', CACHE_HTML],
      ['/', CACHE_HTML],
      ['/docs/', CACHE_HTML],
      ['/app.3f9a1c2b.js', CACHE_IMMUTABLE],
      ['/logo.png', CACHE_DEFAULT],
      ['/assets/logo.png', CACHE_DEFAULT],
    ] as const) {
      const r = await get(port, path);
      expectResponse(t, r, 200, { 'Cache-Control': value });
    }
  });

  t.test('an operator rule overrides matching paths only', async (t) => {
    const { port } = await startServer(t, t.testdir(fixture), { cacheControl: ['/assets/*=public, max-age=5'] });
    for (const [path, value] of [
      ['/assets/logo.png', 'public, max-age=5'],
      ['/assets/page.html', 'public, max-age=5'],
      ['/logo.png', CACHE_DEFAULT],
      ['/index.html', CACHE_HTML],
      ['/app.3f9a1c2b.js', CACHE_IMMUTABLE],
    ] as const) {
      const r = await get(port, path);
      expectResponse(t, r, 200, { 'Cache-Control': value });
    }
    const notModified = await get(port, '/assets/logo.png', { 'If-None-Match': etagFor(PNG) });
    expectResponse(t, notModified, 304, { 'Cache-Control': 'public, max-age=5' }, '');
  });

  t.test('a header rule adds a header to matching files', async (t) => {
    const { port } = await startServer(t, t.testdir(fixture), { headers: [{ pattern: '*.html', headers: { 'Surrogate-Key': 'site' } }] });
    for (const path of ['/index.html', '/', '/docs/', '/assets/page.html']) {
      const r = await get(port, path);
      expectResponse(t, r, 200, { 'Surrogate-Key': 'site', 'Cache-Control': CACHE_HTML });
    }
    for (const path of ['/logo.png', '/app.3f9a1c2b.js']) {
      const r = await get(port, path);
      expectResponse(t, r, 200, { 'Surrogate-Key': undefined });
    }
    const notModified = await get(port, '/index.html', { 'If-None-Match': etagFor('<h1>root</h1>\n') });
    expectResponse(t, notModified, 304, { 'Surrogate-Key': 'site', 'Cache-Control': CACHE_HTML }, '');
  });
  t.end();
});
