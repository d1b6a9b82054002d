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
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
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

const CHUNK = 4 * 1024 * 1024;
const FILES_OPEN = '  "files": [';
const FILES_EMPTY = '  "files": [],';
const FILES_CLOSE = '  ],';
const ENTRY = '    {';

/**
 * Streams `dir/manifest.json` into `sink`; undefined when there is none. Throws ManifestError
 * naming the file, the entry and the field for anything `readManifest` would refuse.
 */
export function streamManifest(dir: string, sink: ManifestSink): ManifestHead | undefined {
  const where = join(dir, MANIFEST_NAME);
  const fail = (what: string): ManifestError => new ManifestError(`${where}: ${what}`);
  let fd: number;
  try {
    fd = openSync(where, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestError(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let outside: string[] | undefined;
  const entries = new EntryReader(sink, fail);
  try {
    outside = readLines(fd, where, (line) => entries.add(line));
  } finally {
    closeSync(fd);
  }
  if (outside === undefined) return wholeManifest(dir, sink);
  let data: unknown;
  try {
    data = JSON.parse(outside.join('\n'));
  } catch (e) {
    throw fail(`is not valid JSON: ${(e as Error).message}`);
  }
  const head = checkHead(data, fail);
  // Checks skew files and adds their paths through `sink.add`; the entries follow.
  checkRest(head, sink, fail);
  for (const f of head.skew?.files ?? []) sink.file(f, f.release);
  const { files: _files, ...rest } = head as Manifest;
  return rest;
}

/**
 * Calls `entry` for each line of the top-level files list and returns the other lines with that
 * list emptied; undefined when the layout is not one entry per line (nothing was passed on then).
 */
function readLines(fd: number, where: string, entry: (line: string) => void): string[] | undefined {
  const outside: string[] = [];
  let state = 'before' as 'before' | 'files' | 'after';
  const buffer = Buffer.allocUnsafe(CHUNK);
  const line = (text: string): boolean => {
    if (state === 'files') {
      if (text === FILES_CLOSE) {
        state = 'after';
        outside.push(FILES_EMPTY);
        return true;
      }
      if (!text.startsWith(ENTRY)) return false;
      entry(text);
      return true;
    }
    if (state === 'before' && text === FILES_OPEN) state = 'files';
    else {
      if (state === 'before' && text === FILES_EMPTY) state = 'after';
      outside.push(text);
    }
    return true;
  };
  let carry = Buffer.alloc(0);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, CHUNK, null);
    } catch (e) {
      throw new ManifestError(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (n === 0) break;
    // Split on bytes: a character cut by the chunk's end is completed by the next chunk.
    const cut = buffer.lastIndexOf(10, n - 1) + 1;
    if (cut === 0) {
      carry = Buffer.concat([carry, buffer.subarray(0, n)]);
      continue;
    }
    const lines = Buffer.concat([carry, buffer.subarray(0, cut - 1)]).toString('utf8').split('\n');
    carry = Buffer.from(buffer.subarray(cut, n));
    for (const l of lines) if (!line(l)) return undefined;
  }
  if (carry.length > 0 && !line(carry.toString('utf8'))) return undefined;
  return state === 'after' ? outside : undefined;
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

  add(line: string): void {
    // The entry without its indent and comma (readLines passes only lines that start with ENTRY).
    const json = line.slice(ENTRY.length - 1, line.endsWith(',') ? -1 : line.length);
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
      throw this.fail(`is not valid JSON: ${(e as Error).message} in ${JSON.stringify(line.slice(0, 120))}`);
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
function wholeManifest(dir: string, sink: ManifestSink): ManifestHead | undefined {
  const m = readManifest(dir);
  if (m === undefined) return undefined;
  for (const f of m.files) sink.file(f);
  for (const f of m.skew?.files ?? []) sink.file(f, f.release);
  const { files: _files, ...rest } = m;
  return rest;
}
