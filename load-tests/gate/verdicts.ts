/** The gate's checks: each turns a measurement and its objective into one named Verdict. */
import type { Verdict } from '../report/model.js';
import type { ScenarioSlo } from './config.js';
import type { LoadOutcome } from './run-load.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;

export function achievedRate(o: LoadOutcome): number {
  return o.durationSec > 0 ? o.responses / o.durationSec : 0;
}

/** `200 ×1,234, 503 ×2`, most frequent first. */
export function statusList(statuses: Readonly<Record<string, number>>): string {
  return Object.entries(statuses)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${s} ×${int(n)}`)
    .join(', ');
}

/** Zero errors, nothing outside 2xx/3xx, only the expected status, p99 under its bound, the rate held. */
export function sloVerdicts(o: LoadOutcome, slo: ScenarioSlo, expect: number): Verdict[] {
  const rate = achievedRate(o);
  const off = ((rate - slo.rate) / slo.rate) * 100;
  const unexpected = o.responses - (o.statuses[expect] ?? 0);
  return [
    { check: 'errors', ok: o.errors === 0, detail: o.errors === 0 ? 'no connection errors or timeouts' : `${int(o.errors)} errors (${int(o.timeouts)} timeouts)` },
    { check: 'non-2xx/3xx', ok: o.non2xx3xx === 0, detail: o.non2xx3xx === 0 ? 'none' : `${int(o.non2xx3xx)} responses (${statusList(o.statuses)})` },
    { check: 'status', ok: o.responses > 0 && unexpected === 0, detail: o.responses === 0 ? 'no responses' : unexpected === 0 ? `all ${int(o.responses)} ${expect}` : `${int(unexpected)} not ${expect}: ${statusList(o.statuses)}` },
    { check: 'p99', ok: o.latency.p99 <= slo.p99Ms, detail: `${ms(o.latency.p99)} ${o.latency.p99 <= slo.p99Ms ? '<=' : '>'} ${ms(slo.p99Ms)} (corrected; ${ms(o.uncorrected.p99)} from send)` },
    { check: 'rate', ok: Math.abs(off) <= slo.rateTolerancePct, detail: `${int(rate)}/s of ${int(slo.rate)}/s offered (${off >= 0 ? '+' : ''}${off.toFixed(1)} %, tolerance ${slo.rateTolerancePct} %)` },
  ];
}

export interface RatioRound {
  /** Server CPU per response, nanoseconds. */
  readonly piNs: number;
  readonly rawNs: number;
  /** Both runs answered every request as expected, without errors. */
  readonly clean: boolean;
}

export function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/**
 * pi-origin's responses per CPU-second over raw uWS's (raw CPU per response / pi-origin's), per
 * interleaved round; the median must reach `min`.
 */
export function ratioVerdict(rounds: readonly RatioRound[], min: number): { verdict: Verdict; ratio: number; detail: string } {
  const ratios = rounds.map((r) => r.rawNs / r.piNs);
  const m = median(ratios);
  const clean = rounds.every((r) => r.clean);
  const us = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;
  const detail =
    `median of ${rounds.length} interleaved round${rounds.length === 1 ? '' : 's'}` +
    (rounds.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : '') +
    `; CPU per response ${us(median(rounds.map((r) => r.piNs)))} pi-origin, ${us(median(rounds.map((r) => r.rawNs)))} raw uWS`;
  const ok = clean && Number.isFinite(m) && m >= min;
  const head = Number.isFinite(m) ? `${m.toFixed(2)} ${m >= min ? '>=' : '<'} ${min}` : 'not measurable';
  return { verdict: { check: 'ratio', ok, detail: `${head}${clean ? '' : ', and a ratio run had errors or unexpected statuses'}: ${detail}` }, ratio: m, detail };
}
