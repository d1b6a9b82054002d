/**
 * Preview releases (issue 16.3): a release beside `current` served under a preview host or path
 * prefix, never cacheable by a shared cache, not indexed, limited by client address; the options
 * validated once; a worker's preview lookups built on first use and bounded.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { activateRelease, buildRelease } from '../release/release.js';
import { resolveOptions } from '../server/config.js';
import { Previews, PREVIEW_CACHE_ENTRIES, previewTarget } from '../server/preview.js';
import type { SiteIndex } from '../content/site-index.js';
import { run } from './helpers/ansible.js';
import { runCli } from './helpers/cli.js';
import { request, startServer, type RawResponse } from './helpers/server.js';

const PRIVATE = 'private, no-store';

/** Two releases: `one` live, `two` only pushed. Both tag every file for a CDN through `_headers`. */
async function releases(t: Test): Promise<{ dir: string; one: string; two: string }> {
  const headers = '/*\n  Surrogate-Key: site\n  Cache-Control: public, max-age=600\n';
  const base = t.testdir({
    one: { 'index.html': 'one\n', dir: { 'index.html': 'dir one\n' }, _headers: headers },
    two: { 'index.html': 'two\n', dir: { 'index.html': 'dir two\n' }, _headers: headers, '404.html': 'not in two\n' },
  });
  const dir = join(base, 'releases');
  const one = (await buildRelease(join(base, 'one'), dir)).manifest.id;
  const two = (await buildRelease(join(base, 'two'), dir)).manifest.id;
  await activateRelease(dir, one);
  return { dir, one, two };
}

function isPrivate(t: Test, r: RawResponse, what: string): void {
  t.equal(r.headers['cache-control'], PRIVATE, `${what}: Cache-Control`);
  t.equal(r.headers['x-robots-tag'], 'noindex', `${what}: X-Robots-Tag`);
  t.equal(r.headers['surrogate-key'], undefined, `${what}: no Surrogate-Key`);
  t.equal(r.headers['cache-tag'], undefined, `${what}: no Cache-Tag`);
}

t.test('a pushed release is served under its preview host and path, privately; the live site is unchanged', async (t) => {
  const { dir, one, two } = await releases(t);
  const { port } = await startServer(t, join(dir, 'current'), { previewHost: 'Preview.Example.org', previewPath: '/_preview/' });

  const live = await request(port, '/');
  t.equal(live.body.toString(), 'one\n');
  t.equal(live.headers['cache-control'], 'public, max-age=600');
  t.equal(live.headers['surrogate-key'], `site release-${one}`);
  t.equal(live.headers['x-robots-tag'], undefined, 'the live site is indexed');

  for (const [what, path, host] of [
    ['host', '/', `${two}.preview.example.org`],
    ['host with port and trailing dot, any case', '/', `${two.toUpperCase()}.PREVIEW.example.org.:8080`],
    ['path', `/_preview/${two}/`, 'origin.test'],
    ['path without its slash', `/_preview/${two}`, 'origin.test'],
  ] as const) {
    const r = await request(port, path, { headers: { Host: host } });
    t.equal(r.status, 200, what);
    t.equal(r.body.toString(), 'two\n', what);
    t.equal(r.headers['x-origin-release'], two, what);
    isPrivate(t, r, what);
    const again = await request(port, path, { headers: { Host: host, 'If-None-Match': r.headers['etag'] as string } });
    t.equal(again.status, 304, `${what}: revalidated`);
    isPrivate(t, again, `${what}: 304`);
  }

  const moved = await request(port, `/_preview/${two}/dir?x=1`);
  t.equal(moved.status, 301);
  t.equal(moved.headers['location'], `/_preview/${two}/dir/?x=1`, 'a redirect stays inside the preview');
  isPrivate(t, moved, 'redirect');
  const hostMoved = await request(port, '/dir', { headers: { Host: `${two}.preview.example.org` } });
  t.equal(hostMoved.headers['location'], '/dir/');

  const missing = await request(port, `/_preview/${two}/nope`);
  t.equal(missing.status, 404);
  t.equal(missing.body.toString(), 'not in two\n', "the release's own 404 page");
  isPrivate(t, missing, '404 page');

  const unknown = await request(port, '/', { headers: { Host: `${'0'.repeat(12)}.preview.example.org` } });
  t.equal(unknown.status, 404, 'a release the node does not hold');
  isPrivate(t, unknown, 'unknown release');
  t.equal((await request(port, '/_preview/current/')).status, 404, 'a pointer name is no release id: the live site answers (404)');
  t.equal((await request(port, '/', { headers: { Host: `x${two}.preview.example.org` } })).body.toString(), 'one\n', 'another host is the live site');
});

t.test('--preview-allow limits previews by the client address, relayed by a trusted proxy too', async (t) => {
  const { dir, two } = await releases(t);
  const { port } = await startServer(t, join(dir, 'current'), { previewPath: '/_preview/', previewAllow: ['2001:db8::/32'], trustedProxy: ['::1/128'] });
  const refused = await request(port, `/_preview/${two}/`);
  t.equal(refused.status, 403, '::1 is not in 2001:db8::/32');
  isPrivate(t, refused, '403');
  t.equal((await request(port, '/')).status, 200, 'the live site is for everyone');
  t.equal((await request(port, `/_preview/${two}/`, { headers: { 'X-Forwarded-For': '2001:db8::7' } })).body.toString(), 'two\n', 'a relayed client in the prefix');
  t.equal((await request(port, `/_preview/${two}/`, { headers: { 'X-Forwarded-For': '2001:db9::7' } })).status, 403, 'a relayed client outside it');

  const loopback = await startServer(t, join(dir, 'current'), { previewPath: '/_preview/', previewAllow: ['::1/128'], trustedProxy: ['::1/128'] });
  t.equal((await request(loopback.port, `/_preview/${two}/`)).status, 200, 'the socket peer ::1 matches ::1/128');
  t.equal((await request(loopback.port, `/_preview/${two}/`, { headers: { 'X-Forwarded-For': '::1' } })).status, 403, "a relayed ::1 is the proxy host's user, not this node's operator");
});

t.test('the preview options are checked once, naming the option', (t) => {
  const root = t.testdir({ current: {} });
  const opts = (flags: Record<string, unknown>) => (): unknown => resolveOptions({ flags: flags as never, positionalRoot: join(root, 'current'), defaultRoot: root });
  t.throws(opts({ previewHost: '*.example.org' }), { name: 'ConfigError', message: '--preview-host: "*.example.org" is not a host name suffix like preview.example.org' });
  t.throws(opts({ previewHost: '.example.org' }), { message: /^--preview-host: "\.example\.org"/ });
  t.throws(opts({ previewPath: '/_preview' }), { message: /^--preview-path: "\/_preview" is not a path prefix like \/_preview\// });
  t.throws(opts({ previewPath: '/a/../' }), { message: /^--preview-path: "\/a\/\.\.\/"/ });
  t.throws(opts({ previewPath: '/_origin/p/' }), { message: '--preview-path: "/_origin/p/" is under /_origin/, the admin endpoints' });
  t.throws(opts({ previewAllow: ['::1/128'] }), { message: '--preview-allow needs --preview-host or --preview-path' });
  t.throws(opts({ previewPath: '/p/', previewAllow: ['2001:db8::/129'] }), { message: /^--preview-allow: "2001:db8::\/129" is not an address prefix/ });
  t.equal((resolveOptions({ positionalRoot: join(root, 'current'), defaultRoot: root })).preview, undefined, 'off by default');
  t.same(resolveOptions({ flags: { previewHost: 'P.example.org' }, positionalRoot: join(root, 'current'), defaultRoot: root }).preview, { host: 'p.example.org', path: '', allow: [], releasesDir: root });
  t.end();
});

t.test('previewTarget: only a release id under the host suffix or the path prefix', (t) => {
  const o = { host: 'preview.example.org', path: '/_p/', allow: [], releasesDir: '/r' };
  const id = '0123456789ab';
  t.same(previewTarget(o, `${id}.preview.example.org`, '/a'), { id, url: '/a', base: '' });
  t.same(previewTarget(o, 'x', `/_p/${id}/a/b`), { id, url: '/a/b', base: `/_p/${id}` });
  for (const [host, url] of [
    [`${id}.preview.example.org.evil`, '/'],
    [`${id}preview.example.org`, '/'],
    [`a.${id}.preview.example.org`, '/'],
    ['0123456789aZ.preview.example.org', '/'],
    ['x', `/_p/${id}x/`],
    ['x', '/_p/../'],
    ['x', `/_P/${id}/`],
  ] as const)
    t.equal(previewTarget(o, host, url), undefined, `${host} ${url}`);
  t.end();
});

t.test('a worker builds a preview lookup on first use and keeps only a bounded few', (t) => {
  const loads: string[] = [];
  const site = (dir: string): SiteIndex => {
    loads.push(dir);
    const id = dir.slice(-12);
    return { root: dir, releaseId: id, files: [], skipped: [], redirects: [], fromManifest: true };
  };
  const previews = new Previews({ host: 'p.test', path: '', allow: [], releasesDir: '/r' }, [], site);
  const ids = Array.from({ length: PREVIEW_CACHE_ENTRIES + 1 }, (_, i) => String(i).padStart(12, '0'));
  t.equal(loads.length, 0, 'nothing loaded before a request');
  const first = previews.lookup(ids[0] as string);
  t.equal(previews.lookup(ids[0] as string), first, 'the second request reuses the lookup');
  t.equal(loads.length, 1);
  for (const id of ids.slice(1)) previews.lookup(id);
  previews.lookup(ids[0] as string);
  t.equal(loads.length, ids.length + 1, 'the least recently used one was dropped and is read again');
  const wrong = new Previews({ host: 'p.test', path: '', allow: [], releasesDir: '/r' }, [], (dir) => ({ ...site(dir), releaseId: 'ffffffffffff' }));
  t.equal(wrong.lookup(ids[1] as string), undefined, 'a directory whose manifest names another release is not served');
  t.end();
});

const PLAYBOOKS = fileURLToPath(new URL('./fixtures/playbooks', import.meta.url));

t.test('cluster preview pushes (fixture playbook) and prints the preview URLs from the inventory', async (t) => {
  const { dir, two } = await releases(t);
  const inventory = join(dir, '..', 'hosts.ini');
  writeFileSync(
    inventory,
    [
      '[origins]',
      'pi1 ansible_connection=local ansible_host=2001:db8::11 origin_node_preview_path=/_preview/',
      'pi2 ansible_connection=local ansible_host=2001:db8::12 origin_node_preview_path=/_preview/ origin_node_port=8080',
      '[origins:vars]',
      'origin_node_preview_host=Preview.Example.org',
      '',
    ].join('\n'),
  );
  const cli = (release: string): ReturnType<typeof runCli> => runCli(['cluster', 'preview', release, '-i', inventory], { PI_ORIGIN_ANSIBLE_DIR: PLAYBOOKS }, 90_000);
  const [r, current, none] = await Promise.all([cli(join(dir, two)), cli(join(dir, 'current')), cli(join(dir, '..', 'two'))]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `Push release ${two}`);
  t.equal(
    r.stdout.split('\n').filter((l) => l.startsWith('preview: ')).join('\n'),
    [`preview: http://${two}.preview.example.org/`, `preview: http://[2001:db8::11]:8080/_preview/${two}/`, `preview: http://[2001:db8::12]:8080/_preview/${two}/`].join('\n'),
  );
  t.equal(current.code, 0, 'current resolves to a release directory');
  t.equal(none.code, 1);
  t.match(none.stderr, 'has no manifest.json: not a release directory');
});

t.test('ansible/preview.yml is a valid playbook that pushes with origin_release and activates nothing', async (t) => {
  const text = readFileSync(fileURLToPath(new URL('../ansible/preview.yml', import.meta.url)), 'utf8');
  t.match(text, /tasks_from: push\n/);
  t.notMatch(text, /tasks_from: (activate|record|restore)/);
  const r = await run('ansible-playbook', ['--syntax-check', '-i', 'localhost,', fileURLToPath(new URL('../ansible/preview.yml', import.meta.url))], { cwd: fileURLToPath(new URL('../ansible', import.meta.url)) });
  t.equal(r.code, 0, r.stderr);
});
