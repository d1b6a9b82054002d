import { formatDuration, parseDuration } from '../common/units.js';
import { UsageError } from './subcommands.js';

/** Durations the commands take: at most five minutes, unless a command says otherwise. */
export const MAX_DURATION_MS = 5 * 60_000;

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
