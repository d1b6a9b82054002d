/**
 * The rollout model (capacity/rollout.ts) on sources: the arithmetic checked by hand, the fit
 * recovering known coefficients from runs made with them, the held-out error, and
 * `pi-origin plan --rollout`'s flags (the plan's parser, no process).
 */
import t from 'tap';
import { batchSize, fitErrors, fitLine, fitRollout, fitTwo, predictRollout, pushWaves, ROLLOUT_FIT, type MeasuredRun, type RolloutCoefficients } from '../capacity/rollout.js';
import { parseRate } from '../cli/plan.js';
import { renderRollout, rolloutPlan } from '../cli/plan-rollout.js';

const C: RolloutCoefficients = {
  fixedSec: 10,
  fixedPerNodeSec: 0.2,
  pushPerWaveSec: 4,
  pushPerNodeSec: 0.5,
  batchFixedSec: 3,
  batchPerNodeSec: 0.25,
  rollbackFixedSec: 2,
  rollbackPerNodeSec: 0.1,
  overheadBytesPerNode: 0.5e6,
  controllerCpuPerNodeSec: 0.8,
  controllerRollbackCpuPerNodeSec: 0.06,
};

t.test('push waves: seeds, seeds, 2 seeds, 4 seeds, ... as rollout.yml serial', (t) => {
  t.same([1, 2, 3, 4, 5, 6, 12, 24, 100, 1000].map((n) => pushWaves(n)), [1, 2, 3, 3, 4, 4, 5, 6, 8, 11]);
  t.same([3, 4, 5, 24].map((n) => pushWaves(n, 3)), [1, 2, 2, 4], 'three seeds: 3, 3, 6, 12, ...');
  t.end();
});

t.test('batch size: a share rounds down as serial does, at least 1; a count at most the nodes after the canary', (t) => {
  t.equal(batchSize(24, 0.25), 6);
  t.equal(batchSize(3, 0.25), 1);
  t.equal(batchSize(24, 4), 4);
  t.equal(batchSize(3, 10), 2);
  t.end();
});

t.test('prediction: every term by hand', (t) => {
  const near = (x: number, y: number, what: string): void => void t.ok(Math.abs(x - y) < 1e-9, `${what}: ${x} = ${y}`);
  // The rig (shared CPU), no fan-out: 100 nodes, 25%: 25 per batch, ceil(99 / 25) = 4 batches.
  // 100 x 0.5 MB overhead + 10 MB changed x 100 senders = 1,050 MB; at 1,000 Mbit/s (125 MB/s):
  // 8.4 s. push 1 wave x 4 + 0.5 x 100 = 54; batches 4 x 3 + 99 x 0.25 = 36.75; rollout 10 + 54
  // + 8.4 + 36.75 = 109.15, + 0.2 x 100 = 20 outside push and batches: 129.15; rollback 2 + 0.1 x 100 = 12.
  const p = predictRollout({ nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, fanout: false, cpu: 'shared' }, C);
  t.same({ size: p.batchSize, batches: p.batches, waves: p.waves }, { size: 25, batches: 4, waves: 1 });
  near(p.controllerBytes, 1.05e9, 'controller bytes');
  near(p.transferSec, 8.4, 'transfer');
  near(p.rolloutSec, 129.15, 'rollout');
  near(p.rollbackSec, 12, 'rollback');
  // Fan-out (the default): 8 waves, the controller sends the changed bytes to the one seed:
  // 50 + 10 MB = 0.48 s; push 8 x 4 + 50 = 82.
  const fan = predictRollout({ nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, cpu: 'shared' }, C);
  near(fan.transferSec, 0.48, 'fan-out transfer');
  near(fan.pushSec, 82, 'fan-out push');
  // A fleet (own CPUs, the default) with a 4-core controller: a wave's or a batch's nodes work
  // at once, each as long as one node alone on the rig's 2 cores; the controller's CPU adds up:
  // fixed 10 + 0.2 x 2 = 10.4; push 8 x (4 + 0.5 x 2) = 40; batches 4 x (3 + 0.25 x 2) = 14;
  // controller 100 x 0.8 / 4 = 20; rollout 10.4 + 40 + 0.48 + 14 + 20 = 84.88; rollback
  // 2 + 0.1 x 2 + 100 x 0.06 / 4 = 3.7.
  const own = predictRollout({ nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, controllerCores: 4 }, C);
  near(own.pushSec, 40, 'fleet push');
  near(own.controllerSec, 20, 'controller CPU');
  near(own.rolloutSec, 84.88, 'fleet rollout');
  near(own.rollbackSec, 3.7, 'fleet rollback');
  t.end();
});

t.test('bad input names the flag', (t) => {
  t.throws(() => predictRollout({ nodes: 0, batch: 1, changedBytes: 1, uplinkMbps: 1 }, C), { name: 'PlanError', message: '--nodes must be a whole number of nodes, at least 1 (got 0)' });
  t.throws(() => predictRollout({ nodes: 3, batch: 1, changedBytes: 1, uplinkMbps: 0 }, C), { message: '--uplink-mbps must be greater than 0 (got 0)' });
  t.end();
});

t.test('fitLine is least squares; fitRollout recovers the coefficients runs were made with', (t) => {
  t.same(fitLine([[1, 3], [2, 5], [3, 7]]), { a: 1, b: 2 });
  t.same(fitLine([[4, 1], [4, 3]]), { a: 2, b: 0 }, 'one distinct x: the mean, slope 0');
  t.same(fitLine([[3, 44], [6, 34]]), { a: 39, b: 0 }, 'a falling slope is noise: the mean, slope 0');
  const two = fitTwo([[3, 3, 4 * 3 + 0.5 * 3], [4, 6, 4 * 4 + 0.5 * 6], [5, 12, 4 * 5 + 0.5 * 12]]);
  t.ok(Math.abs(two.a - 4) < 1e-9 && Math.abs(two.b - 0.5) < 1e-9, `fitTwo recovers 4 per wave, 0.5 per node (${two.a}, ${two.b})`);
  t.same(fitTwo([[1, 10, 1], [2, 20, 2]]), { a: 1, b: 0 }, 'columns that cannot be told apart: the first alone');
  t.same(fitTwo([[1, 1, 5], [2, 4, 6]]).b, 0, 'a negative coefficient: the other alone');
  const runs: (MeasuredRun & { batch: number })[] = [3, 6, 12, 24].map((nodes) => {
    const p = predictRollout({ nodes, batch: 0.25, changedBytes: 1e6, uplinkMbps: Infinity, cpu: 'shared' }, C);
    const size = p.batchSize;
    const hosts = Array.from({ length: p.batches }, (_, i) => Math.min(size, nodes - 1 - i * size));
    return {
      nodes,
      waves: p.waves,
      batch: 0.25,
      changedBytes: 1e6,
      rolloutSec: p.rolloutSec,
      pushSec: p.pushSec,
      batches: hosts.map((h) => ({ hosts: h, seconds: C.batchFixedSec + h * C.batchPerNodeSec })),
      rollbackSec: p.rollbackSec,
      // The seed's changed bytes plus each node's overhead.
      controllerBytes: C.overheadBytesPerNode * nodes + 1e6,
      controllerCpuSec: 5 + C.controllerCpuPerNodeSec * nodes,
      rollbackControllerCpuSec: 1 + C.controllerRollbackCpuPerNodeSec * nodes,
    };
  });
  const fit = fitRollout(runs);
  for (const k of Object.keys(C) as (keyof RolloutCoefficients)[]) t.ok(Math.abs(fit[k] - C[k]) < 1e-9, `${k}: ${fit[k]} = ${C[k]}`);
  t.same(fitErrors(runs, fit, Infinity).map((e) => e.rollout + e.rollback < 1e-9), [true, true, true, true], 'no error on runs made by the model');
  const off = fitErrors([{ ...runs[0]!, rolloutSec: runs[0]!.rolloutSec * 2 }], fit, Infinity)[0]!;
  t.ok(Math.abs(off.rollout - 0.5) < 1e-9, 'a run taking twice the prediction: 50% error');
  t.end();
});

t.test('plan --rollout: defaults, parsed units, and messages that name the flag', (t) => {
  const flags = (o: Record<string, string>): Map<string, string | true> => new Map<string, string | true>([['rollout', true], ...Object.entries(o)]);
  const p = rolloutPlan(flags({ nodes: '100', 'release-size': '1GB', changed: '1%', uplink: '1Gbit' }), parseRate);
  t.same({ ...p.input }, { nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, releaseBytes: 1e9, seeds: 1, fanout: true, cpu: 'own', controllerCores: 2 });
  const direct = predictRollout(p.input, ROLLOUT_FIT.coefficients);
  t.equal(p.prediction.rolloutSec, direct.rolloutSec, 'the fitted coefficients');
  t.match(renderRollout(p), /^rollout: 100 nodes, 1 GB release with 10 MB changed, 1000 Mbit\/s uplink: rollout /m);
  t.equal(rolloutPlan(flags({ nodes: '10', changed: '5MB', batch: '3' }), parseRate).input.changedBytes, 5e6);
  t.throws(() => rolloutPlan(flags({}), parseRate), { name: 'UsageError', message: '--rollout needs --nodes N' });
  t.throws(() => rolloutPlan(flags({ nodes: 'ten' }), parseRate), { message: '--nodes must be a whole number of nodes from 1 (got "ten")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', batch: '0%' }), parseRate), { message: '--batch must be a count like 4 or a share like 25% (got "0%")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', changed: '2GB' }), parseRate), { message: '--changed must be a size or a share of --release-size like 10MB or 1%, at most the release (got "2GB")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', uplink: 'fast' }), parseRate), { message: '--uplink must be a rate in Mbit/s like 1000, 1Gbit or 125MB/s (got "fast")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', seeds: '0' }), parseRate), { message: '--seeds must be a whole number of nodes from 1 (got "0")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', fanout: 'yes' }), parseRate), { message: '--fanout must be on or off (got "yes")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', cpu: 'mine' }), parseRate), { message: /^--cpu must be own .* or shared .*\(got "mine"\)$/ });
  t.throws(() => rolloutPlan(flags({ nodes: '5', 'controller-cores': '0' }), parseRate), { message: '--controller-cores must be a whole number from 1 (got "0")' });
  const rig = rolloutPlan(flags({ nodes: '24', cpu: 'shared', fanout: 'off' }), parseRate);
  t.equal(rig.prediction.waves, 1, 'no fan-out: one wave');
  t.match(renderRollout(rig), /^ {2}machine {16}shared CPU/m);
  t.end();
});
