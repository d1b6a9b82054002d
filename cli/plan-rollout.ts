/**
 * `pi-origin plan --rollout`: how long a rollout and a rollback take on a fleet, from the model
 * fitted on measured `npm run bench:fleet` runs (capacity/rollout.ts, docs/capacity.md).
 */
import { RIG_CORES, ROLLOUT_FIT, predictRollout, type RolloutInput, type RolloutPrediction } from '../capacity/rollout.js';
import { PlanError } from '../capacity/plan.js';
import { parseBytes } from '../common/units.js';
import { UsageError } from './subcommands.js';

/** The flags of the rollout section (all take a value). */
export const ROLLOUT_FLAGS = ['nodes', 'batch', 'release-size', 'changed', 'uplink', 'senders', 'seeds', 'fanout', 'cpu', 'controller-cores'] as const;

export const ROLLOUT_HELP = [
  'Rollout time: --rollout --nodes N [--batch 25%] [--release-size 1GB] [--changed 1%|SIZE] [--uplink 1000]',
  '  [--seeds 1] [--fanout on|off] [--senders N] [--cpu own|shared] [--controller-cores 2] (docs/capacity.md)',
];

export interface RolloutPlan {
  readonly input: RolloutInput & { readonly releaseBytes: number };
  readonly prediction: RolloutPrediction;
  readonly model: typeof ROLLOUT_FIT;
  readonly summary: string;
}

function value(flags: ReadonlyMap<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** `25%` as 0.25, `4` as 4. */
function parseBatchShare(text: string): number | undefined {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct !== null) return Number(pct[1]) > 0 && Number(pct[1]) <= 100 ? Math.min(Number(pct[1]) / 100, 0.999999) : undefined;
  return /^[1-9]\d*$/.test(text) ? Number(text) : undefined;
}

export function rolloutPlan(flags: ReadonlyMap<string, string | true>, parseRate: (t: string) => number | undefined): RolloutPlan {
  const nodesText = value(flags, 'nodes');
  if (nodesText === undefined) throw new UsageError('--rollout needs --nodes N');
  const nodes = /^[1-9]\d{0,6}$/.test(nodesText) ? Number(nodesText) : undefined;
  if (nodes === undefined) throw new UsageError(`--nodes must be a whole number of nodes from 1 (got ${JSON.stringify(nodesText)})`);
  const batchText = value(flags, 'batch') ?? '25%';
  const batch = parseBatchShare(batchText);
  if (batch === undefined) throw new UsageError(`--batch must be a count like 4 or a share like 25% (got ${JSON.stringify(batchText)})`);
  const sizeText = value(flags, 'release-size') ?? '1GB';
  const releaseBytes = parseBytes(sizeText);
  if (releaseBytes === undefined || releaseBytes <= 0) throw new UsageError(`--release-size must be a size like 1GB or 100MB (got ${JSON.stringify(sizeText)})`);
  const changedText = value(flags, 'changed') ?? '1%';
  const share = /^(\d+(?:\.\d+)?)%$/.exec(changedText);
  const changedBytes = share !== null ? (releaseBytes * Number(share[1])) / 100 : parseBytes(changedText);
  if (changedBytes === undefined || changedBytes > releaseBytes) throw new UsageError(`--changed must be a size or a share of --release-size like 10MB or 1%, at most the release (got ${JSON.stringify(changedText)})`);
  const uplinkText = value(flags, 'uplink') ?? '1000';
  const uplinkMbps = parseRate(uplinkText);
  if (uplinkMbps === undefined || uplinkMbps <= 0) throw new UsageError(`--uplink must be a rate in Mbit/s like 1000, 1Gbit or 125MB/s (got ${JSON.stringify(uplinkText)})`);
  const sendersText = value(flags, 'senders');
  const senders = sendersText === undefined ? undefined : /^[1-9]\d{0,6}$/.test(sendersText) ? Number(sendersText) : NaN;
  if (Number.isNaN(senders)) throw new UsageError(`--senders must be a whole number of nodes from 1 (got ${JSON.stringify(sendersText)})`);
  const seedsText = value(flags, 'seeds') ?? '1';
  if (!/^[1-9]\d{0,6}$/.test(seedsText)) throw new UsageError(`--seeds must be a whole number of nodes from 1 (got ${JSON.stringify(seedsText)})`);
  const fanoutText = value(flags, 'fanout') ?? 'on';
  if (fanoutText !== 'on' && fanoutText !== 'off') throw new UsageError(`--fanout must be on or off (got ${JSON.stringify(fanoutText)})`);
  const cpu = value(flags, 'cpu') ?? 'own';
  if (cpu !== 'own' && cpu !== 'shared') throw new UsageError(`--cpu must be own (a fleet: every node its CPU) or shared (every node on the controller's cores, as the rig) (got ${JSON.stringify(cpu)})`);
  const coresText = value(flags, 'controller-cores') ?? '2';
  if (!/^[1-9]\d{0,3}$/.test(coresText)) throw new UsageError(`--controller-cores must be a whole number from 1 (got ${JSON.stringify(coresText)})`);
  const input = {
    nodes,
    batch,
    changedBytes,
    uplinkMbps,
    releaseBytes,
    seeds: Number(seedsText),
    fanout: fanoutText === 'on',
    cpu,
    controllerCores: Number(coresText),
    ...(senders === undefined ? {} : { senders }),
  } as const;
  let prediction: RolloutPrediction;
  try {
    prediction = predictRollout(input, ROLLOUT_FIT.coefficients);
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  }
  const summary = `${nodes} nodes, ${mb(releaseBytes)} release with ${mb(changedBytes)} changed, ${uplinkMbps} Mbit/s uplink: rollout ${duration(prediction.rolloutSec)}, rollback ${duration(prediction.rollbackSec)}`;
  return { input, prediction, model: ROLLOUT_FIT, summary };
}

function mb(bytes: number): string {
  return bytes >= 1e9 ? `${+(bytes / 1e9).toPrecision(3)} GB` : `${+(bytes / 1e6).toPrecision(3)} MB`;
}

function duration(s: number): string {
  return s >= 120 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`;
}

export function renderRollout(p: RolloutPlan): string {
  const x = p.prediction;
  const m = p.model;
  const row = (label: string, v: string, how = ''): string => `  ${label.padEnd(22)} ${v.padEnd(14)} ${how}`.trimEnd();
  return [
    `Rollout (model: ${m.source}; ${m.fitError === null ? 'not yet checked on a run it was not fitted on' : `fit error ${(m.fitError * 100).toFixed(0)}% on a run it was not fitted on`})`,
    row('nodes', String(p.input.nodes), `canary, then ${x.batches} batch${x.batches === 1 ? '' : 'es'} of up to ${x.batchSize}`),
    row('machine', p.input.cpu === 'shared' ? 'shared CPU' : 'own CPUs', p.input.cpu === 'shared' ? 'every node on the controller\'s cores, as on the rig' : `each node its CPU; a ${p.input.controllerCores}-core controller`),
    row('controller sends', mb(x.controllerBytes), `${p.input.nodes} nodes x ${mb(m.coefficients.overheadBytesPerNode)} overhead + ${mb(p.input.changedBytes)} changed x ${Math.min(p.input.senders ?? (p.input.fanout === false ? p.input.nodes : (p.input.seeds ?? 1)), p.input.nodes)} senders`),
    row('fixed (canary, gate)', `${x.fixedSec.toFixed(1)} s`),
    row(
      'push and verify',
      `${x.pushSec.toFixed(1)} s`,
      p.input.cpu === 'shared'
        ? `${x.waves} wave${x.waves === 1 ? '' : 's'} x ${m.coefficients.pushPerWaveSec.toFixed(1)} s + ${p.input.nodes} nodes x ${m.coefficients.pushPerNodeSec.toFixed(2)} s`
        : `${x.waves} wave${x.waves === 1 ? '' : 's'} x (${m.coefficients.pushPerWaveSec.toFixed(1)} s + one node's ${(m.coefficients.pushPerNodeSec * RIG_CORES).toFixed(1)} s)`,
    ),
    row('transfer', `${x.transferSec.toFixed(1)} s`, `${mb(x.controllerBytes)} at ${p.input.uplinkMbps} Mbit/s`),
    row(
      'batches',
      `${x.batchesSec.toFixed(1)} s`,
      p.input.cpu === 'shared'
        ? `${x.batches} x ${m.coefficients.batchFixedSec.toFixed(1)} s + ${p.input.nodes - 1} nodes x ${m.coefficients.batchPerNodeSec.toFixed(2)} s`
        : `${x.batches} x (${m.coefficients.batchFixedSec.toFixed(1)} s + one node's ${(m.coefficients.batchPerNodeSec * RIG_CORES).toFixed(1)} s)`,
    ),
    ...(p.input.cpu === 'shared' ? [] : [row('controller CPU', `${x.controllerSec.toFixed(1)} s`, `${p.input.nodes} nodes x ${m.coefficients.controllerCpuPerNodeSec.toFixed(2)} CPU s / ${p.input.controllerCores} cores`)]),
    row('rollout', duration(x.rolloutSec)),
    row(
      'rollback',
      duration(x.rollbackSec),
      p.input.cpu === 'shared'
        ? `${m.coefficients.rollbackFixedSec.toFixed(1)} s + ${p.input.nodes} nodes x ${m.coefficients.rollbackPerNodeSec.toFixed(2)} s`
        : `${m.coefficients.rollbackFixedSec.toFixed(1)} s + one node's ${(m.coefficients.rollbackPerNodeSec * RIG_CORES).toFixed(1)} s + ${p.input.nodes} nodes x ${m.coefficients.controllerRollbackCpuPerNodeSec.toFixed(2)} CPU s / ${p.input.controllerCores} cores`,
    ),
    `rollout: ${p.summary}`,
    '',
  ].join('\n');
}
