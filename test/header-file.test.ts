/** The release rules file: `_headers` text with redirect lines, and the JSON form. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseHeadersText, parseRules, parseRulesJson, readRulesFile } from '../content/header-file.js';

const F = 'site/_headers';

t.test('patterns with indented headers; comments, blank lines and CRLF ignored', (t) => {
  const text = [
    '# Cache everything under /assets forever',
    '/assets/*',
    '  Cache-Control: public, max-age=31536000, immutable',
    '\tX-Robots-Tag: noindex',
    '',
    '   # an indented comment',
    '/*.html',
    '  Cache-Control: public, max-age=60, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400',
    '  Surrogate-Key: html pages',
    '/index.html\r',
    '  Link: </assets/site.css>; rel=preload; as=style\r',
    '  link: </assets/app.js>; rel=preload; as=script',
    '',
  ].join('\n');
  t.same(parseHeadersText(text, F), {
    headers: [
      { pattern: '/assets/*', headers: { 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Robots-Tag': 'noindex' } },
      { pattern: '/*.html', headers: { 'Cache-Control': 'public, max-age=60, s-maxage=600, stale-while-revalidate=30, stale-if-error=86400', 'Surrogate-Key': 'html pages' } },
      { pattern: '/index.html', headers: { Link: '</assets/site.css>; rel=preload; as=style, </assets/app.js>; rel=preload; as=script' } },
    ],
    redirects: [],
  });
  t.same(parseHeadersText('', F), { headers: [], redirects: [] }, 'empty file');
  t.same(parseHeadersText('# only a comment\n\n', F), { headers: [], redirects: [] });
  t.end();
});

t.test('redirect lines: FROM TO [STATUS], mixed with header blocks', (t) => {
  const text = ['/old  /new', '/blog/feed.xml\t/feed.xml 308', '/assets/*', '  X-A: 1', '/docs  https://docs.example.org/ 302', '/tmp /temporary 307'].join('\n');
  t.same(parseHeadersText(text, F), {
    headers: [{ pattern: '/assets/*', headers: { 'X-A': '1' } }],
    redirects: [
      { from: '/old', to: '/new', status: 301 },
      { from: '/blog/feed.xml', to: '/feed.xml', status: 308 },
      { from: '/docs', to: 'https://docs.example.org/', status: 302 },
      { from: '/tmp', to: '/temporary', status: 307 },
    ],
  });
  t.end();
});

t.test('errors name the file and line', (t) => {
  const cases: [string, string][] = [
    ['  Cache-Control: x', `${F}:1: indented header line before any path pattern`],
    ['/a /b\n  X-A: 1', `${F}:2: indented header line follows a redirect, not a path pattern`],
    ['# c\n/assets/*\n/b\n  X-A: 1', `${F}:2: /assets/* has no header lines (indent them under the pattern)`],
    ['/assets/*', `${F}:1: /assets/* has no header lines (indent them under the pattern)`],
    ['assets/*\n  X-A: 1', `${F}:1: path pattern "assets/*" must start with /`],
    ['/a\n  no colon here', `${F}:2: expected "Name: value", got "no colon here"`],
    ['/a\n  : value', `${F}:2: expected "Name: value", got ": value"`],
    ['/a\n  X-Empty:', `${F}:2: header X-Empty has an empty value`],
    ['/a\n  Bad Name: 1', `${F}:2: "Bad Name" is not a valid header name`],
    ['/a\n  Content-Type: text/plain', `${F}:2: header Content-Type is set by the server and cannot be configured`],
    ['/a\n  ETag: "x"', `${F}:2: header ETag is set by the server and cannot be configured`],
    ['/a\n  X-Bell: a\x07b', `${F}:2: header X-Bell has a value with control characters`],
    ['/a /b 303', `${F}:1: redirect status must be 301, 302, 307 or 308 (got 303)`],
    ['/a /b permanent', `${F}:1: redirect status must be 301, 302, 307 or 308 (got NaN)`],
    ['\n\n/a /b 301 extra', `${F}:3: expected a path pattern or "FROM TO [STATUS]", got 4 fields`],
    ['old /b', `${F}:1: redirect source "old" must start with /`],
    ['/a/* /b', `${F}:1: redirect source "/a/*" must be an exact path (no *)`],
    ['/a?x=1 /b', `${F}:1: redirect source "/a?x=1" must be a normalised path without query or fragment: it holds a query, fragment or whitespace`],
    ['/a/../b /b', `${F}:1: redirect source "/a/../b" must be a normalised path without query or fragment: it has a .. segment`],
    ['/a//b /b', `${F}:1: redirect source "/a//b" must be a normalised path without query or fragment: it has an empty segment (//)`],
    ['/.env /b', `${F}:1: redirect source "/.env" must be a normalised path without query or fragment: it has a dotfile segment .env (only /.well-known/ is served)`],
    ['/a //evil.example/', `${F}:1: redirect target "//evil.example/" is protocol-relative (another host): write https://host/ for that`],
    ['/a /\\evil.example/', `${F}:1: redirect target "/\\\\evil.example/" is protocol-relative (another host): write https://host/ for that`],
    ['/a b', `${F}:1: redirect target "b" must start with /, http:// or https://`],
    ['/a ftp://x/', `${F}:1: redirect target "ftp://x/" must start with /, http:// or https://`],
    ['/a /b\n/a /c', `${F}:2: redirect from /a is already defined on line 1`],
  ];
  for (const [text, message] of cases) t.throws(() => parseHeadersText(text, F), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_RULES', message }, JSON.stringify(text));
  t.end();
});

t.test('JSON form', (t) => {
  const json = JSON.stringify({
    headers: [{ pattern: '/assets/*', headers: { 'Cache-Control': 'public, max-age=31536000, immutable', 'Cache-Tag': 'assets' } }],
    redirects: [{ from: '/old', to: '/new' }, { from: '/x', to: 'https://example.org/x', status: 308 }],
  });
  t.same(parseRulesJson(json, 'rules.json'), {
    headers: [{ pattern: '/assets/*', headers: { 'Cache-Control': 'public, max-age=31536000, immutable', 'Cache-Tag': 'assets' } }],
    redirects: [
      { from: '/old', to: '/new', status: 301 },
      { from: '/x', to: 'https://example.org/x', status: 308 },
    ],
  });
  t.same(parseRulesJson('{}', 'r.json'), { headers: [], redirects: [] });
  t.same(parseRules('\ufeff  {"redirects": [{"from": "/a", "to": "/b", "status": 302}]}', 'r'), { headers: [], redirects: [{ from: '/a', to: '/b', status: 302 }] }, 'detected by its first character, BOM skipped');
  t.same(parseRules('/a /b', 'r'), { headers: [], redirects: [{ from: '/a', to: '/b', status: 301 }] }, 'text otherwise');
  const cases: [string, string][] = [
    ['[]', 'r.json: must be a JSON object with "headers" and/or "redirects"'],
    ['{"header": []}', 'r.json: unknown key "header" (expected "headers" and "redirects")'],
    ['{"headers": {}}', 'r.json: headers must be a list'],
    ['{"headers": [{"headers": {"X-A": "1"}}]}', 'r.json: headers[0] needs a "pattern" string'],
    ['{"headers": [{"pattern": "*.html", "headers": {"X-A": "1"}}]}', 'r.json: headers[0]: pattern "*.html" must start with /'],
    ['{"headers": [{"pattern": "/a"}]}', 'r.json: headers[0] needs a "headers" object'],
    ['{"headers": [{"pattern": "/a", "headers": {}}]}', 'r.json: headers[0]: headers is empty'],
    ['{"headers": [{"pattern": "/a", "headers": {"X-A": 1}}]}', 'r.json: headers[0]: header X-A must be a non-empty string'],
    ['{"headers": [{"pattern": "/a", "headers": {"Vary": "Cookie"}}]}', 'r.json: headers[0]: header Vary is set by the server and cannot be configured'],
    ['{"headers": [{"pattern": "/a", "headers": {"X-A": "a\\r\\nSet-Cookie: x"}}]}', 'r.json: headers[0]: header X-A has a value with control characters'],
    ['{"redirects": [{"from": "/a"}]}', 'r.json: redirects[0] needs "from" and "to" strings'],
    ['{"redirects": [{"from": "/a", "to": "/b", "status": 200}]}', 'r.json: redirects[0]: redirect status must be 301, 302, 307 or 308 (got 200)'],
    ['{"redirects": [{"from": "/a", "to": "/b"}, {"from": "/a", "to": "/c"}]}', 'r.json: redirects[1]: redirect from /a is already defined'],
  ];
  for (const [text, message] of cases) t.throws(() => parseRulesJson(text, 'r.json'), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_RULES', message }, text);
  t.throws(() => parseRulesJson('{\n  "headers": [\n    {"pattern": "/a",}\n  ]\n}', 'r.json'), { name: 'ReleaseError', message: /^r\.json:3: not valid JSON: / }, 'JSON syntax error with its line');
  t.end();
});

t.test('readRulesFile names a missing file', (t) => {
  const dir = t.testdir({ '_headers': '/a\n  X-A: 1\n' });
  t.same(readRulesFile(join(dir, '_headers')), { headers: [{ pattern: '/a', headers: { 'X-A': '1' } }], redirects: [] });
  writeFileSync(join(dir, 'bad'), '/a\n  Bad Name: 1\n');
  t.throws(() => readRulesFile(join(dir, 'bad')), { message: `${join(dir, 'bad')}:2: "Bad Name" is not a valid header name` });
  t.throws(() => readRulesFile(join(dir, 'nope')), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_RULES', message: `cannot read rules file ${join(dir, 'nope')}: ENOENT` });
  t.end();
});
