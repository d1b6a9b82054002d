/** The /proc/net/tcp{,6} line counter behind pi_origin_active_connections (server/connections.ts). */
import t from 'tap';
import { countEstablished } from '../server/connections.js';

const TCP6 = [
  // listening (0A) on 8080, established (01) to 8080 twice, one established from 8080 as a client side, TIME_WAIT (06)
  '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0',
  '   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:CF54 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1',
  '   2: 00000000000000000000000001000000:1f90 00000000000000000000000001000000:CF55 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1',
  '   3: 00000000000000000000000001000000:CF54 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1',
  '   4: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:CF56 06 00000000:00000000 03:00000A99 00000000     0        0 0 3 0000000000000000',
].join('\n');
const TCP4 = '   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 20 4 30 10 -1\n';
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

t.equal(countEstablished(bytes(TCP6), new Set([8080])), 2, 'ESTABLISHED with local port 8080 (hex either case); not listening, client side or TIME_WAIT');
t.equal(countEstablished(bytes(TCP6 + '\n'), new Set([8080])), 2, 'a trailing newline changes nothing');
t.equal(countEstablished(bytes(TCP4), new Set([8080, 443])), 1, 'IPv4 lines too');
t.equal(countEstablished(bytes(TCP6), new Set([53076])), 1, 'another port: the client side line');
t.equal(countEstablished(bytes(''), new Set([8080])), 0, 'nothing');
t.equal(countEstablished(bytes('garbage\n: \n   9: x'), new Set([8080])), 0, 'garbage counts nothing and does not throw');
