/**
 * The site index: what a node knows about every servable file, as plain data. A plain directory
 * is scanned into it (scan.ts); a release manifest maps onto it (release/manifest.ts). Being plain
 * data, it is what the main thread posts to the workers; each worker turns it into its hot-path
 * lookup (index/lookup.ts), which is not plain data.
 */
import type { SiteRoutes } from './redirects-file.js';

export const ENCODINGS = ['br', 'gzip'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** Sibling suffix of each precompressed encoding, in server preference order. */
export const VARIANT_SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };

/**
 * `x` for `x.br` or `x.gz` (a `/`-separated path), else undefined: where the site has `x`, a
 * release does not publish these beside it (the builder makes its own variants).
 */
export function variantBase(path: string): string | undefined {
  for (const e of ENCODINGS) if (path.endsWith(VARIANT_SUFFIX[e]) && path.length > VARIANT_SUFFIX[e].length) return path.slice(0, -VARIANT_SUFFIX[e].length);
  return undefined;
}

export interface IndexedVariant {
  readonly encoding: Encoding;
  /** Path of the variant file relative to the root, with '/' separators. */
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
}

export interface IndexedFile {
  /** Decoded URL path, always starting with '/': `/docs/index.html`. */
  readonly path: string;
  /** Path relative to the root, with '/' separators. */
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
  readonly mtimeMs: number;
  /**
   * Change time on this node's disk when scanned (not part of a manifest): lets the server
   * notice a file rewritten in place with its old size and mtime restored (`cp -p`, `rsync -t`).
   */
  readonly ctimeMs?: number;
  readonly type: string;
  readonly variants: readonly IndexedVariant[];
  /** Headers a release's rules give this file (Cache-Control, Surrogate-Key...), if any. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Pages answered at their directory URL in more than one media type, chosen by the request's
 * Accept header (index/negotiate.ts): a PEP 691 package index's HTML and JSON pages. Plain data,
 * one entry per page, so a file costs nothing more; absent on sites without such pages.
 */
export interface Alternates {
  /** Other names a client may give a representation's type: `application/vnd.pypi.simple.v1+html` -> `text/html`. */
  readonly aliases: Readonly<Record<string, string>>;
  /** A directory index (`/simple/index.html`) -> the file holding the same resource in another type (`/simple/index.json`). */
  readonly pages: Readonly<Record<string, string>>;
}

export interface SiteIndex {
  /** Real path of the content root at scan time (symlinks resolved). */
  readonly root: string;
  /** Derived from the content: the same tree gives the same id on any machine. */
  readonly releaseId: string;
  readonly files: readonly IndexedFile[];
  /** Entries skipped because they were symlinks leaving the root, unreadable, or named so that no URL reaches them. */
  readonly skipped: readonly string[];
  /** Redirects from a release's rules; a file at the same path wins. */
  readonly redirects?: readonly { readonly from: string; readonly to: string; readonly status: 301 | 302 | 307 | 308 }[];
  /** The site's `_redirects` rules and trailing-slash policy (redirects-file.ts), if any. */
  readonly routes?: SiteRoutes;
  /** Pages negotiated by Accept, from a release manifest; absent when none. */
  readonly alternates?: Alternates;
  /**
   * True when the index came from a release manifest: sizes and hashes are trusted, and disk
   * times are not compared (Last-Modified comes from the manifest).
   */
  readonly fromManifest?: boolean;
}
