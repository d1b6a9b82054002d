/**
 * A keep-alive load client that checks every response against the release it names
 * (X-Origin-Release): status, Content-Length against the bytes received, ETag and body against
 * the release's manifest and files, Content-Range and the slice for a 206. autocannon counts
 * responses but never looks at bodies; this is the client for "no wrong body, ever".
 */
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { Manifest } from '../../dist/release/manifest.js';
import { etagFor, sha256 } from './hash.js';


/** Bytes and ETag of one representation of one file of one release. */
interface Known {
  readonly bytes: Buffer;
  readonly etag: string;
}

/** What each release serves, per path and encoding ('identity', 'br', 'gzip'), read from its directory. */
export class ReleaseContent {
  private readonly byRelease = new Map<string, Map<string, Known>>();

  add(dir: string, manifest: Manifest): void {
    const files = new Map<string, Known>();
    for (const f of manifest.files) {
      const reps: [string, string, string][] = [['identity', f.path, f.sha256]];
      for (const [enc, v] of Object.entries(f.variants)) if (v !== undefined) reps.push([enc, `${f.path}.${enc === 'br' ? 'br' : 'gz'}`, v.sha256]);
      // `/dir/` is served as `/dir/index.html`.
      const keys = f.path.endsWith('/index.html') ? [f.path, f.path.slice(0, -'index.html'.length)] : [f.path];
      for (const [enc, file, hash] of reps) {
        const bytes = readFileSync(join(dir, file));
        if (sha256(bytes) !== hash) throw new Error(`${dir}${file} does not match its manifest`);
        for (const key of keys) files.set(`${enc} ${key}`, { bytes, etag: `"${hash.slice(0, 32)}"` });
      }
    }
    this.byRelease.set(manifest.id, files);
  }

  has(release: string): boolean {
    return this.byRelease.has(release);
  }

  get(release: string, path: string, encoding: string): Known | undefined {
    return this.byRelease.get(release)?.get(`${encoding} ${path}`);
  }

  /** Does the release publish `path` at all (in any encoding)? */
  publishes(release: string, path: string): boolean {
    return this.get(release, path, 'identity') !== undefined;
  }
}

/** Reads a release directory's manifest and files into `content`. */
export function addRelease(content: ReleaseContent, dir: string): void {
  if (!existsSync(join(dir, 'manifest.json'))) throw new Error(`${dir} has no manifest.json`);
  content.add(dir, JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest);
}

export interface LoadOptions {
  /** The server or proxy (default ::1). */
  readonly host?: string;
  readonly port: number;
  readonly paths: readonly string[];
  readonly content: ReleaseContent;
  /** Concurrent request loops, each on its own keep-alive connection. */
  readonly loops: number;
  /** 404 is accepted for every path (a release directory that vanished), not only unpublished ones. */
  readonly allowNotFound?: boolean;
}

export interface LoadSummary {
  readonly requests: number;
  readonly statuses: ReadonlyMap<number, number>;
  readonly releases: ReadonlyMap<string, number>;
  readonly ranges: number;
  readonly encoded: number;
  /** Every response that disagreed with its headers or its release; empty when all was well. */
  readonly problems: readonly string[];
  /** The same problems, each with when its request was sent (ms). */
  readonly failures: readonly (readonly [number, string])[];
  /** Per response: when it was requested and the release it named. */
  readonly timeline: readonly (readonly [number, string])[];
}

interface Raw {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly complete: boolean;
}

function fetchOnce(agent: Agent, host: string, port: number, path: string, headers: Record<string, string>): Promise<Raw | Error> {
  return new Promise((resolve) => {
    const req = httpRequest({ host, port, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => resolve(e));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', (e) => resolve(e));
    req.end();
  });
}

/**
 * A deterministic request mix: plain, br, gzip, and every fourth request a range starting in the
 * first 500 bytes (every representation served under load must be larger than that).
 */
function requestHeaders(n: number): Record<string, string> {
  const h: Record<string, string> = {};
  if (n % 3 === 1) h['Accept-Encoding'] = 'br';
  else if (n % 3 === 2) h['Accept-Encoding'] = 'gzip';
  if (n % 4 === 3) {
    const start = (n * 7919) % 500;
    h['Range'] = `bytes=${start}-${start + 1 + ((n * 104729) % 300_000)}`;
  }
  return h;
}

/** Checks one response; returns a problem or undefined. */
function check(o: LoadOptions, path: string, sent: Record<string, string>, r: Raw): string | undefined {
  const release = String(r.headers['x-origin-release'] ?? '');
  const length = Number(r.headers['content-length']);
  const what = `${path} ${JSON.stringify(sent)} -> ${r.status} (release ${release})`;
  if (release === '') return `${what}: no X-Origin-Release`;
  if (!r.complete) return `${what}: cut after ${r.body.length} of ${length} bytes`;
  if (r.body.length !== length) return `${what}: ${r.body.length} body bytes, Content-Length ${length}`;
  if (r.status === 404) return o.allowNotFound === true || !o.content.publishes(release, path) ? undefined : `${what}: 404 for a published file`;
  if (r.status !== 200 && r.status !== 206) return `${what}: unexpected status`;
  const encoding = String(r.headers['content-encoding'] ?? 'identity');
  const etag = String(r.headers['etag']);
  const known = o.content.get(release, path, encoding);
  if (known === undefined) {
    // A release this client was not told about: at least the body must hash to its ETag.
    return r.status === 200 && etagFor(r.body) === etag ? undefined : `${what}: unknown release and representation ${encoding}`;
  }
  const [, wantStart, wantEnd] = /^bytes=(\d+)-(\d+)$/.exec(sent['Range'] ?? '') ?? [];
  if (etag !== known.etag) return `${what}: ETag ${etag}, the release says ${known.etag}`;
  if (r.status === 200) return r.body.equals(known.bytes) ? undefined : `${what}: body does not match the release's ${encoding} bytes`;
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(r.headers['content-range']));
  if (m === null) return `${what}: Content-Range ${String(r.headers['content-range'])}`;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (total !== known.bytes.length || start !== Number(wantStart) || end !== Math.min(Number(wantEnd), total - 1)) return `${what}: Content-Range ${start}-${end}/${total} for ${sent['Range']} of ${known.bytes.length}`;
  return r.body.equals(known.bytes.subarray(start, end + 1)) ? undefined : `${what}: the slice does not match the release's bytes`;
}

/**
 * Starts `loops` request loops; `stop()` ends them after their current request and summarises.
 * `answeredSince(at)` counts the answers to requests sent after `at` (ms), so a test can wait for
 * load in a phase instead of sleeping through it; `count()` is the requests answered or failed so
 * far (to wait for load instead of for time).
 */
export function checkedLoad(o: LoadOptions): { answeredSince(at: number): number; count(): number; stop(): Promise<LoadSummary> } {
  const agent = new Agent({ keepAlive: true, maxSockets: o.loops });
  const statuses = new Map<number, number>();
  const releases = new Map<string, number>();
  const problems: string[] = [];
  const failures: [number, string][] = [];
  const fail = (started: number, problem: string): void => {
    problems.push(problem);
    failures.push([started, problem]);
  };
  const timeline: [number, string][] = [];
  let requests = 0;
  let ranges = 0;
  let encoded = 0;
  let running = true;
  const loop = async (i: number): Promise<void> => {
    for (let n = i; running; n += o.loops) {
      const path = o.paths[n % o.paths.length] as string;
      const headers = requestHeaders(Math.floor(n / o.paths.length) + i);
      const started = Date.now();
      const r = await fetchOnce(agent, o.host ?? '::1', o.port, path, headers);
      requests++;
      if (r instanceof Error) {
        fail(started, `${path} ${JSON.stringify(headers)}: ${r.message}`);
        continue;
      }
      const release = String(r.headers['x-origin-release'] ?? '');
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      releases.set(release, (releases.get(release) ?? 0) + 1);
      timeline.push([started, release]);
      if (r.status === 206) ranges++;
      if (r.headers['content-encoding'] !== undefined) encoded++;
      const problem = check(o, path, headers, r);
      if (problem !== undefined) fail(started, problem);
    }
  };
  const loops = Array.from({ length: o.loops }, (_, i) => loop(i));
  return {
    answeredSince: (at) => timeline.reduce((n, [started]) => (started > at ? n + 1 : n), 0),
    count: () => requests,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { requests, statuses, releases, ranges, encoded, problems, failures, timeline };
    },
  };
}
