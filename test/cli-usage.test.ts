/**
 * One CLI: every command, read from the same command tree the CLI dispatches with, refuses a
 * bad option and a missing value the same way (exit 2, one line, a pointer to its --help), has
 * examples in its help; `version`, `serve --check`, `cluster check --json` and the shell
 * completion generated from the same tables.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildInfo } from '../dist/common/build-info.js';
import { commandTree } from '../dist/cli/commands.js';
import { helpText, isGroup, type Subcommand } from '../dist/cli/subcommands.js';
import { runCli, type Result } from './helpers/cli.js';

/** Every leaf command as `[path, descriptor]`: `gate`, `release build`, `cluster status`. */
async function leaves(): Promise<[string, Subcommand][]> {
  return (await commandTree()).flatMap(([name, c]): [string, Subcommand][] => (isGroup(c) ? Object.entries(c.subcommands).map(([sub, s]): [string, Subcommand] => [`${name} ${sub}`, s]) : [[name, c]]));
}

/** Runs the CLI for each argument list, `width` at a time, results in order. */
async function runEach(argLists: readonly (readonly string[])[], width = 6): Promise<Result[]> {
  const results: Result[] = [];
  for (let i = 0; i < argLists.length; i += width) results.push(...(await Promise.all(argLists.slice(i, i + width).map((args) => runCli(args)))));
  return results;
}

t.test('every command: an unknown option and a missing value are usage errors, worded alike', async (t) => {
  const all = await leaves();
  t.ok(all.length >= 23, `${all.length} commands`);
  // The first option that takes a value, given last with none.
  const valued = all.filter(([, s]) => Object.values(s.flags).some((k) => k !== 'boolean'));
  t.ok(valued.length >= 15, `${valued.length} commands take a value`);
  const cases: [string, string[], string][] = [
    ...all.map(([path]): [string, string[], string] => [path, [...path.split(' '), '--bogus'], 'unknown option --bogus']),
    ...valued.map(([path, s]): [string, string[], string] => {
      const flag = Object.entries(s.flags).find(([, k]) => k !== 'boolean')?.[0] as string;
      return [path, [...path.split(' '), `--${flag}`], `--${flag} needs a value`];
    }),
  ];
  const results = await runEach(cases.map(([, args]) => args));
  cases.forEach(([path, args, message], i) => {
    const r = results[i] as Result;
    t.same({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: 2, stdout: '', stderr: `pi-origin ${path}: ${message} (see pi-origin ${path} --help)\n` }, args.join(' '));
  });
});

t.test('every command has usage, text and examples in its help', async (t) => {
  for (const [path, s] of await leaves()) {
    t.ok((s.examples ?? []).length > 0, `${path}: has examples`);
    for (const e of s.examples ?? []) t.match(e, /pi-origin /, `${path}: the example is a command line: ${e}`);
    t.match(helpText(s), new RegExp(`^Usage: pi-origin ${path}\\b[^]*\\n\\nExamples:\\n(  \\S.*\\n?)+$`), `${path}: Usage, text, then Examples`);
  }
  // What the CLI prints is that text (two of them, one leaf and one in a group).
  const [gate, status] = await Promise.all([runCli(['gate', '--help']), runCli(['cluster', 'status', '-h'])]);
  const tree = new Map(await leaves());
  t.same({ code: gate.code, stdout: gate.stdout }, { code: 0, stdout: helpText(tree.get('gate') as Subcommand) + '\n' });
  t.same({ code: status.code, stdout: status.stdout }, { code: 0, stdout: helpText(tree.get('cluster status') as Subcommand) + '\n' });
});

t.test('version, -v, --version, version --json', async (t) => {
  const [text, json] = await Promise.all([runCli(['version']), runCli(['version', '--json'])]);
  const b = buildInfo();
  t.equal(text.stdout, `pi-origin ${b.version} (uWebSockets.js ${b.uws}, Node.js ${b.node}, ${b.arch})\n`);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.stdout), { version: b.version, uws: b.uws, node: process.versions.node, arch: process.arch });
  t.not(b.uws, 'missing');
});

t.test('serve --check: validates options and root without listening', async (t) => {
  const dir = t.testdir({ site: { 'index.html': '<h1>hi</h1>\n', 'a.txt': 'a\n' }, 'cert.pem': 'not read here' });
  const site = join(dir, 'site');
  // A port in use: --check must not try to bind it.
  const [ok, json, missing, badOption, noKey, unreadable, jsonAlone] = await Promise.all([
    runCli(['serve', site, '--check', '--listen', '[::1]:1', '--workers', '3']),
    runCli(['serve', site, '--check', '--json', '--listen', '[::1]:1', '--listen', '127.0.0.1:2', '--workers', '1']),
    runCli(['serve', join(dir, 'nope'), '--check']),
    runCli(['serve', site, '--check', '--workers', '0']),
    runCli(['serve', site, '--check', '--tls-listen', '[::1]:4', '--tls-cert', join(dir, 'cert.pem')]),
    runCli(['serve', site, '--check', '--tls-listen', '[::1]:4', '--tls-cert', join(dir, 'missing.pem'), '--tls-key', join(dir, 'cert.pem')]),
    runCli(['serve', site, '--json']),
  ]);
  t.same({ code: ok.code, stderr: ok.stderr }, { code: 0, stderr: '' });
  t.match(ok.stdout, new RegExp(`^pi-origin serve: configuration ok: ${site} \\(release [0-9a-f]{12}, 2 files\\), listen \\[::1\\]:1, 3 workers\\n$`));
  t.equal(json.code, 0);
  t.match(JSON.parse(json.stdout), { ok: true, root: site, release: /^[0-9a-f]{12}$/, files: 2, listen: ['[::1]:1', '127.0.0.1:2'], tls: false, workers: 1 });

  t.same({ code: missing.code, stdout: missing.stdout }, { code: 2, stdout: '' });
  t.equal(missing.stderr, `pi-origin serve: check failed: cannot serve ${join(dir, 'nope')}: content root ${join(dir, 'nope')} does not exist\n`);
  t.same({ code: badOption.code, stderr: badOption.stderr }, { code: 2, stderr: 'pi-origin serve: --workers must be an integer from 1 to 256 (got "0") (see pi-origin serve --help)\n' });
  t.same({ code: noKey.code, stderr: noKey.stderr }, { code: 2, stderr: 'pi-origin serve: --tls-listen needs --tls-cert and --tls-key (see pi-origin serve --help)\n' });
  t.equal(unreadable.code, 2);
  t.match(unreadable.stderr, new RegExp(`^pi-origin serve: --tls-cert: cannot read ${join(dir, 'missing.pem')}: ENOENT \\(see pi-origin serve --help\\)\\n$`), 'TLS files must be readable');
  t.same({ code: jsonAlone.code, stderr: jsonAlone.stderr }, { code: 2, stderr: 'pi-origin serve: --json goes with --check (see pi-origin serve --help)\n' });
});

t.test('cluster check --json: the report as JSON, also when the node is down', async (t) => {
  const r = await runCli(['cluster', 'check', '--target', 'http://[::1]:1', '--expect', '0123456789ab', '--timeout', '2s', '--json']);
  t.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as Record<string, unknown>;
  t.same(Object.keys(report).sort(), ['bytes', 'checked', 'ms', 'ok', 'problems', 'release', 'target']);
  t.match(report, { target: 'http://[::1]:1', release: '0123456789ab', checked: 1, ok: false, problems: [/^\/_origin\/health: /] });
});

/** The completion script as a file, and what bash's completion function offers for `words`. */
function bashComplete(script: string, words: readonly string[]): string[] {
  const r = spawnSync('bash', ['--norc', '-c', `complete() { :; }; source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pi_origin; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bash: ${r.stderr}`);
  return r.stdout.split('\n').filter((w) => w !== '');
}

t.test('completion: bash completes commands, subcommands and options from the same tables', async (t) => {
  const dir = t.testdir({});
  const [bash, zsh, bad] = await Promise.all([runCli(['completion', 'bash']), runCli(['completion', 'zsh']), runCli(['completion', 'fish'])]);
  t.equal(bash.code, 0);
  const script = join(dir, 'pi-origin.bash');
  writeFileSync(script, bash.stdout);
  t.same(bashComplete(script, ['pi-origin', 'cl']), ['cluster']);
  t.same(bashComplete(script, ['pi-origin', 're']), ['release']);
  t.same(bashComplete(script, ['pi-origin', 'v']), ['version']);
  t.same(bashComplete(script, ['pi-origin', 'release', 'p']), ['prune']);
  t.same(bashComplete(script, ['pi-origin', 'cluster', 'provision', '--']).sort(), ['--check', '--diff', '--extra-vars', '--help', '--inventory', '--limit']);
  t.same(bashComplete(script, ['pi-origin', 'release', 'prune', 'dir', '--d']), ['--dry-run']);
  t.same(bashComplete(script, ['pi-origin', 'serve', '--no-w']), ['--no-watch']);
  t.same(bashComplete(script, ['pi-origin', 'gate', 'some-fi']), [], 'not an option: left to the shell (file names)');
  const tree = await commandTree();
  t.same(bashComplete(script, ['pi-origin', '']).sort(), [...tree.map(([n]) => n), '--help', '--version'].sort(), 'every command, none more');
  t.equal(bad.code, 2);
  t.equal(bad.stderr, 'pi-origin completion: SHELL must be bash or zsh (got "fish") (see pi-origin completion --help)\n');

  t.equal(zsh.code, 0);
  t.match(zsh.stdout, /^#compdef pi-origin\n/);
  for (const [name] of tree) t.ok(zsh.stdout.includes(`'${name}:`), `zsh offers ${name}`);
  const zshPath = spawnSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' }).stdout.trim();
  if (zshPath === '') {
    t.comment('zsh is not installed (.ci/run installs it): the zsh script is not parsed');
    return;
  }
  const file = join(dir, '_pi-origin');
  writeFileSync(file, zsh.stdout);
  const parsed = spawnSync(zshPath, ['-n', file], { encoding: 'utf8' });
  t.same({ status: parsed.status, stderr: parsed.stderr }, { status: 0, stderr: '' }, 'zsh -n parses the script');
});
