import t from 'tap';
import { request, startServer } from './helpers/server.js';

t.test('serves a file with exact bytes and headers', async (t) => {
  const dir = t.testdir({ 'index.html': '<h1>hi</h1>\n', 'a.txt': 'hello\n' });
  const { port } = await startServer(t, dir);
  const r = await request(port, '/a.txt');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'hello\n');
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['content-length'], '6');
});
