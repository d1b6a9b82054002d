/** Single HTTP requests the gate makes besides the load: probes, the switch watch, metrics. */
import { DOCUMENT_MAX_BYTES, endpointOf, httpOnce } from '../../common/http-once.js';
import type { Verdict } from '../report/model.js';
import type { GateRequest } from './scenarios.js';

export interface Answer {
  readonly status: number;
  readonly release: string | undefined;
  readonly body: Buffer;
}

/**
 * One request on a fresh connection, within `timeoutMs` from connect to the body's last byte;
 * rejects on socket errors, at the deadline, and when the body passes `maxBodyBytes` (`'discard'`:
 * status and headers only). The gate never holds more of a node's answer than that.
 */
export async function fetchOnce(origin: string, path: string, opts: { headers?: Readonly<Record<string, string>>; method?: string; timeoutMs: number; maxBodyBytes: number | 'discard' }): Promise<Answer> {
  const a = await httpOnce(endpointOf(new URL(origin), true), path, opts);
  const release = a.headers['x-origin-release'];
  return { status: a.status, release: Array.isArray(release) ? release[0] : release, body: a.body };
}

/** A probe answer within this long, body included (a probe reads no body). */
const PROBE_TIMEOUT_MS = 5000;
/** Metrics and switch polls are small and local; a node slower than this is not answering. */
const POLL_TIMEOUT_MS = 2000;

/** A site with thousands of files is probed on a sample: the run itself covers the rest. */
const PROBE_MAX = 100;

/**
 * Asks for each distinct request of a scenario once, before the load: every answer must have the
 * status the scenario expects and name the expected release in X-Origin-Release.
 */
export async function probe(origin: string, requests: readonly GateRequest[], releaseId: string): Promise<Verdict> {
  const distinct = new Map<string, GateRequest>();
  for (const r of requests) distinct.set(`${r.path}\n${JSON.stringify(r.headers)}`, r);
  const sample = [...distinct.values()].slice(0, PROBE_MAX);
  const problems: string[] = [];
  for (const r of sample) {
    try {
      // Status and X-Origin-Release are the verdict; the bodies are the load run's to fetch.
      const a = await fetchOnce(origin, r.path, { headers: r.headers, timeoutMs: PROBE_TIMEOUT_MS, maxBodyBytes: 'discard' });
      if (a.status !== r.expect) problems.push(`${r.path}: ${a.status}, expected ${r.expect}`);
      else if (a.release !== releaseId) problems.push(`${r.path}: X-Origin-Release ${a.release ?? '(none)'}, expected ${releaseId}`);
    } catch (e) {
      problems.push(`${r.path}: ${(e as Error).message}`);
    }
  }
  const of = sample.length < distinct.size ? `${sample.length} of ${distinct.size}` : `${sample.length}`;
  if (problems.length === 0) return { check: 'probe', ok: true, detail: `${of} URLs answered as expected by release ${releaseId}` };
  return { check: 'probe', ok: false, detail: `${problems.length} of ${of} URLs wrong: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''}` };
}

export interface CacheCounters {
  readonly hits: number;
  readonly misses: number;
}

/** The node's body-cache counters from /_origin/metrics, or undefined where it is not allowed. */
export async function cacheCounters(origin: string): Promise<CacheCounters | undefined> {
  try {
    const a = await fetchOnce(origin, '/_origin/metrics', { timeoutMs: POLL_TIMEOUT_MS, maxBodyBytes: DOCUMENT_MAX_BYTES });
    if (a.status !== 200) return undefined;
    const text = a.body.toString('utf8');
    const value = (name: string): number | undefined => {
      const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
      return m?.[1] === undefined ? undefined : Number(m[1]);
    };
    const hits = value('pi_origin_cache_hits_total');
    const misses = value('pi_origin_cache_misses_total');
    return hits === undefined || misses === undefined ? undefined : { hits, misses };
  } catch {
    return undefined;
  }
}

/**
 * Polls `path` until X-Origin-Release names `releaseId`; resolves with the ms it took, or
 * undefined when `signal` aborts first.
 */
export async function watchRelease(origin: string, path: string, releaseId: string, signal: AbortSignal, everyMs = 20): Promise<number | undefined> {
  const started = performance.now();
  while (!signal.aborted) {
    try {
      const a = await fetchOnce(origin, path, { method: 'HEAD', timeoutMs: POLL_TIMEOUT_MS, maxBodyBytes: 'discard' });
      if (a.release === releaseId) return performance.now() - started;
    } catch {
      /* a refused poll is not the gate's verdict: the load's errors are */
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return undefined;
}
