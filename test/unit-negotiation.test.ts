/**
 * Unit tests for content negotiation (Accept-Encoding) and conditional requests
 * (If-None-Match, If-Modified-Since, If-Range). Imported from the TypeScript sources.
 */
import t from 'tap';
import { BR, chooseEncoding, GZIP, IDENTITY, IDENTITY_FALLBACK_Q, NONE, parseAcceptEncoding, type Choice, type Preferences } from '../server/encoding.js';
import { ifRangeMatches, noneMatch, notModifiedSince, parseHttpDate } from '../server/conditional.js';

const NAME: Record<number, string> = { [IDENTITY]: 'identity', [BR]: 'br', [GZIP]: 'gzip', [NONE]: 'none (406)' };

t.test('parseAcceptEncoding: q-values for [identity, br, gzip]', (t) => {
  // An identity the header does not mention (and no `*`) is acceptable, but only as the last
  // resort: below any q a client can write.
  const U = IDENTITY_FALLBACK_Q;
  t.ok(U > 0 && U < 0.001, 'the unlisted-identity q is positive and below the smallest writable q');
  const cases: [string, Preferences][] = [
    ['', [1, 0, 0]],
    ['gzip', [U, 0, 1]],
    ['br', [U, 1, 0]],
    ['gzip, deflate, br', [U, 1, 1]],
    ['gzip, deflate, br, zstd', [U, 1, 1]],
    ['deflate', [U, 0, 0]],
    ['GZIP, Br', [U, 1, 1]],
    ['x-gzip', [U, 0, 1]],
    ['X-GZIP, br;q=0.3', [U, 0.3, 1]],
    ['br;q=1.0, gzip;q=0.001, identity', [1, 1, 0.001]],
    [' gzip ; q=0.5 , br ', [U, 1, 0.5]],
    ['br, gzip;Q=0.5', [U, 1, 0.5]],
    ['br, gzip; level=1; q=0.4', [U, 1, 0.4]],
    ['gzip;q=0', [U, 0, 0]],
    ['gzip;q=0.000', [U, 0, 0]],
    // `*` covers every coding not listed, identity included.
    ['*', [1, 1, 1]],
    ['*;q=0.5', [0.5, 0.5, 0.5]],
    ['*;q=0.5, br', [0.5, 1, 0.5]],
    ['br, *;q=0', [0, 1, 0]],
    ['*;q=0', [0, 0, 0]],
    ['*;q=0, identity', [1, 0, 0]],
    ['*, gzip;q=0', [1, 1, 0]],
    // identity is acceptable unless excluded explicitly or by `*;q=0`.
    ['identity', [1, 0, 0]],
    ['identity;q=0', [0, 0, 0]],
    ['identity;q=0, gzip', [0, 0, 1]],
    ['identity;q=0.5, gzip;q=0.4', [0.5, 0, 0.4]],
    ['identity;q=0, *;q=0', [0, 0, 0]],
    // q above 1 is clamped; an unparseable number is not acceptable.
    ['gzip;q=2', [U, 0, 1]],
    ['gzip;q=1.2.3', [U, 0, 0]],
    ['br;q=.', [U, 0, 0]],
    [',,', [U, 0, 0]],
    ['gzip,', [U, 0, 1]],
  ];
  for (const [header, expected] of cases) t.same(parseAcceptEncoding(header), expected, JSON.stringify(header));
  t.end();
});

t.test('parseAcceptEncoding: q parameters that are not numbers never give NaN or values outside 0..1', (t) => {
  for (const header of ['gzip;q=abc', 'gzip;q=-1', 'gzip;q=', 'gzip;q', 'gzip;q=1e3', 'br;q=NaN', 'br;q=Infinity', 'gzip;q=0x1']) {
    const prefs = parseAcceptEncoding(header);
    t.equal(prefs.length, 3, header);
    for (const q of prefs) t.ok(Number.isFinite(q) && q >= 0 && q <= 1, `${header}: ${q} in [0, 1]`);
    t.ok(prefs[IDENTITY] > 0, `${header}: identity still acceptable`);
    t.equal(prefs[BR] === 0 || header.startsWith('br'), true, `${header}: br untouched unless named`);
  }
  t.end();
});

t.test('chooseEncoding: highest q among available codings; ties prefer br, gzip, identity', (t) => {
  // [Accept-Encoding, hasBr, hasGzip, expected]
  const cases: [string, boolean, boolean, Choice][] = [
    ['', true, true, IDENTITY],
    ['gzip, deflate, br', true, true, BR],
    ['gzip, br', true, true, BR],
    ['br, gzip', true, true, BR],
    ['gzip, br', false, true, GZIP],
    ['gzip, br', true, false, BR],
    ['gzip, br', false, false, IDENTITY],
    ['gzip', true, true, GZIP],
    ['x-gzip', true, true, GZIP],
    ['br', false, true, IDENTITY],
    ['*', true, true, BR],
    ['*', false, true, GZIP],
    ['*', false, false, IDENTITY],
    ['gzip;q=1, br;q=0.9', true, true, GZIP],
    // Listing codings with q < 1 still asks for them: an identity the client did not mention is
    // the last resort (RFC 9110 §12.5.3 gives it no qvalue), not an implicit q=1 that beats them.
    ['br;q=0.5, gzip;q=0.8', true, true, GZIP],
    ['br;q=0.8, gzip;q=0.8', true, true, BR],
    ['gzip;q=0.5', true, true, GZIP],
    ['x-gzip;q=0.3', false, true, GZIP],
    ['br;q=0.9', true, true, BR],
    ['br;q=0.9, gzip;q=0.1', false, false, IDENTITY],
    ['br;q=0.9, gzip;q=0.1, identity;q=0.5', true, true, BR],
    ['br;q=0.4, gzip;q=0.1, identity;q=0.5', true, true, IDENTITY],
    ['gzip;q=0.5, identity;q=0.5', true, true, GZIP],
    ['br;q=0.5, identity;q=0.5', true, true, BR],
    ['identity;q=0.5, gzip;q=0.4', true, true, IDENTITY],
    ['identity;q=1, br;q=1', true, true, BR],
    ['gzip;q=0', true, true, IDENTITY],
    ['br;q=0, gzip;q=0', true, true, IDENTITY],
    // Nothing acceptable: 406.
    ['identity;q=0', true, true, NONE],
    ['identity;q=0', false, false, NONE],
    ['*;q=0', true, true, NONE],
    ['identity;q=0, *;q=0', true, true, NONE],
    ['identity;q=0, gzip', true, true, GZIP],
    ['identity;q=0, gzip', true, false, NONE],
    ['br, *;q=0', true, true, BR],
    ['br, *;q=0', false, true, NONE],
    ['gzip, *;q=0', false, true, GZIP],
    ['*;q=0, identity', true, true, IDENTITY],
  ];
  for (const [header, hasBr, hasGzip, expected] of cases) {
    const got = chooseEncoding(parseAcceptEncoding(header), hasBr, hasGzip);
    t.equal(got, expected, `${JSON.stringify(header)} br=${hasBr} gzip=${hasGzip}: ${NAME[got]} (want ${NAME[expected]})`);
  }
  t.end();
});

t.test('the memo stays bounded and correct under many distinct headers', (t) => {
  const first = 'br, gzip;q=0.6, x-first';
  const a = parseAcceptEncoding(first);
  t.same(a, [IDENTITY_FALLBACK_Q, 1, 0.6]);
  t.equal(parseAcceptEncoding(first), a, 'a repeated header is served from the memo');
  const wrong: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const q = ((i % 999) + 1) / 1000; // 0.001 .. 0.999
    const header = `gzip, br;q=${q}, x-unique-${i}`;
    const prefs = parseAcceptEncoding(header);
    if (prefs[IDENTITY] !== IDENTITY_FALLBACK_Q || prefs[BR] !== q || prefs[GZIP] !== 1 || chooseEncoding(prefs, true, true) !== GZIP) {
      wrong.push(`${header} -> ${JSON.stringify(prefs)}`);
    }
  }
  t.same(wrong, [], '1000 distinct headers, each parsed correctly');
  const again = parseAcceptEncoding(first);
  t.same(again, [IDENTITY_FALLBACK_Q, 1, 0.6], 'still correct after 1000 distinct headers');
  t.not(again, a, 'the first entry was evicted: the memo did not keep all 1001 headers');
  t.equal(chooseEncoding(again, true, true), BR);
  t.end();
});

t.test('noneMatch: weak comparison against our strong ETag', (t) => {
  const etag = '"0123456789abcdef0123456789abcdef"';
  const other = '"ffffffffffffffffffffffffffffffff"';
  const cases: [string, boolean][] = [
    [etag, true],
    [`W/${etag}`, true],
    ['*', true],
    [' * ', true],
    [` ${etag} `, true],
    [`${other}, ${etag}`, true],
    [`${other},${etag}`, true],
    [`${etag}, ${other}`, true],
    [`${other} ,  W/${etag} `, true],
    [`\t${other},\t${etag}\t`, true],
    [other, false],
    [`W/${other}`, false],
    ['"0123456789abcdef0123456789abcde"', false],
    ['"0123456789abcdef0123456789abcdef0"', false],
    ['0123456789abcdef0123456789abcdef', false],
    [`w/${etag}`, false],
    [`W/ ${etag}`, false],
    [`x${etag}`, false],
    [`${other}, ${other}`, false],
    ['"*"', false],
  ];
  for (const [header, expected] of cases) t.equal(noneMatch(header, etag), expected, JSON.stringify(header));
  t.end();
});

t.test('noneMatch: thousands of tags', (t) => {
  const etag = '"0123456789abcdef0123456789abcdef"';
  const tags = Array.from({ length: 5000 }, (_, i) => `"${i.toString(16).padStart(32, '0')}"`);
  const started = process.hrtime.bigint();
  t.equal(noneMatch(tags.join(', '), etag), false, 'no match among 5000 tags');
  t.equal(noneMatch([...tags, etag].join(', '), etag), true, 'match at the end of 5001 tags');
  t.equal(noneMatch([...tags.slice(0, 2500), `W/${etag}`, ...tags.slice(2500)].join(','), etag), true, 'weak match in the middle');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.ok(ms < 500, `linear time (${ms.toFixed(1)} ms)`);
  t.end();
});

t.test('parseHttpDate', (t) => {
  const cases: [string, number][] = [
    ['Sun, 06 Nov 1994 08:49:37 GMT', 784111777],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Fri, 02 Jan 2026 03:04:05 GMT', 1767323045],
    [new Date(1767323045999).toUTCString(), 1767323045],
  ];
  for (const [text, expected] of cases) t.equal(parseHttpDate(text), expected, text);
  for (const text of ['', 'yesterday', 'not a date', 'Sun, 99 Nov 1994 08:49:37 GMT']) {
    t.ok(Number.isNaN(parseHttpDate(text)), `${JSON.stringify(text)} is NaN`);
  }
  // Alternating texts are not confused by the one-entry memo.
  t.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), 784111777);
  t.ok(Number.isNaN(parseHttpDate('nope')));
  t.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), 784111777);
  t.end();
});

t.test('parseHttpDate accepts the obsolete RFC 850 and asctime formats as GMT, whatever the local time zone', (t) => {
  // RFC 9110 §5.6.7: recipients MUST accept all three formats; all are UTC.
  const saved = process.env['TZ'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['TZ'];
    else process.env['TZ'] = saved;
  });
  for (const tz of ['UTC', 'America/New_York', 'Asia/Tokyo']) {
    process.env['TZ'] = tz;
    const cases: [string, number][] = [
      ['Sun, 06 Nov 1994 08:49:37 GMT', 784111777],
      ['Sunday, 06-Nov-94 08:49:37 GMT', 784111777],
      ['Sun Nov  6 08:49:37 1994', 784111777],
    ];
    for (const [text, expected] of cases) {
      parseHttpDate(`reset ${tz}`); // defeat the one-entry memo between zones
      t.equal(parseHttpDate(text), expected, `TZ=${tz}: ${text}`);
    }
  }
  t.end();
});

t.test('notModifiedSince', (t) => {
  const mtimeSec = 1767323045; // Fri, 02 Jan 2026 03:04:05 GMT
  const at = (sec: number): string => new Date(sec * 1000).toUTCString();
  const cases: [string, boolean][] = [
    [at(mtimeSec), true],
    [at(mtimeSec + 1), true],
    [at(mtimeSec + 86400), true],
    [at(mtimeSec - 1), false],
    [at(0), false],
    ['garbage', false],
    ['', false],
  ];
  for (const [header, expected] of cases) t.equal(notModifiedSince(header, mtimeSec), expected, JSON.stringify(header));
  t.end();
});

t.test('ifRangeMatches: strong comparison only', (t) => {
  const etag = '"0123456789abcdef0123456789abcdef"';
  const mtimeSec = 1767323045;
  const at = (sec: number): string => new Date(sec * 1000).toUTCString();
  const cases: [string, boolean][] = [
    [etag, true],
    ['"ffffffffffffffffffffffffffffffff"', false],
    [`W/${etag}`, false],
    [`${etag}, "x"`, false],
    [at(mtimeSec), true],
    [at(mtimeSec - 1), false],
    [at(mtimeSec + 1), false],
    ['garbage', false],
    ['Wed, 21 Oct 2015 07:28:00 GMT', false],
  ];
  for (const [header, expected] of cases) t.equal(ifRangeMatches(header, etag, mtimeSec), expected, header);
  t.end();
});

t.test('ifRangeMatches: a Last-Modified date on a Wednesday is a date, not a weak ETag', (t) => {
  const etag = '"0123456789abcdef0123456789abcdef"';
  const wednesday = 1445412480; // Wed, 21 Oct 2015 07:28:00 GMT
  const cases: [string, boolean][] = [
    ['Wed, 21 Oct 2015 07:28:00 GMT', true],
    [new Date(wednesday * 1000).toUTCString(), true],
    ['Wed, 21 Oct 2015 07:27:59 GMT', false],
    [`W/${etag}`, false],
  ];
  for (const [header, expected] of cases) t.equal(ifRangeMatches(header, etag, wednesday), expected, header);
  t.end();
});
