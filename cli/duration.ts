import { UsageError } from './subcommands.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `1.5s`, `1m`, `2h`, or a bare number of seconds, in milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number));
}

/** Durations the commands take: at most five minutes, unless a command says otherwise. */
export const MAX_DURATION_MS = 5 * 60_000;

/** `0`, `1ms`, `5s`, `5m`, `24h`: a whole number in the largest unit that fits. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const unit of ['h', 'm', 's'] as const) if (ms % (UNIT_MS[unit] as number) === 0) return `${ms / (UNIT_MS[unit] as number)}${unit}`;
  return `${ms}ms`;
}

/**
 * The duration flag `--NAME` (or `fallback`), from `minMs` to `maxMs` (five minutes unless
 * given), in milliseconds; a UsageError naming the flag otherwise. `example` completes "like ...".
 */
export function durationFlag(flags: ReadonlyMap<string, string | true>, name: string, fallback: string, minMs: number, example: string, maxMs = MAX_DURATION_MS): number {
  const text = (flags.get(name) as string | undefined) ?? fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < minMs || ms > maxMs)
    throw new UsageError(`--${name} must be a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)}, like ${example} (got ${JSON.stringify(text)})`);
  return ms;
}
