/**
 * How long a rollout and a rollback take: a model fitted on measured runs of
 * `npm run bench:fleet` (test/fleet/), per phase, and used by `pi-origin plan --rollout`.
 * Pure arithmetic, no I/O, like capacity/plan.ts. docs/capacity.md states the model, its fit
 * error on a run it was not fitted on, and its predictions.
 *
 *   rollout  = fixed + push(N) + transfer + batches
 *   push(N)  = pushFixed + pushPerNode × N             (ansible, ssh, rsync's checksums, verify)
 *   transfer = controllerBytes × 8 / uplink            (controllerBytes = N × overhead + senders × changed)
 *   batches  = ceil((N − 1) / batch) × batchFixed + (N − 1) × batchPerNode
 *   rollback = rollbackFixed + rollbackPerNode × N
 *
 * N nodes, batch the nodes per batch after the canary, senders the nodes the controller itself
 * sends the changed bytes to (N without fan-out; the fan-out's bound with it).
 */
import { BYTES_PER_SEC_PER_MBPS, PlanError } from './plan.js';

export interface RolloutCoefficients {
  /** Seconds every rollout costs whatever its size: ansible's start, the controller's checks, the canary (activate, confirm, gate). */
  readonly fixedSec: number;
  readonly pushFixedSec: number;
  /** Seconds of push per node: the controller's share (ansible forks, ssh, rsync's checksums) and, on the rig, the node's. */
  readonly pushPerNodeSec: number;
  /** Seconds per batch whatever its size (a play's start, the confirm wait). */
  readonly batchFixedSec: number;
  /** Seconds per node in a batch. */
  readonly batchPerNodeSec: number;
  readonly rollbackFixedSec: number;
  readonly rollbackPerNodeSec: number;
  /** Bytes the controller sends every node on top of the changed files: Ansible's modules, ssh, rsync's file list. */
  readonly overheadBytesPerNode: number;
}

export interface RolloutInput {
  readonly nodes: number;
  /** Nodes per batch after the canary: a count (>= 1) or a share of the nodes (0 < share < 1, as `25%`). */
  readonly batch: number;
  readonly changedBytes: number;
  /** The controller's uplink, Mbit/s. */
  readonly uplinkMbps: number;
  /** Nodes the controller sends the changed bytes to (default: every node, no fan-out). */
  readonly senders?: number;
}

export interface RolloutPrediction {
  readonly batchSize: number;
  readonly batches: number;
  readonly controllerBytes: number;
  readonly fixedSec: number;
  readonly pushSec: number;
  readonly transferSec: number;
  readonly batchesSec: number;
  readonly rolloutSec: number;
  readonly rollbackSec: number;
}

/** A batch given as a share (0..1) or a count, as a count of nodes: Ansible's `serial` rounds a percentage down, to at least 1. */
export function batchSize(nodes: number, batch: number): number {
  return batch < 1 ? Math.max(1, Math.floor(nodes * batch)) : Math.min(Math.max(1, Math.floor(batch)), Math.max(1, nodes - 1));
}

export function checkRolloutInput(i: RolloutInput): void {
  if (!Number.isInteger(i.nodes) || i.nodes < 1) throw new PlanError(`--nodes must be a whole number of nodes, at least 1 (got ${i.nodes})`);
  if (!(i.batch > 0)) throw new PlanError(`--batch must be a count of nodes or a share like 25% (got ${i.batch})`);
  if (!(i.changedBytes >= 0)) throw new PlanError(`--changed must be a size or share of the release, 0 or more (got ${i.changedBytes})`);
  if (!(i.uplinkMbps > 0)) throw new PlanError(`--uplink-mbps must be greater than 0 (got ${i.uplinkMbps})`);
  if (i.senders !== undefined && !(Number.isInteger(i.senders) && i.senders >= 1)) throw new PlanError(`--senders must be a whole number of nodes, at least 1 (got ${i.senders})`);
}

export function predictRollout(i: RolloutInput, c: RolloutCoefficients): RolloutPrediction {
  checkRolloutInput(i);
  const size = batchSize(i.nodes, i.batch);
  const rest = i.nodes - 1;
  const batches = Math.ceil(rest / size);
  const controllerBytes = c.overheadBytesPerNode * i.nodes + i.changedBytes * Math.min(i.senders ?? i.nodes, i.nodes);
  const pushSec = c.pushFixedSec + c.pushPerNodeSec * i.nodes;
  const transferSec = controllerBytes / (i.uplinkMbps * BYTES_PER_SEC_PER_MBPS);
  const batchesSec = batches * c.batchFixedSec + rest * c.batchPerNodeSec;
  return {
    batchSize: size,
    batches,
    controllerBytes,
    fixedSec: c.fixedSec,
    pushSec,
    transferSec,
    batchesSec,
    rolloutSec: c.fixedSec + pushSec + transferSec + batchesSec,
    rollbackSec: c.rollbackFixedSec + c.rollbackPerNodeSec * i.nodes,
  };
}

/** What one bench:fleet run measured (its data JSON, test/fleet/bench.ts). */
export interface MeasuredRun {
  readonly nodes: number;
  readonly changedBytes: number;
  readonly rolloutSec: number;
  /** Push and verify, seconds. */
  readonly pushSec: number;
  readonly batches: readonly { readonly hosts: number; readonly seconds: number }[];
  readonly rollbackSec: number;
  readonly controllerBytes: number;
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

/** The coefficients from measured runs, phase by phase (push, each batch, the rest, rollback). */
export function fitRollout(runs: readonly MeasuredRun[]): RolloutCoefficients {
  const push = fitLine(runs.map((r) => [r.nodes, r.pushSec]));
  const batch = fitLine(runs.flatMap((r) => r.batches.map((b) => [b.hosts, b.seconds] as const)));
  const rollback = fitLine(runs.map((r) => [r.nodes, r.rollbackSec]));
  const rests = runs.map((r) => r.rolloutSec - r.pushSec - r.batches.reduce((s, b) => s + b.seconds, 0));
  const overheads = runs.map((r) => Math.max(0, r.controllerBytes / r.nodes - r.changedBytes));
  return {
    fixedSec: rests.reduce((s, x) => s + x, 0) / runs.length,
    pushFixedSec: push.a,
    pushPerNodeSec: push.b,
    batchFixedSec: batch.a,
    batchPerNodeSec: batch.b,
    rollbackFixedSec: rollback.a,
    rollbackPerNodeSec: rollback.b,
    overheadBytesPerNode: overheads.reduce((s, x) => s + x, 0) / runs.length,
  };
}

/** |predicted − measured| / measured, for the rollout and the rollback of each run. */
export function fitErrors(runs: readonly (MeasuredRun & { readonly batch: number })[], c: RolloutCoefficients, uplinkMbps: number): { nodes: number; rollout: number; rollback: number }[] {
  return runs.map((r) => {
    const p = predictRollout({ nodes: r.nodes, batch: r.batch, changedBytes: r.changedBytes, uplinkMbps }, c);
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
  source: 'bench:fleet runs at 3 and 6 nodes, 20 MB release with 1 MB changed, 2 shared cores at load 12-23',
  // Fitted on the 3-node run alone, the 6-node run's rollout was predicted 25% high, its rollback 29%.
  fitError: 0.29,
  coefficients: Object.freeze({
    fixedSec: 28.8,
    pushFixedSec: 20.7,
    pushPerNodeSec: 2.267,
    batchFixedSec: 7.686,
    batchPerNodeSec: 0,
    rollbackFixedSec: 39.45,
    rollbackPerNodeSec: 0,
    overheadBytesPerNode: 1.336e6,
  }),
});
