/**
 * What a gate, bench or soak run reports: the JSON written next to every run and the input of the
 * HTML report (load-tests/report/html.ts). Times in milliseconds unless the name says otherwise.
 */

export interface LatencySummary {
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** One second of a run. */
export interface TimelinePoint {
  /** Seconds since the run started (0, 1, 2, ...). */
  readonly t: number;
  /** Responses completed in this second. */
  readonly requests: number;
  /** p99 latency of this second's responses, when known. */
  readonly p99?: number;
}

/** The server process sampled once during a soak. */
export interface ResourceSample {
  /** Seconds since the run started. */
  readonly t: number;
  /** Resident memory (VmRSS of /proc/PID/status). */
  readonly rssBytes: number;
  /** Open file descriptors (entries of /proc/PID/fd): sockets, files, pipes, epoll. */
  readonly fds: number;
}

/** A soak's allowance: growth beyond these marks the run failed (drawn on the resource charts). */
export interface ResourceLimits {
  /** Seconds of warm-up before the baseline window. */
  readonly warmUpSec: number;
  /** Median RSS of the window after warm-up, plus the allowed growth. */
  readonly rssBytes: number;
  readonly fds: number;
}

/** A check against a service-level objective (gate) or a sanity check (bench). */
export interface Verdict {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface RunReport {
  /** Scenario name (`launch-day`) or server and file (`pi-origin 1KB`). */
  readonly name: string;
  readonly target: string;
  /** Requests per second offered (fixed-rate runs). */
  readonly offeredRate?: number;
  readonly achievedRate: number;
  readonly bytesPerSec: number;
  readonly durationSec: number;
  readonly requests: number;
  readonly errors: number;
  /** Responses outside 2xx/3xx. */
  readonly non2xx3xx: number;
  readonly latency: LatencySummary;
  readonly timeline: readonly TimelinePoint[];
  /** Server resident memory at the end, when measured. */
  readonly serverRssBytes?: number;
  /** Soak: the server's memory and descriptors over the run. */
  readonly resources?: readonly ResourceSample[];
  readonly resourceLimits?: ResourceLimits;
  readonly verdicts?: readonly Verdict[];
}

/** One bar of a ratio chart: `pi-origin / raw uWS, 1 KB` = 0.98. */
export interface RatioBar {
  readonly label: string;
  readonly ratio: number;
  readonly detail?: string;
}

export interface Report {
  readonly schema: 1;
  readonly kind: 'gate' | 'bench' | 'soak';
  readonly title: string;
  /** ISO 8601. */
  readonly generated: string;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly node: string; readonly os: string };
  /** The exact command that produced it. */
  readonly command: string;
  /** Gate and soak: every verdict ok. */
  readonly passed?: boolean;
  readonly runs: readonly RunReport[];
  readonly ratios: readonly RatioBar[];
  readonly notes: readonly string[];
}
