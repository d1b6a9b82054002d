/** How the cluster commands and the dashboard show durations and sizes to people. */

/** `45s`, `12m`, `2h 5m`, `3d 4h`: the two largest units, enough to tell a restart from a long run. */
export function humanUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Bytes as MiB with one decimal (`0.0 MiB`, `12.3 MiB`). */
export function mebibytes(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
