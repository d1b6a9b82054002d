/**
 * The gate's scenarios: named, documented traffic profiles whose URLs come from a release
 * manifest, so each runs against any site. A scenario turns a {@link Site} into the request
 * sequence every connection cycles through (from its own offset); the mix of the sequence is
 * the mix of the traffic.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest, type ManifestFile } from '../../release/manifest.js';

export const SCENARIO_NAMES = ['launch-day', 'package-index', 'revalidate', 'cold-start'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** A release as the gate sees it: its id, where its files are, and its manifest entries. */
export interface Site {
  readonly id: string;
  readonly dir: string;
  readonly files: readonly ManifestFile[];
}

export interface GateRequest {
  /** URL path sent (`/docs/` for `/docs/index.html`, as a visitor asks for it). */
  readonly path: string;
  /** The manifest path of the file that answers it (what the raw uWS baseline is asked for). */
  readonly file: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The only status this request may get. */
  readonly expect: 200 | 304;
}

export interface Scenario {
  readonly name: ScenarioName;
  /** One line for --help and the summary. */
  readonly summary: string;
  /** Needs a server the gate starts itself (it switches releases). */
  readonly localOnly: boolean;
  /** The request sequence; throws ScenarioError when the site has nothing to offer. */
  build(site: Site): GateRequest[];
}

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

/** Reads a release directory (or the `current` symlink) into a Site. */
export function readSite(dir: string): Site {
  const manifest = readManifest(dir);
  if (manifest === undefined) throw new ScenarioError(`${dir} holds no manifest.json: the gate needs a release directory`);
  return { id: manifest.id, dir, files: manifest.files };
}

const BROWSER = { 'Accept-Encoding': 'gzip, deflate, br', 'User-Agent': 'pi-origin-gate (launch-day)' } as const;
const PIP = { 'Accept-Encoding': 'gzip, deflate', 'User-Agent': 'pip/24.0 (pi-origin-gate)' } as const;

/** `/docs/index.html` is asked for as `/docs/`. */
function urlOf(path: string): string {
  return path.endsWith('/index.html') ? path.slice(0, -'index.html'.length) : path;
}

const ASSET_TYPE = /^(text\/css|text\/javascript|application\/javascript|image\/|font\/)/;
const ERROR_PAGE = /^\/\d{3}\.html$/;
const LINK = /\b(?:src|href)\s*=\s*["']([^"'#?]+)[^"']*["']/gi;

/** Same-site paths a page links to, resolved against the page's URL. */
function linksOf(site: Site, file: ManifestFile): string[] {
  const html = readFileSync(join(site.dir, file.path.slice(1))).toString('latin1');
  const base = new URL(urlOf(file.path), 'http://site.invalid');
  const out: string[] = [];
  for (const m of html.matchAll(LINK)) {
    const url = new URL(m[1] as string, base);
    if (url.origin === base.origin) out.push(decodeURIComponent(url.pathname));
  }
  return out;
}

function byPath(site: Site): Map<string, ManifestFile> {
  return new Map(site.files.map((f) => [f.path, f]));
}

/** Deterministic xorshift32, so a scenario's sequence is the same on every run and machine. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** Draws ranks 0..n-1 from a Zipf distribution (exponent 1): rank 0 is the most popular. */
function zipf(n: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cdf[r] = total += 1 / (r + 1);
  return () => {
    const u = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * launch-day: page views. Every HTML page (not error pages, not the package index), each followed
 * by the stylesheets, scripts, images and fonts it links to: a first visit, with a browser's
 * Accept-Encoding, so compressible files come as br. Many keep-alive connections.
 */
function launchDay(site: Site): GateRequest[] {
  const files = byPath(site);
  const pages = site.files.filter((f) => f.type.startsWith('text/html') && !ERROR_PAGE.test(f.path) && !f.path.startsWith('/simple/'));
  if (pages.length === 0) throw new ScenarioError('no HTML pages in the release');
  const out: GateRequest[] = [];
  for (const page of pages) {
    out.push({ path: urlOf(page.path), file: page.path, headers: BROWSER, expect: 200 });
    const assets = new Set(linksOf(site, page).filter((p) => ASSET_TYPE.test(files.get(p)?.type ?? '')));
    for (const a of assets) out.push({ path: a, file: a, headers: BROWSER, expect: 200 });
  }
  return out;
}

/** Installs drawn per sequence: long enough for the Zipf tail to reach rarely asked-for files. */
const INSTALLS = 4096;

/**
 * package-index: what pip does, over a long tail. Each install fetches a project's PEP 503 page
 * (`/simple/<name>/`) and then one wheel it links to; projects are drawn from a Zipf
 * distribution, so a few are hot and most are rarely asked for. On a site larger than the node's
 * body cache, the tail misses. A site without `/simple/` pages gets its `.whl` files directly.
 */
function packageIndex(site: Site): GateRequest[] {
  const files = byPath(site);
  const projects = site.files
    .filter((f) => /^\/simple\/[^/]+\/index\.html$/.test(f.path))
    .map((page) => ({ page, wheels: linksOf(site, page).filter((p) => p.endsWith('.whl') && files.has(p)) }));
  const looseWheels = site.files.filter((f) => f.path.endsWith('.whl')).map((f) => f.path);
  if (projects.length === 0 && looseWheels.length === 0) throw new ScenarioError('no /simple/<project>/ pages or .whl files in the release');
  const random = prng(0x5eed_0503);
  const pickWheel = zipf(looseWheels.length, random);
  const pickProject = zipf(projects.length, random);
  const out: GateRequest[] = [];
  const wheel = (path: string): GateRequest => ({ path, file: path, headers: PIP, expect: 200 });
  for (let i = 0; i < INSTALLS; i++) {
    if (projects.length === 0) {
      out.push(wheel(looseWheels[pickWheel()] as string));
      continue;
    }
    const project = projects[pickProject()] as (typeof projects)[number];
    out.push({ path: urlOf(project.page.path), file: project.page.path, headers: PIP, expect: 200 });
    if (project.wheels.length > 0) out.push(wheel(project.wheels[Math.floor(random() * project.wheels.length)] as string));
  }
  return out;
}

/**
 * The server's strong ETag for a file's identity body: 32 hex digits of its sha256
 * (index/lookup.ts `etagOf`). The gate speaks HTTP only, so the formula is repeated
 * here; the probe before each run catches drift (a 200 where a 304 is expected).
 */
export function identityEtag(sha256: string): string {
  return `"${sha256.slice(0, 32)}"`;
}

/**
 * revalidate: a CDN revalidating what it holds. Every file of the release once per sequence,
 * with `If-None-Match` carrying the ETag it stored; without Accept-Encoding, so the stored ETag is
 * the identity one. Every answer must be 304.
 */
function revalidate(site: Site): GateRequest[] {
  if (site.files.length === 0) throw new ScenarioError('the release has no files');
  return site.files.map((f) => ({ path: urlOf(f.path), file: f.path, headers: { 'If-None-Match': identityEtag(f.sha256), 'User-Agent': 'pi-origin-gate (revalidate)' }, expect: 304 }));
}

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  'launch-day': { name: 'launch-day', summary: 'page views: HTML plus the assets it links to, br, many keep-alive connections', localOnly: false, build: launchDay },
  'package-index': { name: 'package-index', summary: 'pip installs: /simple/<project>/ then a wheel, projects on a Zipf long tail', localOnly: false, build: packageIndex },
  revalidate: { name: 'revalidate', summary: 'a CDN revalidating every file with If-None-Match: all 304', localOnly: false, build: revalidate },
  // cold-start: the launch-day mix, started the moment `current` is re-pointed at a release whose
  // text files all changed (so their bodies miss the cache); see gate.ts.
  'cold-start': { name: 'cold-start', summary: 'launch-day page views right after a release switch (changed files miss the cache)', localOnly: true, build: launchDay },
};

/** The same requests as the raw uWS baseline can answer them: manifest paths, identity bodies. */
export function baselineRequests(requests: readonly GateRequest[]): GateRequest[] {
  return requests.map((r) => {
    const headers: Record<string, string> = { ...r.headers };
    delete headers['Accept-Encoding'];
    return { ...r, path: r.file, headers };
  });
}
