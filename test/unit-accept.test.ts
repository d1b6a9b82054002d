/**
 * Accept negotiation (index/negotiate.ts) between a page and its alternate, the `Vary` it makes
 * the head block send, and the manifest's `alternates` field as a node reads it. Imported from
 * the TypeScript sources.
 */
import t from 'tap';
import type { HttpResponse } from 'uWebSockets.js';
import { HeadBlock } from '../index/head-block.js';
import { MediaChooser, parseAccept, qualityOf } from '../index/negotiate.js';
import { validateManifest } from '../release/manifest.js';
import { SIMPLE_ALIASES, SIMPLE_JSON } from '../release/package-index.js';

const HTML = 'text/html; charset=utf-8';
const PIP = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';
const FIREFOX = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

t.test('parseAccept: media ranges with their q, lower-cased, malformed ones dropped', (t) => {
  t.same(parseAccept(''), [{ type: '*', subtype: '*', q: 1 }], 'no header is */*');
  t.same(parseAccept('  '), [{ type: '*', subtype: '*', q: 1 }]);
  t.same(parseAccept(PIP), [
    { type: 'application', subtype: 'vnd.pypi.simple.v1+json', q: 1 },
    { type: 'application', subtype: 'vnd.pypi.simple.v1+html', q: 0.1 },
    { type: 'text', subtype: 'html', q: 0.01 },
  ]);
  t.same(parseAccept('TEXT/HTML;Level=1;Q=0.5;ext=1'), [{ type: 'text', subtype: 'html', q: 0.5 }], 'parameters other than q ignored, q read where it is');
  t.same(parseAccept('html, */html, text/, /x, text/*'), [{ type: 'text', subtype: '*', q: 1 }], 'no slash, wildcard type with a subtype, empty parts: dropped');
  // q is an RFC 9110 qvalue or it is 0: never NaN, never above 1, never negative.
  for (const [q, want] of [['1', 1], ['1.000', 1], ['0.001', 0.001], ['0', 0], ['2', 0], ['-1', 0], ['abc', 0], ['', 0], ['0.0001', 0], ['1e0', 0], ['.5', 0]] as const)
    t.equal(parseAccept(`a/b;q=${q}`)[0]?.q, want, `q=${q}`);
  t.end();
});

t.test('qualityOf: the most specific range decides', (t) => {
  const ranges = parseAccept('text/*;q=0.3, text/html;q=0.7, */*;q=0.1, text/html;q=0.2');
  t.equal(qualityOf(ranges, ['text/html']), 0.7, 'exact beats type/*, the higher of two exact ones');
  t.equal(qualityOf(ranges, ['text/plain']), 0.3, 'type/* beats */*');
  t.equal(qualityOf(ranges, ['image/png']), 0.1, '*/* last');
  t.equal(qualityOf(parseAccept('text/html;q=0, */*'), ['text/html']), 0, 'an explicit 0 excludes, whatever */* says');
  t.equal(qualityOf(parseAccept('text/plain'), ['text/html']), 0, 'no range: not acceptable');
  // A representation with several names: the most specific range naming any of them decides.
  t.equal(qualityOf(parseAccept('text/html;q=0, */*'), ['text/html', 'application/x-alias']), 0, 'an exact 0 on one name beats */* on another');
  t.equal(qualityOf(parseAccept('application/x-alias;q=0.4, text/html;q=0.2'), ['text/html', 'application/x-alias']), 0.4, 'the higher of two exact names');
  t.end();
});

t.test('MediaChooser: a PEP 691 page, HTML first, JSON its alternate', (t) => {
  const chooser = new MediaChooser([HTML, SIMPLE_JSON], SIMPLE_ALIASES);
  const cases: [string, 0 | 1, string][] = [
    [PIP, 1, 'pip asks for JSON first'],
    ['application/vnd.pypi.simple.v1+json', 1, 'JSON only'],
    ['Application/VND.PyPI.Simple.V1+JSON', 1, 'types are case-insensitive'],
    ['application/vnd.pypi.simple.latest+json', 1, 'latest is v1 (PEP 691)'],
    ['application/vnd.pypi.simple.v1+html', 0, 'the HTML type by its PEP 691 name'],
    ['application/vnd.pypi.simple.v1+json;q=0.2, application/vnd.pypi.simple.v1+html', 0, 'HTML preferred by q'],
    ['text/html', 0, 'an old PEP 503 client'],
    [FIREFOX, 0, 'a browser gets HTML (JSON only through */*;q=0.8)'],
    ['', 0, 'no Accept: the default'],
    ['*/*', 0, 'a tie goes to the default'],
    ['application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5', 0, 'an explicit tie too'],
    ['*/*;q=0.1, application/vnd.pypi.simple.v1+json', 1, 'exact beats */*'],
    ['text/html;q=0, */*', 1, 'HTML refused, JSON through */*'],
    ['application/vnd.pypi.simple.v1+json;q=0, */*', 0, 'JSON refused'],
    ['text/*', 0, 'a type wildcard'],
    ['application/json', 0, 'nothing acceptable: the default, not 406'],
    ['text/html;q=0, application/vnd.pypi.simple.v1+json;q=0', 0, 'both refused: still the default'],
    ['application/vnd.pypi.simple.v2+json', 0, 'a version we do not have: the default (its Content-Type says what it is)'],
  ];
  for (const [accept, want, why] of cases) t.equal(chooser.choose(accept), want, `${why}: ${JSON.stringify(accept)}`);
  t.equal(new MediaChooser([HTML, SIMPLE_JSON]).choose('application/vnd.pypi.simple.v1+html'), 0, 'without aliases an unknown name gets the default');
  t.equal(new MediaChooser([SIMPLE_JSON, HTML], SIMPLE_ALIASES).choose('*/*'), 0, 'the default is whichever type comes first');
  t.end();
});

t.test('MediaChooser: the memo stays bounded and answers stay right', (t) => {
  const chooser = new MediaChooser([HTML, SIMPLE_JSON], SIMPLE_ALIASES);
  for (let i = 0; i < 1000; i++) t.equal(chooser.choose(`application/vnd.pypi.simple.v1+json;q=0.${i % 2 === 0 ? 9 : 0}, x/y${i}`), i % 2 === 0 ? 1 : 0);
  t.ok((chooser as unknown as { memo: Map<string, number> }).memo.size <= 256, 'at most 256 headers remembered');
  t.equal(chooser.choose(PIP), 1);
  t.end();
});

t.test('head block: a negotiated page varies on Accept and Accept-Encoding, in one Vary line', (t) => {
  const lines: string[] = [];
  const res = { writeHeader: (k: string, v: string) => (lines.push(`${k}: ${v}\r\n`), res) } as unknown as HttpResponse;
  const parts = { type: SIMPLE_JSON, encoding: 'gzip' as const, vary: true, varyAccept: true, releaseId: '5465a1a40e71', lines: [['Cache-Control', 'public, max-age=60']] as const };
  const block = HeadBlock.build(parts);
  block.writeTo(res);
  block.writeNotModifiedTo(res);
  t.equal(
    lines.join(''),
    `Content-Type: ${SIMPLE_JSON}\r\nContent-Encoding: gzip\r\nAccept-Ranges: bytes\r\nVary: Accept, Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: 5465a1a40e71\r\nCache-Control: public, max-age=60\r\n` +
      'Cache-Control: public, max-age=60\r\nVary: Accept, Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: 5465a1a40e71\r\n',
  );
  t.equal(block.varyLine, 'Vary: Accept, Accept-Encoding', 'what a 406 about it repeats');
  t.equal(HeadBlock.build({ ...parts, vary: false }).varyLine, 'Vary: Accept', 'not compressible: Accept only');
  t.equal(HeadBlock.build({ ...parts, varyAccept: false }).varyLine, 'Vary: Accept-Encoding', 'as before for every other file');
  t.equal(HeadBlock.build({ ...parts, vary: false, varyAccept: false }).varyLine, '');
  t.end();
});

/** A valid manifest with an index page and its JSON, for the field checks below. */
function manifest(alternates: unknown): Record<string, unknown> {
  const file = (path: string, type: string): Record<string, unknown> => ({ path, size: 1, sha256: 'a'.repeat(64), type, mtime: 0, headers: {}, variants: {} });
  return {
    format: 1, id: '0123456789ab', created: '2026-01-01T00:00:00.000Z', redirects: [],
    files: [file('/simple/index.html', HTML), file('/simple/index.json', SIMPLE_JSON), file('/simple/other.html', HTML)],
    ...(alternates === undefined ? {} : { alternates }),
  };
}

t.test('manifest alternates: optional, and checked where read', (t) => {
  const ok = { aliases: SIMPLE_ALIASES, pages: { '/simple/index.html': '/simple/index.json' } };
  t.equal(validateManifest(manifest(undefined), 'm').alternates, undefined, 'a release without the field reads as before');
  t.same(validateManifest(manifest(ok), 'm').alternates, ok);
  const bad: [unknown, string][] = [
    [[], 'alternates: must be an object with aliases and pages objects'],
    [{ pages: {} }, 'alternates: must be an object with aliases and pages objects'],
    [{ aliases: {}, pages: { '/simple/other.html': '/simple/index.json' } }, 'alternates.pages["/simple/other.html"]: must be a directory index (…/index.html) of this release'],
    [{ aliases: {}, pages: { '/nope/index.html': '/simple/index.json' } }, 'alternates.pages["/nope/index.html"]: must be a directory index (…/index.html) of this release'],
    [{ aliases: {}, pages: { '/simple/index.html': '/simple/nope.json' } }, 'alternates.pages["/simple/index.html"]: "/simple/nope.json" must be another file of this release, not a page'],
    [{ aliases: {}, pages: { '/simple/index.html': 5 } }, 'alternates.pages["/simple/index.html"]: 5 must be another file of this release, not a page'],
    [{ aliases: {}, pages: { '/simple/index.html': '/simple/other.html' } }, 'alternates.pages["/simple/index.html"]: "/simple/other.html" has the page\'s own media type'],
    [{ aliases: { 'text/*': 'text/html' }, pages: {} }, 'alternates.aliases["text/*"]: must map a media type (type/subtype, lower case) to another'],
    [{ aliases: { 'a/b': 'a/b\r\nX: 1' }, pages: {} }, 'alternates.aliases["a/b"]: must map a media type (type/subtype, lower case) to another'],
    [{ aliases: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`a/b${i}`, 'text/html'])), pages: {} }, 'alternates.aliases: at most 16'],
  ];
  for (const [alternates, message] of bad) t.throws(() => validateManifest(manifest(alternates), 'm'), { name: 'ManifestError', message: `m: ${message}` }, message);
  t.end();
});
