/**
 * `_redirects` rule by rule, against the semantics Netlify and Cloudflare Pages document:
 * - https://docs.netlify.com/routing/redirects/ (syntax, default 301, splats, placeholders,
 *   first match wins, query strings passed through) and
 *   https://docs.netlify.com/routing/redirects/rewrites-proxies/#shadowing (a file shadows a rule
 *   unless it is forced with `!`);
 * - https://developers.cloudflare.com/pages/configuration/redirects/ (statuses 200, 301, 302,
 *   303, 307, 308; 2,000 static + 100 dynamic rules; 1,000 characters a rule; topmost wins).
 * Where the two differ, pi-origin follows Netlify: a file shadows a rule (Cloudflare always
 * follows a redirect) and the default status is 301 (Cloudflare: 302).
 *
 * Pure: the parser, and the lookup a worker builds (resolved as the handler resolves a request).
 */
import t from 'tap';
import { parseRedirects, type RouteRule, type TrailingSlashPolicy } from '../content/redirects-file.js';
import type { SiteIndex } from '../content/site-index.js';
import { buildLookup, Redirect, StatusPage, type Entry, type Lookup } from '../index/lookup.js';
import { normalisePath } from '../index/path.js';

const FILES = ['/index.html', '/about.html', '/docs/index.html', '/docs/a.html', '/en/404.html', '/file.txt', '/app/index.html', '/style.css', '/users/42.html'];
const isFile = (path: string): boolean => FILES.includes(path);

function site(rules: readonly RouteRule[], trailingSlash: TrailingSlashPolicy = 'redirect', files = FILES): SiteIndex {
  return {
    root: '/nowhere',
    releaseId: 'abcdef012345',
    skipped: [],
    files: files.map((path, i) => ({ path, file: path.slice(1), size: 10 + i, sha256: i.toString(16).padStart(64, '0'), mtimeMs: 0, type: path.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/plain', variants: [] })),
    routes: { trailingSlash, rules },
  };
}

function lookup(text: string, trailingSlash: TrailingSlashPolicy = 'redirect'): Lookup {
  return buildLookup(site(parseRedirects(text, '_redirects', isFile), trailingSlash), []);
}

/** As server/handler.ts resolves a request path. */
function resolve(l: Lookup, url: string): Entry | number | undefined {
  const key = normalisePath(url);
  if (typeof key === 'number') return key;
  const entry = l.entries.get(key);
  if (entry === undefined) return l.routes?.miss(key);
  return l.forcedRoutes?.hit(key) ?? entry;
}

/** What a request gets, in short: `301 /x`, `200 /file`, `404 /page`, `miss`. */
function answer(l: Lookup, url: string): string {
  const e = resolve(l, url);
  if (e === undefined) return 'miss';
  if (typeof e === 'number') return String(e);
  if (e instanceof Redirect) return `${e.status} ${e.location}`;
  if (e instanceof StatusPage) return `${e.status} /${e.page.identity.file}`;
  return `200 /${e.identity.file}`;
}

t.test('syntax: FROM TO [STATUS][!], comments, default 301 (Netlify)', (t) => {
  const rules = parseRedirects('# comment\n\n/home  /   \n/old /new 302\n/x /y 308!\n\ufeff', '_redirects', isFile);
  t.same(rules, [
    { from: '/home', to: '/', status: 301, force: false },
    { from: '/old', to: '/new', status: 302, force: false },
    { from: '/x', to: '/y', status: 308, force: true },
  ]);
  for (const status of [200, 301, 302, 303, 307, 308, 404]) {
    const to = status === 200 || status === 404 ? '/about.html' : '/b';
    t.equal(parseRedirects(`/a ${to} ${status}`, 'f', isFile)[0]?.status, status, String(status));
  }
  t.end();
});

t.test('errors name the file and line and the bad value', (t) => {
  const bad: [string, RegExp][] = [
    ['/a /b 418', /^f:2: status must be one of 200, 301, 302, 303, 307, 308, 404, optionally followed by ! \(got "418"\)$/],
    ['/a /b 301 Country=au', /^f:2: conditions \(Country=au\) are not supported$/],
    ['/store id=:id /blog/:id 301', /^f:2: query conditions \(id=:id\) are not supported$/],
    ['https://old.example/* https://new.example/:splat 301', /^f:2: source .* names a host: domain-level rules are not supported$/],
    ['/a/*/b /c', /^f:2: source "\/a\/\*\/b" may hold \* only as its whole last segment/],
    ['/a* /c', /may hold \* only as its whole last segment/],
    ['/u/:id /users/:name', /^f:2: target "\/users\/:name" uses :name, which the source does not bind$/],
    ['/u/:id/:id /x', /binds :id twice/],
    ['/a https://elsewhere.example/ 200', /a 200 rule serves a file of this site \(proxying to another host is not supported\)$/],
    ['/a /missing.html 200', /^f:2: target \/missing.html of a 200 rule is not a file of the site$/],
    ['/en/* /en/nope.html 404', /^f:2: target \/en\/nope.html of a 404 rule is not a file of the site$/],
    ['/a/:x /:x.html 404', /a 404 page is a fixed path/],
    ['/a //evil.example/ 301', /protocol-relative/],
    ['/a /../etc/passwd 200', /must name a file of this site: it has a \.\. segment/],
    ['/a/../b /c', /has a \.\. segment/],
    ['/a', /expected "FROM TO \[STATUS\]"/],
    [`/a /${'x'.repeat(1000)}`, /^f:2: rule is longer than 1000 characters$/],
  ];
  for (const [line, message] of bad) t.throws(() => parseRedirects(`# first\n${line}\n`, 'f', isFile), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_REDIRECTS', message }, line);
  t.end();
});

t.test('limits as on Cloudflare Pages: 2,000 static and 100 dynamic rules, the line named', (t) => {
  const statics = Array.from({ length: 2000 }, (_, i) => `/s${i} /t${i}`);
  t.equal(parseRedirects(statics.join('\n'), 'f', isFile).length, 2000, '2,000 static rules are fine');
  t.throws(() => parseRedirects([...statics, '/one-more /t'].join('\n'), 'f', isFile), { message: 'f:2001: more than 2000 static rules (the Cloudflare Pages limit): use a splat or placeholder' });
  const dynamics = Array.from({ length: 100 }, (_, i) => `/d${i}/* /t/:splat`);
  t.equal(parseRedirects([...statics, ...dynamics].join('\n'), 'f', isFile).length, 2100, 'and 100 dynamic ones besides');
  t.throws(() => parseRedirects(['# c', ...dynamics, '/u/:id /v/:id'].join('\n'), 'f', isFile), { message: 'f:102: more than 100 dynamic rules (the Cloudflare Pages limit)' });
  t.end();
});

t.test('exact paths, with and without a trailing slash (Netlify matches both)', (t) => {
  const l = lookup('/home / 301\n/old/ /new 308');
  t.equal(answer(l, '/home'), '301 /');
  t.equal(answer(l, '/home/'), '301 /');
  t.equal(answer(l, '/old'), '308 /new');
  t.equal(answer(l, '/old/'), '308 /new');
  t.ok(l.entries.get('/home') instanceof Redirect, 'a static rule is an entry of the Map: one lookup');
  t.equal(l.routes, undefined, 'no dynamic rule: nothing more is tried on a miss');
  t.equal(answer(l, '/nothing'), 'miss');
  t.end();
});

t.test('splats and placeholders', (t) => {
  const l = lookup('/blog/* /posts/:splat 301\n/u/:id /users/:id 302\n/n/:y/:m/* https://news.example/:y-:m/:splat 307\n/go/* /landing 303');
  t.equal(answer(l, '/blog/2024/01/post'), '301 /posts/2024/01/post');
  t.equal(answer(l, '/blog/'), '301 /posts/', 'an empty splat');
  t.equal(answer(l, '/blog'), '301 /posts/', '/blog matches /blog/* as on Netlify');
  t.equal(answer(l, '/blogger'), 'miss', 'a splat starts at a segment boundary');
  t.equal(answer(l, '/u/42'), '302 /users/42');
  t.equal(answer(l, '/u/42/'), '302 /users/42');
  t.equal(answer(l, '/u/42/more'), 'miss', 'a placeholder takes one segment');
  t.equal(answer(l, '/u/'), 'miss', 'and never an empty one');
  t.equal(answer(l, '/n/2024/05/a/b'), '307 https://news.example/2024-05/a/b');
  t.equal(answer(l, '/go/anything'), '303 /landing');
  t.equal(answer(l, '/u/a%20b%3F'), '302 /users/a%20b%3F', 'captures are decoded to match and encoded again in Location');
  t.equal(answer(l, '/u/caf%C3%A9'), '302 /users/caf%C3%A9');
  t.end();
});

t.test('first match wins, across static and dynamic rules, in file order', (t) => {
  t.equal(answer(lookup('/a/* /one 301\n/a/b /two 301'), '/a/b'), '301 /one', 'an earlier splat beats a later exact rule');
  t.equal(answer(lookup('/a/b /two 301\n/a/* /one 301'), '/a/b'), '301 /two', 'an earlier exact rule beats a later splat');
  t.equal(answer(lookup('/a/:x /one 301\n/a/* /two 301'), '/a/b/c'), '301 /two', 'a rule that does not match is passed over');
  t.equal(answer(lookup('/a /one 301\n/a /two 302'), '/a'), '301 /one', 'the topmost of two rules for one path');
  t.end();
});

t.test('a file shadows a rule unless it is forced with !', (t) => {
  t.equal(answer(lookup('/file.txt /other 301'), '/file.txt'), '200 /file.txt');
  t.equal(answer(lookup('/file.txt /other 301!'), '/file.txt'), '301 /other');
  t.equal(answer(lookup('/docs/* /new/:splat 301'), '/docs/a.html'), '200 /docs/a.html');
  t.equal(answer(lookup('/docs/* /new/:splat 301'), '/docs/b.html'), '301 /new/b.html', 'a path no file answers');
  t.equal(answer(lookup('/docs/* /new/:splat 301!'), '/docs/a.html'), '301 /new/a.html');
  t.equal(answer(lookup('/docs/* /new/:splat 301!'), '/docs/'), '301 /new/', "a directory's index is a file too");
  t.equal(answer(lookup('/docs/* /new/:splat 301'), '/docs'), '301 /docs/', 'and so is its /dir redirect');
  t.equal(answer(lookup('/docs/a.html /static 302\n/docs/* /forced 301!'), '/docs/a.html'), '301 /forced', 'a shadowed static rule yields to a later forced one');
  t.equal(answer(lookup('/docs/a.html /static 302!\n/docs/* /forced 301!'), '/docs/a.html'), '302 /static', 'an earlier forced static rule keeps its place');
  t.equal(answer(lookup('/docs/* /new 301\n/docs/a.html /static 302!'), '/docs/a.html'), '302 /static', 'a shadowed earlier rule does not take a later forced one\'s place');
  t.equal(lookup('/docs/* /new/:splat 301').forcedRoutes, undefined, 'without ! a hit asks no rule');
  t.end();
});

t.test('200 rewrites serve the target file\'s own entry', (t) => {
  const l = lookup('/team /about.html 200\n/u/:id /users/:id.html 200\n/app/* /app/ 200');
  const about = l.entries.get('/about.html');
  t.equal(resolve(l, '/team'), about, 'the same entry: its ETag, encodings and headers');
  t.equal(answer(l, '/u/42'), '200 /users/42.html');
  t.equal(answer(l, '/u/43'), 'miss', 'a dynamic target that is not a file: the 404 path');
  t.equal(answer(l, '/app/some/route'), '200 /app/index.html', 'a directory target serves its index');
  t.end();
});

t.test('SPA fallback: never shadows a file, never rewrites a path with an extension', (t) => {
  const l = lookup('/* /index.html 200');
  t.equal(answer(l, '/some/client/route'), '200 /index.html');
  t.equal(answer(l, '/style.css'), '200 /style.css');
  t.equal(answer(l, '/about.html'), '200 /about.html');
  t.equal(answer(l, '/missing.js'), 'miss', 'a missing asset is a 404, not HTML');
  t.equal(answer(l, '/v1.2/route'), '200 /index.html', 'only the last segment counts');
  t.equal(answer(lookup('/assets/:name /index.html 200\n/* /index.html 200'), '/assets/x.js'), '200 /index.html', 'a placeholder asks for extensions explicitly');
  t.equal(answer(lookup('/* /index.html 200!'), '/missing.js'), '200 /index.html', 'and so does !');
  t.equal(answer(lookup('/* /index.html 200!'), '/style.css'), '200 /index.html');
  t.end();
});

t.test('404 pages per prefix, with the Cache-Control of a 404', (t) => {
  const l = lookup('/en/* /en/404.html 404');
  t.equal(answer(l, '/en/missing'), '404 /en/404.html');
  t.equal(answer(l, '/en/404.html'), '200 /en/404.html', 'the page itself stays a file');
  t.equal(answer(l, '/fr/missing'), 'miss');
  const page = resolve(l, '/en/x') as StatusPage;
  t.equal(resolve(l, '/en/y'), page, 'built once per target');
  t.not(page.page, l.entries.get('/en/404.html'), 'an entry of its own, with the Cache-Control of a 404 (routes-serving.test.ts sees the header)');
  t.end();
});

t.test('trailing-slash policy', (t) => {
  const redirect = lookup('', 'redirect');
  t.equal(answer(redirect, '/docs'), '301 /docs/');
  t.equal(answer(redirect, '/docs/'), '200 /docs/index.html');
  t.equal(answer(redirect, '/about'), 'miss');
  const never = lookup('', 'never');
  t.equal(answer(never, '/docs'), '200 /docs/index.html');
  t.equal(answer(never, '/docs/'), '301 /docs');
  t.equal(answer(never, '/about'), '200 /about.html');
  t.equal(answer(never, '/about/'), '301 /about');
  t.equal(answer(never, '/'), '200 /index.html');
  const always = lookup('', 'always');
  t.equal(answer(always, '/docs'), '301 /docs/');
  t.equal(answer(always, '/about/'), '200 /about.html');
  t.equal(answer(always, '/about'), '301 /about/');
  t.equal(answer(always, '/about.html'), '200 /about.html', 'the file keeps its own URL');
  t.end();
});
