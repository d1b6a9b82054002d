/**
 * `release build --package-index DIR`: a "simple" package index generated from the wheels under
 * `SITE_DIR/DIR`, as piwheels serves one. Files added to the release (none is written to the site):
 *
 *   /simple/index.html, /simple/index.json              every project (PEP 503, PEP 691)
 *   /simple/<project>/index.html, …/index.json          its wheels: URL with #sha256=, hashes,
 *                                                       requires-python, core metadata hash
 *   <wheel>.metadata                                    the wheel's METADATA (PEP 658), beside it
 *
 * `/simple/` and `/simple/<project>/` answer HTML or JSON by the request's Accept header: each
 * page's JSON is its alternate in the manifest's `alternates` (index/negotiate.ts), and PEP 691's
 * other names for the two types are its aliases.
 *
 * Deterministic: projects and files in code-unit order, no build time inside, every file's mtime
 * taken from its wheels (a page's: the newest of its wheels'). Only what the pages need is held per
 * wheel; a file's bytes are made again when it is placed (a `.metadata` read again from its
 * wheel), and must hash as they did when the release id was computed.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { escapeHtml } from '../common/html.js';
import { contentTypeFor } from '../content/mime.js';
import { byPath } from '../content/release-id.js';
import { errnoText, ReleaseError } from '../content/release-error.js';
import type { Alternates, IndexedFile } from '../content/site-index.js';
import { normalizeName, parseWheelName, readWheelMetadata, WheelProblem, type WheelName } from './wheel.js';

export { normalizeName };

/** Where the index is served: pip's `--index-url http://[::1]:8080/simple/`. */
export const INDEX_ROOT = '/simple/';
/** PEP 691's JSON serialisation of API version 1. */
export const SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json';
/** A `.metadata` file: the wheel's METADATA, UTF-8 text in the core metadata format. */
export const METADATA_TYPE = 'text/plain; charset=utf-8';
const HTML = contentTypeFor('index.html');
/** The API version the pages declare (PEP 691 `meta.api-version`, PEP 629 `<meta>`). */
const API_VERSION = '1.0';

/**
 * PEP 691's names for the two representations: `text/html` is an alias of its HTML type, and a
 * client asking for `latest` gets (and is told, by Content-Type) version 1.
 */
export const SIMPLE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'application/vnd.pypi.simple.v1+html': 'text/html',
  'application/vnd.pypi.simple.latest+html': 'text/html',
  'application/vnd.pypi.simple.latest+json': SIMPLE_JSON,
});

/** A file of the release that is made, not copied: `generate` gives the same bytes every call. */
export interface GeneratedFile extends IndexedFile {
  readonly generate: () => Buffer;
}

export interface PackageIndex {
  /** Sorted by path. */
  readonly files: readonly GeneratedFile[];
  readonly alternates: Alternates;
  readonly projects: number;
  readonly wheels: number;
}

/** Why DIR cannot name the wheel directory, or undefined: a relative path inside the site (`.` for all of it). */
export function packageIndexDirProblem(dir: string): string | undefined {
  if (dir === '' || dir.startsWith('/') || dir.includes('\\') || dir.split('/').some((s) => s === '..')) return `must be a directory relative to the site, inside it (got ${JSON.stringify(dir)})`;
  return undefined;
}

interface Wheel {
  readonly file: IndexedFile;
  readonly name: WheelName;
  /** Percent-encoded URL path of the wheel. */
  readonly url: string;
  readonly requiresPython: string | undefined;
  readonly metadataSha256: string;
}

/**
 * Reads every wheel under `dir` among the site's `files` and plans the index's files. Throws
 * ReleaseError naming the file for a wheel that is not one (not a zip, no METADATA, a METADATA
 * naming another project), and for a generated path the site already has.
 */
export function planPackageIndex(site: string, files: readonly IndexedFile[], dir: string): PackageIndex {
  const problem = packageIndexDirProblem(dir);
  if (problem !== undefined) throw new ReleaseError(`packageIndex ${problem}`, 'PI_ORIGIN_RELEASE_USAGE');
  const rel = dir.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  const prefix = rel === '' || rel === '.' ? '/' : `/${rel}/`;
  if (!isDirectory(join(site, rel))) throw new ReleaseError(`package index directory ${dir} is not a directory of the site ${site}`, 'PI_ORIGIN_RELEASE_SITE');
  const out: GeneratedFile[] = [];
  const wheels = files.filter((f) => f.path.startsWith(prefix) && f.path.endsWith('.whl')).map((f) => readWheel(site, f, out));
  const projects = byProject(wheels);
  const pages: Record<string, string> = {};
  const page = (path: string, names: { html: () => string; json: () => string }, mtimeMs: number): void => {
    out.push(generated(`${path}index.html`, HTML, mtimeMs, () => Buffer.from(names.html())), generated(`${path}index.json`, SIMPLE_JSON, mtimeMs, () => Buffer.from(names.json())));
    pages[`${path}index.html`] = `${path}index.json`;
  };
  const newest = (list: readonly Wheel[]): number => list.reduce((m, w) => Math.max(m, w.file.mtimeMs), 0);
  page(INDEX_ROOT, { html: () => rootHtml([...projects.keys()]), json: () => rootJson([...projects.keys()]) }, newest(wheels));
  for (const [project, own] of projects) page(`${INDEX_ROOT}${project}/`, { html: () => projectHtml(project, own), json: () => projectJson(project, own) }, newest(own));
  refuseTaken(out, files);
  out.sort(byPath);
  return { files: out, alternates: { aliases: SIMPLE_ALIASES, pages }, projects: projects.size, wheels: wheels.length };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** One wheel's name and metadata, its `.metadata` file added to `out` (read again from the wheel when placed). */
function readWheel(site: string, file: IndexedFile, out: GeneratedFile[]): Wheel {
  const { name, metadata } = wheelMetadata(site, file);
  const generate = (): Buffer => wheelMetadata(site, file).metadata.bytes;
  const placed = generated(`${file.path}.metadata`, METADATA_TYPE, file.mtimeMs, generate, metadata.bytes);
  out.push(placed);
  const url = file.path.split('/').map(encodeURIComponent).join('/');
  return { file, name, url, requiresPython: metadata.requiresPython, metadataSha256: placed.sha256 };
}

/** A wheel's name and metadata; a broken wheel is an error naming it, never a stack trace. */function wheelMetadata(site: string, file: IndexedFile): { name: WheelName; metadata: ReturnType<typeof readWheelMetadata> } {
  try {
    const name = parseWheelName(basename(file.path));
    return { name, metadata: readWheelMetadata(join(site, file.file), name) };
  } catch (e) {
    if (e instanceof WheelProblem) throw new ReleaseError(`${file.path} is not a usable wheel: ${e.message}`, 'PI_ORIGIN_RELEASE_SITE');
    throw new ReleaseError(`cannot read ${file.path} from the site: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_SITE');
  }
}

/** Projects in code-unit order, each with its wheels by file name; a file name twice is refused (pip would take them for one). */
function byProject(wheels: readonly Wheel[]): Map<string, Wheel[]> {
  const seen = new Map<string, string>();
  const projects = new Map<string, Wheel[]>();
  for (const w of [...wheels].sort((a, b) => codeUnitOrder(basename(a.file.path), basename(b.file.path)))) {
    const filename = basename(w.file.path);
    const other = seen.get(filename);
    if (other !== undefined) throw new ReleaseError(`two wheels are named ${filename}: ${other} and ${w.file.path}`, 'PI_ORIGIN_RELEASE_SITE');
    seen.set(filename, w.file.path);
    projects.set(w.name.project, [...(projects.get(w.name.project) ?? []), w]);
  }
  return new Map([...projects].sort(([a], [b]) => codeUnitOrder(a, b)));
}

function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `bytes`: what `generate` gives, when already at hand; hashed here and not kept. */
function generated(path: string, type: string, mtimeMs: number, generate: () => Buffer, bytes: Buffer = generate()): GeneratedFile {
  return { path, file: path.slice(1), size: bytes.length, sha256: sha256(bytes), mtimeMs, type, variants: [], generate };
}

/** The index is generated whole: a site file at one of its paths would be silently replaced, so it is refused. */
function refuseTaken(generatedFiles: readonly GeneratedFile[], files: readonly IndexedFile[]): void {
  const paths = new Set(files.map((f) => f.path));
  const taken = generatedFiles.filter((g) => paths.has(g.path)).map((g) => g.path);
  if (taken.length > 0)
    throw new ReleaseError(`the site already has ${taken.slice(0, 3).join(', ')}${taken.length > 3 ? ` and ${taken.length - 3} more` : ''}, which --package-index generates from the wheels: remove ${taken.length === 1 ? 'it' : 'them'} from the site`, 'PI_ORIGIN_RELEASE_SITE');
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function htmlPage(title: string, links: readonly string[]): string {
  return (
    '<!DOCTYPE html>\n<html>\n  <head>\n    <meta charset="utf-8">\n' +
    `    <meta name="pypi:repository-version" content="${API_VERSION}">\n` +
    `    <title>${escapeHtml(title)}</title>\n  </head>\n  <body>\n    <h1>${escapeHtml(title)}</h1>\n` +
    links.map((a) => `    ${a}<br>\n`).join('') +
    '  </body>\n</html>\n'
  );
}

function rootHtml(projects: readonly string[]): string {
  return htmlPage('Simple index', projects.map((p) => `<a href="${INDEX_ROOT}${p}/">${p}</a>`));
}

function rootJson(projects: readonly string[]): string {
  return JSON.stringify({ meta: { 'api-version': API_VERSION }, projects: projects.map((name) => ({ name })) }) + '\n';
}

/**
 * One link per wheel. The core metadata hash goes under both PEP 714's name and PEP 658's: HTML
 * may carry both, and pip from 22.3 to 23.1 (Debian 12's and so Raspberry Pi OS's pip 23.0.1)
 * reads only the old one.
 */
function projectHtml(project: string, wheels: readonly Wheel[]): string {
  return htmlPage(
    `Links for ${project}`,
    wheels.map((w) => {
      const requires = w.requiresPython === undefined ? '' : ` data-requires-python="${escapeHtml(w.requiresPython)}"`;
      const metadata = `sha256=${w.metadataSha256}`;
      return `<a href="${escapeHtml(w.url)}#sha256=${w.file.sha256}"${requires} data-dist-info-metadata="${metadata}" data-core-metadata="${metadata}">${escapeHtml(basename(w.file.path))}</a>`;
    }),
  );
}

/**
 * PEP 691's project detail. The metadata hash goes under `core-metadata` only: pip 22.3 to 23.1
 * (Debian 12's pip 23.0.1, the Pi's) fails outright on any `dist-info-metadata` key in JSON,
 * which is why PEP 714 renamed it and recommends servers not emit it (docs/releases.md).
 */
function projectJson(project: string, wheels: readonly Wheel[]): string {
  const files = wheels.map((w) => ({
    filename: basename(w.file.path),
    url: w.url,
    hashes: { sha256: w.file.sha256 },
    ...(w.requiresPython === undefined ? {} : { 'requires-python': w.requiresPython }),
    'core-metadata': { sha256: w.metadataSha256 },
  }));
  return JSON.stringify({ meta: { 'api-version': API_VERSION }, name: project, files }) + '\n';
}
