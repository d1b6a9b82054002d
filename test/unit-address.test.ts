/**
 * Unit tests for IP address handling: RFC 5952 formatting, parsing, prefixes, and the client
 * address behind trusted proxies. Imported from the TypeScript sources.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import t from 'tap';
import { checkCidr, formatAddress, inAny, isLoopbackPrefix, parseAddress, parseCidr, parseIPv4, parseIPv6, type Cidr } from '../common/address.js';
import { clientFromForwardedFor, formatRaw, resolveClient, toV6Bytes } from '../server/client-address.js';

/** 16 bytes from eight 16-bit groups, built without parseAddress. */
function fromGroups(groups: readonly number[]): Uint8Array {
  if (groups.length !== 8) throw new Error('need 8 groups');
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function mapped(a: number, b: number, c: number, d: number): Uint8Array {
  return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]);
}

function addr(text: string): Uint8Array {
  const a = parseAddress(text);
  if (a === undefined) throw new Error(`test address ${text} does not parse`);
  return a;
}

function cidrs(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const c = parseCidr(text);
    if (c === undefined) throw new Error(`test prefix ${text} does not parse`);
    return c;
  });
}

t.test('formatAddress: RFC 5952 text', (t) => {
  const cases: [Uint8Array, string][] = [
    [fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1'],
    [fromGroups([0, 0, 0, 0, 0, 0, 0, 1]), '::1'],
    [fromGroups([0, 0, 0, 0, 0, 0, 0, 0]), '::'],
    [fromGroups([1, 0, 0, 0, 0, 0, 0, 0]), '1::'],
    // Longest run wins; of equal runs the first is compressed (§4.2.3).
    [fromGroups([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1'],
    [fromGroups([0x2001, 0, 0, 1, 0, 0, 0, 1]), '2001:0:0:1::1'],
    [fromGroups([0, 0, 1, 0, 0, 0, 0, 1]), '0:0:1::1'],
    [fromGroups([1, 0, 0, 0, 1, 0, 0, 0]), '1::1:0:0:0'],
    // A single zero group is not compressed (§4.2.2).
    [fromGroups([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1'],
    [fromGroups([1, 0, 1, 0, 1, 0, 1, 0]), '1:0:1:0:1:0:1:0'],
    // Lower case, no leading zeros (§4.1, §4.3).
    [fromGroups([0x2001, 0x0db8, 0xabcd, 0x00ef, 0, 0, 0, 0x0a]), '2001:db8:abcd:ef::a'],
    [fromGroups([0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [fromGroups([0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a]), 'fe80::1ff:fe23:4567:890a'],
    // IPv4-mapped prints as plain dotted IPv4.
    [mapped(192, 0, 2, 1), '192.0.2.1'],
    [mapped(0, 0, 0, 0), '0.0.0.0'],
    [mapped(255, 255, 255, 255), '255.255.255.255'],
    // Only ::ffff:0:0/96 is mapped; NAT64 and IPv4-compatible stay hex.
    [fromGroups([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x201]), '64:ff9b::c000:201'],
    [fromGroups([0, 0, 0, 0, 0, 0xfffe, 0xc000, 0x201]), '::fffe:c000:201'],
  ];
  for (const [bytes, expected] of cases) t.equal(formatAddress(bytes), expected, expected);
  t.end();
});

t.test('parseAddress', (t) => {
  const cases: [string, Uint8Array | undefined][] = [
    ['192.0.2.1', mapped(192, 0, 2, 1)],
    ['0.0.0.0', mapped(0, 0, 0, 0)],
    ['255.255.255.255', mapped(255, 255, 255, 255)],
    ['2001:db8::1', fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])],
    ['2001:DB8::1', fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])],
    ['[2001:db8::1]', fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])],
    ['::1', fromGroups([0, 0, 0, 0, 0, 0, 0, 1])],
    ['[::1]', fromGroups([0, 0, 0, 0, 0, 0, 0, 1])],
    ['::', fromGroups([0, 0, 0, 0, 0, 0, 0, 0])],
    ['1::', fromGroups([1, 0, 0, 0, 0, 0, 0, 0])],
    ['1:2:3:4:5:6:7:8', fromGroups([1, 2, 3, 4, 5, 6, 7, 8])],
    ['1:2:3::6:7:8', fromGroups([1, 2, 3, 0, 0, 6, 7, 8])],
    // Embedded IPv4.
    ['::ffff:192.0.2.1', mapped(192, 0, 2, 1)],
    ['::FFFF:192.0.2.1', mapped(192, 0, 2, 1)],
    ['[::ffff:192.0.2.1]', mapped(192, 0, 2, 1)],
    ['64:ff9b::192.0.2.1', fromGroups([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x201])],
    ['1:2:3:4:5:6:192.0.2.1', fromGroups([1, 2, 3, 4, 5, 6, 0xc000, 0x201])],
    // Invalid.
    ['', undefined],
    ['abc', undefined],
    ['localhost', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['256.0.0.1', undefined],
    ['192.0.2.1:80', undefined],
    ['[2001:db8::1]:80', undefined],
    ['2001:db8::1::1', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    ['[::1', undefined],
    ['::1]', undefined],
    [' ::1', undefined],
    ['::ffff:192.0.2', undefined],
    // Brackets are IPv6 URL syntax; around IPv4 they are refused, not read as IPv6.
    ['[192.0.2.1]', undefined],
    ['[127.0.0.1]', undefined],
    // Zone ids are refused.
    ['fe80::1%eth0', undefined],
    ['[fe80::1%eth0]', undefined],
    ['fe80::1%25eth0', undefined],
  ];
  for (const [text, expected] of cases) t.same(parseAddress(text), expected, JSON.stringify(text));
  t.end();
});

t.test('parseAddress and formatAddress round-trip canonical text', (t) => {
  for (const text of ['2001:db8::1', '::1', '::', '2001:db8::1:0:0:1', '2001:0:0:1::1', '2001:db8:0:1:1:1:1:1', '192.0.2.1', 'fe80::1ff:fe23:4567:890a']) {
    t.equal(formatAddress(addr(text)), text, text);
  }
  t.equal(formatAddress(addr('2001:DB8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  t.equal(formatAddress(addr('::ffff:192.0.2.1')), '192.0.2.1');
  t.end();
});

t.test('parseCidr', (t) => {
  const cases: [string, { bits: number; base: string } | undefined][] = [
    ['2001:db8::/32', { bits: 32, base: '2001:db8::' }],
    ['2001:db8:1:2::/64', { bits: 64, base: '2001:db8:1:2::' }],
    ['2001:db8::1/128', { bits: 128, base: '2001:db8::1' }],
    ['2001:db8::1', { bits: 128, base: '2001:db8::1' }],
    ['::/0', { bits: 0, base: '::' }],
    // Host bits are masked off.
    ['2001:db8:ffff::1/32', { bits: 32, base: '2001:db8::' }],
    ['2001:db8:0:ff::/57', { bits: 57, base: '2001:db8:0:80::' }],
    ['2001:db8::ffff/127', { bits: 127, base: '2001:db8::fffe' }],
    // IPv4 prefixes are stored mapped: /8 is ::ffff:0:0/104.
    ['10.0.0.0/8', { bits: 104, base: '10.0.0.0' }],
    ['10.1.2.3/8', { bits: 104, base: '10.0.0.0' }],
    ['192.0.2.0/24', { bits: 120, base: '192.0.2.0' }],
    ['192.0.2.7/32', { bits: 128, base: '192.0.2.7' }],
    ['192.0.2.7', { bits: 128, base: '192.0.2.7' }],
    ['192.0.2.200/25', { bits: 121, base: '192.0.2.128' }],
    ['172.16.0.0/12', { bits: 108, base: '172.16.0.0' }],
    ['0.0.0.0/0', { bits: 96, base: '0.0.0.0' }],
    // Brackets around IPv6 are accepted; IPv4-mapped prefixes of /96 and longer are IPv4 prefixes.
    ['[2001:db8::]/32', { bits: 32, base: '2001:db8::' }],
    ['[::1]', { bits: 128, base: '::1' }],
    ['::ffff:10.0.0.0/104', { bits: 104, base: '10.0.0.0' }],
    ['::ffff:0:0/96', { bits: 96, base: '0.0.0.0' }],
    // Bad input.
    // A bracketed IPv4 prefix was read as IPv6 and its length not shifted: ::/32, every IPv4 client.
    ['[127.0.0.1]/32', undefined],
    ['[127.0.0.1]', undefined],
    ['[10.0.0.0]/8', undefined],
    // ::ffff:10.0.0.0/8 is ::/8: every IPv4 client and ::1, not 10.0.0.0/8.
    ['::ffff:10.0.0.0/8', undefined],
    ['::ffff:0:0/95', undefined],
    ['[::ffff:127.0.0.1]/32', undefined],
    ['2001:db8::/129', undefined],
    ['10.0.0.0/33', undefined],
    ['10.0.0.0/', undefined],
    ['10.0.0.0/8/8', undefined],
    ['10.0.0.0/-1', undefined],
    ['10.0.0.0/ 8', undefined],
    ['10.0.0.0/8.5', undefined],
    ['10.0.0.0/1000', undefined],
    ['10.0.0/8', undefined],
    ['abc/8', undefined],
    ['/8', undefined],
    ['', undefined],
    ['fe80::%eth0/64', undefined],
  ];
  for (const [text, expected] of cases) {
    const c = parseCidr(text);
    if (expected === undefined) t.equal(c, undefined, `${JSON.stringify(text)} refused`);
    else t.same(c === undefined ? undefined : { bits: c.bits, base: formatAddress(c.bytes), text: c.text }, { ...expected, text }, text);
  }
  t.end();
});

t.test('checkCidr says why a prefix is refused', (t) => {
  t.equal(checkCidr('[127.0.0.1]/32'), 'brackets are for IPv6 only (write 127.0.0.1/32)');
  t.equal(checkCidr('[127.0.0.1]'), 'brackets are for IPv6 only (write 127.0.0.1)');
  t.equal(checkCidr('::ffff:10.0.0.0/8'), 'an IPv4-mapped prefix shorter than /96 holds more than IPv4 addresses (write the IPv4 prefix: 10.0.0.0/N)');
  t.equal(checkCidr('10.0.0.0/33'), 'the prefix length must be a number from 0 to 32 (got "33")');
  t.equal(checkCidr('2001:db8::/'), 'the prefix length must be a number from 0 to 128 (got "")');
  t.equal(checkCidr('proxy.example'), '"proxy.example" is not an IPv4 or IPv6 address');
  t.end();
});

/** A fixed seed so a failure replays (FC_SEED explores others). */
const seed = process.env.FC_SEED === undefined ? 0x5eed : Number(process.env.FC_SEED);

/** Full hex, as Node's BlockList reads it without going through our parser. */
function fullHex(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16).padStart(4, '0'));
  return groups.join(':');
}

/**
 * The independent reading of a prefix text: what it means by RFC 4291 and 4632, checked with
 * Node's own literal validators and BlockList, or undefined when it means nothing (or is one
 * of the widening forms that are refused on purpose).
 */
const MAPPED = new BlockList();
MAPPED.addSubnet('::ffff:0:0', 96, 'ipv6');

function oracle(text: string): BlockList | undefined {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const bracketed = addrText.startsWith('[') && addrText.endsWith(']');
  const bare = bracketed ? addrText.slice(1, -1) : addrText;
  const family = isIPv4(addrText) ? 'ipv4' : isIPv6(bare) && !bare.includes('%') ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const bitsText = slash === -1 ? String(max) : text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(bitsText) || Number(bitsText) > max) return undefined;
  const list = new BlockList();
  list.addSubnet(bare, Number(bitsText), family);
  // ::ffff:a.b.c.d/N with N < 96 reaches outside the IPv4-mapped block: refused by design.
  if (family === 'ipv6' && Number(bitsText) < 96 && MAPPED.check(bare, 'ipv6')) return undefined;
  return list;
}

t.test('property: a parsed prefix holds exactly the addresses its text means; other text is refused', (t) => {
  const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  const hexGroup = (g: number, upper: boolean, pad: boolean): string => {
    const h = pad ? g.toString(16).padStart(4, '0') : g.toString(16);
    return upper ? h.toUpperCase() : h;
  };
  /** An IPv6 literal for 16 bytes, in one of the ways people write them. */
  const v6Text = fc.record({ b: bytes16, mapped: fc.boolean(), zeros: fc.nat(8), compress: fc.boolean(), upper: fc.boolean(), pad: fc.boolean(), dotted: fc.boolean() }).map(({ b, mapped, zeros, compress, upper, pad, dotted }) => {
    const bytes = Uint8Array.from(b);
    if (mapped) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    else bytes.fill(0, 0, zeros * 2);
    const groups = Array.from({ length: 8 }, (_, i) => ((bytes[i * 2] as number) << 8) | (bytes[i * 2 + 1] as number));
    const tail = dotted ? `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}` : undefined;
    const hex = (tail === undefined ? groups : groups.slice(0, 6)).map((g) => hexGroup(g, upper, pad));
    if (tail !== undefined) hex.push(tail);
    const run = compress ? hex.findIndex((h) => /^0+$/.test(h)) : -1;
    if (run === -1) return hex.join(':');
    let end = run;
    while (end < hex.length && /^0+$/.test(hex[end] as string)) end++;
    return `${hex.slice(0, run).join(':')}::${hex.slice(end).join(':')}`;
  });
  const address = fc.oneof(
    v4.map((o) => o.join('.')),
    v6Text,
    v4.map((o) => `[${o.join('.')}]`),
    v6Text.map((a) => `[${a}]`),
  );
  const prefix = fc.tuple(address, fc.option(fc.nat(130), { nil: undefined })).map(([a, bits]) => (bits === undefined ? a : `${a}/${bits}`));
  // Probes near the prefix's edge matter most: the base with one bit flipped, or anything.
  const probe = (text: string): fc.Arbitrary<Uint8Array> => {
    const c = parseCidr(text);
    if (c === undefined) return bytes16;
    return fc.oneof(
      bytes16,
      fc.nat(127).map((bit) => {
        const p = Uint8Array.from(c.bytes);
        p[bit >> 3] = (p[bit >> 3] as number) ^ (0x80 >> (bit & 7));
        return p;
      }),
      fc.constant(Uint8Array.from(c.bytes)),
    );
  };
  const check = (text: string, probes: readonly Uint8Array[]): void => {
    const got = parseCidr(text);
    const want = oracle(text);
    if ((got === undefined) !== (want === undefined)) throw new Error(`${JSON.stringify(text)}: parsed ${got === undefined ? 'refused' : 'accepted'}, oracle ${want === undefined ? 'refused' : 'accepted'}`);
    if (got === undefined || want === undefined) return;
    for (const p of probes) {
      if (inAny(p, [got]) !== want.check(fullHex(p), 'ipv6')) throw new Error(`${JSON.stringify(text)} (parsed ${formatAddress(got.bytes)}/${got.bits}): ${fullHex(p)} in it is ${inAny(p, [got])}, should be ${!inAny(p, [got])}`);
    }
  };
  fc.assert(
    fc.property(prefix.chain((text) => fc.tuple(fc.constant(text), fc.array(probe(text), { minLength: 1, maxLength: 20 }))), ([text, probes]) => check(text, probes)),
    { seed, numRuns: 3000 },
  );
  // Text glued from the characters prefixes are made of: whatever is accepted means what it says.
  const junk = fc.array(fc.constantFrom('0', '1', '7', 'f', 'F', 'ffff', '255', '10', ':', '::', '.', '[', ']', '/', '/32', '/8', '%', 'g', ' '), { maxLength: 16 }).map((p) => p.join(''));
  fc.assert(fc.property(junk, fc.array(bytes16, { minLength: 1, maxLength: 8 }), (text, probes) => check(text, probes)), { seed, numRuns: 5000 });
  t.end();
});

/** The eight groups of an IPv6 literal as the WHATWG URL parser reads it: an oracle independent of both parsers. */
function urlGroups(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const [head = '', tail] = new URL(`http://[${text}]/`).hostname.slice(1, -1).split('::');
  const h = head === '' ? [] : head.split(':');
  const r = tail === undefined || tail === '' ? [] : tail.split(':');
  return [...h, ...Array<string>(tail === undefined ? 0 : 8 - h.length - r.length).fill('0'), ...r].map((g) => parseInt(g, 16));
}

t.test('property: the IPv6 parser (as groups and as bytes) reads a literal as the URL parser does, and refuses the rest', (t) => {
  const junk = fc.array(fc.constantFrom('0', '1', 'f', 'FFFF', 'ffff', '00000', '12345', ':', '::', ':::', '.', '1.2.3.4', '255', '256', '01', '%', 'eth0', '[', ']', 'g', ' '), { maxLength: 14 }).map((p) => p.join(''));
  fc.assert(
    fc.property(junk, (text) => {
      const want = urlGroups(text);
      const groups = parseIPv6(text);
      if (JSON.stringify(groups) !== JSON.stringify(want)) throw new Error(`parseIPv6(${JSON.stringify(text)}) = ${JSON.stringify(groups)}, want ${JSON.stringify(want)}`);
      if ((parseIPv4(text) !== undefined) !== isIPv4(text)) throw new Error(`parseIPv4(${JSON.stringify(text)}) disagrees with node:net isIPv4`);
      if (isIPv4(text)) return;
      const parsed = parseAddress(text);
      const bytes = parsed === undefined ? undefined : Array.from({ length: 8 }, (_, i) => ((parsed[i * 2] as number) << 8) | (parsed[i * 2 + 1] as number));
      if (JSON.stringify(bytes) !== JSON.stringify(want)) throw new Error(`parseAddress(${JSON.stringify(text)}) = ${JSON.stringify(bytes)}, want ${JSON.stringify(want)}`);
    }),
    { seed, numRuns: 20000 },
  );
  t.end();
});

t.test('inAny', (t) => {
  // [prefix, address, inside]
  const cases: [string, string, boolean][] = [
    ['2001:db8::/32', '2001:db8::1', true],
    ['2001:db8::/32', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    ['2001:db8::/32', '2001:db9::', false],
    ['2001:db8::/32', '2001:db7:ffff::', false],
    ['2001:db8::/32', '192.0.2.1', false],
    ['2001:db8:1:2::/64', '2001:db8:1:2:ffff::1', true],
    ['2001:db8:1:2::/64', '2001:db8:1:3::', false],
    ['2001:db8::1/128', '2001:db8::1', true],
    ['2001:db8::1/128', '2001:db8::2', false],
    ['2001:db8::1/128', '2001:db8::', false],
    // /57: 56 whole bits and the top bit of byte 7.
    ['2001:db8:0:80::/57', '2001:db8:0:80::1', true],
    ['2001:db8:0:80::/57', '2001:db8:0:ff:ffff::', true],
    ['2001:db8:0:80::/57', '2001:db8:0:7f::1', false],
    ['2001:db8:0:80::/57', '2001:db8:0:180::', false],
    ['2001:db8::/33', '2001:db8:7fff::', true],
    ['2001:db8::/33', '2001:db8:8000::', false],
    ['::/0', '2001:db8::1', true],
    ['::/0', '192.0.2.1', true],
    ['10.0.0.0/8', '10.0.0.1', true],
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['10.0.0.0/8', '::10.1.2.3', false],
    ['10.0.0.0/8', '2001:db8::1', false],
    ['192.0.2.0/24', '192.0.2.255', true],
    ['192.0.2.0/24', '192.0.3.0', false],
    ['192.0.2.7/32', '192.0.2.7', true],
    ['192.0.2.7/32', '192.0.2.6', false],
    ['192.0.2.128/25', '192.0.2.200', true],
    ['192.0.2.128/25', '192.0.2.100', false],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '2001:db8::1', false],
  ];
  for (const [prefix, address, expected] of cases) t.equal(inAny(addr(address), cidrs(prefix)), expected, `${address} in ${prefix}`);
  t.equal(inAny(addr('2001:db8::1'), []), false, 'no prefixes');
  const several = cidrs('10.0.0.0/8', '2001:db8::/32', '::1');
  t.equal(inAny(addr('::1'), several), true);
  t.equal(inAny(addr('2001:db8::5'), several), true);
  t.equal(inAny(addr('10.9.9.9'), several), true);
  t.equal(inAny(addr('192.0.2.1'), several), false);
  t.end();
});

t.test('isLoopbackPrefix: only prefixes wholly inside ::1 or 127.0.0.0/8', (t) => {
  const loopback = (text: string): boolean => isLoopbackPrefix(parseCidr(text) as Cidr);
  t.same(['::1/128', '::1', '127.0.0.0/8', '127.0.0.1/32', '127.5.0.0/16', '::ffff:127.0.0.1/128'].filter((p) => !loopback(p)), [], 'loopback prefixes');
  t.same(['::/0', '::/127', '0.0.0.0/0', '126.0.0.0/7', '2001:db8::1/128', '::2/128', '10.0.0.1/32'].filter(loopback), [], 'wider or other prefixes are not');
  t.end();
});

t.test('toV6Bytes and formatRaw take uWS address buffers', (t) => {
  t.same(toV6Bytes(Uint8Array.from([192, 0, 2, 1]).buffer), mapped(192, 0, 2, 1));
  const v6 = fromGroups([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
  const raw = v6.slice().buffer;
  const got = toV6Bytes(raw);
  t.same(got, v6);
  t.not(got?.buffer, raw, 'copied, not a view of the uWS buffer');
  t.equal(toV6Bytes(new ArrayBuffer(0)), undefined);
  t.equal(toV6Bytes(new ArrayBuffer(8)), undefined);
  t.equal(formatRaw(Uint8Array.from([127, 0, 0, 1]).buffer), '127.0.0.1');
  t.equal(formatRaw(raw), '2001:db8::1');
  t.equal(formatRaw(new ArrayBuffer(0)), '-');
  t.end();
});

t.test('clientFromForwardedFor: rightmost hop that is not a trusted proxy', (t) => {
  const trusted = cidrs('10.0.0.0/8', '2001:db8:ffff::/48');
  const cases: [string, string | undefined][] = [
    ['203.0.113.5', '203.0.113.5'],
    ['203.0.113.5, 10.0.0.2', '203.0.113.5'],
    ['203.0.113.5,10.0.0.2', '203.0.113.5'],
    ['198.51.100.1, 203.0.113.5, 10.0.0.2', '203.0.113.5'],
    ['198.51.100.1, 203.0.113.5', '203.0.113.5'],
    ['203.0.113.5, 10.0.0.3, 10.0.0.2', '203.0.113.5'],
    ['2001:db8::5, 2001:db8:ffff::1', '2001:db8::5'],
    ['[2001:db8::5]', '2001:db8::5'],
    ['::ffff:203.0.113.5, 10.0.0.2', '203.0.113.5'],
    ['  203.0.113.5  ,  10.0.0.2  ', '203.0.113.5'],
    // A forged leftmost entry is never chosen over the real rightmost client.
    ['1.1.1.1, 203.0.113.5', '203.0.113.5'],
    ['garbage, 203.0.113.5', '203.0.113.5'],
    // Nothing usable.
    ['10.0.0.3, 10.0.0.2', undefined],
    ['garbage', undefined],
    ['unknown', undefined],
    ['', undefined],
    [',', undefined],
    ['203.0.113.5, garbage', undefined],
    ['203.0.113.5, garbage, 10.0.0.2', undefined],
    ['203.0.113.5:4711', undefined],
    ['fe80::1%eth0', undefined],
  ];
  for (const [header, expected] of cases) {
    const got = clientFromForwardedFor(header, trusted);
    t.equal(got === undefined ? undefined : formatAddress(got), expected, JSON.stringify(header));
  }
  t.end();
});

t.test('resolveClient: only trusted peers may name the client', (t) => {
  const trusted = cidrs('10.0.0.0/8', '2001:db8:ffff::/48');
  const untrustedPeer = addr('198.51.100.7');
  const trustedPeer = addr('10.0.0.2');
  const trustedV6Peer = addr('2001:db8:ffff::2');
  const none = new ArrayBuffer(0);
  const proxied4 = Uint8Array.from([203, 0, 113, 9]).buffer;
  const proxied6 = addr('2001:db8::99').slice().buffer;
  // [peer, PROXY v2 source, X-Forwarded-For, trusted, expected]
  const cases: [Uint8Array, ArrayBuffer, string, Cidr[], string, string][] = [
    [untrustedPeer, none, '', trusted, '198.51.100.7', 'untrusted peer, nothing claimed'],
    [untrustedPeer, none, '203.0.113.5', trusted, '198.51.100.7', 'untrusted peer: X-Forwarded-For ignored'],
    [untrustedPeer, proxied4, '203.0.113.5', trusted, '198.51.100.7', 'untrusted peer: PROXY source ignored'],
    [untrustedPeer, proxied6, '', trusted, '198.51.100.7', 'untrusted peer: PROXY v6 source ignored'],
    [trustedPeer, proxied4, '203.0.113.5', [], '10.0.0.2', 'no trusted proxies configured'],
    [trustedPeer, proxied4, '203.0.113.5', trusted, '203.0.113.9', 'trusted peer: PROXY source preferred over X-Forwarded-For'],
    [trustedPeer, proxied6, '203.0.113.5', trusted, '2001:db8::99', 'trusted peer: PROXY v6 source'],
    [trustedPeer, none, '203.0.113.5', trusted, '203.0.113.5', 'trusted peer: X-Forwarded-For'],
    [trustedPeer, none, '1.1.1.1, 203.0.113.5, 10.0.0.3', trusted, '203.0.113.5', 'trusted peer: rightmost untrusted hop, trusted hops skipped'],
    [trustedV6Peer, none, '2001:db8::5, 2001:db8:ffff::1', trusted, '2001:db8::5', 'trusted v6 peer'],
    [trustedPeer, none, '', trusted, '10.0.0.2', 'trusted peer without claims: the peer'],
    // Never the proxy itself: it may be in --admin-allow, and the client behind it is not.
    [trustedPeer, none, 'garbage', trusted, '::', 'garbage X-Forwarded-For: unknown client, not the peer'],
    [trustedPeer, none, '203.0.113.5, garbage', trusted, '::', 'garbage rightmost hop: unknown client'],
    [trustedPeer, none, '10.0.0.3', trusted, '::', 'only trusted hops: unknown client'],
    [trustedPeer, none, ',', trusted, '::', 'empty hops: unknown client'],
    [trustedPeer, new ArrayBuffer(8), '203.0.113.5', trusted, '203.0.113.5', 'a PROXY address of odd length is not used'],
  ];
  for (const [peer, proxied, xff, trust, expected, name] of cases) t.equal(formatAddress(resolveClient(peer, proxied, xff, trust)), expected, name);
  t.end();
});
