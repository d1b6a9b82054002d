/**
 * Header-rule patterns (`content/header-rules.ts`): the Netlify `_headers` splat semantics by
 * example, equivalence with the regular expression they used to compile to (fast-check, on
 * inputs small enough for that regex), and no catastrophic backtracking on a hostile pattern,
 * alone and through `release build`. TypeScript sources.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { compilePattern, compileRules } from '../content/header-rules.js';
import { buildRelease } from '../release/release.js';

/** A fixed seed so a failure replays (FC_SEED explores others). */
const seed = process.env.FC_SEED === undefined ? 0x5eed : Number(process.env.FC_SEED);

/**
 * The old compilation, kept as the oracle: `*` became `.*`, the rest was escaped. With the `s`
 * flag, so a star also spans U+2028, U+2029, CR and LF: without it the old rules silently skipped
 * a file whose name held one of them (a `/*` CSP rule did not apply to it).
 */
function oldRegex(pattern: string): RegExp {
  const body = pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(pattern.startsWith('/') ? `^${body}$` : `(?:^|/)${body}$`, 's');
}

t.test('patterns by example: splats, exact paths, literal punctuation', (t) => {
  // [pattern, path, matches]
  const cases: [string, string, boolean][] = [
    ['/assets/*', '/assets/app.js', true],
    ['/assets/*', '/assets/', true],
    ['/assets/*', '/assets/img/logo.png', true],
    ['/assets/*', '/assets', false],
    ['/assets/*', '/other/assets/app.js', false],
    ['/*', '/', true],
    ['/*', '/anything/at/all', true],
    ['/*.html', '/index.html', true],
    ['/*.html', '/blog/post.html', true],
    ['/*.html', '/index.htm', false],
    ['/*.html', '/index.html.bak', false],
    ['/blog/*/index.html', '/blog/2026/11/index.html', true],
    ['/blog/*/index.html', '/blog/index.html', false],
    ['/a*b*c', '/abc', true],
    ['/a*b*c', '/a-c-b', false],
    ['/a*b*c', '/axxbyybzc', true],
    ['/a**b', '/ab', true],
    ['/exact', '/exact', true],
    ['/exact', '/exact/', false],
    ['/exact', '/exactly', false],
    // Regular-expression characters are literal.
    ['/a.b', '/a.b', true],
    ['/a.b', '/axb', false],
    ['/a+(b)|[c]$^{1}\\', '/a+(b)|[c]$^{1}\\', true],
    ['/a?', '/ab', false],
    // No :placeholder syntax: a colon is a character like any other.
    ['/news/:year/*', '/news/:year/x', true],
    ['/news/:year/*', '/news/2026/x', false],
    // Patterns not starting with / (--cache-control '*.html=...') match from a segment start to the end.
    ['*.html', '/index.html', true],
    ['*.html', '/a/b.html', true],
    ['*.html', '/a.html/b', false],
    ['index.html', '/index.html', true],
    ['index.html', '/blog/index.html', true],
    ['index.html', '/blog/myindex.html', false],
    ['b*.txt', '/a/b1.txt', true],
    ['b*.txt', '/ab1.txt', false],
    ['b*.txt', '/ab/b.txt', true],
    // A star spans any character, line separators included.
    ['/*', '/a\u2028b', true],
    ['/a*b', '/a\nb', true],
  ];
  // JSON leaves U+2028 as it is, and TAP would read it as a line break.
  const show = (s: string): string => JSON.stringify(s).replace(/\u2028/g, '\\u2028');
  for (const [pattern, path, expected] of cases) t.equal(compilePattern(pattern)(path), expected, `${show(pattern)} ${expected ? 'matches' : 'does not match'} ${show(path)}`);
  t.end();
});

t.test('property: the matcher agrees with the regular expression it replaces', (t) => {
  // Few distinct characters, so pieces repeat and overlap: the cases where a greedy placement could go wrong.
  const char = fc.constantFrom('/', 'a', 'b', 'ab', '.', '-', ':', '\u2028');
  const path = fc.array(char, { maxLength: 12 }).map((c) => '/' + c.join(''));
  const pattern = fc.tuple(fc.boolean(), fc.array(fc.oneof(char, fc.constant('*')), { maxLength: 10 })).map(([slash, c]) => (slash ? '/' : '') + c.join(''));
  fc.assert(
    fc.property(pattern, fc.array(path, { minLength: 1, maxLength: 10 }), (p, paths) => {
      const matches = compilePattern(p);
      const re = oldRegex(p);
      for (const x of paths) if (matches(x) !== re.test(x)) throw new Error(`${JSON.stringify(p)} on ${JSON.stringify(x)}: ${matches(x)}, the regex says ${re.test(x)}`);
    }),
    { seed, numRuns: 20000 },
  );
  t.end();
});

/** `/*a*a*...*b` with `stars` stars: every `a` can be matched at many places and the path has no `b`. */
const hostile = (stars: number): string => '/*' + 'a*'.repeat(stars - 1) + 'b';

t.test('a hostile pattern on a long path is decided in one pass', (t) => {
  // The regex took 9.6 s for 7 stars on 65 characters and did not finish 9 in 50 s; these are far worse.
  const long = '/' + 'a'.repeat(100_000);
  const started = performance.now();
  t.equal(compilePattern(hostile(7))('/' + 'a'.repeat(64)), false);
  t.equal(compilePattern(hostile(40))(long), false);
  t.equal(compilePattern(hostile(40))(long + 'b'), true);
  t.equal(compilePattern('*' + 'a*'.repeat(39) + 'b')(long), false, 'the same, not anchored');
  const rules = compileRules([{ pattern: hostile(40), headers: { 'X-Hostile': '1' } }]);
  t.same(rules.headersFor(long, 'text/plain'), [['Cache-Control', 'public, max-age=3600']]);
  // Generous: the work is a few hundred thousand comparisons; the regex needed years.
  t.ok(performance.now() - started < 1000, `done in ${Math.round(performance.now() - started)} ms`);
  t.end();
});

t.test('release build with a hostile _headers finishes', async (t) => {
  const dir = t.testdir({ releases: {} });
  const site = join(dir, 'site');
  const deep = join(site, 'a'.repeat(200), 'a'.repeat(200));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'aaaa.txt'), 'a\n');
  writeFileSync(join(site, 'index.html'), '<p>hi</p>\n');
  writeFileSync(join(site, '_headers'), [hostile(12), '  X-Hostile: 1', '/*.html', '  X-Html: 1', ''].join('\n'));
  const r = await buildRelease(site, join(dir, 'releases'));
  const headers = (path: string): Record<string, string> | undefined => r.manifest.files.find((f) => f.path === path)?.headers;
  t.notOk(headers(`/${'a'.repeat(200)}/${'a'.repeat(200)}/aaaa.txt`)?.['X-Hostile'], 'the hostile rule does not match');
  t.equal(headers('/index.html')?.['X-Html'], '1', 'the other rules still apply');
});
