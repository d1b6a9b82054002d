/**
 * How long a rollout and a rollback take: a model fitted on measured runs of
 * `npm run bench:fleet` (test/fleet/), per phase, and used by `pi-origin plan --rollout`.
 * Pure arithmetic, no I/O, like capacity/plan.ts. docs/capacity.md states the model, its fit
 * error on a run it was not fitted on, and its predictions.
 *
 *   rollout  = fixed [+ fixedPerNode × N on the rig] + push + transfer + batches (+ controller, on a fleet)
 *   push     = pushPerWave × waves + pushPerNode × N               (rig)
 *            = waves × (pushPerWave + pushPerNode × RIG_CORES)     (fleet: a wave's nodes at once)
 *   transfer = controllerBytes × 8 / uplink     (controllerBytes = N × overhead + senders × changed)
 *   batches  = B × batchFixed + (N − 1) × batchPerNode             (rig; B = ceil((N − 1) / batch))
 *            = B × (batchFixed + batchPerNode × RIG_CORES)         (fleet)
 *   rollback = rollbackFixed + rollbackPerNode × N                 (rig)
 *            = rollbackFixed + rollbackPerNode × RIG_CORES + N × rollback CPU per node / cores (fleet)
 *   controller = N × controller CPU per node / controller cores    (fleet only; on the rig it is in the per-node terms)
 *
 * N nodes; waves the push's waves (the fan-out: seeds, seeds, 2 seeds, 4 seeds, ...; one wave
 * without it); senders the nodes the controller itself sends the changed bytes to (the seeds with
 * fan-out, every node without). Two machines: `shared`, where every node's work shares the
 * controller's cores (the rig the coefficients were measured on: its per-node terms are CPU
 * time), and `own`, a fleet whose nodes each have their CPU: the nodes of a wave or a batch work
 * in parallel and what grows with N is the controller's own CPU per node (Ansible's forks, ssh,
 * the checks), measured on the rig as the CPU time of the `pi-origin cluster` process tree.
 */
import { BYTES_PER_SEC_PER_MBPS, PlanError } from './plan.js';

/**
 * Cores of the machine the coefficients were measured on, where N nodes shared them: a node's
 * own work, alone on its own CPU, takes the rig's per-node seconds times this.
 */
export const RIG_CORES = 2;

export interface RolloutCoefficients {
  /** Seconds every rollout costs whatever its size: ansible's start, the controller's checks, the canary (activate, confirm, gate). */
  readonly fixedSec: number;
  /** Seconds per node outside push and batches on the rig: the peer-trust play before the push (every node's keys). */
  readonly fixedPerNodeSec: number;
  /** Seconds per wave of the push: a node's copy, its verify and the plays' round trips. */
  readonly pushPerWaveSec: number;
  /** Seconds of push per node on the rig: every node's hashing and the controller's work per node on two shared cores. */
  readonly pushPerNodeSec: number;
  /** Seconds per batch whatever its size (a play's start, the confirm wait). */
  readonly batchFixedSec: number;
  /** Seconds per node in a batch, on the rig. */
  readonly batchPerNodeSec: number;
  readonly rollbackFixedSec: number;
  /** Seconds of rollback per node, on the rig. */
  readonly rollbackPerNodeSec: number;
  /** Bytes the controller sends every node on top of the changed files: Ansible's modules, ssh, rsync's file list. */
  readonly overheadBytesPerNode: number;
  /** CPU seconds of the controller per node in a rollout (slope of the `pi-origin cluster rollout` process tree's CPU time). */
  readonly controllerCpuPerNodeSec: number;
  /** The same for a rollback. */
  readonly controllerRollbackCpuPerNodeSec: number;
}

export type RolloutCpu = 'own' | 'shared';

export interface RolloutInput {
  readonly nodes: number;
  /** Nodes per batch after the canary: a count (>= 1) or a share of the nodes (0 < share < 1, as `25%`). */
  readonly batch: number;
  readonly changedBytes: number;
  /** The controller's uplink, Mbit/s. */
  readonly uplinkMbps: number;
  /** Nodes that take the release from the controller in the first wave (origin_release_seeds, default 1). */
  readonly seeds?: number;
  /** The peer fan-out (origin_release_peer_fanout, default true). */
  readonly fanout?: boolean;
  /** Nodes the controller sends the changed bytes to (default: the seeds with fan-out, every node without). */
  readonly senders?: number;
  /** `own` (default): a fleet whose nodes have their own CPU; `shared`: every node on the controller's cores, as on the rig. */
  readonly cpu?: RolloutCpu;
  /** The controller's cores, for `own` (default 2, as the machine the coefficients were measured on). */
  readonly controllerCores?: number;
}

export interface RolloutPrediction {
  readonly batchSize: number;
  readonly batches: number;
  readonly waves: number;
  readonly controllerBytes: number;
  readonly fixedSec: number;
  readonly pushSec: number;
  readonly transferSec: number;
  readonly batchesSec: number;
  /** The controller's CPU for every node (`own`; 0 for `shared`, where the per-node terms hold it). */
  readonly controllerSec: number;
  readonly rolloutSec: number;
  readonly rollbackSec: number;
}

/** A batch given as a share (0..1) or a count, as a count of nodes: Ansible's `serial` rounds a percentage down, to at least 1. */
export function batchSize(nodes: number, batch: number): number {
  return batch < 1 ? Math.max(1, Math.floor(nodes * batch)) : Math.min(Math.max(1, Math.floor(batch)), Math.max(1, nodes - 1));
}

/** The push's waves (rollout.yml's serial list seeds, seeds, 2 seeds, 4 seeds, ... over `nodes`). */
export function pushWaves(nodes: number, seeds = 1): number {
  let waves = 0;
  let covered = 0;
  for (let size = seeds; covered < nodes; waves++) {
    covered += size;
    if (waves > 0) size = covered;
  }
  return waves;
}

export function checkRolloutInput(i: RolloutInput): void {
  if (!Number.isInteger(i.nodes) || i.nodes < 1) throw new PlanError(`--nodes must be a whole number of nodes, at least 1 (got ${i.nodes})`);
  if (!(i.batch > 0)) throw new PlanError(`--batch must be a count of nodes or a share like 25% (got ${i.batch})`);
  if (!(i.changedBytes >= 0)) throw new PlanError(`--changed must be a size or share of the release, 0 or more (got ${i.changedBytes})`);
  if (!(i.uplinkMbps > 0)) throw new PlanError(`--uplink-mbps must be greater than 0 (got ${i.uplinkMbps})`);
  if (i.senders !== undefined && !(Number.isInteger(i.senders) && i.senders >= 1)) throw new PlanError(`--senders must be a whole number of nodes, at least 1 (got ${i.senders})`);
  if (i.seeds !== undefined && !(Number.isInteger(i.seeds) && i.seeds >= 1)) throw new PlanError(`--seeds must be a whole number of nodes, at least 1 (got ${i.seeds})`);
  if (i.controllerCores !== undefined && !(Number.isInteger(i.controllerCores) && i.controllerCores >= 1)) throw new PlanError(`--controller-cores must be a whole number, at least 1 (got ${i.controllerCores})`);
}

export function predictRollout(i: RolloutInput, c: RolloutCoefficients): RolloutPrediction {
  checkRolloutInput(i);
  const shared = i.cpu === 'shared';
  const fanout = i.fanout ?? true;
  const seeds = Math.min(i.seeds ?? 1, i.nodes);
  const waves = fanout ? pushWaves(i.nodes, seeds) : 1;
  const size = batchSize(i.nodes, i.batch);
  const rest = i.nodes - 1;
  const batches = Math.ceil(rest / size);
  const senders = Math.min(i.senders ?? (fanout ? seeds : i.nodes), i.nodes);
  const controllerBytes = c.overheadBytesPerNode * i.nodes + i.changedBytes * senders;
  const cores = i.controllerCores ?? 2;
  // Shared: every node's work one after another on the rig's cores. Own: the nodes of a wave or
  // a batch work at once, each as long as one node alone; the controller's CPU per node adds up.
  const fixedSec = c.fixedSec + c.fixedPerNodeSec * (shared ? i.nodes : RIG_CORES);
  const pushSec = shared ? c.pushPerWaveSec * waves + c.pushPerNodeSec * i.nodes : waves * (c.pushPerWaveSec + c.pushPerNodeSec * RIG_CORES);
  const transferSec = controllerBytes / (i.uplinkMbps * BYTES_PER_SEC_PER_MBPS);
  const batchesSec = shared ? batches * c.batchFixedSec + rest * c.batchPerNodeSec : batches * (c.batchFixedSec + c.batchPerNodeSec * RIG_CORES);
  const controllerSec = shared ? 0 : (i.nodes * c.controllerCpuPerNodeSec) / cores;
  return {
    batchSize: size,
    batches,
    waves,
    controllerBytes,
    fixedSec,
    pushSec,
    transferSec,
    batchesSec,
    controllerSec,
    rolloutSec: fixedSec + pushSec + transferSec + batchesSec + controllerSec,
    rollbackSec: c.rollbackFixedSec + (shared ? c.rollbackPerNodeSec * i.nodes : c.rollbackPerNodeSec * RIG_CORES + (i.nodes * c.controllerRollbackCpuPerNodeSec) / cores),
  };
}

/** What one bench:fleet run measured (its data JSON, test/fleet/bench.ts). */
export interface MeasuredRun {
  readonly nodes: number;
  /** The push's waves (pushWaves of the run's nodes and seeds). */
  readonly waves: number;
  readonly changedBytes: number;
  readonly rolloutSec: number;
  /** Push and verify, seconds. */
  readonly pushSec: number;
  readonly batches: readonly { readonly hosts: number; readonly seconds: number }[];
  readonly rollbackSec: number;
  readonly controllerBytes: number;
  /** CPU seconds of the controller's process tree; undefined for a run that did not measure it. */
  readonly controllerCpuSec: number | undefined;
  readonly rollbackControllerCpuSec: number | undefined;
}

/**
 * Least squares of y = a + b·x with b >= 0 (a rollout does not get faster with more nodes: a
 * falling slope is noise, e.g. a quieter machine during the larger run); with one distinct x,
 * or a slope below 0, the mean with slope 0.
 */
export function fitLine(points: readonly (readonly [number, number])[]): { a: number; b: number } {
  if (points.length === 0) throw new PlanError('no measured runs to fit the rollout model on');
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const b = sxx === 0 ? 0 : Math.max(0, sxy / sxx);
  return { a: my - b * mx, b };
}

/**
 * Least squares of y = a·u + b·v (no intercept) with a, b >= 0: the push's seconds per wave and
 * per node. When the two columns cannot be told apart, or one coefficient comes out below 0,
 * the other alone.
 */
export function fitTwo(points: readonly (readonly [number, number, number])[]): { a: number; b: number } {
  if (points.length === 0) throw new PlanError('no measured runs to fit the rollout model on');
  const sum = (f: (p: readonly [number, number, number]) => number): number => points.reduce((s, p) => s + f(p), 0);
  const [suu, svv, suv, suy, svy] = [sum(([u]) => u * u), sum(([, v]) => v * v), sum(([u, v]) => u * v), sum(([u, , y]) => u * y), sum(([, v, y]) => v * y)];
  const det = suu * svv - suv * suv;
  const alone = (): { a: number; b: number } => {
    const a = suu > 0 ? Math.max(0, suy / suu) : 0;
    const b = svv > 0 ? Math.max(0, svy / svv) : 0;
    // Whichever single column leaves the smaller squared error.
    const err = (x: number, y: number): number => sum(([u, v, w]) => (w - x * u - y * v) ** 2);
    return err(a, 0) <= err(0, b) ? { a, b: 0 } : { a: 0, b };
  };
  if (Math.abs(det) < 1e-12 * Math.max(1, suu * svv)) return alone();
  const a = (suy * svv - svy * suv) / det;
  const b = (svy * suu - suy * suv) / det;
  return a >= 0 && b >= 0 ? { a, b } : alone();
}

/** The coefficients from measured runs, phase by phase (push, each batch, the rest, rollback, the controller's CPU). */
export function fitRollout(runs: readonly MeasuredRun[]): RolloutCoefficients {
  const push = fitTwo(runs.map((r) => [r.waves, r.nodes, r.pushSec]));
  const batch = fitLine(runs.flatMap((r) => r.batches.map((b) => [b.hosts, b.seconds] as const)));
  const rollback = fitLine(runs.map((r) => [r.nodes, r.rollbackSec]));
  const rest = fitLine(runs.map((r) => [r.nodes, r.rolloutSec - r.pushSec - r.batches.reduce((s, b) => s + b.seconds, 0)]));
  const overheads = runs.map((r) => Math.max(0, (r.controllerBytes - r.changedBytes) / r.nodes));
  return {
    fixedSec: rest.a,
    fixedPerNodeSec: rest.b,
    pushPerWaveSec: push.a,
    pushPerNodeSec: push.b,
    batchFixedSec: batch.a,
    batchPerNodeSec: batch.b,
    rollbackFixedSec: rollback.a,
    rollbackPerNodeSec: rollback.b,
    overheadBytesPerNode: overheads.reduce((s, x) => s + x, 0) / runs.length,
    controllerCpuPerNodeSec: fitLine(runs.flatMap((r) => (r.controllerCpuSec === undefined ? [] : [[r.nodes, r.controllerCpuSec] as const]))).b,
    controllerRollbackCpuPerNodeSec: fitLine(runs.flatMap((r) => (r.rollbackControllerCpuSec === undefined ? [] : [[r.nodes, r.rollbackControllerCpuSec] as const]))).b,
  };
}

/** |predicted − measured| / measured, for the rollout and the rollback of each run, on the rig's terms (`shared`). */
export function fitErrors(runs: readonly (MeasuredRun & { readonly batch: number })[], c: RolloutCoefficients, uplinkMbps: number): { nodes: number; rollout: number; rollback: number }[] {
  return runs.map((r) => {
    const p = predictRollout({ nodes: r.nodes, batch: r.batch, changedBytes: r.changedBytes, uplinkMbps, cpu: 'shared' }, c);
    return { nodes: r.nodes, rollout: Math.abs(p.rolloutSec - r.rolloutSec) / r.rolloutSec, rollback: Math.abs(p.rollbackSec - r.rollbackSec) / r.rollbackSec };
  });
}

export interface RolloutFit {
  /** Where the coefficients come from: the runs and the machine. */
  readonly source: string;
  /** The larger of the rollout's and the rollback's relative error on a run left out of the fit; null until such a run exists. */
  readonly fitError: number | null;
  readonly coefficients: RolloutCoefficients;
}

/**
 * The fit `pi-origin plan --rollout` uses: `npx tsx test/fleet/fit.ts` over the runs in
 * test/fleet/runs/ (load-tests/RESULTS.md, "Fleet") prints it.
 */
export const ROLLOUT_FIT: RolloutFit = Object.freeze({
  source: 'bench:fleet runs at 3, 6, 12 and 24 nodes, 1 GB release with 1% (10 MB) changed, 25% batches, fan-out, rollback by the ssh switch, on 2 cores shared by every node',
  // Fitted on those four, the model predicted the 9-node run's rollout 6% high (76.5 s against
  // 71.9 s) and its rollback within 1% (4.9 s against 4.9 s).
  fitError: 0.06,
  coefficients: Object.freeze({
    fixedSec: 5.93,
    fixedPerNodeSec: 1.175,
    pushPerWaveSec: 0,
    pushPerNodeSec: 5.209,
    batchFixedSec: 0.982,
    batchPerNodeSec: 1.147,
    rollbackFixedSec: 0.991,
    rollbackPerNodeSec: 0.432,
    overheadBytesPerNode: 1.572e6,
    controllerCpuPerNodeSec: 4.883,
    controllerRollbackCpuPerNodeSec: 0.028,
  }),
});
