/**
 * `pi-origin cluster check` (the canary gate until the load-test gate exists): real origin
 * servers on [::1] serving releases, checked through the built CLI.
 */
import { cpSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { buildRelease } from '../release/release.js';
import { runCli } from './helpers/cli.js';
import { startServer } from './helpers/server.js';

const SITE = {
  'index.html': '<h1>release one</h1>\n',
  'app.js': 'console.log("one");\n'.repeat(20),
  'data.bin': Buffer.alloc(70000, 7),
  _headers: '/old  /index.html  308\n',
};

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '::1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

t.test('a node serving the release passes; another release, a damaged file and no server fail', async (t) => {
  const dir = t.testdir({ one: SITE, two: { ...SITE, 'index.html': '<h1>release two</h1>\n' } });
  const releases = join(dir, 'releases');
  const one = await buildRelease(join(dir, 'one'), releases);
  const two = await buildRelease(join(dir, 'two'), releases);
  const served = await startServer(t, one.dir);

  const pass = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}`, '--release', one.dir]);
  t.equal(pass.code, 0, 'exit 0');
  t.match(pass.stdout, new RegExp(`^http://\\[::1\\]:${served.port}: release ${one.id} passed the content check \\(4 requests, 0\\.1 MB, \\d+ ms\\)\\n$`), 'one line: 3 files and 1 redirect');
  t.equal(pass.stderr, '');

  const other = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}/`, '--release', two.dir]);
  t.equal(other.code, 1, 'another release: exit 1');
  t.equal(
    other.stdout.replace(/\d+ ms/, 'N ms'),
    [
      `http://[::1]:${served.port}: release ${two.id} FAILED the content check: 4 problems (4 requests, 0.1 MB, N ms)`,
      `  /_origin/health: says "ok ${one.id}", expected "ok ${two.id}"`,
      `  /app.js: X-Origin-Release ${one.id}, expected ${two.id}`,
      `  /data.bin: X-Origin-Release ${one.id}, expected ${two.id}`,
      `  /index.html: X-Origin-Release ${one.id}, expected ${two.id}`,
      '',
    ].join('\n'),
    'every problem listed, path first',
  );

  // Same size, other bytes: the server refuses the file (503), the check names it.
  const damaged = join(dir, 'damaged', one.id);
  cpSync(one.dir, damaged, { recursive: true });
  writeFileSync(join(damaged, 'data.bin'), Buffer.alloc(70000, 8));
  const bad = await startServer(t, damaged);
  const broken = await runCli(['cluster', 'check', '--target', `http://[::1]:${bad.port}`, '--release', one.dir]);
  t.equal(broken.code, 1);
  t.match(broken.stdout, /FAILED the content check: 1 problem \(/);
  t.match(broken.stdout, /\n {2}\/data\.bin: HTTP 503\n$/);

  // --expect: health only, retried for --wait (how a rollout confirms a switch).
  const expectOk = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}`, '--expect', one.id]);
  t.equal(expectOk.code, 0);
  t.match(expectOk.stdout, new RegExp(`^http://\\[::1\\]:${served.port}: reports release ${one.id} \\(1 request, \\d+ ms\\)\\n$`));
  const waited = Date.now();
  const expectOther = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}`, '--expect', two.id, '--wait', '400ms']);
  t.equal(expectOther.code, 1);
  t.equal(expectOther.stdout, `http://[::1]:${served.port}: does NOT report release ${two.id}: /_origin/health: HTTP 200 "ok ${one.id}", expected "ok ${two.id}" (waited 400 ms)\n`);
  t.ok(Date.now() - waited >= 400, 'it kept asking for --wait');

  // Several targets at once (how the rollback confirms every node): one line each, in the
  // order given; exit 1 when any does not report the release.
  const closed = await closedPort();
  const many = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}`, '--target', `http://[::1]:${closed}`, '--expect', one.id, '--wait', '300ms', '--json']);
  t.equal(many.code, 1, 'one node does not report the release');
  const lines = many.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { target: string; ok: boolean; problems: string[] });
  t.same(lines.map((l) => [l.target, l.ok]), [[`http://[::1]:${served.port}`, true], [`http://[::1]:${closed}`, false]], 'one JSON line per target, in order');
  t.match(lines[1]?.problems, [/^\/_origin\/health: refused, expected "ok [0-9a-f]{12}" \(waited 300 ms\)$/]);
  const both = await runCli(['cluster', 'check', '--target', `http://[::1]:${served.port}`, '--target', `http://[::1]:${served.port}`, '--expect', one.id]);
  t.equal(both.code, 0, 'every target reports it: exit 0');
  t.equal(both.stdout.split('\n').filter((l) => l.includes(`reports release ${one.id}`)).length, 2);

  const port = await closedPort();
  const down = await runCli(['cluster', 'check', '--target', `http://[::1]:${port}`, '--release', one.dir]);
  t.equal(down.code, 1);
  t.equal(down.stdout.replace(/\d+ ms/, 'N ms'), `http://[::1]:${port}: release ${one.id} FAILED the content check: 1 problem (0 requests, 0.0 MB, N ms)\n  /_origin/health: refused\n`);
});

t.test('usage errors name the option', async (t) => {
  const dir = t.testdir({ site: SITE, notrelease: { 'a.txt': 'a' } });
  const rel = await buildRelease(join(dir, 'site'), join(dir, 'releases'));
  const cases: [string[], string][] = [
    [['--release', rel.dir], '--target URL is required'],
    [['--target', 'http://[::1]:1'], '--release RELEASE_DIR or --expect ID is required'],
    [['--target', 'http://[::1]:1', '--expect', 'abc'], '--expect must be a release id, 12 hex digits (got "abc")'],
    [['--target', 'http://[::1]:1', '--expect', rel.id, '--release', rel.dir], 'give --release or --expect, not both'],
    [['--target', 'http://[::1]:1', '--release', rel.dir, '--wait', '1s'], '--wait goes with --expect'],
    [['--target', 'http://[::1]:1', '--target', 'http://[::1]:2', '--release', rel.dir], '--release checks one node: give --target once (several go with --expect)'],
    [['--target', 'http://[::1]:1', '--expect', rel.id, '--wait', '6m'], '--wait must be a duration from 0 to 5m'],
    [['--target', 'ftp://[::1]/', '--release', rel.dir], '--target must be an http:// URL of a node without a path'],
    [['--target', 'http://[::1]:1/x', '--release', rel.dir], '--target must be an http:// URL of a node without a path'],
    [['--target', 'nonsense', '--release', rel.dir], '--target must be an http:// URL like'],
    [['--target', 'http://[::1]:1', '--release', join(dir, 'notrelease')], `--release ${join(dir, 'notrelease')} is not a release directory (no manifest.json)`],
    [['--target', 'http://[::1]:1', '--release', rel.dir, '--timeout', '0'], '--timeout must be a duration from 1ms to 5m'],
    [['--target', 'http://[::1]:1', '--release', rel.dir, '--concurrency', '65'], '--concurrency must be a whole number from 1 to 64 (got "65")'],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(['cluster', 'check', ...args])));
  cases.forEach(([args, message], i) => {
    const r = results[i]!;
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.ok(r.stderr.startsWith(`pi-origin cluster check: ${message}`), `${args.join(' ')}: ${r.stderr.trim()}`);
    t.match(r.stderr, /\(see pi-origin cluster check --help\)\n$/);
  });
  const help = await runCli(['cluster', 'check', '--help']);
  t.equal(help.code, 0);
  for (const s of ['--target URL', '--release', '--timeout', '--concurrency', 'admin-allow', 'Exit 0']) t.match(help.stdout, s);
});
