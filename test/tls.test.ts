/**
 * HTTPS: the default certificate, extra certificates chosen by SNI, requests over TLS,
 * certificates re-read when their files change (watch on), without a restart, and where the TLS
 * listener reads a PROXY v2 header (inside TLS only, not before the handshake).
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tcpConnect } from 'node:net';
import { connect } from 'node:tls';
import t from 'tap';
import { proxyV2 } from './helpers/proxy-v2.js';
import { parseResponses, request, startServer, type RawResponse } from './helpers/server.js';
import { certificateFor, handshake, selfSigned } from './helpers/tls.js';
import { waitFor } from './helpers/wait.js';

/** One GET over TLS with `Connection: close`; `prefix` goes first inside the TLS stream. */
async function tlsGet(port: number, servername: string, path: string, prefix: Buffer = Buffer.alloc(0)): Promise<RawResponse> {
  const { socket } = await handshake(port, servername);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const responses = parseResponses(Buffer.concat(chunks));
      if (responses.length === 1) resolve(responses[0] as RawResponse);
      else reject(new Error(`expected one response, got ${responses.length}`));
    });
    socket.write(Buffer.concat([prefix, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`)]));
  });
}

t.test('TLS with SNI, and certificates reloaded when their files change', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'hello over tls\n', 'index.html': '<h1>tls</h1>\n' }, certs: {}, renewed: {} });
  const [origin, other, renewed] = await Promise.all([
    selfSigned(join(dir, 'certs'), 'origin.test'),
    selfSigned(join(dir, 'certs'), 'other.test'),
    selfSigned(join(dir, 'renewed'), 'renewed.test'),
  ]);
  const { node, port: plainPort, warnings } = await startServer(t, join(dir, 'site'), {
    tlsListen: ['[::1]:0'],
    tlsCert: origin.cert,
    tlsKey: origin.key,
    sni: [`other.test=${other.cert},${other.key}`],
    watch: true,
    // Loopback is the "proxy" here: its PROXY v2 headers are believed wherever uWS reads them.
    trustedProxy: ['::1/128'],
  });
  t.equal(node.ports.length, 2, 'one plain and one TLS port');
  const port = node.ports[1] as number;
  t.not(port, plainPort);
  t.match(node.urls[1], new RegExp(`^https://\\[::1\\]:${port}/$`));

  t.test('the certificate is chosen by SNI', async (t) => {
    t.equal(await certificateFor(port, 'origin.test'), 'origin.test');
    t.equal(await certificateFor(port, 'other.test'), 'other.test');
    t.equal(await certificateFor(port, 'unknown.test'), 'origin.test', 'unknown names get the default');
    t.equal(await certificateFor(port, undefined), 'origin.test', 'no SNI gets the default');
  });

  t.test('requests over TLS', async (t) => {
    for (const name of ['origin.test', 'other.test', 'unknown.test']) {
      const r = await tlsGet(port, name, '/a.txt');
      t.equal(r.status, 200, `${name}: 200`);
      t.equal(r.body.toString(), 'hello over tls\n', `${name}: the file`);
      t.equal(r.headers['content-length'], '15');
    }
    t.equal((await tlsGet(port, 'other.test', '/missing')).status, 404);
    t.equal((await request(plainPort, '/a.txt')).body.toString(), 'hello over tls\n', 'plain HTTP still served');
  });

  t.test('PROXY v2 on the TLS listener: not read before the handshake, read only inside TLS', async (t) => {
    // What a provider's IPv4-to-IPv6 proxy that forwards TLS untouched sends: the header in
    // clear, then the client's ClientHello. uWS hands the bytes to OpenSSL first, which takes the
    // header for a malformed TLS record: the connection fails, nothing is served.
    const clear = await new Promise<string>((resolve) => {
      const raw = tcpConnect({ host: '::1', port }, () => {
        raw.write(proxyV2('2001:db8::7', '2001:db8::1', 40000, 443));
        const s = connect({ socket: raw, servername: 'origin.test', rejectUnauthorized: false }, () => {
          s.destroy();
          resolve('handshake completed');
        });
        s.on('error', () => resolve('no handshake'));
        s.on('close', () => resolve('no handshake'));
      });
    });
    t.equal(clear, 'no handshake', 'a PROXY v2 header before the ClientHello breaks the handshake');

    // uWS parses PROXY v2 in its HTTP layer, after decryption: sent as the first bytes inside TLS
    // from a trusted peer, it is believed. /_origin/health shows it: ::1 is an admin client, the
    // proxied 2001:db8::7 is not, so it gets the (missing) content path.
    const direct = await tlsGet(port, 'origin.test', '/_origin/health');
    t.equal(direct.status, 200, 'from ::1 itself: the admin answer');
    t.match(direct.body.toString(), /^ok [0-9a-f]{12}\n$/);
    const proxied = await tlsGet(port, 'origin.test', '/_origin/health', proxyV2('2001:db8::7', '2001:db8::1', 40000, 443));
    t.equal(proxied.status, 404, 'PROXY v2 inside TLS: the client is 2001:db8::7, not an admin client');
    t.equal((await tlsGet(port, 'origin.test', '/a.txt')).body.toString(), 'hello over tls\n', 'the listener still serves after the failed handshake');
  });

  t.test('replaced certificate files are picked up', async (t) => {
    copyFileSync(renewed.cert, origin.cert);
    copyFileSync(renewed.key, origin.key);
    const seen = await waitFor(
      'new connections to present CN renewed.test',
      async () => {
        const cn = await certificateFor(port, 'origin.test').catch(() => undefined);
        return cn === 'renewed.test' ? cn : undefined;
      },
      10_000,
    ).catch((e: Error) => `${e.message}; warnings: ${JSON.stringify(warnings)}`);
    t.equal(seen, 'renewed.test');
    t.equal(await certificateFor(port, 'other.test'), 'other.test', 'SNI certificates still served after the reload');
    const r = await tlsGet(port, 'origin.test', '/a.txt');
    t.equal(r.status, 200, 'requests still served after the reload');
    t.equal(r.body.toString(), 'hello over tls\n');
    t.same(warnings, [], 'no warnings');
  });
});
