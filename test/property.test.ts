/**
 * Property-based tests (fast-check) for the three parsers that read hostile input: path
 * normalisation, `Range: bytes=` and Accept-Encoding. The pure modules are imported from the
 * TypeScript sources; the 206 property also runs against the built server, over a cached file
 * and a streamed one, so the slicing in handler.ts and send.ts is checked, not only the parser.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { BR, chooseEncoding, GZIP, IDENTITY, NONE, parseAcceptEncoding } from '../server/encoding.js';
import { normalisePath } from '../index/path.js';
import { buildLookup, FileEntry, StatusPage } from '../index/lookup.js';
import { routeProblem, routeTargetProblem, type RouteRule } from '../content/redirects-file.js';
import { pathProblem } from '../content/servable.js';
import type { SiteIndex } from '../content/site-index.js';
import { MAX_RANGES, parseRange } from '../server/range.js';
import { request, startServer } from './helpers/server.js';

/** A fixed seed so a failure replays (FC_SEED explores others); numRuns keep the file short. */
const seed = process.env.FC_SEED === undefined ? 0x5eed : Number(process.env.FC_SEED);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed, numRuns });

t.test('normalisePath: nothing a client sends resolves outside the root', (t) => {
  const ROOT = '/srv/site';
  const checkKey = (input: string): void => {
    const key = normalisePath(input);
    if (key === 400 || key === 404) return;
    if (typeof key !== 'string' || !key.startsWith('/')) throw new Error(`${JSON.stringify(input)} -> ${String(key)}: not an absolute key`);
    // eslint-disable-next-line no-control-regex -- control bytes are what must not survive
    if (/[\x00-\x1f\x7f\\]/.test(key)) throw new Error(`${JSON.stringify(input)} -> ${JSON.stringify(key)}: control byte or backslash`);
    const segments = key.split('/').slice(1);
    if (segments.some((s, i) => s === '..' || s === '.' || (s === '' && i !== segments.length - 1))) {
      throw new Error(`${JSON.stringify(input)} -> ${JSON.stringify(key)}: dot or empty segment`);
    }
    if (segments.some((s, i) => s.startsWith('.') && !(i === 0 && s === '.well-known'))) throw new Error(`${JSON.stringify(input)} -> ${JSON.stringify(key)}: dotfile`);
    // The key joined to any root stays below it, as the filesystem would resolve it.
    const resolved = posix.resolve(ROOT, '.' + key);
    if (resolved !== ROOT && !resolved.startsWith(ROOT + '/')) throw new Error(`${JSON.stringify(input)} -> ${JSON.stringify(key)} escapes to ${resolved}`);
  };
  // Pieces that traversal attempts are made of, in every encoding, glued at random.
  const piece = fc.constantFrom(
    '/', '//', '.', '..', '...', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '\\', '%00', '\x00', '%0a', '\x7f', '%25', '%252e', '%c0%ae', '%c0%af',
    '%e2%80%ae', '%ff', '%', '%2', 'a', 'b.txt', '.env', '.well-known', ';', '?', '#', '~', 'é', '%c3%a9', '\u2025', '\uff0e', '%ef%bc%8e',
  );
  const crafted = fc.array(piece, { maxLength: 24 }).map((parts) => '/' + parts.join(''));
  const anything = fc.string({ unit: 'binary', maxLength: 64 }).map((s) => '/' + s);
  const anyBytes = fc.uint8Array({ maxLength: 48 }).map((b) => '/' + Array.from(b, (x) => `%${x.toString(16).padStart(2, '0')}`).join(''));
  fc.assert(fc.property(crafted, (p) => checkKey(p)), runs(3000));
  fc.assert(fc.property(anything, (p) => checkKey(p)), runs(2000));
  fc.assert(fc.property(anyBytes, (p) => checkKey(p)), runs(2000));
  t.pass('thousands of paths, none escaped');
  t.end();
});

t.test('index keys: a path the manifest reader and the scanner admit is one a request finds as it is', (t) => {
  // The raw-URL fast path looks up a target without `%` unchanged: it must be what normalisePath
  // makes of it. A key holding `%` is reached by a request with `%25`.
  const reached = (p: string): boolean => normalisePath(p.replaceAll('%', '%25')) === p;
  const wellFormed = (p: string): boolean => !/[\uD800-\uDFFF]/u.test(p);
  const piece = fc.constantFrom('/', '//', '.', '..', '%', '%2e', '\\', '\x00', '\r\n', '\x7f', 'a', 'b.txt', '.env', '.well-known', ' ', '\ud800', 'é', '~');
  const crafted = fc.array(piece, { maxLength: 12 }).map((parts) => '/' + parts.join(''));
  const anything = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => '/' + s);
  for (const paths of [crafted, anything]) {
    fc.assert(
      fc.property(paths, (p) => {
        if ((pathProblem(p) === undefined) !== (reached(p) && wellFormed(p))) throw new Error(`${JSON.stringify(p)}: pathProblem says ${String(pathProblem(p))}, normalisePath gives ${JSON.stringify(normalisePath(p))}`);
      }),
      runs(3000),
    );
  }
  t.pass('the two rules agree');
  t.end();
});

t.test('buildLookup refuses a key a request would not find as it is', (t) => {
  const file = { file: 'x', size: 1, sha256: '0'.repeat(64), mtimeMs: 0, type: 'text/plain', variants: [] };
  const site = (path: string, redirects: SiteIndex['redirects'] = []): SiteIndex => ({ root: '/r', releaseId: 'abcdefabcdef', files: [{ ...file, path }], skipped: [], redirects });
  t.doesNotThrow(() => buildLookup(site('/a/100%.txt', [{ from: '/old/', to: '/a', status: 301 }]), []));
  for (const path of ['/a//b', '/a/./b', '/.env', '/a\\b', 'a'])
    t.throws(() => buildLookup(site(path), []), { message: `index key ${JSON.stringify(path)} is not a normalised path (content/servable.ts let it through)` }, JSON.stringify(path));
  t.throws(() => buildLookup(site('/a', [{ from: '/x/../a', to: '/a', status: 301 }]), []), { message: /index key "\/x\/\.\.\/a"/ }, 'redirect keys too');
  t.end();
});

/** Decimal digit strings from 0 to past 2^64, biased to the sizes at hand. */
const digits = fc.oneof(
  fc.nat({ max: 5000 }).map(String),
  fc.bigInt({ min: 0n, max: 1n << 70n }).map(String),
  fc.constantFrom('0', '00', '007', '9007199254740991', '9007199254740992', '9007199254740993', '18446744073709551616'),
);
const ws = fc.constantFrom('', '', ' ', '\t', '  ');
const spec = fc.oneof(
  fc.tuple(digits, digits, ws).map(([a, b, s]) => `${s}${a}${s}-${s}${b}`),
  fc.tuple(digits, ws).map(([a, s]) => `${a}-${s}`),
  fc.tuple(digits, ws).map(([b, s]) => `${s}-${b}`),
  fc.constantFrom('-', '', 'x', '1-2-3', '-0', '0--1', '+1-2', '1e3-', '0x10-'),
);
const rangeHeader = fc.oneof(
  { weight: 6, arbitrary: fc.array(spec, { minLength: 1, maxLength: 3 }).map((s) => `bytes=${s.join(',')}`) },
  { weight: 1, arbitrary: fc.array(spec, { minLength: MAX_RANGES, maxLength: MAX_RANGES + 3 }).map((s) => `bytes=${s.join(',')}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Bytes=', 'BYTES=', 'bytes =', 'items=', 'bytes', ''), spec).map(([u, s]) => u + s) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

/** RFC 9110 §14 for one range, with exact (BigInt) arithmetic: what parseRange must return. */
function oracle(header: string, size: number): ReturnType<typeof parseRange> {
  if (header.slice(0, 6).toLowerCase() !== 'bytes=' || header.length < 7) return 'ignore';
  const specs = header.slice(6).split(',');
  if (specs.length > MAX_RANGES) return 'unsatisfiable';
  const parsed = specs.map((s) => /^[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/.exec(s));
  if (parsed.some((m) => m === null || (m[1] === '' && m[2] === '') || (m[1] !== '' && m[2] !== '' && BigInt(m[1] as string) > BigInt(m[2] as string)))) return 'ignore';
  if (specs.length > 1) return 'ignore';
  const [, first, last] = parsed[0] as RegExpExecArray;
  const n = BigInt(size);
  if (first === '') {
    const suffix = BigInt(last as string);
    if (suffix === 0n || n === 0n) return 'unsatisfiable';
    return { start: Number(suffix >= n ? 0n : n - suffix), end: size - 1 };
  }
  const start = BigInt(first as string);
  if (start >= n) return 'unsatisfiable';
  const end = last === '' || BigInt(last as string) >= n ? n - 1n : BigInt(last as string);
  return { start: Number(start), end: Number(end) };
}

t.test('parseRange: every satisfiable range lies in [0, size) and matches exact arithmetic', (t) => {
  const size = fc.oneof(fc.nat({ max: 10_000 }), fc.constantFrom(0, 1, 2 ** 31, 2 ** 53 - 1));
  fc.assert(
    fc.property(rangeHeader, size, (header, n) => {
      const got = parseRange(header, n);
      if (typeof got === 'object') {
        if (!Number.isSafeInteger(got.start) || !Number.isSafeInteger(got.end) || got.start < 0 || got.start > got.end || got.end >= n) {
          throw new Error(`${JSON.stringify(header)} over ${n}: ${JSON.stringify(got)} is outside [0, ${n})`);
        }
      }
      const want = oracle(header, n);
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${JSON.stringify(header)} over ${n}: got ${JSON.stringify(got)}, RFC says ${JSON.stringify(want)}`);
    }),
    runs(5000),
  );
  t.pass('5000 headers agree with the exact model');
  t.end();
});

t.test('the server: a 206 body is exactly the slice its Content-Range names', async (t) => {
  // small.bin is cached; big.bin is above --cache-max-file, so it is streamed by send.ts.
  const small = randomBytes(3000);
  const big = randomBytes(100_000);
  const dir = t.testdir({ 'small.bin': small, 'big.bin': big });
  const { port } = await startServer(t, dir, { cacheMaxFile: '64KiB' });
  const files: Record<string, Buffer> = { '/small.bin': small, '/big.bin': big };
  const counts: Record<number, number> = { 200: 0, 206: 0, 416: 0 };
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('/small.bin', '/big.bin'), rangeHeader, async (path, header) => {
      const file = files[path] as Buffer;
      const r = await request(port, path, { headers: { Range: header } });
      if (r.status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.headers['content-range'] ?? '');
        if (m === null) throw new Error(`${header}: 206 with Content-Range ${r.headers['content-range']}`);
        const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
        if (total !== file.length || start > end || end >= total) throw new Error(`${header}: Content-Range ${m[0]} for ${file.length} bytes`);
        if (!r.body.equals(file.subarray(start, end + 1))) throw new Error(`${header}: the 206 body is not bytes ${start}-${end}`);
        if (Number(r.headers['content-length']) !== end - start + 1) throw new Error(`${header}: Content-Length ${r.headers['content-length']}`);
      } else if (r.status === 200) {
        if (!r.body.equals(file)) throw new Error(`${header}: a 200 that is not the whole file`);
      } else if (r.status === 416) {
        if (r.headers['content-range'] !== `bytes */${file.length}` || r.body.length !== 0) throw new Error(`${header}: 416 without bytes */${file.length}`);
      } else {
        throw new Error(`${header}: status ${r.status}`);
      }
      const want = oracle(header, file.length);
      const wantStatus = want === 'ignore' ? 200 : want === 'unsatisfiable' ? 416 : 206;
      if (r.status !== wantStatus) throw new Error(`${header}: status ${r.status}, RFC says ${wantStatus}`);
      counts[r.status] = (counts[r.status] ?? 0) + 1;
    }),
    runs(60),
  );
  t.ok([200, 206, 416].every((s) => (counts[s] ?? 0) > 0), `every kind of answer was seen: ${JSON.stringify(counts)}`);
});

/**
 * Accept-Encoding: q-values as RFC 9110 writes them, names with case and aliases, each coding
 * named at most once (a header naming one twice has no defined meaning).
 */
const qvalue = fc.constantFrom('', ';q=1', ';q=1.0', ';q=1.000', ';q=0', ';q=0.0', ';q=0.000', ';q=0.5', ';q=0.001', ';q=0.999', ';Q=0.3', ' ; q=0.8');
const CODINGS = ['gzip', 'br', 'identity', '*', 'deflate', 'compress', 'zstd'] as const;
const spelling = (name: string): fc.Arbitrary<string> => (name === 'gzip' ? fc.constantFrom('gzip', 'GZIP', 'x-gzip') : name === 'br' ? fc.constantFrom('br', 'BR', 'Br') : fc.constant(name));
const acceptEncoding = fc
  .uniqueArray(fc.constantFrom(...CODINGS), { maxLength: CODINGS.length })
  .chain((names) => fc.tuple(...names.map((n) => fc.tuple(fc.constant(n), spelling(n), qvalue))))
  .map((items) => ({ items: items.map(([name, , q]) => ({ name, q: q === '' ? 1 : Number(q.split('=')[1]) })), header: items.map(([, s, q]) => `${s}${q}`).join(', ') }));

t.test('Accept-Encoding: the chosen coding is one the client accepts, with the highest q', (t) => {
  fc.assert(
    fc.property(acceptEncoding, fc.boolean(), fc.boolean(), ({ items, header }, hasBr, hasGzip) => {
      const listed = (name: string): number | undefined => items.find((i) => i.name === name)?.q;
      const star = listed('*');
      // RFC 9110 §12.5.3: an unlisted coding takes `*`'s q, else is not acceptable, except
      // identity, which stays acceptable unless excluded (by q=0 or by `*;q=0`).
      const q = (name: string): number => listed(name) ?? star ?? (name === 'identity' ? 0.0001 : 0);
      const available = ['identity', ...(hasBr ? ['br'] : []), ...(hasGzip ? ['gzip'] : [])];
      const choice = chooseEncoding(parseAcceptEncoding(header), hasBr, hasGzip);
      const name = choice === BR ? 'br' : choice === GZIP ? 'gzip' : choice === IDENTITY ? 'identity' : choice === NONE ? undefined : 'bad';
      const label = `${JSON.stringify(header)} (br ${hasBr}, gzip ${hasGzip}) -> ${name ?? '406'}`;
      if (name === 'bad') throw new Error(`${label}: not a choice`);
      if (name === undefined) {
        if (available.some((c) => q(c) > 0)) throw new Error(`${label}: 406 although ${available.filter((c) => q(c) > 0).join(', ')} is acceptable`);
        return;
      }
      if (!available.includes(name)) throw new Error(`${label}: not available`);
      if (q(name) <= 0) throw new Error(`${label}: the client excluded it`);
      for (const other of available) if (q(other) > q(name)) throw new Error(`${label}: ${other} has a higher q`);
    }),
    runs(5000),
  );
  // Arbitrary junk: never throws, never picks a coding we do not have.
  const junk = fc.oneof(fc.string({ maxLength: 60 }), fc.array(fc.tuple(fc.constantFrom(...CODINGS, 'GzIp', ''), fc.string({ maxLength: 8 })), { maxLength: 6 }).map((a) => a.map(([n, p]) => `${n};${p}`).join(',')));
  fc.assert(
    fc.property(junk, fc.boolean(), fc.boolean(), (header, hasBr, hasGzip) => {
      const choice = chooseEncoding(parseAcceptEncoding(header), hasBr, hasGzip);
      if (![IDENTITY, NONE, ...(hasBr ? [BR] : []), ...(hasGzip ? [GZIP] : [])].includes(choice)) throw new Error(`${JSON.stringify(header)}: chose ${choice}`);
    }),
    runs(3000),
  );
  t.pass('well-formed and junk headers');
  t.end();
});

t.test('_redirects: no rule makes a request resolve to anything but a file of the release', (t) => {
  const files = ['/index.html', '/a/b.html', '/a/index.html', '/x.txt'];
  const isFile = (p: string): boolean => files.includes(p);
  const segment = fc.constantFrom('a', 'b.html', '..', '.', '%2e%2e', '%2F', ':id', ':x', '*', '', 'x.txt', 'index.html', '%00', '.env', 'é');
  const pattern = fc.array(segment, { maxLength: 4 }).map((s) => '/' + s.join('/'));
  const target = fc.oneof(pattern, fc.constantFrom('/etc/passwd', '/../x.txt', '/a/:splat', '/:id', 'https://h.example/:splat'));
  const rule = fc.record({ from: pattern, to: target, status: fc.constantFrom(200, 301, 404), force: fc.boolean() });
  const request = fc.array(fc.constantFrom('a', 'b.html', '..', '%2e%2e', '%2F..%2F', 'x.txt', '', 'etc', 'passwd', 'index.html'), { maxLength: 5 }).map((s) => '/' + s.join('/'));
  const wanted = new Set(files.map((f) => f.slice(1)));
  fc.assert(
    fc.property(fc.array(rule, { maxLength: 6 }), fc.array(request, { minLength: 1, maxLength: 8 }), (raw, urls) => {
      const rules = raw.filter((r) => routeProblem(r as RouteRule) === undefined && routeTargetProblem(r as RouteRule, isFile) === undefined) as RouteRule[];
      const l = buildLookup({ root: '/r', releaseId: 'abcdefabcdef', skipped: [], files: files.map((path) => ({ path, file: path.slice(1), size: 1, sha256: '0'.repeat(64), mtimeMs: 0, type: 'text/html', variants: [] })), routes: { trailingSlash: 'redirect', rules } }, []);
      for (const url of urls) {
        const key = normalisePath(url);
        if (typeof key === 'number') continue;
        const hit = l.entries.get(key);
        const entry = hit === undefined ? l.routes?.miss(key) : (l.forcedRoutes?.hit(key) ?? hit);
        const served = entry instanceof FileEntry ? entry : entry instanceof StatusPage ? entry.page : undefined;
        if (served !== undefined && !wanted.has(served.identity.file)) throw new Error(`${url} with ${JSON.stringify(rules)} reads ${served.identity.file}`);
      }
    }),
    runs(2000),
  );
  t.end();
});
