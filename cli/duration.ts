import { UsageError } from './subcommands.js';

/** `500ms`, `2s`, `1.5s`, `1m`, or a bare number of seconds, in milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (m === null) return undefined;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  return Math.round(ms);
}

/** Durations the commands take: at most five minutes. */
export const MAX_DURATION_MS = 5 * 60_000;

/**
 * The duration flag `--NAME` (or `fallback`), from `minMs` (0 or 1) to five minutes, in
 * milliseconds; a UsageError naming the flag otherwise. `example` completes "like 500ms or ...".
 */
export function durationFlag(flags: ReadonlyMap<string, string | true>, name: string, fallback: string, minMs: 0 | 1, example: string): number {
  const text = (flags.get(name) as string | undefined) ?? fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < minMs || ms > MAX_DURATION_MS)
    throw new UsageError(`--${name} must be a duration from ${minMs === 0 ? '0' : '1ms'} to 5m, like 500ms or ${example} (got ${JSON.stringify(text)})`);
  return ms;
}
