/**
 * Request-path defences against a real server over a raw socket, so each request line is sent
 * exactly as written. The content root sits next to files that must never be served.
 * One test per check, in the documented order: bad percent-encoding, NUL, traversal,
 * dotfiles; then symlinks and absolute-form targets.
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseResponses, rawExchange, startServer, type RawResponse } from './helpers/server.js';

const SECRET = 'TOP-SECRET-3b1f9c outside the content root\n';
const SECRET_MARK = 'TOP-SECRET-3b1f9c';
const INDEX = '<!doctype html><title>home</title><h1>index</h1>\n';

const base = t.testdir({
  'secret.txt': SECRET,
  outside: { 'data.txt': SECRET, 'index.html': SECRET },
  root: {
    'index.html': INDEX,
    'a.txt': 'inside a\n',
    a: { 'b.txt': 'inside a/b\n' },
    sub: { 'page.txt': 'inside sub\n', '.hidden': `hidden ${SECRET}` },
    '.env': `ENV ${SECRET}`,
    '.git': { config: `[core] ${SECRET}` },
    '.well-known': { 'security.txt': 'Contact: mailto:security@example.org\n' },
  },
});
const root = join(base, 'root');
symlinkSync('../secret.txt', join(root, 'link-out.txt'));
symlinkSync(join(base, 'secret.txt'), join(root, 'link-out-abs.txt'));
symlinkSync('../outside', join(root, 'dir-out'));
symlinkSync('a.txt', join(root, 'link-in.txt'));
symlinkSync('a', join(root, 'dir-in'));
// Links whose names are fine but whose targets are dotfiles.
symlinkSync('.git', join(root, 'gitlink'));
symlinkSync('.env', join(root, 'env.txt'));
symlinkSync('../.git/config', join(root, 'sub', 'config.txt'));
mkdirSync(join(root, 'links'));
symlinkSync('../sub/page.txt', join(root, 'links', 'page.txt'));

const { port } = await startServer(t, root);

/** Sends `GET <target> HTTP/1.1` exactly as written and returns every response received. */
async function exchange(t: Test, target: string): Promise<RawResponse[]> {
  const data = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`);
  t.notOk(data.includes(SECRET_MARK), `${target}: no secret bytes anywhere in the reply`);
  return parseResponses(data);
}

/** Exactly one response to `GET <target>`. */
async function get(t: Test, target: string): Promise<RawResponse> {
  const responses = await exchange(t, target);
  if (responses.length !== 1) throw new Error(`${target}: expected one response, got ${responses.length}`);
  return responses[0] as RawResponse;
}

/**
 * Opens a connection, sends `text`, and keeps collecting until `stop()`: for request lines the
 * server may never answer (it would otherwise hold the test until its idle timeout). When some
 * bytes did arrive, `stop()` waits for the server to finish and close (Connection: close).
 */
function probe(text: string): { written: Promise<void>; stop: () => Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let closed = false;
  let onClose: () => void = () => undefined;
  const socket = connect({ host: '::1', port });
  const written = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => socket.write(text, () => resolve()));
    socket.once('error', reject);
  });
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    onClose();
  });
  const stop = async (): Promise<Buffer> => {
    if (!closed && chunks.length > 0) {
      await new Promise<void>((resolve) => {
        onClose = resolve;
        setTimeout(() => socket.destroy(), 5000).unref();
      });
    }
    socket.destroy();
    return Buffer.concat(chunks);
  };
  return { written, stop };
}

t.test('1. bad percent-encoding is 400', async (t) => {
  for (const target of ['/%zz', '/%', '/a%2', '/%c0%ae%c0%ae/secret.txt']) {
    const r = await get(t, target);
    t.equal(r.status, 400, target);
    t.equal(r.body.toString(), '400 Bad Request\n', `${target}: body`);
    t.equal(r.headers['cache-control'], 'no-store', `${target}: not cached`);
  }
});

t.test('2. NUL is 400', async (t) => {
  for (const target of ['/a%00.txt', '/a.txt%00', '/a.txt%00.html', '/%00']) {
    const r = await get(t, target);
    t.equal(r.status, 400, target);
  }
});

t.test('3. traversal never serves a file outside the root', async (t) => {
  const targets = [
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E%2Fsecret.txt',
    '/..%2fsecret.txt',
    '/%252e%252e/secret.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/..\\secret.txt',
    '/%5c..%5csecret.txt',
    '//../secret.txt',
    '/a/../../secret.txt',
    '/../../../../../../etc/passwd',
    '/../outside/data.txt',
    '/.%2e/secret.txt',
    '/a/%2e%2e/%2e%2e/secret.txt',
  ];
  for (const target of targets) {
    const r = await get(t, target);
    t.ok(r.status === 400 || r.status === 404, `${target}: ${r.status} is 400 or 404`);
    t.notOk(r.body.includes(SECRET_MARK), `${target}: body is not the secret`);
    t.notOk(r.body.includes('root:'), `${target}: body is not /etc/passwd`);
  }
});

t.test('3. a dot segment that stays inside the root is resolved', async (t) => {
  for (const target of ['/a/../index.html', '/a/./../index.html', '/a/%2e%2e/index.html', '/sub/../a/b.txt']) {
    const r = await get(t, target);
    t.equal(r.status, 200, target);
    const expected = target.endsWith('b.txt') ? 'inside a/b\n' : INDEX;
    t.equal(r.body.toString(), expected, `${target}: body`);
  }
});

t.test('4. dotfiles are 404 even though they exist; /.well-known/ is served', async (t) => {
  for (const target of ['/.env', '/.git/config', '/sub/.hidden', '/%2eenv', '/.git/', '/sub/%2ehidden']) {
    const r = await get(t, target);
    t.equal(r.status, 404, target);
    t.notOk(r.body.includes('ENV') || r.body.includes('[core]') || r.body.includes('hidden'), `${target}: not the dotfile's bytes`);
  }
  const r = await get(t, '/.well-known/security.txt');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), readFileSync(join(root, '.well-known', 'security.txt'), 'utf8'));
});

t.test('symlinks: leaving the root is 404, inside the root is served', async (t) => {
  for (const target of ['/link-out.txt', '/link-out-abs.txt', '/dir-out/data.txt', '/dir-out/index.html', '/dir-out/', '/dir-out']) {
    const r = await get(t, target);
    t.equal(r.status, 404, target);
  }
  const cases: [string, string][] = [
    ['/link-in.txt', 'inside a\n'],
    ['/links/page.txt', 'inside sub\n'],
  ];
  for (const [target, body] of cases) {
    const r = await get(t, target);
    t.equal(r.status, 200, target);
    t.equal(r.body.toString(), body, `${target}: body`);
  }
});

t.test('symlinks: a link to a dotfile or into a dot-directory is 404, as the dotfile is', async (t) => {
  for (const target of ['/gitlink/config', '/gitlink/', '/gitlink', '/env.txt', '/sub/config.txt']) {
    const r = await get(t, target);
    t.equal(r.status, 404, target);
    t.notOk(r.body.includes('ENV') || r.body.includes('[core]'), `${target}: not the dotfile's bytes`);
  }
});

t.test('symlinks: a symlinked directory inside the root is served, and so is its target', async (t) => {
  const cases: [string, string][] = [
    ['/dir-in/b.txt', 'inside a/b\n'],
    ['/a/b.txt', 'inside a/b\n'],
  ];
  for (const [target, body] of cases) {
    const r = await get(t, target);
    t.equal(r.status, 200, target);
    t.equal(r.body.toString(), body, `${target}: body`);
  }
});

t.test('an absolute-form request line gets nothing outside the root, and the server stays up', async (t) => {
  for (const target of ['http://evil.example/index.html', 'http://evil.example/../secret.txt', 'http://evil.example/%2e%2e/secret.txt', 'file:///etc/passwd']) {
    const hostile = probe(`GET ${target} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    await hostile.written;
    // A normal request on a new connection is served while the hostile one is open, and after.
    const during = await get(t, '/a.txt');
    t.equal(during.status, 200, `while ${target} is open: a new connection is served`);
    t.equal(during.body.toString(), 'inside a\n');
    const data = await hostile.stop();
    t.notOk(data.includes(SECRET_MARK), `${target}: no secret bytes`);
    t.notOk(data.includes('root:'), `${target}: not /etc/passwd`);
    for (const r of data.length === 0 ? [] : parseResponses(data)) {
      t.ok(r.status === 200 || r.status === 400 || r.status === 404, `${target}: ${r.status}`);
      if (r.status === 200) t.equal(r.body.toString(), INDEX, `${target}: a 200 can only be the root's index.html`);
    }
    const after = await get(t, '/index.html');
    t.equal(after.status, 200, `after ${target}: a new connection is served`);
    t.equal(after.body.toString(), INDEX);
  }
});

t.test('pipelined hostile requests do not break the connection for the ones after', async (t) => {
  const lines = ['/../secret.txt', '/%zz', '/.env', '/a.txt'].map((p) => `GET ${p} HTTP/1.1\r\nHost: origin.test\r\n\r\n`).join('');
  const data = await rawExchange(port, lines + 'GET /index.html HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n');
  t.notOk(data.includes(SECRET_MARK));
  const responses = parseResponses(data);
  t.same(responses.map((r) => r.status), [400, 400, 404, 200, 200]);
  t.equal(responses[3]?.body.toString(), 'inside a\n');
  t.equal(responses[4]?.body.toString(), INDEX);
});
