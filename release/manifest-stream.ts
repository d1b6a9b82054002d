/**
 * Reads a manifest one file entry at a time, for releases too large to hold as one JSON value
 * and one object per file (a million-file package index: a 300 MB manifest, more than a V8
 * string may hold). `release build` writes one entry per line (build.ts `manifestJson`); this
 * reader relies on that layout for the top-level `files` list and hands each entry, validated
 * by the same rules as `readManifest`, to a sink that keeps what it needs in its own form. The
 * rest of the manifest (redirects, routes, skew, preload) is small and is parsed whole.
 *
 * A manifest in another layout (written by hand, pretty-printed) is read whole by
 * `readManifest` instead and fed to the same sink, so both layouts give the same result.
 */
import { join } from 'node:path';
import { filePathProblem } from '../content/servable.js';
import { ManifestLines, NO_VARIANTS } from './manifest-text.js';
import { checkHead, checkRest, headersProblem, ManifestError, manifestFieldsProblem, MANIFEST_NAME, MAX_TIME, readManifest, type Manifest, type ManifestFile, type PathSet } from './manifest.js';

/** Receives every file of a manifest (then every carried skew file) and answers for their paths. */
export interface ManifestSink extends PathSet {
  /**
   * `release` is set for a file carried from an earlier release (skew protection). False when
   * the path was given before (nothing is added then).
   */
  file(f: ManifestFile, release?: string): boolean;
}

/** A manifest without its `files` (they went to the sink); `skew.files` empty too. */
export type ManifestHead = Omit<Manifest, 'files'>;

/** What `streamManifest` returns for a manifest not in the builder's layout: read it with `wholeManifest` into a fresh sink. */
export const OTHER_LAYOUT = Symbol('another layout');

/**
 * Streams `dir/manifest.json` into `sink`; undefined when there is none, OTHER_LAYOUT when it is
 * not one entry per line (the sink may then hold some entries: start again with a fresh one).
 * Throws ManifestError naming the file, the entry and the field for anything `readManifest`
 * would refuse.
 */
export function streamManifest(dir: string, sink: ManifestSink): ManifestHead | undefined | typeof OTHER_LAYOUT {
  const where = join(dir, MANIFEST_NAME);
  const fail = (what: string): ManifestError => new ManifestError(`${where}: ${what}`);
  const lines = ManifestLines.open(where);
  if (lines === undefined) return undefined;
  let data: Omit<Manifest, 'files'>;
  try {
    const entries = new EntryReader(sink, fail);
    for (;;) {
      let json: string | undefined;
      try {
        json = lines.next();
      } catch (e) {
        if (e instanceof ManifestError) return OTHER_LAYOUT;
        throw e;
      }
      if (json === undefined) break;
      entries.add(json);
    }
    data = lines.rest();
  } finally {
    lines.close();
  }
  const head = checkHead({ ...data, files: [] }, fail);
  // Checks skew files and adds their paths through `sink.add`; the entries follow.
  checkRest(head, sink, fail);
  for (const f of head.skew?.files ?? []) sink.file(f, f.release);
  const { files: _files, ...rest } = head as Manifest;
  return rest;
}

const HEADERS_KEY = ',"headers":';
/** The builder's entry up to its headers, with a path and a type without escapes (manifest-text.ts ENTRY without the alternations). */
const PLAIN_ENTRY = /^\{"path":"([^"\\]*)","size":(\d{1,16}),"sha256":"([0-9a-f]{64})","type":"([^"\\]*)","mtime":(-?\d{1,16}),"headers":(?=\{)/;
const VARIANTS_KEY = ',"variants":';

/**
 * Parses entry lines. Files share a few header sets, so an entry's `headers` text is looked up
 * among those already parsed and checked: each distinct set is parsed and checked once, and the
 * files that share it share one object (the file table interns them by identity).
 */
class EntryReader {
  private readonly headerSets = new Map<string, Readonly<Record<string, string>>>();
  private readonly types = new Set<string>();
  /** The header set of the previous plain entry: most entries share their neighbour's. */
  private last: { readonly text: string; readonly headers: Readonly<Record<string, string>> } | undefined;

  constructor(
    private readonly sink: ManifestSink,
    private readonly fail: (what: string) => ManifestError,
  ) {}

  /**
   * The common entry without JSON.parse (half the cost of a million-file start): the builder's
   * field order, a path and type without escapes, a type and a header set already checked, no
   * variants. Every check `add` makes is made; false for anything else, which `add` parses.
   */
  private addPlain(json: string): boolean {
    const m = PLAIN_ENTRY.exec(json);
    if (m === null || !json.endsWith(NO_VARIANTS)) return false;
    // Indexed, not destructured: destructuring walks the match with an iterator, per entry.
    const head = m[0];
    const path = m[1] as string;
    const size = m[2] as string;
    const sha256 = m[3] as string;
    const type = m[4] as string;
    const mtime = m[5] as string;
    const headers = this.plainHeaders(json, head.length, json.length - NO_VARIANTS.length);
    if (headers === undefined || !this.types.has(type) || !jsonInteger(size) || !jsonInteger(mtime)) return false;
    const file = { path, size: Number(size), sha256, type, mtime: Number(mtime), headers, variants: {} };
    const problem = filePathProblem(path);
    const fail = (what: string): ManifestError => this.fail(`files[${JSON.stringify(path)}]: ${what}`);
    if (problem !== undefined) throw fail(`path ${problem}`);
    if (!Number.isSafeInteger(file.size)) throw fail('size must be a non-negative integer');
    if (!Number.isSafeInteger(file.mtime) || Math.abs(file.mtime) > MAX_TIME) throw fail('mtime must be an integer time in ms');
    if (!this.sink.file(file)) throw fail('duplicate path');
    return true;
  }

  /** The checked header set whose text is `json` from `start` to `end`: the previous entry's, or a lookup. */
  private plainHeaders(json: string, start: number, end: number): Readonly<Record<string, string>> | undefined {
    const text = json.slice(start, end);
    // A comparison (startsWith at an offset measured 10x slower than slice and ===).
    if (this.last?.text === text) return this.last.headers;
    const headers = this.headerSets.get(text);
    if (headers !== undefined) this.last = { text, headers };
    return headers;
  }

  /** One entry's JSON, as ManifestLines gives it (no indent, no comma). */
  add(json: string): void {
    if (this.addPlain(json)) return;
    // The builder writes path, size, sha256, type, mtime, headers, variants in that order; the
    // two keys cannot occur inside a string value (its quotes would be escaped).
    const h = json.indexOf(HEADERS_KEY);
    const v = h === -1 ? -1 : json.indexOf(VARIANTS_KEY, h);
    const headersText = v === -1 ? undefined : json.slice(h + HEADERS_KEY.length, v);
    const known = headersText === undefined ? undefined : this.headerSets.get(headersText);
    let file: Partial<ManifestFile> | null;
    try {
      file = JSON.parse(known === undefined ? json : json.slice(0, h) + json.slice(v)) as Partial<ManifestFile> | null;
    } catch (e) {
      throw this.fail(`is not valid JSON: ${(e as Error).message} in ${JSON.stringify(json.slice(0, 120))}`);
    }
    const at = `files[${JSON.stringify(file?.path)}]`;
    let problem = manifestFieldsProblem(file, this.types);
    if (problem === undefined && known === undefined) {
      problem = headersProblem(file?.headers);
      if (problem === undefined && headersText !== undefined) this.headerSets.set(headersText, (file as ManifestFile).headers);
    }
    if (problem !== undefined) throw this.fail(`${at}: ${problem}`);
    const entry = file as ManifestFile & { headers: Readonly<Record<string, string>> };
    if (known !== undefined) entry.headers = known;
    if (!this.sink.file(entry)) throw this.fail(`${at}: duplicate path`);
  }
}

/** Numbers as JSON writes them: no leading zero (which JSON.parse refuses). */
function jsonInteger(digits: string): boolean {
  const d = digits.startsWith('-') ? digits.slice(1) : digits;
  return d.length === 1 || !d.startsWith('0');
}

/** The fallback for another layout: the whole manifest, fed to the sink. */
export function wholeManifest(dir: string, sink: ManifestSink): ManifestHead | undefined {
  const m = readManifest(dir);
  if (m === undefined) return undefined;
  for (const f of m.files) sink.file(f);
  for (const f of m.skew?.files ?? []) sink.file(f, f.release);
  const { files: _files, ...rest } = m;
  return rest;
}
