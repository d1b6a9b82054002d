/**
 * `_redirects` end to end on the built dist/: `release build` compiles the file into the
 * manifest (never publishing it), `release verify` accepts the release, and the server answers
 * each kind of rule over a real socket with exact statuses, headers and bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease, verifyRelease } from '../dist/release/release.js';
import { ReleaseError } from '../dist/content/release-error.js';
import { request, startServer } from './helpers/server.js';

const HTML = `<!doctype html><title>app</title>${'<p>shell</p>'.repeat(40)}\n`;
const SITE = {
  'index.html': HTML,
  'about.html': '<!doctype html><title>about</title>\n',
  'file.txt': 'a file\n',
  'app.js': 'console.log(1)\n',
  en: { '404.html': '<!doctype html><title>not here</title>\n' },
  _redirects: [
    '# Netlify / Cloudflare Pages format',
    '/home        /                301',
    '/blog/*      /posts/:splat    308',
    '/u/:id       https://accounts.example/users/:id 302',
    '/form        /thanks          303',
    '/file.txt    /elsewhere       301',
    '/forced.txt  /file.txt        200',
    '/en/*        /en/404.html     404',
    '/team        /about.html      200',
    '/*           /index.html      200',
    '',
  ].join('\n'),
};

t.test('a release with _redirects, served', async (t) => {
  const dir = t.testdir({ site: SITE, releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  t.same(await verifyRelease(built.dir), [], 'release verify accepts it');
  t.notOk(built.manifest.files.some((f) => f.path === '/_redirects'), 'the file is not published');
  t.equal(built.manifest.routes?.rules.length, 9);
  t.match(readFileSync(join(built.dir, 'manifest.json'), 'utf8'), /\n {6}\{"from":"\/blog\/\*","to":"\/posts\/:splat","status":308,"force":false\},\n/, 'one rule per line');
  const { port } = await startServer(t, built.dir);

  const home = await request(port, '/home?utm=x&y=1');
  t.equal(home.status, 301);
  t.equal(home.headers['location'], '/?utm=x&y=1', 'the query string is passed through');
  t.equal(home.headers['x-origin-release'], built.id);

  const blog = await request(port, '/blog/2024/a%20b');
  t.equal(blog.status, 308);
  t.equal(blog.headers['location'], '/posts/2024/a%20b');

  const user = await request(port, '/u/42');
  t.equal(user.status, 302);
  t.equal(user.headers['location'], 'https://accounts.example/users/42');
  t.equal(user.headers['cache-control'], 'no-store', 'a temporary redirect is not stored');

  const form = await request(port, '/form');
  t.equal(form.statusLine, 'HTTP/1.1 303 See Other');
  t.equal(form.headers['cache-control'], 'no-store');

  const file = await request(port, '/file.txt');
  t.equal(file.status, 200, 'a file shadows a rule without !');
  t.equal(file.body.toString(), 'a file\n');

  const team = await request(port, '/team', { headers: { 'Accept-Encoding': 'br' } });
  const about = await request(port, '/about.html', { headers: { 'Accept-Encoding': 'br' } });
  t.equal(team.status, 200, '200 rewrite');
  t.equal(team.headers['etag'], about.headers['etag'], "the target's own ETag");
  t.equal(team.headers['content-type'], 'text/html; charset=utf-8');
  t.same(team.body, about.body);
  const again = await request(port, '/team', { headers: { 'If-None-Match': about.headers['etag'] as string } });
  t.equal(again.status, 304, 'and its validators');

  const spa = await request(port, '/dashboard/settings', { headers: { 'Accept-Encoding': 'br' } });
  t.equal(spa.status, 200, 'SPA fallback');
  t.equal(spa.headers['content-encoding'], 'br', "the target's encodings");
  const index = await request(port, '/', { headers: { 'Accept-Encoding': 'br' } });
  t.equal(spa.headers['etag'], index.headers['etag']);
  t.equal((await request(port, '/app.js')).body.toString(), 'console.log(1)\n', 'never over a file');
  const missingAsset = await request(port, '/missing.js');
  t.equal(missingAsset.status, 404, 'a missing asset is not rewritten to HTML');
  t.equal(missingAsset.headers['content-type']?.startsWith('text/plain'), true);

  const en = await request(port, '/en/gone');
  t.equal(en.status, 404, '404 page per prefix');
  t.equal(en.body.toString(), '<!doctype html><title>not here</title>\n');
  t.equal(en.headers['cache-control'], 'public, max-age=60', 'the Cache-Control of a 404');
  const enHead = await request(port, '/en/gone', { method: 'HEAD' });
  t.equal(enHead.status, 404);
  t.equal(enHead.headers['content-length'], String(Buffer.byteLength(SITE.en['404.html'])));

  const rulesFile = await request(port, '/_redirects');
  t.equal(rulesFile.body.toString(), HTML, 'the rules file is not content: the SPA fallback answers its path');
});

t.test('forced rules win over files', async (t) => {
  const dir = t.testdir({ site: { 'old.html': 'old\n', 'new.html': 'new\n', docs: { 'a.html': 'a\n' }, _redirects: '/old.html /new.html 301!\n/docs/* /new.html 200!\n' }, releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  const { port } = await startServer(t, built.dir);
  const old = await request(port, '/old.html');
  t.equal(old.status, 301);
  t.equal(old.headers['location'], '/new.html');
  const docs = await request(port, '/docs/a.html');
  t.equal(docs.status, 200);
  t.equal(docs.body.toString(), 'new\n', 'a forced splat rewrite over an existing file');
});

t.test('--redirects FILE, the trailing-slash policy, and build errors naming the line', async (t) => {
  const dir = t.testdir({ site: { 'about.html': 'about\n', docs: { 'index.html': 'docs\n' } }, rules: '/a /about 301\n', bad: '/ok /about 301\n/x /nowhere.html 200\n', releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'), { redirectsFile: join(dir, 'rules'), trailingSlash: 'never' });
  t.same(built.manifest.routes, { trailingSlash: 'never', rules: [{ from: '/a', to: '/about', status: 301, force: false }] });
  const { port } = await startServer(t, built.dir);
  t.equal((await request(port, '/about')).body.toString(), 'about\n', 'never: /about serves about.html');
  t.equal((await request(port, '/docs')).body.toString(), 'docs\n', 'never: /docs serves its index');
  const slash = await request(port, '/docs/?q=1');
  t.equal(slash.status, 301);
  t.equal(slash.headers['location'], '/docs?q=1');
  await t.rejects(buildRelease(join(dir, 'site'), join(dir, 'releases'), { redirectsFile: join(dir, 'bad') }), new ReleaseError(`${join(dir, 'bad')}:2: target /nowhere.html of a 200 rule is not a file of the site`, 'PI_ORIGIN_RELEASE_REDIRECTS'));
});

t.test('a manifest whose routes were edited is refused where it is read', async (t) => {
  const dir = t.testdir({ site: { 'a.html': 'a\n', _redirects: '/x /a.html 200\n' }, releases: {} });
  const built = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  const file = join(built.dir, 'manifest.json');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('"to":"/a.html"', '"to":"/../../etc/passwd"'));
  const problems = await verifyRelease(built.dir);
  t.match(problems, [/^manifest: .*routes\.rules\[0\]: target "\/\.\.\/\.\.\/etc\/passwd" must name a file of this site: it has a \.\. segment$/]);
  writeFileSync(file, text.replace('"status":200', '"status":418'));
  t.match(await verifyRelease(built.dir), [/routes\.rules\[0\]: status must be one of 200, 301, 302, 303, 307, 308, 404 \(got 418\)$/]);
  writeFileSync(file, text.replace('"to":"/a.html"', '"to":"/b.html"'));
  t.match(await verifyRelease(built.dir), [/routes\.rules\[0\]: target \/b.html of a 200 rule is not a file of the site$/]);
});
