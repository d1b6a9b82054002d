/**
 * The content check a rollout runs against a node that has just activated a release (the canary
 * gate until the load-test gate exists): the node is healthy and names the release, and every
 * file of the release's manifest comes back over HTTP with status 200, the release's
 * X-Origin-Release, the manifest's size and the manifest's SHA-256; every redirect answers with
 * its status and Location. Nodes are reached over HTTP only; nothing from server/ is imported.
 */
import { createHash } from 'node:crypto';
import type { Manifest } from '../release/manifest.js';
import { DOCUMENT_MAX_BYTES, endpointOf, httpOnce, type OnceAnswer } from '../common/http-once.js';

export const HEALTH_PATH = '/_origin/health';
/** Requests in flight at once: enough to finish a few thousand files in seconds on a Pi, not a load test. */
export const DEFAULT_CONCURRENCY = 8;

export interface CheckOptions {
  /** `http://[fd00:cafe::11]:8080` (a trailing `/` is fine). */
  readonly target: string;
  readonly manifest: Manifest;
  /** Per request, covering connect, headers and body. */
  readonly timeoutMs: number;
  readonly concurrency?: number;
  /** Called after each file or redirect, for progress. */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface CheckReport {
  readonly target: string;
  readonly release: string;
  /** Files plus redirects requested. */
  readonly checked: number;
  readonly bytes: number;
  readonly ms: number;
  /** One line per problem, path first: `/a.css: HTTP 404`. Empty when the node passes. */
  readonly problems: readonly string[];
}

/** Never rejects: unreachable nodes and timeouts are problems in the report. */
export async function checkNode(opts: CheckOptions): Promise<CheckReport> {
  const started = Date.now();
  const base = new URL(opts.target);
  const { manifest } = opts;
  const problems: string[] = [];
  const health = await get(base, HEALTH_PATH, opts.timeoutMs).catch((e: Error) => e);
  if (health instanceof Error) problems.push(`${HEALTH_PATH}: ${health.message}`);
  else if (health.status !== 200) problems.push(`${HEALTH_PATH}: HTTP ${health.status}${health.status === 404 || health.status === 403 ? ' (is this machine in the node\'s --admin-allow?)' : ''}`);
  else if (health.body.toString('utf8').trim() !== `ok ${manifest.id}`) problems.push(`${HEALTH_PATH}: says ${JSON.stringify(health.body.toString('utf8').trim())}, expected "ok ${manifest.id}"`);
  if (health instanceof Error) return { target: base.origin, release: manifest.id, checked: 0, bytes: 0, ms: Date.now() - started, problems };

  const jobs: (() => Promise<void>)[] = [];
  let bytes = 0;
  for (const f of manifest.files) {
    jobs.push(async () => {
      const a = await get(base, f.path, opts.timeoutMs, Math.max(f.size, DOCUMENT_MAX_BYTES)).catch((e: Error) => e);
      if (a instanceof Error) return void problems.push(`${f.path}: ${a.message}`);
      bytes += a.body.length;
      if (a.status !== 200) return void problems.push(`${f.path}: HTTP ${a.status}`);
      const release = a.headers['x-origin-release'];
      if (release !== manifest.id) problems.push(`${f.path}: X-Origin-Release ${String(release)}, expected ${manifest.id}`);
      else if (a.body.length !== f.size) problems.push(`${f.path}: ${a.body.length} bytes, manifest says ${f.size}`);
      else if (createHash('sha256').update(a.body).digest('hex') !== f.sha256) problems.push(`${f.path}: body differs from the manifest's sha256`);
    });
  }
  for (const r of manifest.redirects) {
    if (manifest.files.some((f) => f.path === r.from)) continue; // a file at the same path wins
    jobs.push(async () => {
      const a = await get(base, r.from, opts.timeoutMs).catch((e: Error) => e);
      if (a instanceof Error) return void problems.push(`${r.from}: ${a.message}`);
      if (a.status !== r.status) problems.push(`${r.from}: HTTP ${a.status}, expected redirect ${r.status}`);
      else if (a.headers.location !== r.to) problems.push(`${r.from}: Location ${String(a.headers.location)}, expected ${r.to}`);
    });
  }
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      await (jobs[next++] as () => Promise<void>)();
      opts.onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, jobs.length) }, worker));
  return { target: base.origin, release: manifest.id, checked: jobs.length, bytes, ms: Date.now() - started, problems: problems.sort() };
}

export interface WaitOptions {
  readonly target: string;
  readonly release: string;
  /** Per request. */
  readonly timeoutMs: number;
  /** Keep asking until the node reports the release or this much time has passed (0: ask once). */
  readonly waitMs: number;
}

/** Retry interval while waiting: a node re-indexes within ~100 ms of a switch. */
const WAIT_INTERVAL_MS = 100;

/**
 * Asks `/_origin/health` until it says `ok <release>` or `waitMs` has passed: how a rollout
 * confirms that a node switched. The report has one problem (the last answer) when it did not.
 */
export async function waitForRelease(opts: WaitOptions): Promise<CheckReport> {
  const started = Date.now();
  const base = new URL(opts.target);
  let last = '';
  let checked = 0;
  for (;;) {
    checked++;
    const health = await get(base, HEALTH_PATH, opts.timeoutMs).catch((e: Error) => e);
    if (health instanceof Error) last = health.message;
    else {
      const body = health.body.toString('utf8').trim();
      if (health.status === 200 && body === `ok ${opts.release}`) return { target: base.origin, release: opts.release, checked, bytes: 0, ms: Date.now() - started, problems: [] };
      last = `HTTP ${health.status} ${JSON.stringify(body)}`;
    }
    if (Date.now() - started + WAIT_INTERVAL_MS > opts.waitMs) break;
    await new Promise((r) => setTimeout(r, WAIT_INTERVAL_MS));
  }
  return { target: base.origin, release: opts.release, checked, bytes: 0, ms: Date.now() - started, problems: [`${HEALTH_PATH}: ${last}, expected "ok ${opts.release}"${opts.waitMs > 0 ? ` (waited ${opts.waitMs} ms)` : ''}`] };
}

/**
 * One GET without content coding (the bytes are the file's), with a deadline over the whole
 * exchange; a body longer than `maxBodyBytes` fails it (for a file, its manifest size or an
 * error page's worth, whichever is larger).
 */
function get(base: URL, path: string, timeoutMs: number, maxBodyBytes = DOCUMENT_MAX_BYTES): Promise<OnceAnswer> {
  // Each segment encoded on its own: a file named `a?b` or `c#d` is a path, not a query.
  const target = path.split('/').map(encodeURIComponent).join('/');
  return httpOnce(endpointOf(base), target, { headers: { 'User-Agent': 'pi-origin-check', 'Accept-Encoding': 'identity' }, timeoutMs, maxBodyBytes });
}

/** `http://[fd00:cafe::11]:8080: reports release 8b02d4e6f1a7 (2 requests, 140 ms)` or why not. */
export function renderWait(r: CheckReport): string {
  if (r.problems.length === 0) return `${r.target}: reports release ${r.release} (${r.checked} request${r.checked === 1 ? '' : 's'}, ${r.ms} ms)`;
  return `${r.target}: does NOT report release ${r.release}: ${r.problems.join('; ')}`;
}

/** `http://[fd00:cafe::11]:8080: release 8b02d4e6f1a7 passed the content check (120 requests, 1.2 MB, 340 ms)` or the problems. */
export function renderCheck(r: CheckReport): string {
  const size = `${r.checked} requests, ${(r.bytes / 1e6).toFixed(1)} MB, ${r.ms} ms`;
  if (r.problems.length === 0) return `${r.target}: release ${r.release} passed the content check (${size})`;
  const shown = r.problems.slice(0, 20);
  const more = r.problems.length - shown.length;
  return [`${r.target}: release ${r.release} FAILED the content check: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} (${size})`, ...shown.map((p) => `  ${p}`), ...(more > 0 ? [`  ... and ${more} more`] : [])].join('\n');
}
