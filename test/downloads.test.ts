/**
 * Download counts from access logs (server/downloads.ts, `pi-origin downloads`): a real node
 * writes its log while serving, and the command counts what was downloaded, in both formats,
 * from plain and gzipped files and standard input, per file and per directory.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { DownloadCounter, downloadsTextfile, parseLogLine } from '../server/downloads.js';
import { MAIN, runCli } from './helpers/cli.js';
import { request, startServer } from './helpers/server.js';

t.test('log lines of both formats', (t) => {
  t.same(parseLogLine('2001:db8::1 - - [04/Dec/2026:17:30:00 +0100] "GET /simple/a%20b/x.whl?y=1 HTTP/1.1" 200 123 "-" "pip/24"'), {
    method: 'GET', target: '/simple/a%20b/x.whl?y=1', status: 200, bytes: 123, time: Date.UTC(2026, 11, 4, 16, 30), aborted: false,
  });
  t.same(parseLogLine('::1 - - [04/Dec/2026:17:30:00 +0000] "GET /a\\x22b HTTP/1.1" 404 0 "-" "-"')?.target, '/a"b', 'escapes undone');
  t.match(parseLogLine('{"time":"2026-12-04T17:30:00.000Z","method":"GET","target":"/x","status":200,"bytes":5,"aborted":true}'), { aborted: true, time: Date.UTC(2026, 11, 4, 17, 30) });
  for (const junk of ['', 'hello', '{"method":1}', '{not json', '::1 - - [bad] "GET / HTTP/1.1" 200 1']) t.equal(parseLogLine(junk), undefined, JSON.stringify(junk));

  const c = new DownloadCounter();
  for (const line of [
    '{"method":"GET","target":"/p/a.whl","status":200,"bytes":10}',
    '{"method":"GET","target":"/p/a.whl?x","status":200,"bytes":10}',
    '{"method":"GET","target":"/p/./a.whl","status":200,"bytes":10}',
    '{"method":"GET","target":"/p/b.whl","status":200,"bytes":7}',
    '{"method":"GET","target":"/p/b.whl","status":206,"bytes":3}',
    '{"method":"GET","target":"/p/b.whl","status":304,"bytes":0}',
    '{"method":"HEAD","target":"/p/b.whl","status":200,"bytes":0}',
    '{"method":"GET","target":"/p/b.whl","status":200,"bytes":2,"aborted":true}',
    '{"method":"GET","target":"/../x","status":200,"bytes":1}',
    'garbage',
  ]) c.add(line);
  t.same(c.top(5), [{ path: '/p/a.whl', downloads: 3, bytes: 30 }, { path: '/p/b.whl', downloads: 1, bytes: 7 }], 'one path however written; only whole GET 200s');
  t.same([c.lines, c.unreadable, c.downloads, c.paths], [10, 1, 4, 2]);
  t.equal(downloadsTextfile(c.top(1), c.downloads), [
    '# HELP pi_origin_log_downloads Downloads (GET 200, whole body) per path in the access logs read by pi-origin downloads.',
    '# TYPE pi_origin_log_downloads gauge',
    'pi_origin_log_downloads{path="/p/a.whl"} 3',
    '# HELP pi_origin_log_downloads_all Downloads of every path in the access logs read.',
    '# TYPE pi_origin_log_downloads_all gauge',
    'pi_origin_log_downloads_all 4',
    '',
  ].join('\n'));
  t.end();
});

t.test('pi-origin downloads counts what a node served', async (t) => {
  const dir = t.testdir({
    site: { simple: { alpha: { 'alpha-1.0-py3-none-any.whl': 'A'.repeat(100), 'alpha-2.0-py3-none-any.whl': 'B'.repeat(50) }, beta: { 'beta-1.0-py3-none-any.whl': 'C'.repeat(10) } } },
  });
  for (const format of ['json', 'combined'] as const) {
    const log = join(dir, `access-${format}.log`);
    const { node, port } = await startServer(t, join(dir, 'site'), { accessLog: log, logFormat: format });
    const get = (path: string, headers: Record<string, string> = {}): Promise<unknown> => request(port, path, { headers });
    for (let i = 0; i < 3; i++) await get('/simple/alpha/alpha-2.0-py3-none-any.whl');
    await get('/simple/alpha/alpha-1.0-py3-none-any.whl');
    await get('/simple/beta/beta-1.0-py3-none-any.whl?download=1');
    await get('/simple/beta/beta-1.0-py3-none-any.whl', { Range: 'bytes=0-1' });
    await get('/simple/nothing.whl');
    await node.close();
    const r = await runCli(['downloads', '--log', log, '--json']);
    t.equal(r.code, 0, r.stderr);
    t.same(JSON.parse(r.stdout), {
      lines: 7, unreadable: 0, downloads: 5, paths: 3,
      top: [
        { path: '/simple/alpha/alpha-2.0-py3-none-any.whl', downloads: 3, bytes: 150 },
        { path: '/simple/alpha/alpha-1.0-py3-none-any.whl', downloads: 1, bytes: 100 },
        { path: '/simple/beta/beta-1.0-py3-none-any.whl', downloads: 1, bytes: 10 },
      ],
    }, `${format}: whole GET 200s per file, most first`);
  }
  // Rotated and compressed, both formats together, per directory, as a table and a textfile.
  writeFileSync(join(dir, 'old.log.2.gz'), gzipSync(readFileSync(join(dir, 'access-json.log'))));
  const prom = join(dir, 'downloads.prom');
  const r = await runCli(['downloads', '--log', join(dir, 'old.log.2.gz'), '--log', join(dir, 'access-combined.log'), '--by', 'directory', '--top', '1', '--textfile', prom]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, ['downloads  directory', '        8  /simple/alpha/', '10 downloads of 2 directories in 14 lines', ''].join('\n'));
  t.match(readFileSync(prom, 'utf8'), /^pi_origin_log_downloads\{path="\/simple\/alpha\/"\} 8$/m);

  const since = await runCli(['downloads', '--log', join(dir, 'access-json.log'), '--since', '2000-01-01T00:00:00Z', '--json']);
  t.equal((JSON.parse(since.stdout) as { downloads: number }).downloads, 5, '--since a time before the lines: all counted');
  const future = await runCli(['downloads', '--log', join(dir, 'access-json.log'), '--since', '2999-01-01T00:00:00Z', '--json']);
  t.equal((JSON.parse(future.stdout) as { downloads: number }).downloads, 0);

  const stdin = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [MAIN, 'downloads', '--top', '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out));
    child.stdin.end(readFileSync(join(dir, 'access-json.log')));
  });
  t.match(stdin, /^\s+3 {2}\/simple\/alpha\/alpha-2\.0-py3-none-any\.whl$/m, 'standard input when no --log');
});

t.test('pi-origin downloads: bad input is an error naming it', async (t) => {
  const missing = await runCli(['downloads', '--log', '/nonexistent/access.log']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^pi-origin: error: --log: cannot read \/nonexistent\/access\.log: ENOENT\n$/);
  for (const [args, message] of [
    [['--top', '0'], /--top must be a whole number/],
    [['--by', 'project'], /--by must be file or directory/],
    [['--since', 'yesterday'], /--since must be an ISO 8601 time/],
  ] as const) {
    const r = await runCli(['downloads', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
  }
});
