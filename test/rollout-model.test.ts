/**
 * The rollout model (capacity/rollout.ts) on sources: the arithmetic checked by hand, the fit
 * recovering known coefficients from runs made with them, the held-out error, and
 * `pi-origin plan --rollout`'s flags (the plan's parser, no process).
 */
import t from 'tap';
import { batchSize, fitErrors, fitLine, fitRollout, predictRollout, ROLLOUT_FIT, type MeasuredRun, type RolloutCoefficients } from '../capacity/rollout.js';
import { parseRate } from '../cli/plan.js';
import { renderRollout, rolloutPlan } from '../cli/plan-rollout.js';

const C: RolloutCoefficients = { fixedSec: 10, pushFixedSec: 4, pushPerNodeSec: 0.5, batchFixedSec: 3, batchPerNodeSec: 0.25, rollbackFixedSec: 2, rollbackPerNodeSec: 0.1, overheadBytesPerNode: 0.5e6 };

t.test('batch size: a share rounds down as serial does, at least 1; a count at most the nodes after the canary', (t) => {
  t.equal(batchSize(24, 0.25), 6);
  t.equal(batchSize(3, 0.25), 1);
  t.equal(batchSize(24, 4), 4);
  t.equal(batchSize(3, 10), 2);
  t.end();
});

t.test('prediction: every term by hand', (t) => {
  // 100 nodes, 25%: 25 per batch, ceil(99 / 25) = 4 batches. 100 x 0.5 MB overhead + 10 MB
  // changed x 100 senders = 1,050 MB; at 1,000 Mbit/s (125 MB/s): 8.4 s. push 4 + 0.5 x 100 = 54; batches 4 x 3 +
  // 99 x 0.25 = 36.75; rollout 10 + 54 + 8.4 + 36.75 = 109.15; rollback 2 + 0.1 x 100 = 12.
  const p = predictRollout({ nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000 }, C);
  t.same({ size: p.batchSize, batches: p.batches }, { size: 25, batches: 4 });
  t.ok(Math.abs(p.controllerBytes - 1.05e9) < 1, `controller bytes ${p.controllerBytes}`);
  t.ok(Math.abs(p.transferSec - 8.4) < 1e-9, `transfer ${p.transferSec}`);
  t.ok(Math.abs(p.rolloutSec - 109.15) < 1e-9, `rollout ${p.rolloutSec}`);
  t.ok(Math.abs(p.rollbackSec - 12) < 1e-9, `rollback ${p.rollbackSec}`);
  // Fan-out: the controller sends the changed bytes to 5 nodes only: 50 + 50 MB = 0.8 s.
  const fan = predictRollout({ nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, senders: 5 }, C);
  t.ok(Math.abs(fan.transferSec - 0.8) < 1e-9, `fan-out transfer ${fan.transferSec}`);
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
  const runs: (MeasuredRun & { batch: number })[] = [3, 6, 12, 24].map((nodes) => {
    const p = predictRollout({ nodes, batch: 0.25, changedBytes: 1e6, uplinkMbps: Infinity }, C);
    const size = p.batchSize;
    const hosts = Array.from({ length: p.batches }, (_, i) => Math.min(size, nodes - 1 - i * size));
    return {
      nodes,
      batch: 0.25,
      changedBytes: 1e6,
      rolloutSec: p.rolloutSec,
      pushSec: p.pushSec,
      batches: hosts.map((h) => ({ hosts: h, seconds: C.batchFixedSec + h * C.batchPerNodeSec })),
      rollbackSec: p.rollbackSec,
      controllerBytes: 1.5e6 * nodes,
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
  t.same({ ...p.input }, { nodes: 100, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, releaseBytes: 1e9 });
  const direct = predictRollout(p.input, ROLLOUT_FIT.coefficients);
  t.equal(p.prediction.rolloutSec, direct.rolloutSec, 'the fitted coefficients');
  t.match(renderRollout(p), /^rollout: 100 nodes, 1 GB release with 10 MB changed, 1000 Mbit\/s uplink: rollout /m);
  t.equal(rolloutPlan(flags({ nodes: '10', changed: '5MB', batch: '3' }), parseRate).input.changedBytes, 5e6);
  t.throws(() => rolloutPlan(flags({}), parseRate), { name: 'UsageError', message: '--rollout needs --nodes N' });
  t.throws(() => rolloutPlan(flags({ nodes: 'ten' }), parseRate), { message: '--nodes must be a whole number of nodes from 1 (got "ten")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', batch: '0%' }), parseRate), { message: '--batch must be a count like 4 or a share like 25% (got "0%")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', changed: '2GB' }), parseRate), { message: '--changed must be a size or a share of --release-size like 10MB or 1%, at most the release (got "2GB")' });
  t.throws(() => rolloutPlan(flags({ nodes: '5', uplink: 'fast' }), parseRate), { message: '--uplink must be a rate in Mbit/s like 1000, 1Gbit or 125MB/s (got "fast")' });
  t.end();
});
