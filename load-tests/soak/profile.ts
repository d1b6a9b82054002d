/** What a soak is asked to do: the light part, which the CLI checks before it loads the load generator. */
import type { ScenarioName } from '../gate/scenarios.js';
import type { ResourceSample } from '../report/model.js';

/** `mixed` interleaves the three scenarios a node can serve without a release switch. */
export const SOAK_SCENARIOS = ['mixed', 'launch-day', 'package-index', 'revalidate'] as const satisfies readonly (ScenarioName | 'mixed')[];
export type SoakScenario = (typeof SOAK_SCENARIOS)[number];

/** How much the server may grow once warm. */
export interface Allowance {
  readonly warmUpSec: number;
  readonly maxRssGrowthBytes: number;
  readonly maxFdGrowth: number;
}

export interface SoakOptions extends Allowance {
  /** Release directory: the URLs. */
  readonly release: string;
  /** Origin of a running node (`http://[::1]:8080`); undefined = start pi-origin here. */
  readonly target: string | undefined;
  /** The target's process, to sample; undefined = no resource checks (remote target). */
  readonly pid: number | undefined;
  /** Worker threads of the pi-origin started here. */
  readonly workers: number;
  readonly scenario: SoakScenario;
  readonly rate: number;
  readonly connections: number;
  readonly durationSec: number;
  readonly command: string;
  /** Receives the progress once a second. */
  readonly progress?: (p: Progress) => void;
}

export interface Progress {
  readonly t: number;
  readonly durationSec: number;
  readonly responses: number;
  /** The latest sample and its change from the baseline (the window after warm-up), when sampled. */
  readonly sample?: ResourceSample;
  readonly rssDelta?: number;
  readonly fdDelta?: number;
}

/** `45s`, `10m`, `1h30m`. */
export function formatSeconds(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.round(sec % 60);
  return [h > 0 ? `${h}h` : '', m > 0 ? `${m}m` : '', s > 0 || sec === 0 ? `${s}s` : ''].join('');
}
