/**
 * The header block (server/head-block.ts): the exact bytes each response kind writes, and a
 * block that refuses any part that could split a header, whoever admitted it.
 */
import t from 'tap';
import type { HttpResponse } from 'uWebSockets.js';
import { HeadBlock } from '../index/head-block.js';

/** A response that records writeHeader calls, as uWS would put them on the wire. */
function recorder(): { res: HttpResponse; wire: () => string } {
  const lines: string[] = [];
  const res = {
    writeHeader(key: string, value: string) {
      lines.push(`${key}: ${value}\r\n`);
      return res;
    },
  } as unknown as HttpResponse;
  return { res, wire: () => lines.join('') };
}

const parts = {
  type: 'text/css; charset=utf-8',
  encoding: 'br' as const,
  vary: true,
  releaseId: '5465a1a40e71',
  lines: [
    ['Cache-Control', 'public, max-age=31536000, immutable'],
    ['X-Frame-Options', 'DENY'],
  ] as const,
};

t.test('a 200 gets the type, the coding, ranges and every shared header', (t) => {
  const r = recorder();
  t.equal(HeadBlock.build(parts).writeTo(r.res), r.res, 'chains like uWS');
  t.equal(
    r.wire(),
    'Content-Type: text/css; charset=utf-8\r\nContent-Encoding: br\r\nAccept-Ranges: bytes\r\nVary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: 5465a1a40e71\r\nCache-Control: public, max-age=31536000, immutable\r\nX-Frame-Options: DENY\r\n',
  );
  t.end();
});

t.test('a 304 repeats Cache-Control, Vary and the rules, no representation metadata', (t) => {
  const r = recorder();
  HeadBlock.build(parts).writeNotModifiedTo(r.res);
  t.equal(r.wire(), 'Cache-Control: public, max-age=31536000, immutable\r\nVary: Accept-Encoding\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: 5465a1a40e71\r\nX-Frame-Options: DENY\r\n');
  const plain = recorder();
  HeadBlock.build({ ...parts, encoding: undefined, vary: false, lines: [] }).writeNotModifiedTo(plain.res);
  t.equal(plain.wire(), 'Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: 5465a1a40e71\r\n', 'no rule: no-cache');
  t.end();
});

t.test('a part that could split a header is refused', (t) => {
  t.throws(() => HeadBlock.build({ ...parts, type: 'text/html\r\nSet-Cookie: a=b' }), { message: /Content-Type "text\/html\\r\\nSet-Cookie: a=b" has control characters/ });
  t.throws(() => HeadBlock.build({ ...parts, releaseId: 'x\ny' }), { message: /X-Origin-Release/ });
  t.throws(() => HeadBlock.build({ ...parts, lines: [['X-A', 'b\r\nSet-Cookie: c=d']] }), { message: 'header block: header X-A has a value with control characters' });
  t.throws(() => HeadBlock.build({ ...parts, lines: [['X A', 'b']] }), { message: 'header block: "X A" is not a valid header name' });
  t.end();
});
