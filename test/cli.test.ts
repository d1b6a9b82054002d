/**
 * The `pi-origin` command as a person runs it: `node dist/cli/main.js` in a child process.
 * Exit codes (0 ok, 1 cannot start, 2 usage), one-line errors without stack traces, and a
 * served root that stops cleanly on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { OPTIONS } from '../dist/server/config.js';
import { request } from './helpers/server.js';
import { runCli, start, type Result } from './helpers/cli.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const STACK_LINE = /^\s+at /m;

t.test('help', async (t) => {
  const [top, serve, none] = await Promise.all([runCli(['--help']), runCli(['serve', '--help']), runCli([])]);
  t.equal(top.code, 0, '--help exits 0');
  t.match(top.stdout, /^Usage: pi-origin <command>/);
  t.match(top.stdout, /^\s+serve\s+\S/m, 'lists the serve command');
  t.match(top.stdout, /pi-origin <command> --help/, "points to the commands' own help");
  t.equal(top.stderr, '');

  t.equal(serve.code, 0, 'serve --help exits 0');
  t.match(serve.stdout, /^Usage: pi-origin serve \[ROOT\] \[options\]/);
  t.equal(serve.stderr, '');
  t.ok(OPTIONS.length >= 10, 'OPTIONS is the option table');
  for (const o of OPTIONS) {
    t.ok(new RegExp(`^\\s+${o.flag}[ ,]`, 'm').test(serve.stdout), `serve --help lists ${o.flag}`);
    if (o.kind === 'bool') t.ok(serve.stdout.includes(`--no-${o.flag.slice(2)}`), `serve --help lists --no-${o.flag.slice(2)}`);
  }

  t.equal(none.code, 2, 'no command is a usage error');
  t.match(none.stdout, /^Usage: pi-origin <command>/);
});

t.test('--version and -v: the version line of pi-origin version', async (t) => {
  const [long, short, command] = await Promise.all([runCli(['--version']), runCli(['-v']), runCli(['version'])]);
  for (const r of [long, short, command]) {
    t.equal(r.code, 0);
    t.equal(r.stderr, '');
    t.match(r.stdout, new RegExp(`^pi-origin ${VERSION.replaceAll('.', '\\.')} \\(uWebSockets\\.js \\S+, Node\\.js ${process.versions.node.replaceAll('.', '\\.')}, ${process.arch}\\)\n$`));
  }
  t.equal(long.stdout, command.stdout);
  t.equal(short.stdout, command.stdout);
});

t.test('usage errors exit 2 with one line and no stack trace', async (t) => {
  const [unknownCommand, badFlag, badValue, missingValue, twoRoots, bracketedV4] = await Promise.all([
    runCli(['frobnicate']),
    runCli(['serve', '--bogus']),
    runCli(['serve', '.', '--workers', 'many', '--listen', '[::1]:0']),
    runCli(['serve', '.', '--listen']),
    runCli(['serve', 'a', 'b', '--listen', '[::1]:0']),
    // Read as ::/32 once, which let every IPv4 client (and X-Forwarded-For: garbage) into /_origin/*.
    runCli(['serve', '.', '--listen', '[::1]:0', '--admin-allow', '[127.0.0.1]/32']),
  ]);
  t.equal(unknownCommand.code, 2, 'unknown command');
  t.match(unknownCommand.stderr, /^pi-origin: unknown command "frobnicate" \(expected serve, .*; see pi-origin --help\)\n$/);
  t.notMatch(unknownCommand.stderr, STACK_LINE);

  for (const [name, r, message] of [
    ['unknown flag', badFlag, /--bogus/],
    ['bad value', badValue, /--workers.*"many"/],
    ['missing value', missingValue, /--listen needs a value/],
    ['two roots', twoRoots, /expected \[ROOT\] \(got 2 arguments\)/],
    ['bracketed IPv4 prefix', bracketedV4, /^pi-origin serve: --admin-allow: "\[127\.0\.0\.1\]\/32" .*brackets are for IPv6 only \(write 127\.0\.0\.1\/32\) \(see pi-origin serve --help\)\n$/],
  ] as const) {
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, /^pi-origin serve: .+ \(see pi-origin serve --help\)\n$/, `${name}: one line on stderr`);
    t.equal(r.stderr.split('\n').length, 2, `${name}: exactly one line`);
    t.match(r.stderr, message, `${name}: names the problem`);
    t.notMatch(r.stderr, STACK_LINE, `${name}: no stack trace`);
    t.equal(r.stdout, '', `${name}: nothing on stdout`);
  }
});

t.test('a missing root exits 1 with a clear message', async (t) => {
  const missing = t.testdir({}) + '/does-not-exist';
  const r = await runCli(['serve', missing, '--listen', '[::1]:0', '--workers', '1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^pi-origin: error: cannot serve .*does-not-exist: content root .*does-not-exist does not exist\n$/);
  t.notMatch(r.stderr, STACK_LINE);
});

t.test('environment', async (t) => {
  const dir = t.testdir({ 'a.txt': 'hello\n' });
  const [fallback, workers] = await Promise.all([
    runCli(['serve', dir, '--listen', '[::1]:0', '--workers', '1'], { UWS_USE_FALLBACK: '1' }),
    runCli(['serve', dir, '--listen', '[::1]:0'], { PI_ORIGIN_WORKERS: 'abc' }),
  ]);
  t.not(fallback.code, 0, 'UWS_USE_FALLBACK=1: refuses to serve');
  t.not(fallback.code, null, 'UWS_USE_FALLBACK=1: exits by itself');
  t.match(fallback.stderr, /UWS_USE_FALLBACK/, 'UWS_USE_FALLBACK=1: says why');
  t.notMatch(fallback.stderr, STACK_LINE, 'UWS_USE_FALLBACK=1: no stack trace');
  t.notMatch(fallback.stdout, /listening/, 'UWS_USE_FALLBACK=1: never listened');

  t.equal(workers.code, 2, 'PI_ORIGIN_WORKERS=abc: usage error');
  t.match(workers.stderr, /^pi-origin serve: --workers .*"abc"/, 'PI_ORIGIN_WORKERS=abc: names --workers and the value');
  t.notMatch(workers.stderr, STACK_LINE);
});

t.test('serve with two workers, then SIGTERM', async (t) => {
  const dir = t.testdir({ 'index.html': '<h1>hi</h1>\n', 'a.txt': 'hello\n' });
  const p = start(['serve', dir, '--listen', '[::1]:0', '--workers', '2']);
  t.teardown(() => void p.child.kill('SIGKILL'));
  // Resolves with the port once the URL is printed, or with the result if the process exits first.
  const listening = await new Promise<number | Result>((resolve) => {
    const check = (): void => {
      const m = /^pi-origin: listening on http:\/\/\[::1\]:(\d+)\/$/m.exec(p.stdout());
      if (m !== null) resolve(Number(m[1]));
    };
    p.child.stdout?.on('data', check);
    void p.result.then((r) => resolve(r));
    check();
  });
  if (typeof listening !== 'number') {
    t.fail(`exited before listening (code ${listening.code}): ${listening.stderr.trim()}`);
    return;
  }
  t.match(p.stdout(), new RegExp(`^pi-origin: serving ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(release [0-9a-f]{12}\\) with 2 workers$`, 'm'));
  const r = await request(listening, '/a.txt');
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'hello\n');
  const health = await request(listening, '/_origin/health');
  t.match(health.body.toString(), /^ok [0-9a-f]{12}\n$/);

  p.child.kill('SIGTERM');
  const end = await p.result;
  t.equal(end.code, 0, 'SIGTERM: exit 0');
  t.equal(end.signal, null);
  t.match(end.stderr, /^pi-origin: SIGTERM: draining$/m);
  t.match(end.stderr, /^pi-origin: stopped$/m);
  t.notMatch(end.stderr, /warning|error/i, 'nothing went wrong on the way');
});
