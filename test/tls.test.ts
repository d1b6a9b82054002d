/**
 * HTTPS: the default certificate, extra certificates chosen by SNI, requests over TLS, and
 * certificates re-read when their files change (watch on), without a restart.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseResponses, request, startServer, type RawResponse } from './helpers/server.js';
import { certificateFor, handshake, selfSigned } from './helpers/tls.js';
import { waitFor } from './helpers/wait.js';

/** One GET over TLS with `Connection: close`. */
async function tlsGet(port: number, servername: string, path: string): Promise<RawResponse> {
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
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
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
