/**
 * The package as an operator installs it on a controller: `npm pack`, then `npm install -g
 * --omit=dev` of the tarball into an empty prefix, then every kind of command run from a
 * directory outside the repository (Node resolves packages up the directory tree, and the
 * checkout's node_modules, dev dependencies included, must not be found). The server it gates
 * and reports on is started from the installed package too.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { REPO } from './helpers/ansible.js';
import { cleanEnv } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pi-origin-install-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const prefix = join(dir, 'prefix');
const work = join(dir, 'work');
const state = join(dir, 'state');
mkdirSync(work);
const installed = join(prefix, 'lib', 'node_modules', 'pi-origin');

// The commands run as an operator's shell would: the prefix's bin first on PATH, no coverage
// hooks or pi-origin settings from the test run, reports under a private XDG_STATE_HOME.
const env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`, XDG_STATE_HOME: state });
delete env.NODE_OPTIONS;
delete env.NODE_V8_COVERAGE;

function npm(args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, encoding: 'utf8', timeout: 240_000 });
}

function piOrigin(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync('pi-origin', args, { cwd: work, env, encoding: 'utf8', timeout: 120_000 });
}

t.before(() => {
  // dist/ is built (pretest); --ignore-scripts skips prepack's second build.
  const pack = npm(['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], REPO);
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
  const install = npm(['install', '--global', '--omit=dev', '--prefix', prefix, join(dir, filename)], work);
  if (install.status !== 0) throw new Error(`npm install -g failed: ${install.stderr}`);
});

t.test('the installed package holds what runs and no dev dependency or source', (t) => {
  const top = readdirSync(installed).sort();
  const shipped = ['CHANGELOG.md', 'README.md', 'ansible', 'dist', 'load-tests', 'node_modules', 'package.json', ...(existsSync(join(REPO, 'monitoring')) ? ['monitoring'] : [])];
  t.same(top, shipped.sort(), 'what "files" names, with node_modules');
  t.same(readdirSync(join(installed, 'load-tests')).filter((f) => f.endsWith('.json')).sort(), ['gate-canary.json', 'gate.json'], "the gate's SLO files, no recorded results");
  const modules = readdirSync(join(installed, 'node_modules'));
  for (const name of ['autocannon', 'uWebSockets.js', 'yaml']) t.ok(modules.includes(name), `${name} installed`);
  t.same(modules.filter((m) => ['tap', 'typescript', 'eslint', 'sirv', 'fastify', '@fastify', 'fast-check', 'tsx'].includes(m)), [], 'no dev dependency');
  const dist = readdirSync(join(installed, 'dist'), { recursive: true, encoding: 'utf8' });
  t.same(dist.filter((f) => /\.(ts|map)$/.test(f) || f.startsWith('demo-site') || f.startsWith('demo/')), [], 'no declarations, source maps or demo build input');
  t.end();
});

t.test('every command runs from the installed package', (t) => {
  const help = piOrigin(['--help']);
  t.equal(help.status, 0, help.stderr);
  for (const command of ['serve', 'release', 'cluster', 'gate', 'plan', 'bench']) t.match(help.stdout, new RegExp(`^  ${command} `, 'm'), `lists ${command}`);

  const plan = piOrigin(['plan', '--visitors', '100000', '--requests-per-visit', '20', '--bytes-per-visit', '2MB', '--node-rps', '5000']);
  t.equal(plan.status, 0, `plan: ${plan.stderr}`);

  const site = join(dir, 'site');
  mkdirSync(site);
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>installed</title>\n');
  const releases = join(dir, 'releases');
  mkdirSync(releases);
  const build = piOrigin(['release', 'build', site, '--out', releases]);
  t.equal(build.status, 0, `release build: ${build.stderr}`);
  t.equal(piOrigin(['release', 'list', releases]).status, 0, 'release list');

  // The controller makes the nodes' artifact from the installed package.
  const artifact = join(dir, 'node-artifact.tgz');
  const pack = piOrigin(['cluster', 'artifact', '--out', artifact, '--arch', 'arm64']);
  t.equal(pack.status, 0, `cluster artifact: ${pack.stderr}`);
  const listing = spawnSync('tar', ['-tzf', artifact], { encoding: 'utf8' }).stdout.split('\n');
  t.ok(listing.includes('dist/server/worker.js') && listing.includes('node_modules/uWebSockets.js/binaries/uws_linux_arm64_115.node'), 'the server and its uWS binary');
  t.same(listing.filter((f) => f.startsWith('node_modules/autocannon/') || f.startsWith('ansible/')), [], 'no controller-only package or playbook');

  // The bench's sirv peer needs a dev dependency: the bench says which, and how to go without.
  const bench = piOrigin(['bench', '--only', 'sirv', '--quick']);
  t.equal(bench.status, 1);
  t.match(bench.stderr, /sirv is not installed.*--only pi-origin,raw-uws,nginx,node-http/);
  t.end();
});

t.test('serve, gate --quick and cluster status from the installed package, over IPv6', async (t) => {
  // No ROOT: the demo release the package carries (npm pack drops its `current` symlink).
  const serve = spawn('pi-origin', ['serve', '--listen', '[::1]:0', '--workers', '1', '--no-watch'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => serve.kill('SIGKILL'));
  let output = '';
  serve.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const port = await new Promise<number>((resolve, reject) => {
    serve.stdout.setEncoding('utf8').on('data', (s: string) => {
      output += s;
      const m = /listening on http:\/\/\[::1\]:(\d+)\//.exec(output);
      if (m !== null) resolve(Number(m[1]));
    });
    serve.on('exit', (code) => reject(new Error(`serve exited with ${String(code)}: ${output}`)));
  });
  const release = /\(release ([0-9a-f]+)\)/.exec(output)?.[1];
  t.ok(release, `serves the bundled demo release: ${output}`);

  // The shipped gate.json, made lenient: the test proves the gate runs, not this machine's speed.
  const slo = JSON.parse(readFileSync(join(installed, 'load-tests', 'gate.json'), 'utf8')) as { scenarios: Record<string, object>; quick: object };
  for (const name of Object.keys(slo.scenarios)) slo.scenarios[name] = { rate: 50, durationSec: 2, connections: 5, p99Ms: 10_000, rateTolerancePct: 40 };
  slo.quick = {};
  const config = join(dir, 'gate-lenient.json');
  writeFileSync(config, JSON.stringify(slo));
  const gate = piOrigin(['gate', '--quick', '--target', `http://[::1]:${port}`, '--scenario', 'launch-day', '--config', config, '--json']);
  t.equal(gate.status, 0, `gate: ${gate.stderr}`);
  const report = JSON.parse(gate.stdout) as { kind: string; title: string; runs: { name: string }[] };
  t.equal(report.kind, 'gate');
  t.same(report.runs.map((r) => r.name), ['launch-day'], 'the scenario ran');
  t.ok(release !== undefined && report.title.includes(release), `the gate checked the release the node serves: ${report.title}`);
  const reports = join(state, 'pi-origin', 'reports');
  t.ok(existsSync(reports) && readdirSync(reports).some((f) => /^gate-.*\.json$/.test(f)), 'the report went to $XDG_STATE_HOME/pi-origin/reports');
  t.notOk(existsSync(join(installed, 'load-tests', 'out')), 'nothing written into the installed package');

  const inventory = join(dir, 'inventory.ini');
  writeFileSync(inventory, `[origins]\nnode1 ansible_host=::1 origin_node_port=${port}\n`);
  const status = piOrigin(['cluster', 'status', '-i', inventory, '--json']);
  t.equal(status.status, 0, `cluster status: ${status.stderr}`);
  const nodes = (JSON.parse(status.stdout) as { nodes: { name: string; up: boolean; release: string }[] }).nodes;
  t.same(
    nodes.map((n) => ({ name: n.name, up: n.up, release: n.release })),
    [{ name: 'node1', up: true, release }],
    'node1 up on its release',
  );
});

t.test('cluster provision runs the playbook and roles inside the installed package', (t) => {
  // ssh to port 1 is refused, so nothing can change; the role's input check fails first anyway
  // (no origin_node_artifact). Either way, Ansible ran provision.yml and origin_node from the package.
  const inventory = join(dir, 'provision.ini');
  writeFileSync(inventory, '[origins]\nnode1 ansible_host=::1 ansible_port=1\n');
  const run = piOrigin(['cluster', 'provision', '-i', inventory]);
  const output = run.stdout + run.stderr;
  t.equal(run.status, 1, output);
  t.notMatch(output, /does not exist/, 'the playbook is found');
  t.match(output, /^NODE +OK +CHANGED +FAILED +UNREACHABLE\nnode1 /m, 'the playbook ran on node1');
  t.end();
});
