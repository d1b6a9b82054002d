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
import { ManifestLines } from './manifest-text.js';
import { checkHead, checkRest, headersProblem, ManifestError, manifestFieldsProblem, MANIFEST_NAME, readManifest, type Manifest, type ManifestFile, type PathSet } from './manifest.js';

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
const VARIANTS_KEY = ',"variants":';

/**
 * Parses entry lines. Files share a few header sets, so an entry's `headers` text is looked up
 * among those already parsed and checked: each distinct set is parsed and checked once, and the
 * files that share it share one object (the file table interns them by identity).
 */
class EntryReader {
  private readonly headerSets = new Map<string, Readonly<Record<string, string>>>();
  private readonly types = new Set<string>();

  constructor(
    private readonly sink: ManifestSink,
    private readonly fail: (what: string) => ManifestError,
  ) {}

  /** One entry's JSON, as ManifestLines gives it (no indent, no comma). */
  add(json: string): void {
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

/** The fallback for another layout: the whole manifest, fed to the sink. */
export function wholeManifest(dir: string, sink: ManifestSink): ManifestHead | undefined {
  const m = readManifest(dir);
  if (m === undefined) return undefined;
  for (const f of m.files) sink.file(f);
  for (const f of m.skew?.files ?? []) sink.file(f, f.release);
  const { files: _files, ...rest } = m;
  return rest;
}
