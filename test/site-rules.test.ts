/**
 * A plain directory's `_headers` and `_redirects` are the site's configuration, never its
 * content: `serve` applies `_headers` as `release build` does and serves neither file;
 * `release build` publishes neither.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease } from '../release/release.js';
import { request, startServer } from './helpers/server.js';

const RULES = [
  '/*.txt',
  '  Cache-Control: public, max-age=600',
  '  Surrogate-Key: text',
  '/index.html',
  '  Content-Security-Policy: default-src \'self\'',
  '/old  /a.txt  308',
  '',
].join('\n');
const NETLIFY_REDIRECTS = '/from  /to  301\n';

t.test('serve DIR: _headers is applied and neither file is served', async (t) => {
  const root = t.testdir({ 'index.html': '<h1>home</h1>\n', 'a.txt': 'a\n', 'b.css': 'b{}', _headers: RULES, _redirects: NETLIFY_REDIRECTS });
  const { port } = await startServer(t, root);
  for (const path of ['/_headers', '/_redirects']) {
    for (const method of ['GET', 'HEAD']) {
      const r = await request(port, path, { method });
      t.equal(r.status, 404, `${method} ${path}`);
      t.notMatch(r.body.toString(), /Cache-Control|\/from/, `${method} ${path}: not the file's bytes`);
    }
  }
  const a = await request(port, '/a.txt');
  t.equal(a.status, 200);
  t.equal(a.headers['cache-control'], 'public, max-age=600', 'a rule header');
  t.equal(a.headers['surrogate-key'], 'text');
  const home = await request(port, '/');
  t.equal(home.headers['content-security-policy'], "default-src 'self'");
  t.equal(home.headers['cache-control'], 'public, max-age=60, must-revalidate', 'the default by kind where no rule sets it');
  t.equal((await request(port, '/b.css')).headers['surrogate-key'], undefined, 'a rule applies only where it matches');
  const old = await request(port, '/old');
  t.equal(old.status, 308, 'a redirect line of _headers');
  t.equal(old.headers['location'], '/a.txt');
  const from = await request(port, '/from');
  t.equal(from.status, 301, '_redirects is read (issue 16): its rule answers');
  t.equal(from.headers['location'], '/to');
});

t.test('serve DIR: an invalid _headers is a start error naming the file and line', async (t) => {
  const root = t.testdir({ 'a.txt': 'a\n', _headers: '/a.txt\n  Transfer-Encoding: chunked\n' });
  await t.rejects(startServer(t, root), { name: 'StartError', code: 'PI_ORIGIN_BAD_ROOT', message: `cannot serve ${root}: ${join(root, '_headers')}:2: header Transfer-Encoding is set by the server and cannot be configured` });
});

t.test('serve DIR: an edit to _headers is picked up on the next scan', async (t) => {
  const root = t.testdir({ 'a.txt': 'a\n', _headers: RULES });
  const { node, port } = await startServer(t, root);
  const before = node.releaseId();
  writeFileSync(join(root, '_headers'), RULES.replace('max-age=600', 'max-age=900'));
  await node.reindex();
  t.equal((await request(port, '/a.txt')).headers['cache-control'], 'public, max-age=900');
  t.not(node.releaseId(), before, 'the id covers the rules');
});

t.test('release build: neither _headers nor _redirects is published', async (t) => {
  const root = t.testdir({ site: { 'a.txt': 'a\n', _headers: RULES, _redirects: NETLIFY_REDIRECTS }, releases: {} });
  const r = await buildRelease(join(root, 'site'), join(root, 'releases'));
  t.same(r.manifest.files.map((f) => f.path), ['/a.txt']);
  t.notOk(existsSync(join(r.dir, '_headers')));
  t.notOk(existsSync(join(r.dir, '_redirects')));
  t.same(r.manifest.redirects, [{ from: '/old', to: '/a.txt', status: 308 }]);
});
