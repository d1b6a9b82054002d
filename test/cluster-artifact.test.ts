/**
 * `pi-origin cluster artifact`: what goes into the tar the origin_node role installs (the
 * Ansible tests install it on rig nodes and start the server from it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { productionPackages } from '../cluster/artifact.js';
import { REPO } from './helpers/ansible.js';
import { cleanEnv, runCli } from './helpers/cli.js';

function listing(file: string): string[] {
  return spawnSync('tar', ['-tf', file], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
}

t.test('the artifact holds the app, the production packages and one uWS binary', async (t) => {
  const dir = t.testdir();
  const out = join(dir, 'pi-origin.tar');
  const r = await runCli(['cluster', 'artifact', '--out', out, '--arch', 'armhf']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`^wrote ${out}: \\d+\\.\\d MB, \\d+ files, ${productionPackages(REPO).length} production packages, linux-arm \\(uws_linux_arm_115\\.node\\)\\n$`));
  const files = listing(out);
  for (const f of ['package.json', 'dist/cli/main.js', 'dist/server/worker.js', 'node_modules/uWebSockets.js/src/uws.js', 'node_modules/lru-cache/package.json', 'node_modules/yaml/package.json'])
    t.ok(files.includes(f), `has ${f}`);
  t.same(files.filter((f) => f.includes('/binaries/')), ['node_modules/uWebSockets.js/binaries/uws_linux_arm_115.node'], 'only the armhf binary for Node 20');
  t.same(files.filter((f) => /^dist\/.*\.(d\.ts|map)$/.test(f)), [], 'no declarations or source maps');
  t.same(files.filter((f) => /^dist\/demo-|^node_modules\/uWebSockets\.js\/(dist|docs)\/|^node_modules\/(tap|typescript|autocannon|eslint)\//.test(f)), [], 'no demo content, uWS fallback or dev dependencies');
  t.same([...new Set(files.filter((f) => f.startsWith('node_modules/')).map((f) => f.split('/').slice(0, f.startsWith('node_modules/@') ? 3 : 2).join('/')))].sort(), productionPackages(REPO), 'exactly the production packages');
  const v = spawnSync('tar', ['-tvf', out], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  t.match(v, /^\S+ 0\/0 /, 'owned by root (0/0)');

  const gz = join(dir, 'pi-origin.tgz');
  const z = await runCli(['cluster', 'artifact', '--out', gz]);
  t.equal(z.code, 0);
  t.match(z.stdout, /linux-arm64 \(uws_linux_arm64_115\.node\)/, 'arm64 (Raspberry Pi OS 64-bit) by default');
  t.equal(spawnSync('gzip', ['-t', gz]).status, 0, '.tgz is gzipped');
});

t.test('the unpacked artifact serves on its own: no dev dependency is loaded', async (t) => {
  // Outside the repository: Node resolves packages up the directory tree, and the repo's own
  // node_modules (dev dependencies included) must not be found.
  const dir = mkdtempSync(join(tmpdir(), 'pi-origin-artifact-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'pi-origin.tar');
  t.equal((await runCli(['cluster', 'artifact', '--out', out, '--arch', process.arch])).code, 0);
  const app = join(dir, 'app');
  mkdirSync(app);
  t.equal(spawnSync('tar', ['-xf', out, '-C', app]).status, 0, 'unpacked');
  const release = join(REPO, 'dist/demo-releases', readlinkSync(join(REPO, 'dist/demo-releases/current')));
  const child = spawn(process.execPath, [join(app, 'dist/cli/main.js'), 'serve', release, '--listen', '[::1]:0', '--workers', '1', '--no-watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on http:\/\/\[::1\]:(\d+)\//.exec(output);
      if (m !== null) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`serve from the artifact exited with ${String(code)}: ${output}`)));
  });
  const status = await new Promise<number>((resolve, reject) => request({ host: '::1', port, path: '/' }, (res) => resolve(res.statusCode ?? 0)).on('error', reject).end());
  t.equal(status, 200, 'pi-origin serve from the unpacked artifact answers 200');
  const help = spawnSync(process.execPath, [join(app, 'dist/cli/main.js'), 'gate', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0, 'gate --help works without the load generator');
  const gate = spawnSync(process.execPath, [join(app, 'dist/cli/main.js'), 'gate', '--quick', '--release', release, '--config', join(REPO, 'load-tests/gate.json')], { encoding: 'utf8' });
  t.same({ status: gate.status, stdout: gate.stdout }, { status: 1, stdout: '' }, 'the gate (a controller command) cannot run on a node: autocannon is not in the artifact');
  t.match(gate.stderr, /^pi-origin: error: the gate needs its load generator \(autocannon\), which is not installed here: .*\n$/);
  const inventory = join(dir, 'inventory.ini');
  writeFileSync(inventory, '[origins]\nnode1 ansible_host=::1\n');
  const provision = spawnSync(process.execPath, [join(app, 'dist/cli/main.js'), 'cluster', 'provision', '-i', inventory], { encoding: 'utf8', env: cleanEnv() });
  t.equal(provision.status, 1);
  t.match(provision.stderr, `has no ansible/ (the node artifact holds the server only); run cluster commands from the installed package`, 'the artifact has no playbooks and says where they are');
});

t.test('usage errors', async (t) => {
  const bad = await runCli(['cluster', 'artifact', '--out', '/tmp/x.tar', '--arch', 'mips']);
  t.equal(bad.code, 2);
  t.equal(bad.stderr, `pi-origin cluster artifact: --arch must be arm64, armhf or x64 (got "mips"; uWebSockets.js ships linux arm64, arm, x64) (see pi-origin cluster artifact --help)\n`);
  const none = await runCli(['cluster', 'artifact']);
  t.equal(none.code, 2);
  t.match(none.stderr, /--out FILE is required/);
  const nowhere = await runCli(['cluster', 'artifact', '--out', '/nonexistent-dir/x.tar']);
  t.equal(nowhere.code, 1);
  t.match(nowhere.stderr, /^pi-origin: error: /);
  t.notMatch(nowhere.stderr, /\n\s+at /, 'no stack trace');
  const help = await runCli(['cluster', 'artifact', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /origin_node_artifact/);
});
