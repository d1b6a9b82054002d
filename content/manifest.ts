/**
 * The release manifest (`manifest.json` at the top of a release directory): the one description
 * of a release that every node trusts. Reading it replaces scanning and hashing at start.
 *
 * Layout of a release directory: every file at its path; precompressed variants beside their
 * source as `<path>.br` and `<path>.gz`; `manifest.json`. Nothing else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENCODINGS, VARIANT_SUFFIX, type Encoding, type IndexedFile, type IndexedVariant, type SiteIndex } from './site-index.js';

export const MANIFEST_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 1;

export interface ManifestVariant {
  readonly size: number;
  readonly sha256: string;
}

export interface ManifestFile {
  /** URL path: `/`, then the path relative to the release root with `/` separators. */
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** Content-Type with charset for text types. */
  readonly type: string;
  /** Modification time in ms since the epoch: Last-Modified on every node. */
  readonly mtime: number;
  /** Response headers from the release's rules (Cache-Control, Surrogate-Key, ...). */
  readonly headers: Readonly<Record<string, string>>;
  /** Precompressed variants stored at `<path>.br` / `<path>.gz`. */
  readonly variants: Readonly<Partial<Record<Encoding, ManifestVariant>>>;
}

export const REDIRECT_STATUSES = [301, 302, 307, 308] as const;
export type RedirectStatus = (typeof REDIRECT_STATUSES)[number];

export interface RedirectRule {
  /** Exact URL path that redirects (a file at the same path wins). */
  readonly from: string;
  /** Path or absolute URL. */
  readonly to: string;
  readonly status: RedirectStatus;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  /** Derived from the content and rules: the same site gives the same id on any machine. */
  readonly id: string;
  /** ISO 8601 build time (informational; not part of the id). */
  readonly created: string;
  /** Sorted by path. */
  readonly files: readonly ManifestFile[];
  readonly redirects: readonly RedirectRule[];
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly code = 'PI_ORIGIN_BAD_MANIFEST';
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID = /^[0-9a-f]{12}$/;

/** Reads and validates `dir/manifest.json`; undefined when the file does not exist. */
export function readManifest(dir: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST_NAME), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestError(`cannot read ${join(dir, MANIFEST_NAME)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${join(dir, MANIFEST_NAME)} is not valid JSON: ${(e as Error).message}`);
  }
  return validateManifest(data, join(dir, MANIFEST_NAME));
}

/** Checks shape and types; throws ManifestError naming the first problem. */
export function validateManifest(data: unknown, where: string): Manifest {
  const fail = (what: string): never => {
    throw new ManifestError(`${where}: ${what}`);
  };
  const m = data as Partial<Manifest> | null;
  if (typeof m !== 'object' || m === null) return fail('not a JSON object');
  if (m.format !== MANIFEST_FORMAT) fail(`format must be ${MANIFEST_FORMAT} (got ${JSON.stringify(m.format)})`);
  if (typeof m.id !== 'string' || !ID.test(m.id)) fail(`id must be 12 hex digits (got ${JSON.stringify(m.id)})`);
  if (typeof m.created !== 'string') fail('created must be an ISO 8601 string');
  if (!Array.isArray(m.files)) return fail('files must be a list');
  if (!Array.isArray(m.redirects)) return fail('redirects must be a list');
  const seen = new Set<string>();
  for (const f of m.files as unknown[]) {
    const file = f as Partial<ManifestFile> | null;
    const at = `files[${JSON.stringify(file?.path)}]`;
    if (typeof file?.path !== 'string' || !file.path.startsWith('/') || file.path.includes('\\') || file.path.split('/').some((s) => s === '..' || s === '.')) fail(`${at}: path must be a normalised absolute URL path`);
    if (seen.has(file?.path as string)) fail(`${at}: duplicate path`);
    seen.add(file?.path as string);
    if (!Number.isSafeInteger(file?.size) || (file?.size as number) < 0) fail(`${at}: size must be a non-negative integer`);
    if (typeof file?.sha256 !== 'string' || !HEX64.test(file.sha256)) fail(`${at}: sha256 must be 64 hex digits`);
    if (typeof file?.type !== 'string') fail(`${at}: type must be a string`);
    if (typeof file?.mtime !== 'number' || !Number.isFinite(file.mtime)) fail(`${at}: mtime must be a number (ms)`);
    if (typeof file?.headers !== 'object' || file.headers === null || !Object.values(file.headers).every((v) => typeof v === 'string')) fail(`${at}: headers must map names to strings`);
    if (typeof file?.variants !== 'object' || file.variants === null) fail(`${at}: variants must be an object`);
    for (const [enc, v] of Object.entries(file?.variants ?? {})) {
      if (!(ENCODINGS as readonly string[]).includes(enc)) fail(`${at}: unknown variant encoding ${enc}`);
      const variant = v as Partial<ManifestVariant> | null;
      if (!Number.isSafeInteger(variant?.size) || typeof variant?.sha256 !== 'string' || !HEX64.test(variant.sha256)) fail(`${at}: variant ${enc} needs size and sha256`);
    }
  }
  for (const r of m.redirects as unknown[]) {
    const rule = r as Partial<RedirectRule> | null;
    if (typeof rule?.from !== 'string' || !rule.from.startsWith('/') || typeof rule.to !== 'string' || rule.to === '' || !(REDIRECT_STATUSES as readonly unknown[]).includes(rule.status))
      fail(`redirect ${JSON.stringify(r)} needs from (a path), to, and status 301, 302, 307 or 308`);
    if (/[\r\n]/.test(rule?.to as string)) fail(`redirect ${JSON.stringify(r)}: target has a line break`);
  }
  return m as Manifest;
}

/** The plain-data index a node serves from: the manifest as it is, no hashing. */
export function manifestToSiteIndex(manifest: Manifest, realRoot: string): SiteIndex {
  const files: IndexedFile[] = manifest.files.map((f) => ({
    path: f.path,
    file: f.path.slice(1),
    size: f.size,
    sha256: f.sha256,
    mtimeMs: f.mtime,
    type: f.type,
    headers: f.headers,
    variants: ENCODINGS.flatMap((encoding): IndexedVariant[] => {
      const v = f.variants[encoding];
      return v === undefined ? [] : [{ encoding, file: f.path.slice(1) + VARIANT_SUFFIX[encoding], size: v.size, sha256: v.sha256 }];
    }),
  }));
  return { root: realRoot, releaseId: manifest.id, files, skipped: [], redirects: manifest.redirects, fromManifest: true };
}
