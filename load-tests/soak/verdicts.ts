/**
 * The soak's checks. Traffic: no connection errors, nothing outside 2xx/3xx. Resources: memory
 * and descriptors must not grow once the server is warm. Growth is the median of the last
 * window of samples minus the median of the first window after the warm-up (each window a fifth
 * of the samples after it): medians, so a GC pause or a burst of connections in one sample
 * decides nothing, and windows rather than end points, so a slow leak shows as a step between
 * two steady levels.
 */
import { median } from '../bench/util.js';
import type { ResourceLimits, ResourceSample, Verdict } from '../report/model.js';
import type { LoadOutcome } from '../gate/run-load.js';
import { statusList } from '../gate/verdicts.js';
import type { Allowance } from './profile.js';

/** Share of the samples after warm-up in each of the two windows compared. */
export const WINDOW_SHARE = 0.2;

export interface Growth {
  /** Median of the first window after warm-up. */
  readonly baseline: number;
  /** Median of the last window. */
  readonly final: number;
  readonly growth: number;
  /** First and last sample time (s) of each window. */
  readonly first: readonly [number, number];
  readonly last: readonly [number, number];
}

/** Undefined when fewer than two samples were taken after the warm-up. */
export function growthOf(samples: readonly ResourceSample[], warmUpSec: number, value: (s: ResourceSample) => number): Growth | undefined {
  const after = samples.filter((s) => s.t >= warmUpSec);
  if (after.length < 2) return undefined;
  const k = Math.max(1, Math.round(after.length * WINDOW_SHARE));
  const first = after.slice(0, k);
  const last = after.slice(-k);
  const baseline = median(first.map(value));
  const final = median(last.map(value));
  const span = (w: readonly ResourceSample[]): [number, number] => [(w[0] as ResourceSample).t, (w[w.length - 1] as ResourceSample).t];
  return { baseline, final, growth: final - baseline, first: span(first), last: span(last) };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const signedMib = (bytes: number): string => `${bytes < 0 ? '-' : '+'}${mib(Math.abs(bytes))}`;
const secs = (w: readonly [number, number]): string => `${Math.round(w[0])}-${Math.round(w[1])} s`;

export function trafficVerdicts(o: LoadOutcome): Verdict[] {
  return [
    { check: 'errors', ok: o.errors === 0, detail: o.errors === 0 ? 'no connection errors or timeouts' : `${int(o.errors)} connection errors (${int(o.timeouts)} of them timeouts)` },
    {
      check: 'non-2xx/3xx',
      ok: o.non2xx3xx === 0 && o.responses > 0,
      detail: o.responses === 0 ? 'no responses at all' : o.non2xx3xx === 0 ? `none (${statusList(o.statuses)})` : `${int(o.non2xx3xx)} responses outside 2xx/3xx (${statusList(o.statuses)})`,
    },
  ];
}

/**
 * RSS and descriptor growth against the allowance, and the limits to draw (baseline plus the
 * allowed growth). `goneAt`: when the process vanished, if it did.
 */
export function resourceVerdicts(samples: readonly ResourceSample[], a: Allowance, goneAt: number | undefined): { verdicts: Verdict[]; limits: ResourceLimits | undefined } {
  const verdicts: Verdict[] = [];
  if (goneAt !== undefined) verdicts.push({ check: 'server', ok: false, detail: `the server process was gone at ${goneAt.toFixed(1)} s` });
  const rss = growthOf(samples, a.warmUpSec, (s) => s.rssBytes);
  const fds = growthOf(samples, a.warmUpSec, (s) => s.fds);
  if (rss === undefined || fds === undefined) {
    verdicts.push({ check: 'samples', ok: false, detail: `${samples.filter((s) => s.t >= a.warmUpSec).length} samples after the ${a.warmUpSec} s warm-up: at least 2 are needed to compare` });
    return { verdicts, limits: undefined };
  }
  const rssOk = rss.growth <= a.maxRssGrowthBytes;
  verdicts.push({
    check: 'rss growth',
    ok: rssOk,
    detail:
      `RSS ${signedMib(rss.growth)}: ${mib(rss.baseline)} after warm-up (median, ${secs(rss.first)}), ${mib(rss.final)} at the end (median, ${secs(rss.last)}); ` +
      `${rssOk ? 'within' : 'more than'} --max-rss-growth ${mib(a.maxRssGrowthBytes)}`,
  });
  const fdOk = fds.growth <= a.maxFdGrowth;
  verdicts.push({
    check: 'fd growth',
    ok: fdOk,
    detail:
      `open fds ${fds.growth < 0 ? '' : '+'}${int(fds.growth)}: ${int(fds.baseline)} after warm-up (median, ${secs(fds.first)}), ${int(fds.final)} at the end (median, ${secs(fds.last)}); ` +
      `${fdOk ? 'within' : 'more than'} --max-fd-growth ${int(a.maxFdGrowth)}`,
  });
  return { verdicts, limits: { warmUpSec: a.warmUpSec, rssBytes: rss.baseline + a.maxRssGrowthBytes, fds: fds.baseline + a.maxFdGrowth } };
}
