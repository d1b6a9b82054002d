/**
 * `pi-origin release ...` through the built binary (`npm run build` first): exit codes, one-line
 * errors without stack traces, every --help, output formats, and SIGINT during a build.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ReleaseSummary } from '../dist/release/release.js';
import { cleanEnv, MAIN, runCli, start, type Result } from './helpers/cli.js';

const STACK_LINE = /^\s+at /m;
const SUBCOMMANDS = ['build', 'verify', 'diff', 'stage', 'activate', 'rollback', 'list', 'prune'];
const CSS = 'body { margin: 0; font-family: system-ui, sans-serif; }\n'.repeat(20);

/**
 * Exit code and a single line on stderr matching `message`: `pi-origin release NAME: ... (see
 * pi-origin release NAME --help)` for a usage error (2), `pi-origin: error: ...` otherwise.
 */
function failsWith(t: Test, r: Result, code: number, message: RegExp): void {
  t.equal(r.code, code, `exit ${code}`);
  t.match(r.stderr, code === 2 ? /^pi-origin release( [a-z]+)?: [^\n]+see pi-origin release( [a-z]+)? --help\)\n$/ : /^pi-origin: error: [^\n]+\n$/, 'one line on stderr');
  t.match(r.stderr, message);
  t.notMatch(r.stderr, STACK_LINE, 'no stack trace');
}

t.test('help for release and each subcommand', async (t) => {
  const [top, none] = await Promise.all([runCli(['release', '--help']), runCli(['release'])]);
  t.equal(top.code, 0);
  t.match(top.stdout, /^Usage: pi-origin release <command> \[options\]/);
  for (const s of SUBCOMMANDS) t.match(top.stdout, new RegExp(`^  ${s}\\s+\\S`, 'm'), `lists ${s}`);
  t.equal(none.code, 2, 'no subcommand: usage, exit 2');
  t.equal(none.stdout, top.stdout);
  const main = await runCli(['--help']);
  t.match(main.stdout, /^\s+release\s+\S/m, 'pi-origin --help lists release');
  const helps = await Promise.all(SUBCOMMANDS.map((s) => runCli(['release', s, '--help'])));
  for (const [i, s] of SUBCOMMANDS.entries()) {
    const r = helps[i] as Result;
    t.equal(r.code, 0, `${s} --help exits 0`);
    t.match(r.stdout, new RegExp(`^Usage: pi-origin release ${s} `), `${s} --help shows its usage`);
    t.equal(r.stderr, '');
  }
  failsWith(t, await runCli(['release', 'deploy']), 2, /^pi-origin release: unknown command "deploy"/);
});

t.test('usage errors exit 2 with one line', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'a\n' } });
  const cases: [string[], RegExp][] = [
    [['release', 'build'], /^pi-origin release build: expected SITE_DIR \[RELEASES_DIR\] \(got 0 arguments\) \(see pi-origin release build --help\)$/m],
    [['release', 'build', join(dir, 'site')], /^pi-origin release build: --out RELEASES_DIR is required/m],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--out', join(dir, 'r')], /build: give RELEASES_DIR once/],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--fast'], /build: unknown option --fast/],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--headers'], /build: --headers needs a value/],
    [['release', 'activate', join(dir, 'r'), 'latest'], /activate: ID must be 12 hex digits, as printed by build \(got "latest"\)/],
    [['release', 'prune', join(dir, 'r')], /prune: --keep N is required/],
    [['release', 'prune', join(dir, 'r'), '--keep', 'two'], /prune: --keep must be a non-negative integer \(got "two"\)/],
    [['release', 'list', join(dir, 'r'), '--json=yes'], /list: --json takes no value/],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--parent', 'current'], /build: --parent needs --changes FILE \(what changed in the site since that release\)/],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--changes', 'c.txt'], /build: --changes needs --parent ID\|current \(the release the changes are relative to\)/],
    [['release', 'build', join(dir, 'site'), join(dir, 'r'), '--parent', 'latest', '--changes', 'c.txt'], /build: --parent must be a release id \(12 hex digits\) or current \(got "latest"\)/],
    [['release', 'diff', join(dir, 'a'), join(dir, 'b')], /diff: --out DIR is required/],
    [['release', 'stage', join(dir, 'r')], /stage: --patch FILE is required/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  for (const [i, [, message]] of cases.entries()) failsWith(t, results[i] as Result, 2, message);
  t.notOk(existsSync(join(dir, 'r')), 'nothing created');
});

t.test('build, verify, activate, list, rollback, prune', async (t) => {
  const dir = t.testdir({ site: { 'index.html': '<h1>one</h1>\n', 'style.css': CSS, _headers: '/*.css\n  Cache-Control: public, max-age=600\n' } });
  const site = join(dir, 'site');
  const releases = join(dir, 'releases');

  const b1 = await runCli(['release', 'build', site, '--out', releases]);
  t.equal(b1.code, 0);
  t.equal(b1.stderr, '', 'no progress when stderr is not a terminal');
  const m1 = /^built release ([0-9a-f]{12}): 2 files \(1\.1 kB\), 2 variants, copied 2, linked 0 -> (.+)\n$/.exec(b1.stdout);
  t.ok(m1, `summary line: ${b1.stdout}`);
  const id1 = m1?.[1] as string;
  t.equal(m1?.[2], join(releases, id1));

  const again = await runCli(['release', 'build', site, releases, '--json']);
  t.equal(again.code, 0);
  t.same(JSON.parse(again.stdout), { id: id1, dir: join(releases, id1), files: 2, bytes: 13 + CSS.length, variants: 2, copied: 0, linked: 0, carried: 0, reused: true });

  writeFileSync(join(site, 'index.html'), '<h1>two</h1>\n');
  const b2 = await runCli(['release', 'build', site, releases, '--headers', join(site, '_headers')]);
  const id2 = /^built release ([0-9a-f]{12}): 2 files \(\S+ \S+\), 2 variants, copied 1, linked 1 -> /.exec(b2.stdout)?.[1] as string;
  t.ok(id2, b2.stdout);

  const v = await runCli(['release', 'verify', join(releases, id2)]);
  t.same({ code: v.code, stdout: v.stdout, stderr: v.stderr }, { code: 0, stdout: `release ${id2} verified: 2 files (1.1 kB), 2 variants\n`, stderr: '' });
  const vJson = await runCli(['release', 'verify', join(releases, id2), '--json']);
  t.same({ code: vJson.code, json: JSON.parse(vJson.stdout) as unknown }, { code: 0, json: { dir: join(releases, id2), ok: true, id: id2, files: 2, bytes: 13 + CSS.length, variants: 2, hashed: 4, shared: 0, problems: [] } }, 'verify --json');
  const vParent = await runCli(['release', 'verify', join(releases, id2), '--parent', join(releases, id1)]);
  t.same(
    { code: vParent.code, stdout: vParent.stdout },
    { code: 0, stdout: `release ${id2} verified: 2 files (1.1 kB), 2 variants; 1 hashed, 3 shared with ${join(releases, id1)} by hard link\n` },
    'verify --parent: only the changed file is hashed',
  );

  t.equal((await runCli(['release', 'activate', releases, id1])).stdout, `activated ${id1} (previous: none)\n`);
  const a2 = await runCli(['release', 'activate', releases, id2]);
  t.same({ code: a2.code, stdout: a2.stdout }, { code: 0, stdout: `activated ${id2} (previous: ${id1})\n` });
  t.equal(readlinkSync(join(releases, 'current')), id2);
  const aJson = await runCli(['release', 'activate', releases, id2, '--json']);
  t.same({ code: aJson.code, json: JSON.parse(aJson.stdout) as unknown }, { code: 0, json: { current: id2, previous: id1 } }, 'activate --json (already current: nothing moves)');
  const aQuick = await runCli(['release', 'activate', releases, id1, '--quick', '--json']);
  t.same({ code: aQuick.code, json: JSON.parse(aQuick.stdout) as unknown }, { code: 0, json: { current: id1, previous: id2 } }, 'activate --quick');
  t.equal((await runCli(['release', 'activate', releases, id2])).code, 0);

  const list = await runCli(['release', 'list', releases]);
  t.equal(list.code, 0);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+CREATED\s+SIZE\s+FILES$/);
  t.match(lines[1], new RegExp(`^${id2}  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  +\\d+\\.\\d kB  +2  current$`));
  t.match(lines[2], new RegExp(`^${id1}  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  +\\d+\\.\\d kB  +2  previous$`));
  t.equal(lines.length, 3);
  const json = JSON.parse((await runCli(['release', 'list', releases, '--json'])).stdout) as ReleaseSummary[];
  t.same(json.map((r) => [r.id, r.files, r.current, r.previous]), [[id2, 2, true, false], [id1, 2, false, true]]);
  t.match(json[0], { created: String, bytes: Number });

  const rb = await runCli(['release', 'rollback', releases]);
  t.same({ code: rb.code, stdout: rb.stdout }, { code: 0, stdout: `rolled back to ${id1} (previous: ${id2})\n` });

  const rbJson = await runCli(['release', 'rollback', releases, '--json']);
  t.same({ code: rbJson.code, json: JSON.parse(rbJson.stdout) as unknown }, { code: 0, json: { current: id2, previous: id1 } }, 'rollback --json');
  const rbQuick = await runCli(['release', 'rollback', releases, '--quick', '--json']);
  t.same({ code: rbQuick.code, json: JSON.parse(rbQuick.stdout) as unknown }, { code: 0, json: { current: id1, previous: id2 } }, 'rollback --quick');
  t.equal((await runCli(['release', 'rollback', releases, '--quick'])).code, 0, 'and back');

  writeFileSync(join(site, 'index.html'), '<h1>three</h1>\n');
  const id3 = (JSON.parse((await runCli(['release', 'build', site, releases, '--json'])).stdout) as { id: string }).id;
  const dry = await runCli(['release', 'prune', releases, '--keep', '0', '--dry-run']);
  t.same({ code: dry.code, stdout: dry.stdout }, { code: 0, stdout: `would remove ${id3}\n` }, 'prune --dry-run lists what it would remove');
  const dryJson = await runCli(['release', 'prune', releases, '--keep', '0', '--dry-run', '--json']);
  t.same(JSON.parse(dryJson.stdout), { removed: [id3], dryRun: true });
  t.same(readdirSync(releases).sort(), [id1, id2, id3, 'current', 'previous'].sort(), '--dry-run removed nothing');
  t.ok(existsSync(join(releases, id3, 'manifest.json')));
  const pruned = await runCli(['release', 'prune', releases, '--keep', '0', '--json']);
  t.same({ code: pruned.code, json: JSON.parse(pruned.stdout) as unknown }, { code: 0, json: { removed: [id3], dryRun: false } });
  t.notOk(existsSync(join(releases, id3)), 'without --dry-run it is gone');

  const pr = await runCli(['release', 'prune', releases, '--keep', '0']);
  t.same({ code: pr.code, stdout: pr.stdout }, { code: 0, stdout: 'nothing to remove\n' }, 'current and previous are kept');
});

t.test('failures exit 1 with one line', async (t) => {
  const dir = t.testdir({ secret: 'x', site: { 'a.txt': 'a\n', 'b.css': CSS }, releases: {} });
  const site = join(dir, 'site');
  const releases = join(dir, 'releases');
  symlinkSync(join(dir, 'secret'), join(site, 'leak'));
  failsWith(t, await runCli(['release', 'build', site, releases]), 1, /^pi-origin: error: cannot publish .*: symlinks leaving the site, dangling or unreadable, or names no URL can reach: leak$/m);
  t.same(readdirSync(releases), []);
  failsWith(t, await runCli(['release', 'build', join(dir, 'nope'), releases]), 1, /site directory .*nope does not exist \(ENOENT\)/);
  writeFileSync(join(dir, 'rules'), '/a\n  Set-Cookie x\n');
  failsWith(t, await runCli(['release', 'build', site, releases, '--headers', join(dir, 'rules')]), 1, /rules:2: expected "Name: value", got "Set-Cookie x"/);

  const ok = join(dir, 'ok');
  mkdirSync(ok);
  writeFileSync(join(ok, 'b.css'), CSS);
  const id = /built release ([0-9a-f]{12})/.exec((await runCli(['release', 'build', ok, releases])).stdout)?.[1] as string;
  writeFileSync(join(releases, id, 'b.css'), 'tampered');
  writeFileSync(join(releases, id, 'extra'), '');
  const v = await runCli(['release', 'verify', join(releases, id)]);
  t.equal(v.code, 1);
  t.equal(v.stdout, `size: /b.css is 8 bytes, manifest says ${CSS.length}\nextra: /extra\n`, 'every problem on stdout');
  t.equal(v.stderr, `pi-origin: error: ${join(releases, id)}: 2 problems\n`);
  const vJson = await runCli(['release', 'verify', join(releases, id), '--json']);
  t.equal(vJson.code, 1);
  t.same(JSON.parse(vJson.stdout), { dir: join(releases, id), ok: false, id: null, files: null, bytes: null, variants: null, hashed: 2, shared: 0, problems: [`size: /b.css is 8 bytes, manifest says ${CSS.length}`, 'extra: /extra'] }, 'verify --json lists the problems');
  t.equal(vJson.stderr, v.stderr);

  const a = await runCli(['release', 'activate', releases, id]);
  t.equal(a.code, 1);
  t.equal(a.stderr, `pi-origin: error: release ${id} does not verify (2 problems); current unchanged\n  size: /b.css is 8 bytes, manifest says ${CSS.length}\n  extra: /extra\n`, 'the error line, then each problem');
  t.notOk(existsSync(join(releases, 'current')));
  const quick = await runCli(['release', 'activate', releases, id, '--quick']);
  t.equal(quick.code, 1, 'activate --quick refuses a file of the wrong size too');
  t.equal(quick.stderr, a.stderr);
  t.notOk(existsSync(join(releases, 'current')));
  failsWith(t, await runCli(['release', 'activate', releases, 'abcdefabcdef']), 1, /no release abcdefabcdef in /);
  failsWith(t, await runCli(['release', 'rollback', releases]), 1, /no previous release recorded in /);
  failsWith(t, await runCli(['release', 'list', join(dir, 'missing')]), 1, /releases directory .*missing does not exist/);
});

t.test('build --parent --changes: from a file or standard input, as text or JSON; refusals exit 1', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'a\n', 'b.css': CSS }, releases: {} });
  const site = join(dir, 'site');
  const releases = join(dir, 'releases');
  const first = JSON.parse((await runCli(['release', 'build', site, releases, '--json'])).stdout) as { id: string };
  t.equal((await runCli(['release', 'activate', releases, first.id])).code, 0);
  writeFileSync(join(site, 'c.txt'), 'c\n');
  writeFileSync(join(dir, 'changes'), 'A\tc.txt\n');
  const text = await runCli(['release', 'build', site, releases, '--parent', 'current', '--changes', join(dir, 'changes')]);
  t.equal(text.code, 0, text.stderr);
  const id = /^built release ([0-9a-f]{12}) /.exec(text.stdout)?.[1] as string;
  t.equal(text.stdout, `built release ${id} from ${first.id}: 3 files (1.1 kB), 2 variants; added 1, replaced 0, removed 0; copied 1, linked 2 -> ${join(releases, id)}\n`);
  const verify = await runCli(['release', 'verify', join(releases, id), '--parent', join(releases, first.id)]);
  t.equal(verify.stdout, `release ${id} verified: 3 files (1.1 kB), 2 variants; 1 hashed, 4 shared with ${join(releases, first.id)} by hard link\n`, 'verify --parent hashes only the new file');

  writeFileSync(join(site, 'd.txt'), 'd\n');
  const json = spawnSync(process.execPath, [MAIN, 'release', 'build', site, releases, '--parent', id, '--changes', '-', '--json'], { input: 'A\td.txt\n', encoding: 'utf8', env: cleanEnv() });
  t.equal(json.status, 0, json.stderr);
  const r = JSON.parse(json.stdout) as Record<string, unknown>;
  t.same(Object.keys(r), ['id', 'dir', 'parent', 'files', 'bytes', 'variants', 'copied', 'linked', 'carried', 'reused', 'added', 'replaced', 'removed', 'ignored']);
  t.same({ parent: r.parent, files: r.files, added: r.added, linked: r.linked, reused: r.reused }, { parent: id, files: 4, added: 1, linked: 3, reused: false });

  writeFileSync(join(dir, 'bad'), 'A\tmissing.txt\n');
  failsWith(t, await runCli(['release', 'build', site, releases, '--parent', 'current', '--changes', join(dir, 'bad')]), 1, new RegExp(`^pi-origin: error: ${join(dir, 'bad')} line 1: /missing\\.txt is not a file of the site `));
  failsWith(t, await runCli(['release', 'build', site, releases, '--parent', 'current', '--changes', join(dir, 'none')]), 1, /^pi-origin: error: cannot read --changes .*none: ENOENT$/m);
  failsWith(t, await runCli(['release', 'build', site, releases, '--parent', 'abcdefabcdef', '--changes', join(dir, 'changes')]), 1, /^pi-origin: error: parent release abcdefabcdef is not in /);
  t.same(readdirSync(releases).filter((e) => e.startsWith('.')), [], 'no temporary left');
});

t.test('diff and stage: what a node holding one release needs for the next', async (t) => {
  const dir = t.testdir({ site: { 'a.txt': 'a\n', 'b.css': CSS }, releases: {}, node: {} });
  const site = join(dir, 'site');
  const releases = join(dir, 'releases');
  const a = (JSON.parse((await runCli(['release', 'build', site, releases, '--json'])).stdout) as { id: string }).id;
  writeFileSync(join(site, 'c.txt'), 'c\n');
  const b = (JSON.parse((await runCli(['release', 'build', site, releases, '--json'])).stdout) as { id: string }).id;
  const out = join(dir, 'delta');
  const diff = await runCli(['release', 'diff', join(releases, a), join(releases, b), '--out', out]);
  t.equal(diff.code, 0, diff.stderr);
  t.match(diff.stdout, new RegExp(`^diff ${a} -> ${b}: 1 entries new or changed, 0 removed; 1 files to send \\(2 B\\), patch [\\d.]+ (B|kB) -> ${out}\n$`));
  t.equal(readFileSync(join(out, 'files'), 'utf8'), 'c.txt\n');
  const again = JSON.parse((await runCli(['release', 'diff', join(releases, a), join(releases, b), '--out', out, '--json'])).stdout) as Record<string, unknown>;
  t.same({ reused: again.reused, files: again.files, entries: again.entries }, { reused: true, files: 1, entries: 1 }, 'a diff made before is kept');
  // The node: its own copy of A (other inodes), then the stage, the listed file, the check.
  const node = join(dir, 'node');
  cpSync(join(releases, a), join(node, a), { recursive: true });
  const stage = await runCli(['release', 'stage', node, '--patch', join(out, 'patch'), '--list', join(dir, 'receive')]);
  t.equal(stage.code, 0, stage.stderr);
  t.equal(stage.stdout, `staged ${b} from ${a}: 4 files linked, 1 to receive -> ${join(node, `.incoming-${b}`)}\n`);
  t.equal(readFileSync(join(dir, 'receive'), 'utf8'), readFileSync(join(out, 'files'), 'utf8'), '--list: what the node still needs, the diff\'s own list');
  writeFileSync(join(node, `.incoming-${b}`, 'c.txt'), 'c\n');
  const v = await runCli(['release', 'verify', join(node, `.incoming-${b}`), '--parent', join(node, a)]);
  t.equal(v.code, 0, v.stdout);
  t.equal(readFileSync(join(node, `.incoming-${b}`, 'manifest.json'), 'utf8'), readFileSync(join(releases, b, 'manifest.json'), 'utf8'), 'the manifest rebuilt on the node is the controller\'s, byte for byte');
  failsWith(t, await runCli(['release', 'stage', node, '--patch', join(dir, 'nope')]), 1, /^pi-origin: error: cannot read the patch .*nope: ENOENT$/m);
});

t.test('SIGINT during a build removes the temporary directory', async (t) => {
  const dir = t.testdir({ site: {}, releases: {} });
  const words = ['pi', 'origin', 'release', 'ipv6', 'rack', 'cache', 'header', 'brotli', 'gzip', 'node'];
  let x = 7;
  for (let i = 0; i < 400; i++) {
    let s = '';
    while (s.length < 3000) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      s += words[x % words.length] + String(i) + (x % 7 === 0 ? '\n' : ' ');
    }
    writeFileSync(join(dir, 'site', `f${i}.txt`), s);
  }
  const releases = join(dir, 'releases');
  const watcher = watch(releases);
  const appeared = new Promise<string>((resolve) => watcher.on('change', (_event, name) => String(name).startsWith('.tmp-') && resolve(String(name))));
  const p = start(['release', 'build', join(dir, 'site'), releases]);
  const tmp = await Promise.race([appeared, p.result.then(() => '')]);
  watcher.close();
  t.match(tmp, /^\.tmp-[0-9a-f]{12}-\d+$/, 'the build started writing');
  p.child.kill('SIGINT');
  const r = await p.result;
  // Alone, the build re-raises SIGINT; under tap, whose NODE_OPTIONS add a SIGINT listener to the
  // child, it rejects instead and the CLI exits 130 with one line.
  if (r.signal === null) t.same({ code: r.code, stderr: r.stderr }, { code: 130, stderr: `pi-origin: error: build interrupted by SIGINT; the unfinished release was removed\n` }, 'interrupted');
  else t.equal(r.signal, 'SIGINT', 'ends by the signal');
  t.same(readdirSync(releases), [], 'nothing left behind');
  t.equal(readFileSync(join(dir, 'site', 'f0.txt'), 'utf8').length >= 3000, true);
});
