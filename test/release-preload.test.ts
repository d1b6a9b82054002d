/**
 * `Link` preload headers (release/preload.ts, `release build --preload`): what the page scan
 * finds, how the values join the rules' own `Link`, the manifest's `preload` list, and the
 * header a real server sends for the page.
 */
import { join } from 'node:path';
import t from 'tap';
import { MAX_PRELOAD_LINKS, validateManifest } from '../release/manifest.js';
import { preloadLinks } from '../release/preload.js';
import { activateRelease, buildRelease } from '../dist/release/release.js';
import { request, startServer } from './helpers/server.js';

const FILES = new Set(['/a.css', '/b.js', '/m.js', '/docs/c.css', '/print.css', '/x y.js', '/q.js']);
const links = (html: string, page = '/index.html'): string[] => preloadLinks(html, page, (p) => FILES.has(p));

t.test('stylesheets and scripts of the page, in document order, as rel=preload', (t) => {
  t.same(links('<link rel="stylesheet" href="/a.css"><script src="/b.js" defer></script><script type=module src=m.js></script>'), [
    '</a.css>; rel=preload; as=style',
    '</b.js>; rel=preload; as=script',
    '</m.js>; rel=preload; as=script; crossorigin',
  ]);
  t.same(links("<LINK REL='Stylesheet' HREF='c.css' crossorigin=use-credentials>", '/docs/index.html'), ['</docs/c.css>; rel=preload; as=style; crossorigin=use-credentials'], 'relative to the page, any case');
  t.same(links('<script src="/b.js" crossorigin></script>'), ['</b.js>; rel=preload; as=script; crossorigin'], 'the fetch mode matches the element');
  t.same(links('<script src="/x%20y.js"></script><script src="/q.js?v=1&amp;w=2"></script>'), ['</x%20y.js>; rel=preload; as=script', '</q.js?v=1&w=2>; rel=preload; as=script'], 'encoded path, query kept, entities decoded');
  t.same(links('<link rel=stylesheet href=/a.css><link rel=stylesheet href="/a.css">'), ['</a.css>; rel=preload; as=style'], 'once each');
  t.end();
});

t.test('nothing that would not be fetched, or not from this release', (t) => {
  t.same(links('<!-- <link rel=stylesheet href=/a.css> --><template><script src=/b.js></script></template><noscript><link rel=stylesheet href=/a.css></noscript>'), [], 'comments, template, noscript');
  t.same(links('<script>document.write("<script src=/b.js></s"+"cript>")</script><style>/* <link rel=stylesheet href=/a.css> */</style>'), [], 'script and style bodies');
  t.same(links('<script nomodule src=/b.js></script><script type=text/x-template src=/b.js></script><script type=application/json src=/b.js></script>'), [], 'nomodule and non-JavaScript types');
  t.same(links('<link rel="alternate stylesheet" href=/a.css><link rel=stylesheet media=print href=/print.css><link rel=icon href=/a.css>'), [], 'alternate, print-only and non-stylesheet links');
  t.same(links('<script src=https://cdn.example/b.js></script><script src=//cdn.example/b.js></script><link rel=stylesheet href=/missing.css><script src="javascript:alert(1)"></script>'), [], 'other hosts, missing files, other schemes');
  t.same(links('<script src="/b.js></script'), [], 'an unterminated tag gives nothing');
  t.end();
});

t.test('at most MAX_PRELOAD_LINKS per page', (t) => {
  const many = new Set(Array.from({ length: 40 }, (_, i) => `/s${i}.js`));
  const html = [...many].map((p) => `<script src=${p}></script>`).join('');
  const found = preloadLinks(html, '/index.html', (p) => many.has(p));
  t.equal(found.length, MAX_PRELOAD_LINKS);
  t.equal(found[0], '</s0.js>; rel=preload; as=script');
  t.end();
});

const PAGE = '<!doctype html><link rel=stylesheet href=/assets/site.5d41402a.css><script type=module src=/assets/app.3f9a1c2b.js></script>\n';
const RULES = '/index.html\n  Link: <https://fonts.example>; rel=preconnect\n';

t.test('build --preload: the page gets the Link header, the manifest the list, and a server sends it', async (t) => {
  const base = t.testdir({
    site: { 'index.html': PAGE, 'plain.html': '<p>no assets</p>', _headers: RULES, assets: { 'site.5d41402a.css': 'body{}', 'app.3f9a1c2b.js': 'export {};' } },
    releases: {},
    plain: {},
  });
  const releases = join(base, 'releases');
  const r = await buildRelease(join(base, 'site'), releases, { preload: true });
  const expected = ['</assets/site.5d41402a.css>; rel=preload; as=style', '</assets/app.3f9a1c2b.js>; rel=preload; as=script; crossorigin'];
  t.same(r.manifest.preload, { '/index.html': expected }, 'pages without stylesheets or scripts are left out');
  const index = r.manifest.files.find((f) => f.path === '/index.html');
  t.equal(index?.headers.Link, ['<https://fonts.example>; rel=preconnect', ...expected].join(', '), 'the rules\' Link first');
  t.doesNotThrow(() => validateManifest(JSON.parse(JSON.stringify(r.manifest)), 'm'));
  t.throws(() => validateManifest({ ...r.manifest, preload: { '/nope.html': [] } }, 'm'), { message: 'm: preload["/nope.html"]: not a file of this release' });
  t.throws(() => validateManifest({ ...r.manifest, preload: { '/index.html': ['</a>\r\nX-Evil: 1'] } }, 'm'), { message: /^m: preload\["\/index.html"\]: .* is not a Link value$/ });

  const off = await buildRelease(join(base, 'site'), join(base, 'plain'));
  t.equal(off.manifest.preload, undefined, 'opt-in: nothing without --preload');
  t.equal(off.manifest.files.find((f) => f.path === '/index.html')?.headers.Link, '<https://fonts.example>; rel=preconnect');
  t.not(off.id, r.id, 'the headers are part of the id');

  await activateRelease(releases, r.id);
  const { port } = await startServer(t, join(releases, 'current'));
  for (const path of ['/', '/index.html']) {
    const res = await request(port, path);
    t.equal(res.status, 200);
    t.equal(res.headers.link, `<https://fonts.example>; rel=preconnect, ${expected.join(', ')}`, `${path}: one Link header as built`);
  }
  t.equal((await request(port, '/plain.html')).headers.link, undefined);
});
