/**
 * `npm run bench:fleet -- --nodes 24`: a rollout and a rollback on N IPv6-only nodes, timed per
 * phase, with a steady client through HAProxy. See options.ts for the flags and
 * load-tests/RESULTS.md ("Fleet") for the numbers. Run as root; holds /tmp/pi-origin-rig.lock
 * for its duration only (the rig's namespaces are its own: prefix flt, subnet fd00:f1ee).
 */
import { cpus, loadavg, release as osRelease } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Report, RunReport } from '../../load-tests/report/model.js';
import { writeReport } from '../../load-tests/report/write.js';
import { failed, steadyClient, type Sample } from './client.js';
import { FLEET_HELP, FLEET_USAGE, parseFleetArgs, type FleetOptions } from './options.js';
import { batches, phaseSeconds, type Batch, type PhaseSeconds } from './phases.js';
import { buildBenchReleases } from './release.js';
import { bridgeTxBytes, nodeMemory, startFleet, type Fleet } from './rig.js';
import { UsageError } from '../../common/args.js';
import { REPO } from '../helpers/ansible.js';

export interface FleetStep {
  readonly seconds: number;
  readonly exitCode: number | null;
  readonly phases: PhaseSeconds;
  readonly controllerBytes: number;
  /**
   * CPU seconds of the controller's side (the `pi-origin cluster` process and everything it ran:
   * ansible-playbook, its forks, ssh, rsync's sender, the checks): what grows with the fleet on
   * the controller when every node has its own CPU. The nodes' sshd sessions are not in it.
   */
  readonly controllerCpuSec: number;
  readonly requests: number;
  readonly failedRequests: number;
}

export interface FleetResult {
  readonly schema: 1;
  readonly generated: string;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly loadBefore: readonly number[]; readonly loadAfter: readonly number[] };
  readonly options: FleetOptions & { readonly changedBytes: number; readonly changedFiles: number };
  readonly bringUp: Fleet['bringUp'] & { readonly firstRolloutSec: number; readonly memoryPerNodeBytes: number; readonly serverMemoryPerNodeBytes: number };
  readonly rollout: FleetStep & { readonly batches: readonly Batch[] };
  readonly rollback: FleetStep;
  readonly summary: string;
}

const log = (line: string): void => void process.stderr.write(`bench:fleet: ${line}\n`);
const seconds = (ms: number): number => Math.round(ms / 100) / 10;

/** CPU seconds of this process's waited-for children so far (cutime + cstime of /proc/self/stat). */
function childrenCpuSec(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 16 and 17 of proc(5), counted from 1 with pid and comm: index 13 and 14 here.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

async function step(fleet: Fleet, args: readonly string[], rate: number): Promise<{ step: FleetStep; output: string; samples: Sample[] }> {
  const tx0 = bridgeTxBytes(fleet.rig.bridge);
  const cpu0 = childrenCpuSec();
  const client = steadyClient('127.0.0.1', fleet.proxyPort, '/index.html', rate);
  const r = await fleet.cluster(args);
  const samples = await client.stop();
  const controllerBytes = bridgeTxBytes(fleet.rig.bridge) - tx0;
  const controllerCpuSec = Math.round((childrenCpuSec() - cpu0) * 10) / 10;
  if (r.code !== 0) log(`${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-1000)}`);
  return {
    step: { seconds: seconds(r.ms), exitCode: r.code, phases: phaseSeconds(r.stdout), controllerBytes, controllerCpuSec, requests: samples.length, failedRequests: samples.filter(failed).length },
    output: r.stdout,
    samples,
  };
}

function runReport(name: string, target: string, samples: readonly Sample[], durationSec: number): RunReport {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number): number => Math.round((ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? 0) * 10) / 10;
  const perSecond = new Map<number, number[]>();
  for (const s of samples) perSecond.set(Math.floor(s.sentAt / 1000), [...(perSecond.get(Math.floor(s.sentAt / 1000)) ?? []), s.ms]);
  const last = Math.max(0, ...perSecond.keys());
  return {
    name,
    target,
    achievedRate: samples.length / Math.max(durationSec, 0.001),
    bytesPerSec: 0,
    durationSec,
    requests: samples.length,
    errors: samples.filter((s) => s.status === 0).length,
    non2xx3xx: samples.filter((s) => s.status !== 0 && s.status !== 200).length,
    latency: { mean: ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length), p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: q(1) },
    timeline: Array.from({ length: last + 1 }, (_, t) => {
      const xs = (perSecond.get(t) ?? []).sort((a, b) => a - b);
      return { t, requests: xs.length, ...(xs.length > 0 ? { p99: xs[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))] } : {}) };
    }),
  };
}

export function summaryLine(nodes: number, rollout: FleetStep, rollback: FleetStep): string {
  const mb = (rollout.controllerBytes / 1e6).toFixed(1);
  return `fleet ${nodes} nodes: rollout ${rollout.seconds} s, rollback ${rollback.seconds} s, controller MB ${mb}, failed requests ${rollout.failedRequests + rollback.failedRequests}`;
}

function htmlReport(r: FleetResult, rolloutSamples: readonly Sample[], rollbackSamples: readonly Sample[]): Report {
  const phaseNote = (what: string, s: FleetStep): string =>
    `${what}: ${s.seconds} s (exit ${s.exitCode}); ${Object.entries(s.phases).map(([k, v]) => `${k} ${v} s`).join(', ')}; controller sent ${(s.controllerBytes / 1e6).toFixed(1)} MB and used ${s.controllerCpuSec} CPU s; ${s.failedRequests} of ${s.requests} requests failed`;
  const total = r.rollout.seconds > 0 ? r.rollout.seconds : 1;
  return {
    schema: 1,
    kind: 'bench',
    title: `Fleet: ${r.options.nodes} nodes, ${(r.options.sizeBytes / 1e6).toFixed(0)} MB release, ${(r.options.changed * 100).toFixed(1)}% changed`,
    generated: r.generated,
    machine: { cpu: r.machine.cpu, cores: r.machine.cores, node: process.version, os: `Linux ${osRelease()}` },
    command: `npm run bench:fleet -- ${process.argv.slice(2).join(' ')}`,
    runs: [runReport(`steady client during the rollout (${r.options.rate} req/s)`, 'HAProxy 127.0.0.1', rolloutSamples, r.rollout.seconds), runReport(`steady client during the rollback`, 'HAProxy 127.0.0.1', rollbackSamples, r.rollback.seconds)],
    ratios: Object.entries(r.rollout.phases).map(([label, v]) => ({ label: `rollout: ${label}`, ratio: v / total, detail: `${v} s` })),
    notes: [
      r.summary,
      phaseNote('rollout', r.rollout),
      `rollout batches (hosts, s): ${r.rollout.batches.map((b) => `${b.hosts}:${b.seconds}`).join(' ')}`,
      phaseNote('rollback', r.rollback),
      `bring-up: rig ${r.bringUp.rigSec} s, artifact ${r.bringUp.artifactSec} s, provision ${r.bringUp.provisionSec} s, first rollout ${r.bringUp.firstRolloutSec} s; memory per node ${(r.bringUp.memoryPerNodeBytes / 2 ** 20).toFixed(1)} MiB (origin server ${(r.bringUp.serverMemoryPerNodeBytes / 2 ** 20).toFixed(1)} MiB)`,
      `load average before ${r.machine.loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${r.machine.loadAfter.map((x) => x.toFixed(2)).join(' ')} (the machine is shared; every node shares its ${r.machine.cores} cores)`,
    ],
  };
}

export async function benchFleet(o: FleetOptions): Promise<FleetResult> {
  const loadBefore = loadavg();
  const fleet = await startFleet({ nodes: o.nodes, prefix: o.prefix, subnet: o.subnet, forks: o.forks, log });
  const stop = (): void => {
    void fleet.destroy().then(() => process.exit(130));
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const rel = await buildBenchReleases(fleet.work, o.sizeBytes, o.files, o.changed);
    log(`releases A ${rel.a.id} and B ${rel.b.id}: ${o.files} files, ${rel.changedFiles} changed (${(rel.changedBytes / 1e6).toFixed(1)} MB)`);
    const t0 = performance.now();
    const first = await fleet.cluster(['rollout', rel.a.dir, '--batch', '100%']);
    if (first.code !== 0) throw new Error(`the first rollout (A) failed:\n${first.stdout.slice(-4000)}`);
    const firstRolloutSec = seconds(performance.now() - t0);
    const mem = await Promise.all(fleet.rig.nodes.map((n) => nodeMemory(n.netns)));
    log(`release A on every node in ${firstRolloutSec} s`);
    const rollout = await step(fleet, ['rollout', rel.b.dir, '--batch', String(o.batch)], o.rate);
    log(`rollout of B: ${rollout.step.seconds} s`);
    const rollback = await step(fleet, ['rollback'], o.rate);
    log(`rollback: ${rollback.step.seconds} s`);
    const result: FleetResult = {
      schema: 1,
      generated: new Date().toISOString(),
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadBefore, loadAfter: loadavg() },
      options: { ...o, changedBytes: rel.changedBytes, changedFiles: rel.changedFiles },
      bringUp: {
        ...fleet.bringUp,
        firstRolloutSec,
        memoryPerNodeBytes: Math.round(mem.reduce((a, m) => a + m.totalBytes, 0) / mem.length),
        serverMemoryPerNodeBytes: Math.round(mem.reduce((a, m) => a + m.serverBytes, 0) / mem.length),
      },
      rollout: { ...rollout.step, batches: batches(rollout.output) },
      rollback: rollback.step,
      summary: summaryLine(o.nodes, rollout.step, rollback.step),
    };
    const out = resolve(REPO, o.out);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `${o.name}.data.json`), JSON.stringify(result, null, 2) + '\n');
    // The CLI's own output: the phases can be read again from it (phases.ts).
    writeFileSync(join(out, `${o.name}.rollout.log`), rollout.output);
    writeFileSync(join(out, `${o.name}.rollback.log`), rollback.output);
    const files = writeReport(htmlReport(result, rollout.samples, rollback.samples), out, o.name);
    log(`reports: ${join(out, `${o.name}.data.json`)}, ${files.html}`);
    return result;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await fleet.destroy();
  }
}

async function main(): Promise<number> {
  let o: FleetOptions | undefined;
  try {
    o = parseFleetArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench:fleet: ${e.message}\nusage: ${FLEET_USAGE} (--help for more)\n`);
    return 2;
  }
  if (o === undefined) {
    process.stdout.write(`usage: ${FLEET_USAGE}\n\n${FLEET_HELP}\n`);
    return 0;
  }
  const result = await benchFleet(o);
  process.stdout.write(result.summary + '\n');
  return result.rollout.exitCode === 0 && result.rollback.exitCode === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`bench:fleet: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
