/**
 * Sizes and durations as people write them on the command line and in config files: one parser
 * each, so `serve --cache-size`, `plan --cache` and `soak --max-rss-growth` read `512MiB` alike,
 * and every duration flag reads `1.5s` alike. Pure: no imports of the project.
 */

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3 };

/** `1GiB`, `512MiB`, `64k`, `1000000`. */
export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m === null ? undefined : UNITS[(m[2] as string).toLowerCase()];
  return m === null || unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `2s`, `1.5s`, `1m`, `2h`, or a bare number of seconds, in milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number));
}

/** `0`, `1ms`, `5s`, `5m`, `24h`: a whole number in the largest unit that fits. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const unit of ['h', 'm', 's'] as const) if (ms % (UNIT_MS[unit] as number) === 0) return `${ms / (UNIT_MS[unit] as number)}${unit}`;
  return `${ms}ms`;
}
