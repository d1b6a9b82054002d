/**
 * /_origin/health as a proxy sees it: 503 while the content root is invalid, 503 while draining,
 * and the access log reopened by SIGHUP on the real command.
 */
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, truncateSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { listeningPort, start } from './helpers/cli.js';
import { parseResponses, request, startServer } from './helpers/server.js';
import { until } from './helpers/wait.js';


t.test('health is 503 while the content root is gone, and 200 again when it returns', async (t) => {
  const base = t.testdir({ site: { 'a.txt': 'hello\n' } });
  const root = join(base, 'site');
  const { port, node } = await startServer(t, root, { watch: true });
  const ok = await request(port, '/_origin/health');
  t.equal(ok.status, 200);
  t.equal(ok.body.toString(), `ok ${node.releaseId()}\n`);

  renameSync(root, join(base, 'gone'));
  t.ok(await until(async () => (await request(port, '/_origin/health')).status === 503), 'health turns 503');
  type Status = { health: string; release: string | null; counters: { status2xx: number; status5xx: number } };
  const before = JSON.parse((await request(port, '/_origin/status')).body.toString()) as Status;
  const bad = await request(port, '/_origin/health');
  t.equal(bad.body.toString(), 'no valid content root\n');
  const status = JSON.parse((await request(port, '/_origin/status')).body.toString()) as Status;
  t.equal(status.health, 'invalid-root');
  // The last valid release is still what every request is answered from: status and the
  // release_info metric say so (they used to say null and release="" here).
  t.equal(status.release, node.releaseId(), 'status names the release still served');
  t.equal((await request(port, '/a.txt')).headers['x-origin-release'], node.releaseId(), 'and it is served');
  const metrics = (await request(port, '/_origin/metrics')).body.toString();
  t.same(metrics.split('\n').filter((l) => l.startsWith('pi_origin_release_info')), [`pi_origin_release_info{release="${node.releaseId()}"} 1`], 'release_info names it too');
  t.equal(status.counters.status5xx, before.counters.status5xx + 1, 'the 503 is counted as a 5xx');
  t.equal(status.counters.status2xx, before.counters.status2xx + 1, 'only the status answer before it counted as a 2xx');

  renameSync(join(base, 'gone'), root);
  t.ok(await until(async () => (await request(port, '/_origin/health')).status === 200), 'health recovers');
});

t.test('health is 503 on an open connection while the node drains', async (t) => {
  const dir = t.testdir({ 'a.txt': 'hello\n', 'big.bin': '' });
  // 256 MiB of zeros (sparse): far more than loopback buffers hold, so a paused reader keeps
  // its response in flight and the node stays in its draining phase.
  truncateSync(join(dir, 'big.bin'), 256 * 1024 * 1024);
  const { port, node } = await startServer(t, dir, { cacheMaxFile: '1MiB', cacheSize: '4MiB', drainTimeout: '5' });

  const slow = connect({ host: '::1', port });
  await once(slow, 'connect');
  slow.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(slow, 'data');
  slow.pause();

  const keepAlive = connect({ host: '::1', port });
  await once(keepAlive, 'connect');
  const read = (): Promise<Buffer> => new Promise((resolve) => keepAlive.once('data', (d: Buffer) => resolve(d)));
  keepAlive.write('GET /_origin/health HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal(parseResponses(await read())[0]?.status, 200, 'healthy before the drain');

  const closing = node.close();
  t.ok(await until(async () => {
    keepAlive.write('GET /_origin/health HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = parseResponses(await read())[0];
    return r?.status === 503 && r.body.toString() === 'draining\n';
  }, 3000), 'health says draining on the open connection');
  slow.destroy();
  await closing;
  keepAlive.destroy();
});

/** Paths the process `pid` holds open (targets of /proc/PID/fd/*). */
function openFiles(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  const out: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      out.push(readlinkSync(`${dir}/${fd}`));
    } catch {
      // closed while listing
    }
  }
  return out;
}

t.test('SIGHUP reopens the access log file (logrotate)', async (t) => {
  const dir = t.testdir({ 'a.txt': 'hello\n' });
  const log = join(dir, 'access.log');
  const p = start(['serve', dir, '--listen', '[::1]:0', '--workers', '2', '--access-log', log]);
  t.teardown(() => void p.child.kill('SIGKILL'));
  const port = await listeningPort(p);
  if (typeof port !== 'number') return t.fail(`did not start: ${port.stderr}`);
  await request(port, '/a.txt?before');
  t.ok(await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('/a.txt?before')), 'first line flushed');
  renameSync(log, log + '.1');
  p.child.kill('SIGHUP');
  t.ok(await until(() => existsSync(log)), 'a new file is opened at the original path');
  // Each worker flushes and reopens when it handles the message: the new file exists as soon as
  // the first one did, but a request served by a worker that has not reopened yet is logged to
  // the rotated file. Rotation is complete once no worker holds the rotated file open.
  const pid = p.child.pid as number;
  const real = join(realpathSync(dir), 'access.log');
  t.ok(
    await until(() => {
      const files = openFiles(pid);
      return !files.includes(real + '.1') && files.filter((f) => f === real).length === 2;
    }),
    'both workers hold the new file open, none the rotated one',
  );
  await request(port, '/a.txt?after');
  t.ok(await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('/a.txt?after')), 'new lines go to the new file');
  t.notMatch(readFileSync(log + '.1', 'utf8'), /after/, 'the rotated file got nothing new');
  p.child.kill('SIGTERM');
  const end = await p.result;
  t.equal(end.code, 0);
});
