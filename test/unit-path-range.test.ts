/**
 * Unit tests for the two pure request-line parsers: path normalisation (the first defence,
 * checks in a fixed order) and `Range: bytes=` parsing. Imported from the TypeScript sources.
 */
import t from 'tap';
import { normalisePath, type PathResult } from '../index/path.js';
import { MAX_RANGES, parseRange, type RangeResult } from '../server/range.js';

t.test('normalisePath', (t) => {
  // In the documented order: bad percent-encoding, NUL/control bytes, backslashes, dot segments
  // climbing above the root, dotfiles other than /.well-known/.
  t.test('1. bad percent-encoding is 400', (t) => {
    const cases: [string, PathResult][] = [
      ['/%zz', 400],
      ['/%', 400],
      ['/a%2', 400],
      ['/a%g0', 400],
      ['/%c0%ae%c0%ae/secret.txt', 400], // overlong UTF-8 for '.'
      ['/%ff', 400], // not UTF-8
      ['/%e2%82', 400], // truncated UTF-8 sequence
      ['/%zz%00', 400],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('2. NUL and other control bytes are 400', (t) => {
    const cases: [string, PathResult][] = [
      ['/a%00.txt', 400],
      ['/a\x00.txt', 400],
      ['/%01', 400],
      ['/a%0d%0aX-Injected:%201', 400],
      ['/a\tb', 400],
      ['/a%09b', 400],
      ['/a%1f', 400],
      ['/a%7f', 400],
      ['/a\x7f', 400],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, JSON.stringify(input));
    t.end();
  });

  t.test('3. backslashes are 400', (t) => {
    const cases: [string, PathResult][] = [
      ['/..\\secret.txt', 400],
      ['/%5c..%5csecret.txt', 400],
      ['/a\\b', 400],
      ['/a%5Cb', 400],
      ['/\\', 400],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('4. dot segments climbing above the root are 400', (t) => {
    const cases: [string, PathResult][] = [
      ['/../secret.txt', 400],
      ['/..', 400],
      ['/%2e%2e/secret.txt', 400],
      ['/%2E%2E%2Fsecret.txt', 400],
      ['/..%2fsecret.txt', 400],
      ['/.%2e/secret.txt', 400],
      ['//../secret.txt', 400],
      ['/a/../../secret.txt', 400],
      ['/./../secret.txt', 400],
      ['/a/b/../../../secret.txt', 400],
      // A climbing path that also names a dotfile: the climb is checked first (fixed order).
      ['/.git/../../secret.txt', 400],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('5. dotfiles are 404, except /.well-known/', (t) => {
    const cases: [string, PathResult][] = [
      ['/.env', 404],
      ['/.git/config', 404],
      ['/sub/.hidden', 404],
      ['/%2eenv', 404],
      ['/.well-knownx/a', 404],
      ['/x/.well-known', 404],
      ['/x/.well-known/security.txt', 404],
      ['/.well-known/.secret', 404],
      ['/a/./.b', 404],
      ['/...', 404],
      ['/.well-known/x', '/.well-known/x'],
      ['/.well-known/security.txt', '/.well-known/security.txt'],
      ['/.well-known/', '/.well-known/'],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('a double-encoded traversal decodes once and stays a literal name', (t) => {
    const cases: [string, PathResult][] = [
      ['/%252e%252e/secret.txt', '/%2e%2e/secret.txt'],
      ['/%2525', '/%25'],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('paths that stay inside the root normalise to index keys', (t) => {
    const cases: [string, PathResult][] = [
      ['/', '/'],
      ['/index.html', '/index.html'],
      ['/a//b', '/a/b'],
      ['//a', '/a'],
      ['/a/./b/', '/a/b/'],
      ['/a/b/..', '/a/'],
      ['/a/b/.', '/a/b/'],
      ['/a/..', '/'],
      ['/a/../', '/'],
      ['/a/../index.html', '/index.html'],
      ['/a/b/../c', '/a/c'],
      ['/./a', '/a'],
      ['/%20x', '/ x'],
      ['/a%2Fb', '/a/b'],
      ['/caf%C3%A9.txt', '/café.txt'],
      ['/a..b', '/a..b'],
      ['/dir/', '/dir/'],
      ['/dir', '/dir'],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, input);
    t.end();
  });

  t.test('targets not starting with / are 400', (t) => {
    const cases: [string, PathResult][] = [
      ['a', 400],
      ['', 400],
      ['*', 400],
      ['..', 400],
      ['http://evil.example/index.html', 400],
      ['%2fa', 400],
    ];
    for (const [input, expected] of cases) t.equal(normalisePath(input), expected, JSON.stringify(input));
    t.end();
  });
  t.end();
});

t.test('parseRange', (t) => {
  const r = (start: number, end: number): RangeResult => ({ start, end });

  t.test('satisfiable single ranges, clamped to the size', (t) => {
    const cases: [string, number, RangeResult][] = [
      ['bytes=0-4', 10, r(0, 4)],
      ['bytes=0-0', 10, r(0, 0)],
      ['bytes=9-9', 10, r(9, 9)],
      ['bytes=3-', 10, r(3, 9)],
      ['bytes=0-', 10, r(0, 9)],
      ['bytes=-3', 10, r(7, 9)],
      ['bytes=-10', 10, r(0, 9)],
      ['bytes=-20', 10, r(0, 9)],
      ['bytes=5-100', 10, r(5, 9)],
      ['bytes=0-9', 10, r(0, 9)],
      ['bytes=007-008', 10, r(7, 8)],
      ['bytes=-1', 1, r(0, 0)],
      ['bytes=0-', 1, r(0, 0)],
    ];
    for (const [header, size, expected] of cases) t.same(parseRange(header, size), expected, `${header} of ${size}`);
    t.end();
  });

  t.test('unsatisfiable ranges (416)', (t) => {
    const cases: [string, number, RangeResult][] = [
      ['bytes=10-', 10, 'unsatisfiable'],
      ['bytes=10-20', 10, 'unsatisfiable'],
      ['bytes=-0', 10, 'unsatisfiable'],
      ['bytes=0-', 0, 'unsatisfiable'],
      ['bytes=0-0', 0, 'unsatisfiable'],
      ['bytes=-5', 0, 'unsatisfiable'],
      ['bytes=1-', 0, 'unsatisfiable'],
    ];
    for (const [header, size, expected] of cases) t.equal(parseRange(header, size), expected, `${header} of ${size}`);
    t.end();
  });

  t.test('invalid syntax is ignored (full 200)', (t) => {
    const cases: [string, number, RangeResult][] = [
      ['', 10, 'ignore'],
      ['bytes=', 10, 'ignore'],
      ['bytes=-', 10, 'ignore'],
      ['bytes=a-b', 10, 'ignore'],
      ['bytes=5-3', 10, 'ignore'],
      ['bytes=1-2-3', 10, 'ignore'],
      ['bytes=+1-2', 10, 'ignore'],
      ['bytes=0x10-', 10, 'ignore'],
      ['bytes=1.5-2', 10, 'ignore'],
      ['bytes 0-4', 10, 'ignore'],
      ['bytes:0-4', 10, 'ignore'],
      ['items=0-4', 10, 'ignore'],
      ['0-4', 10, 'ignore'],
      ['bits=0-4', 10, 'ignore'],
    ];
    for (const [header, size, expected] of cases) t.equal(parseRange(header, size), expected, JSON.stringify(header));
    t.end();
  });

  t.test('whitespace around numbers and the dash is allowed', (t) => {
    const cases: [string, number, RangeResult][] = [
      ['bytes= 0-4', 10, r(0, 4)],
      ['bytes=0 - 4', 10, r(0, 4)],
      ['bytes=0-4 ', 10, r(0, 4)],
      ['bytes=\t2-\t', 10, r(2, 9)],
      ['bytes= -3 ', 10, r(7, 9)],
    ];
    for (const [header, size, expected] of cases) t.same(parseRange(header, size), expected, JSON.stringify(header));
    t.end();
  });

  t.test('the unit is case-insensitive', (t) => {
    const cases: [string, number, RangeResult][] = [
      ['BYTES=0-4', 10, r(0, 4)],
      ['Bytes=-2', 10, r(8, 9)],
      ['bYtEs=5-', 10, r(5, 9)],
    ];
    for (const [header, size, expected] of cases) t.same(parseRange(header, size), expected, header);
    t.end();
  });

  t.test('several ranges are ignored (full 200); more than MAX_RANGES are 416', (t) => {
    t.equal(MAX_RANGES, 16);
    const parts = (n: number): string => 'bytes=' + Array.from({ length: n }, (_, i) => `${i}-${i}`).join(',');
    const cases: [string, number, RangeResult][] = [
      ['bytes=0-1,3-4', 10, 'ignore'],
      ['bytes=0-1, 3-4', 10, 'ignore'],
      ['bytes=0-0,-1', 10, 'ignore'],
      ['bytes=0-1,x', 10, 'ignore'],
      ['bytes=0-1,5-3', 10, 'ignore'],
      ['bytes=0-4,0-4', 10, 'ignore'],
      [parts(2), 100, 'ignore'],
      [parts(16), 100, 'ignore'],
      [parts(17), 100, 'unsatisfiable'],
      [parts(1000), 100, 'unsatisfiable'],
    ];
    for (const [header, size, expected] of cases) t.equal(parseRange(header, size), expected, header.slice(0, 40));
    t.end();
  });

  t.test('huge numbers do not overflow into a bogus range', (t) => {
    const big = '99999999999999999999';
    const cases: [string, number, RangeResult][] = [
      [`bytes=${big}-`, 10, 'unsatisfiable'],
      [`bytes=${big}-${big}`, 10, 'unsatisfiable'],
      [`bytes=0-${big}`, 10, r(0, 9)],
      [`bytes=-${big}`, 10, r(0, 9)],
      [`bytes=5-${big}`, 2 ** 40, r(5, 2 ** 40 - 1)],
      [`bytes=${'9'.repeat(400)}-`, 10, 'unsatisfiable'],
      [`bytes=0-${'9'.repeat(400)}`, 10, r(0, 9)],
      // last < first is invalid even when both exceed 2^53 (they must not compare as equal).
      [`bytes=${big}-99999999999999999998`, 10, 'ignore'],
      ['bytes=9007199254740993-9007199254740992', 10, 'ignore'],
    ];
    for (const [header, size, expected] of cases) t.same(parseRange(header, size), expected, header.slice(0, 60));
    t.end();
  });
  t.end();
});
