/**
 * `npm run bench:publish -- [--files 100000] [--new 1000] [--nodes 3]`: publishing a few files
 * into a large package index, on N IPv6-only rig nodes (test/fleet/rig.ts: the real playbooks).
 * A piwheels-shaped site (`--files` small wheels, 1,000 per project directory) is built and
 * rolled out as release A; then `--new` wheels are added in a new project and release B is
 * built from A incrementally and rolled out with the push that sends what changed; then C (as
 * many more) is rolled out with `origin_release_push_delta=false`, the whole-release push as it
 * was. For each: build seconds and peak memory, rollout seconds by phase, bytes into the nodes
 * (every node's link: from the controller and from peers) and bytes the controller sent. The
 * gate is `true` (it is not what is measured; the content check fetches every file), and a
 * node may take ten minutes to confirm (a server indexing a million files).
 * Writes load-tests/out/publish-<files>.data.json and prints one line per rollout. Run as root;
 * holds /tmp/pi-origin-rig.lock for its duration (its own prefix and subnet).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, UsageError } from '../../common/args.js';
import { checkRigOptions } from '../rig/netns.js';
import { REPO, run } from '../helpers/ansible.js';
import { phaseSeconds, type PhaseSeconds } from './phases.js';
import { bridgeTxBytes, startFleet, type Fleet } from './rig.js';

const USAGE = 'npm run bench:publish -- [--files N] [--new N] [--nodes N] [--out DIR]';
const log = (line: string): void => void process.stderr.write(`bench:publish: ${line}\n`);
const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const PER_DIR = 1000;

interface Options {
  readonly files: number;
  readonly added: number;
  readonly nodes: number;
  readonly out: string;
}

function options(args: readonly string[]): Options | undefined {
  const { flags } = parseArgs(args, { flags: { files: 'value', new: 'value', nodes: 'value', out: 'value', help: 'boolean' }, short: { h: 'help' } });
  if (flags.has('help')) return undefined;
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const text = flags.get(name);
    if (text === undefined) return fallback;
    const n = typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(n >= min && n <= max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
    return n;
  };
  const nodes = int('nodes', 1, 24, 3);
  checkRigOptions('pub', 'fd00:9ab1', nodes);
  return { files: int('files', 1000, 10_000_000, 100_000), added: int('new', 1, 100_000, 1000), nodes, out: (flags.get('out') as string | undefined) ?? 'load-tests/out' };
}

/** `count` small wheels from project directory `first` on, 1,000 per directory; the relative paths. */
function writeWheels(site: string, first: number, count: number, tag: string): string[] {
  const rels: string[] = [];
  for (let d = first; rels.length < count; d++) {
    const dir = join(site, 'simple', `project-${d}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < PER_DIR && rels.length < count; i++) {
      const rel = `simple/project-${d}/pkg_${d}_${i}-1.0.${i}-py3-none-any.whl`;
      writeFileSync(join(site, rel), `wheel ${d} ${i} ${tag} `.repeat(20));
      rels.push(rel);
    }
  }
  return rels;
}

interface Build {
  readonly id: string;
  readonly seconds: number;
  readonly maxRssMiB: number;
}

/** `pi-origin release build ARGS --json` under /usr/bin/time: its id, wall time and peak RSS. */
async function build(args: readonly string[]): Promise<Build> {
  const r = await run('/usr/bin/time', ['-f', '%M', process.execPath, join(REPO, 'dist/cli/main.js'), 'release', 'build', ...args, '--json'], { timeoutMs: 3_600_000 });
  if (r.code !== 0) throw new Error(`release build failed: ${r.stderr.slice(-2000)}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { id: (JSON.parse(r.stdout) as { id: string }).id, seconds: seconds(r.ms), maxRssMiB: Math.round(kb / 1024) };
}

/** Bytes the nodes received (the host side of each veth sends toward its node) and the controller sent (the bridge). */
function counters(fleet: Fleet): { intoNodes: number; fromController: number } {
  const tx = (dev: string): number => Number(readFileSync(`/sys/class/net/${dev}/statistics/tx_bytes`, 'utf8'));
  return { intoNodes: fleet.rig.nodes.reduce((n, node) => n + tx(node.hostVeth), 0), fromController: bridgeTxBytes(fleet.rig.bridge) };
}

interface Rollout {
  readonly release: string;
  /** What `pi-origin cluster rollout` printed: its tasks, stamped (written beside the report). */
  readonly output: string;
  readonly push: 'what changed' | 'whole release';
  readonly seconds: number;
  readonly phases: PhaseSeconds;
  readonly bytesIntoNodes: number;
  readonly bytesFromController: number;
}

async function rollout(fleet: Fleet, dir: string, id: string, extra: readonly string[], push: Rollout['push']): Promise<Rollout> {
  // A node's server indexes a million files before it answers health (about 25 s here): the
  // rig's 5 s confirmation is for small releases.
  const gate = join(fleet.work, 'gate-true.json');
  writeFileSync(gate, JSON.stringify({ origin_release_gate_command: ['true'], origin_release_confirm_timeout: 600 }));
  const before = counters(fleet);
  const r = await fleet.cluster(['rollout', dir, '--batch', '100%', '-e', `@${gate}`, ...extra]);
  if (r.code !== 0) throw new Error(`rollout of ${id} failed:\n${r.stdout.slice(-4000)}`);
  const after = counters(fleet);
  const result = { release: id, output: r.stdout, push, seconds: seconds(r.ms), phases: phaseSeconds(r.stdout), bytesIntoNodes: after.intoNodes - before.intoNodes, bytesFromController: after.fromController - before.fromController };
  log(`rollout of ${id} (${push}): ${result.seconds} s, ${(result.bytesIntoNodes / 1e6).toFixed(2)} MB into the nodes, ${(result.bytesFromController / 1e6).toFixed(2)} MB from the controller`);
  return result;
}

async function main(): Promise<number> {
  let o: Options | undefined;
  try {
    o = options(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof Error)) throw e;
    process.stderr.write(`bench:publish: ${(e as Error).message}\nusage: ${USAGE}\n`);
    return 2;
  }
  if (o === undefined) {
    process.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const loadBefore = loadavg();
  const fleet = await startFleet({ nodes: o.nodes, prefix: 'pub', subnet: 'fd00:9ab1', forks: o.nodes, log });
  try {
    const site = join(fleet.work, 'site');
    const releases = join(fleet.work, 'releases');
    const projects = Math.ceil(o.files / PER_DIR);
    writeWheels(site, 0, o.files, 'a');
    const a = await build([site, releases]);
    log(`release A ${a.id}: ${o.files} files, full build ${a.seconds} s, ${a.maxRssMiB} MiB`);
    const first = await rollout(fleet, join(releases, a.id), a.id, [], 'whole release');
    const step = async (parent: string, project: number, tag: string): Promise<Build & { changes: string }> => {
      const rels = writeWheels(site, project, o.added, tag);
      const changes = join(fleet.work, `changes-${tag}`);
      writeFileSync(changes, rels.map((r) => `A\t${r}\n`).join(''));
      const b = await build([site, releases, '--parent', parent, '--changes', changes]);
      log(`release ${b.id} from ${parent}: ${o.added} files added, incremental build ${b.seconds} s, ${b.maxRssMiB} MiB`);
      return { ...b, changes };
    };
    const b = await step(a.id, projects, 'b');
    const delta = await rollout(fleet, join(releases, b.id), b.id, [], 'what changed');
    const c = await step(b.id, projects + Math.ceil(o.added / PER_DIR), 'c');
    const whole = await rollout(fleet, join(releases, c.id), c.id, ['-e', 'origin_release_push_delta=false'], 'whole release');
    const result = {
      schema: 1,
      generated: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadBefore, loadAfter: loadavg() },
      options: o,
      bringUp: fleet.bringUp,
      builds: { full: a, incrementalB: b, incrementalC: c },
      rollouts: { first, whatChanged: delta, wholeRelease: whole },
      summary: [
        `publish ${o.added} into ${o.files} files on ${o.nodes} nodes: incremental build ${b.seconds} s (${b.maxRssMiB} MiB), full build ${a.seconds} s (${a.maxRssMiB} MiB)`,
        `push of what changed: ${delta.seconds} s, ${(delta.bytesIntoNodes / 1e6).toFixed(2)} MB into the nodes, ${(delta.bytesFromController / 1e6).toFixed(2)} MB from the controller; verify ${delta.phases.verify} s`,
        `whole-release push: ${whole.seconds} s, ${(whole.bytesIntoNodes / 1e6).toFixed(2)} MB into the nodes, ${(whole.bytesFromController / 1e6).toFixed(2)} MB from the controller; verify ${whole.phases.verify} s`,
      ],
    };
    const out = resolve(REPO, o.out);
    mkdirSync(out, { recursive: true });
    const { first: f, whatChanged: d, wholeRelease: w } = result.rollouts;
    for (const [name, r] of Object.entries({ first: f, 'what-changed': d, 'whole-release': w })) writeFileSync(join(out, `publish-${o.files}.${name}.log`), r.output);
    const withoutOutput = (r: Rollout): Omit<Rollout, 'output'> => ({ ...r, output: undefined }) as Omit<Rollout, 'output'>;
    writeFileSync(join(out, `publish-${o.files}.data.json`), JSON.stringify({ ...result, rollouts: { first: withoutOutput(f), whatChanged: withoutOutput(d), wholeRelease: withoutOutput(w) } }, null, 2) + '\n');
    process.stdout.write(result.summary.join('\n') + '\n');
    return 0;
  } finally {
    await fleet.destroy();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`bench:publish: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
