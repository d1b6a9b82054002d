/**
 * `load-tests/gate.json`: the service-level objectives of the release gate, per scenario, and the
 * ratio threshold against the raw uWS baseline. One validator, run once at start; every error
 * names the key (`scenarios.launch-day.p99Ms must be a positive number (got "x")`).
 */
import { readFileSync } from 'node:fs';
import { SCENARIO_NAMES, type ScenarioName } from './scenarios.js';

export interface ScenarioSlo {
  /** Requests per second offered (autocannon `overallRate`), well inside what autocannon can drive. */
  readonly rate: number;
  readonly durationSec: number;
  /** Keep-alive connections; the offered rate is spread over them. */
  readonly connections: number;
  /** Upper bound of the coordinated-omission-corrected p99 latency. */
  readonly p99Ms: number;
  /** How far the achieved rate may fall from the offered rate, in percent. */
  readonly rateTolerancePct: number;
}

export interface RatioCheck {
  /** pi-origin's CPU per response must be within 1/min of raw uWS's: raw / pi-origin >= min. */
  readonly min: number;
  /** Scenarios measured on both servers (cold-start cannot be: raw uWS has no releases). */
  readonly scenarios: readonly ScenarioName[];
  /** Interleaved rounds (pi-origin, raw, raw, pi-origin, ...); the median ratio counts. */
  readonly rounds: number;
  readonly durationSec: number;
  /** Offered rate of the ratio runs: high enough that per-response cost outweighs idle timers. */
  readonly rate: number;
  readonly connections: number;
}

export interface GateConfig {
  readonly scenarios: Readonly<Record<ScenarioName, ScenarioSlo>>;
  readonly ratio: RatioCheck;
}

/** The file: a full config plus `quick`, a partial override for CI. */
export interface GateFile extends GateConfig {
  readonly quick: {
    readonly scenarios?: Partial<Record<ScenarioName, Partial<ScenarioSlo>>>;
    readonly ratio?: Partial<RatioCheck>;
  };
}

export class GateConfigError extends Error {
  override readonly name = 'GateConfigError';
  readonly code = 'PI_ORIGIN_GATE_CONFIG';
}

/** Longest run the file may ask for: a gate is a check, not a soak test. */
const MAX_DURATION_SEC = 600;
/** autocannon keeps every connection's socket and parser in one process. */
const MAX_CONNECTIONS = 2000;

type Check = (value: unknown) => boolean;
const positiveInt: Check = (v) => Number.isSafeInteger(v) && (v as number) > 0;
const positive: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v > 0;

const SLO_KEYS: Readonly<Record<keyof ScenarioSlo, [Check, string]>> = {
  rate: [positiveInt, 'a positive integer'],
  durationSec: [(v) => positiveInt(v) && (v as number) <= MAX_DURATION_SEC, `an integer from 1 to ${MAX_DURATION_SEC}`],
  connections: [(v) => positiveInt(v) && (v as number) <= MAX_CONNECTIONS, `an integer from 1 to ${MAX_CONNECTIONS}`],
  p99Ms: [positive, 'a positive number'],
  rateTolerancePct: [(v) => positive(v) && (v as number) < 50, 'a number above 0 and below 50'],
};

const RATIO_KEYS: Readonly<Record<keyof RatioCheck, [Check, string]>> = {
  min: [(v) => positive(v) && (v as number) <= 2, 'a number above 0 and at most 2'],
  scenarios: [(v) => Array.isArray(v) && v.length > 0 && v.every((s) => s !== 'cold-start' && (SCENARIO_NAMES as readonly unknown[]).includes(s)), `a non-empty list of ${SCENARIO_NAMES.filter((s) => s !== 'cold-start').join(', ')}`],
  rounds: [(v) => positiveInt(v) && (v as number) <= 20, 'an integer from 1 to 20'],
  durationSec: [(v) => positiveInt(v) && (v as number) <= MAX_DURATION_SEC, `an integer from 1 to ${MAX_DURATION_SEC}`],
  rate: [positiveInt, 'a positive integer'],
  connections: [(v) => positiveInt(v) && (v as number) <= MAX_CONNECTIONS, `an integer from 1 to ${MAX_CONNECTIONS}`],
};

function fail(key: string, what: string, got: unknown): never {
  throw new GateConfigError(`${key} must be ${what} (got ${JSON.stringify(got) ?? 'nothing'})`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks `obj` against `keys`; with `partial`, missing keys are allowed. Unknown keys are refused. */
function checkKeys<K extends string>(obj: unknown, at: string, keys: Readonly<Record<K, [Check, string]>>, partial: boolean): void {
  if (!isObject(obj)) fail(at, 'an object', obj);
  for (const k of Object.keys(obj)) if (!(k in keys)) throw new GateConfigError(`${at}.${k} is not a known key (known: ${Object.keys(keys).join(', ')})`);
  for (const [k, [ok, what]] of Object.entries<[Check, string]>(keys)) {
    if (partial && !(k in obj)) continue;
    if (!ok(obj[k])) fail(`${at}.${k}`, what, obj[k]);
  }
}

/** Cross-field: autocannon cannot offer fewer requests per second than it has connections. */
function checkSlo(slo: ScenarioSlo, at: string): void {
  if (slo.connections > slo.rate) throw new GateConfigError(`${at}.connections (${slo.connections}) must not exceed ${at}.rate (${slo.rate}): each connection sends at least one request per second`);
}

function checkScenarios(obj: unknown, at: string, partial: boolean): void {
  if (!isObject(obj)) fail(at, 'an object', obj);
  for (const k of Object.keys(obj)) if (!(SCENARIO_NAMES as readonly string[]).includes(k)) throw new GateConfigError(`${at}.${k} is not a scenario (known: ${SCENARIO_NAMES.join(', ')})`);
  for (const name of SCENARIO_NAMES) {
    if (!(name in obj)) {
      if (partial) continue;
      throw new GateConfigError(`${at}.${name} is missing`);
    }
    checkKeys(obj[name], `${at}.${name}`, SLO_KEYS, partial);
  }
}

/** Validates the parsed file; throws GateConfigError naming the first bad key. */
export function validateGateFile(data: unknown): GateFile {
  if (!isObject(data)) fail('gate.json', 'a JSON object', data);
  for (const k of Object.keys(data)) if (!['$comment', 'scenarios', 'ratio', 'quick'].includes(k)) throw new GateConfigError(`${k} is not a known key (known: scenarios, ratio, quick)`);
  checkScenarios(data['scenarios'], 'scenarios', false);
  checkKeys(data['ratio'], 'ratio', RATIO_KEYS, false);
  const quick = data['quick'] ?? {};
  if (!isObject(quick)) fail('quick', 'an object', quick);
  for (const k of Object.keys(quick)) if (k !== 'scenarios' && k !== 'ratio') throw new GateConfigError(`quick.${k} is not a known key (known: scenarios, ratio)`);
  if (quick['scenarios'] !== undefined) checkScenarios(quick['scenarios'], 'quick.scenarios', true);
  if (quick['ratio'] !== undefined) checkKeys(quick['ratio'], 'quick.ratio', RATIO_KEYS, true);
  const file = { ...(data as unknown as GateFile), quick: quick as GateFile['quick'] };
  // Cross-field checks on both profiles as they will run.
  for (const [profile, config] of [['scenarios', resolveProfile(file, false)], ['quick.scenarios', resolveProfile(file, true)]] as const)
    for (const name of SCENARIO_NAMES) checkSlo(config.scenarios[name], `${profile}.${name}`);
  if (file.ratio.connections > file.ratio.rate) throw new GateConfigError(`ratio.connections (${file.ratio.connections}) must not exceed ratio.rate (${file.ratio.rate})`);
  return file;
}

/** Reads and validates a gate file. */
export function readGateFile(path: string): GateFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GateConfigError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new GateConfigError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return validateGateFile(data);
  } catch (e) {
    if (e instanceof GateConfigError) throw new GateConfigError(`${path}: ${e.message}`);
    throw e;
  }
}

/** The full profile, or the full profile with `quick` laid over it. Frozen. */
export function resolveProfile(file: GateFile, quick: boolean): GateConfig {
  const scenarios = {} as Record<ScenarioName, ScenarioSlo>;
  for (const name of SCENARIO_NAMES) scenarios[name] = Object.freeze({ ...file.scenarios[name], ...(quick ? file.quick.scenarios?.[name] : undefined) });
  const ratio = Object.freeze({ ...file.ratio, ...(quick ? file.quick.ratio : undefined) });
  return Object.freeze({ scenarios: Object.freeze(scenarios), ratio });
}
