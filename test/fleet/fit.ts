/**
 * Fits the rollout model (capacity/rollout.ts) on bench:fleet data files, checks it on one run
 * left out of the fit, and prints the coefficients for ROLLOUT_FIT and the predictions for 100
 * and 1,000 nodes on 1 GbE (docs/capacity.md):
 *   cd test/fleet/runs && npx tsx ../fit.ts --holdout fleet-9.data.json fleet-3.data.json fleet-6.data.json fleet-12.data.json fleet-24.data.json
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fitErrors, fitRollout, predictRollout, pushWaves, type MeasuredRun } from '../../capacity/rollout.js';

type Run = MeasuredRun & { readonly batch: number; readonly file: string };

function num(v: unknown, what: string, file: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${file}: ${what} must be a number, 0 or more (got ${JSON.stringify(v)})`);
  return v;
}

/** A data file of bench.ts, checked field by field where it is read. */
export function readRun(file: string): Run {
  const d = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  const o = d.options ?? {};
  const r = d.rollout ?? {};
  const phases = (r.phases ?? {}) as Record<string, unknown>;
  const batchText = String(o.batch);
  const batch = /%$/.test(batchText) ? Number(batchText.slice(0, -1)) / 100 : Number(batchText);
  if (!(batch > 0)) throw new Error(`${file}: options.batch must be a count or a percentage (got ${JSON.stringify(o.batch)})`);
  if (r.exitCode !== 0 || d.rollback?.exitCode !== 0) throw new Error(`${file}: the rollout or the rollback failed; not a measurement`);
  const batches = Array.isArray(r.batches) ? (r.batches as unknown[]).map((b, i) => ({ hosts: num((b as Record<string, unknown>).hosts, `rollout.batches[${i}].hosts`, file), seconds: num((b as Record<string, unknown>).seconds, `rollout.batches[${i}].seconds`, file) })) : [];
  const nodes = num(o.nodes, 'options.nodes', file);
  return {
    file: basename(file),
    nodes,
    waves: pushWaves(nodes),
    batch: batch === 1 ? 0.999999 : batch,
    changedBytes: num(o.changedBytes, 'options.changedBytes', file),
    rolloutSec: num(r.seconds, 'rollout.seconds', file),
    pushSec: num(phases.push, 'rollout.phases.push', file) + num(phases.verify, 'rollout.phases.verify', file),
    batches,
    rollbackSec: num(d.rollback?.seconds, 'rollback.seconds', file),
    controllerBytes: num(r.controllerBytes, 'rollout.controllerBytes', file),
    // Runs before bench.ts measured the controller's CPU have none.
    controllerCpuSec: r.controllerCpuSec === undefined ? undefined : num(r.controllerCpuSec, 'rollout.controllerCpuSec', file),
    rollbackControllerCpuSec: d.rollback?.controllerCpuSec === undefined ? undefined : num(d.rollback.controllerCpuSec, 'rollback.controllerCpuSec', file),
  };
}

function main(args: readonly string[]): void {
  const h = args.indexOf('--holdout');
  const holdoutFile = h === -1 ? undefined : args[h + 1];
  const files = args.filter((_a, i) => h === -1 || (i !== h && i !== h + 1));
  const fitRuns = files.map(readRun);
  const c = fitRollout(fitRuns);
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  process.stdout.write(`coefficients (${fitRuns.map((r) => r.nodes).join(', ')} nodes): ${JSON.stringify(c, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v))}\n`);
  for (const e of fitErrors(fitRuns, c, Infinity)) process.stdout.write(`  in the fit, ${e.nodes} nodes: rollout ${pct(e.rollout)}, rollback ${pct(e.rollback)}\n`);
  if (holdoutFile !== undefined) {
    const held = readRun(holdoutFile);
    const p = predictRollout({ nodes: held.nodes, batch: held.batch, changedBytes: held.changedBytes, uplinkMbps: Infinity, cpu: 'shared' }, c);
    const [e] = fitErrors([held], c, Infinity);
    process.stdout.write(`held out, ${held.nodes} nodes: rollout measured ${held.rolloutSec} s, predicted ${p.rolloutSec.toFixed(1)} s (${pct(e!.rollout)}); rollback measured ${held.rollbackSec} s, predicted ${p.rollbackSec.toFixed(1)} s (${pct(e!.rollback)})\n`);
  }
  for (const cpu of ['shared', 'own'] as const) {
    for (const nodes of [24, 100, 1000]) {
      const p = predictRollout({ nodes, batch: 0.25, changedBytes: 10e6, uplinkMbps: 1000, cpu }, c);
      process.stdout.write(
        `${cpu === 'shared' ? 'rig (nodes share 2 cores)' : 'fleet (own CPUs, 2-core controller)'}, ${nodes} nodes, 1 GB 1% changed, 25% batches, 1 GbE, fan-out: ` +
          `rollout ${p.rolloutSec.toFixed(0)} s (push ${p.pushSec.toFixed(0)} in ${p.waves} waves, transfer ${p.transferSec.toFixed(1)}, batches ${p.batchesSec.toFixed(0)}, controller ${p.controllerSec.toFixed(0)}, fixed ${p.fixedSec.toFixed(0)}), ` +
          `rollback ${p.rollbackSec.toFixed(1)} s, controller sends ${(p.controllerBytes / 1e9).toFixed(2)} GB\n`,
      );
    }
  }
}

main(process.argv.slice(2));
