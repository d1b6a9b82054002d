/**
 * The builder's layout of `manifest.json`, both ways: a head (format, id, created, parent), one
 * file entry per line, and a tail (redirects, skew, preload, routes). Writing it as a stream and
 * reading it one line at a time is what lets a release of a million files be built from its
 * parent, diffed against another and verified against its parent without a JS object per file,
 * and without the whole manifest as one string (V8 caps a string near 512 MB; a million-file
 * manifest is about 350 MB).
 *
 * Invariant: {@link manifestJson} and {@link ManifestWriter} give the same bytes for the same
 * manifest, and an entry line is `JSON.stringify` of the builder's entry object (keys path, size,
 * sha256, type, mtime, headers, variants, in that order).
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { alternatesData, routesData } from '../content/release-id.js';
import type { SiteRoutes } from '../content/redirects-file.js';
import { ENCODINGS, type Alternates, type Encoding } from '../content/site-index.js';
import { withCacheTags, withoutCacheTags } from '../content/release-id.js';
import { filePathProblem, mediaTypeProblem } from '../content/servable.js';
import { headerProblem } from '../content/header-rules.js';
import { checkHead, ManifestError, manifestFileProblem, MANIFEST_NAME, MAX_TIME, readManifest, type Manifest, type ManifestVariant, type PathSet } from './manifest.js';

/** What precedes the files: format, id, created, and the parent of an incremental build. */
export type ManifestHead = Pick<Manifest, 'format' | 'id' | 'created' | 'parent'>;
/** What follows them. */
export type ManifestTail = Omit<Manifest, 'format' | 'id' | 'created' | 'parent' | 'files'>;

const FILES_OPEN = '  "files": [';
const FILES_EMPTY = '  "files": [],';
const FILES_CLOSE = '  ],';
const INDENT = '    ';

/** The whole manifest as the builder writes it: one file per line, so manifests diff and grep well. */
export function manifestJson(m: Manifest): string {
  const files = m.files.map((f) => INDENT + JSON.stringify(f)).join(',\n');
  return headText(m) + (files === '' ? '' : `\n${files}\n  `) + '],\n' + tailText(m);
}

function headText(m: ManifestHead): string {
  const parent = m.parent === undefined ? '' : `  "parent": ${JSON.stringify(m.parent)},\n`;
  return `{\n  "format": ${m.format},\n  "id": ${JSON.stringify(m.id)},\n  "created": ${JSON.stringify(m.created)},\n${parent}${FILES_OPEN}`;
}

function tailText(m: ManifestTail): string {
  const redirects = m.redirects.map((r) => INDENT + JSON.stringify({ from: r.from, to: r.to, status: r.status })).join(',\n');
  const skew = m.skew === undefined ? '' : `,\n  "skew": {\n    "releases": ${JSON.stringify(m.skew.releases)},\n    "files": [\n${m.skew.files.map((f) => '      ' + JSON.stringify(f)).join(',\n')}\n    ]\n  }`;
  const preload = m.preload === undefined ? '' : `,\n  "preload": {${Object.entries(m.preload).map(([page, links]) => `\n    ${JSON.stringify(page)}: ${JSON.stringify(links)}`).join(',')}${Object.keys(m.preload).length > 0 ? '\n  ' : ''}}`;
  return (
    `  "redirects": [${redirects === '' ? '' : `\n${redirects}\n  `}]${skew}${preload}` +
    (m.routes === undefined ? '' : `,\n  "routes": ${routesJson(m.routes)}`) +
    (m.alternates === undefined ? '' : `,\n  "alternates": ${alternatesJson(m.alternates)}`) +
    '\n}\n'
  );
}

/** The alternates field, one page per line. */
function alternatesJson(alternates: Alternates): string {
  const data = alternatesData(alternates);
  const pages = Object.entries(data.pages).map(([page, alternate]) => `      ${JSON.stringify(page)}: ${JSON.stringify(alternate)}`).join(',\n');
  return `{\n    "aliases": ${JSON.stringify(data.aliases)},\n    "pages": {${pages === '' ? '' : `\n${pages}\n    `}}\n  }`;
}

/** The routes field, one rule per line. */
function routesJson(routes: SiteRoutes): string {
  const data = routesData(routes);
  const rules = data.rules.map((r) => '      ' + JSON.stringify(r)).join(',\n');
  return `{\n    "trailingSlash": ${JSON.stringify(data.trailingSlash)},\n    "rules": [${rules === '' ? '' : `\n${rules}\n    `}]\n  }`;
}

/** Bytes gathered before a write: few system calls, bounded memory. */
const WRITE_CHUNK = 1024 * 1024;

/**
 * Writes a manifest as a stream into a new file (`wx`: never over another), entry lines given as
 * JSON text, and hashes what it writes: `finish` returns the SHA-256 of the file's bytes (what a
 * rollout's patch promises the node it will rebuild).
 */
export class ManifestWriter {
  private readonly fd: number;
  private readonly hash = createHash('sha256');
  /**
   * Text is encoded into this buffer as it comes, so each entry's string dies young: strings
   * held until a write would outlive the young generation, and a million of them would pile up
   * in the old one as garbage (100 MB per 300,000 entries, measured) before a full collection.
   */
  private readonly pending = Buffer.allocUnsafe(WRITE_CHUNK);
  private pendingLength = 0;
  private entries = 0;
  private bytes = 0;

  constructor(file: string, head: ManifestHead) {
    this.fd = openSync(file, 'wx', 0o644);
    this.push(headText(head));
  }

  /** One file entry: `JSON.stringify` of the builder's entry object. */
  entry(json: string): void {
    this.push((this.entries++ === 0 ? '\n' : ',\n') + INDENT + json);
  }

  finish(tail: ManifestTail): { sha256: string; bytes: number } {
    try {
      this.push((this.entries > 0 ? '\n  ' : '') + '],\n' + tailText(tail));
      this.flush();
    } finally {
      closeSync(this.fd);
    }
    return { sha256: this.hash.digest('hex'), bytes: this.bytes };
  }

  /** Closes the file after a failure (the caller removes it with its directory). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed by finish
    }
  }

  private push(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (this.pendingLength + text.length * 3 > WRITE_CHUNK) {
      this.flush();
      if (text.length * 3 > WRITE_CHUNK) return this.write(Buffer.from(text, 'utf8'));
    }
    this.pendingLength += this.pending.write(text, this.pendingLength, 'utf8');
  }

  private flush(): void {
    this.write(this.pending.subarray(0, this.pendingLength));
    this.pendingLength = 0;
  }

  private write(buffer: Buffer): void {
    this.hash.update(buffer);
    for (let w = 0; w < buffer.length; ) w += writeSync(this.fd, buffer, w, buffer.length - w);
    this.bytes += buffer.length;
  }
}

const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Reads the manifest at `file` one line at a time, calling `entry` with each file entry (its JSON
 * text, without indentation or comma) in order, and returns everything else parsed (the manifest
 * with `files` empty; the caller checks it). Undefined when the file does not exist. Throws
 * ManifestError when it cannot be read or is not in the builder's layout. Yields to the event
 * loop every 50 ms, so that signals (an interrupted build) are seen during a long read.
 */
export async function readManifestLines(file: string, entry: (json: string) => void): Promise<Omit<Manifest, 'files'> | undefined> {
  const lines = ManifestLines.open(file);
  if (lines === undefined) return undefined;
  try {
    let last = Date.now();
    for (let n = 0, json = lines.next(); json !== undefined; json = lines.next()) {
      entry(json);
      if (++n % 4096 === 0 && Date.now() - last > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        last = Date.now();
      }
    }
    return lines.rest();
  } finally {
    lines.close();
  }
}

/**
 * A manifest in the builder's layout, read on demand: `next` gives the file entries one at a
 * time (two manifests can so be walked side by side, both being in path order), then `rest` the
 * manifest without them. Lines are split on bytes, so a character cut by a chunk's end is
 * completed by the next chunk, and each line is a string of its own (a path kept from one holds
 * that line, not a whole chunk).
 */
export class ManifestLines {
  private readonly buffer = Buffer.allocUnsafe(READ_CHUNK);
  /** Bytes read and not yet split into lines: `buffer[start, end)`. */
  private start = 0;
  private end = 0;
  private eof = false;
  private readonly outside: string[] = [];
  /** Lines of `outside` before the files list. */
  private headLines = -1;
  /** An entry `head` read ahead (null: none). */
  private peeked: string | undefined | null = null;
  private state = 'head' as 'head' | 'files' | 'tail';

  private bytesRead = 0;

  private constructor(
    private readonly fd: number,
    readonly file: string,
    private readonly hash: Hash | undefined,
  ) {}

  /** Undefined when the file does not exist. With `hash`, every byte read goes through it (see `digest`). */
  static open(file: string, hash?: Hash): ManifestLines | undefined {
    try {
      return new ManifestLines(openSync(file, 'r'), file, hash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ManifestError(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }

  /** The next file entry's JSON text (no indentation, no comma), or undefined after the last. */
  next(): string | undefined {
    if (this.peeked !== null) {
      const json = this.peeked;
      this.peeked = null;
      return json;
    }
    for (;;) {
      if (this.state === 'tail') return undefined;
      const text = this.line();
      if (text === undefined) throw this.fail('is not in the layout release build writes (no files list of one file per line)');
      if (this.state === 'head') {
        if (text === FILES_OPEN || text === FILES_EMPTY) this.headLines = this.outside.length;
        if (text === FILES_OPEN) this.state = 'files';
        else {
          if (text === FILES_EMPTY) this.state = 'tail';
          this.outside.push(text);
        }
        continue;
      }
      if (text === FILES_CLOSE) {
        this.state = 'tail';
        this.outside.push(FILES_EMPTY);
        return undefined;
      }
      if (!text.startsWith(INDENT + '{')) throw this.fail(`is not in the layout release build writes (one file per line): ${JSON.stringify(text.slice(0, 80))}`);
      return text.endsWith(',') ? text.slice(INDENT.length, -1) : text.slice(INDENT.length);
    }
  }

  /**
   * What precedes the files (format, id, created, parent), parsed but not checked; call before
   * the first `next` (it reads up to the files list).
   */
  head(): Partial<ManifestHead> {
    if (this.headLines === -1) this.peeked = this.next();
    try {
      return JSON.parse(this.outside.slice(0, this.headLines).join('\n') + '\n"files": []}') as Partial<ManifestHead>;
    } catch (e) {
      throw this.fail(`is not valid JSON: ${(e as Error).message}`);
    }
  }

  /** Everything but the files, parsed (reads what is left of the file). */
  rest(): Omit<Manifest, 'files'> {
    while (this.next() !== undefined);
    for (let text = this.line(); text !== undefined; text = this.line()) this.outside.push(text);
    let data: unknown;
    try {
      data = JSON.parse(this.outside.join('\n'));
    } catch (e) {
      throw this.fail(`is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw this.fail('not a JSON object');
    const { files: _files, ...rest } = data as Manifest;
    return rest;
  }

  /** After `rest`: the SHA-256 (from the `hash` given to `open`) and size of the whole file. */
  digest(): { sha256: string; bytes: number } {
    if (this.hash === undefined || !this.eof) throw new Error('ManifestLines.digest: open with a hash and read to the end first');
    return { sha256: this.hash.digest('hex'), bytes: this.bytesRead };
  }

  close(): void {
    closeSync(this.fd);
  }

  /** The next line without its newline; undefined at the end of the file. */
  private line(): string | undefined {
    for (;;) {
      const nl = this.buffer.indexOf(10, this.start);
      if (nl !== -1 && nl < this.end) {
        const text = this.buffer.toString('utf8', this.start, nl);
        this.start = nl + 1;
        return text;
      }
      if (this.eof) {
        if (this.start === this.end) return undefined;
        const text = this.buffer.toString('utf8', this.start, this.end);
        this.start = this.end;
        return text;
      }
      this.fill();
    }
  }

  /** Moves the unsplit bytes to the front and reads more; a line longer than the buffer is refused. */
  private fill(): void {
    if (this.start === 0 && this.end === this.buffer.length) throw this.fail(`has a line longer than ${READ_CHUNK} bytes`);
    this.buffer.copy(this.buffer, 0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    let n: number;
    try {
      n = readSync(this.fd, this.buffer, this.end, this.buffer.length - this.end, null);
    } catch (e) {
      throw this.fail(`cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (n === 0) this.eof = true;
    this.hash?.update(this.buffer.subarray(this.end, this.end + n));
    this.bytesRead += n;
    this.end += n;
  }

  private fail(what: string): ManifestError {
    return new ManifestError(`${this.file}: ${what}`);
  }
}

/** One file entry line, split where an incremental build, a diff and a verification need it. */
export interface EntryLine {
  /** The entry's JSON text. */
  readonly json: string;
  readonly path: string;
  /** `path` as JSON text, as the builder wrote it. */
  readonly pathJson: string;
  readonly size: number;
  readonly sha256: string;
  /** `"type":…` value as JSON text. */
  readonly typeJson: string;
  readonly mtime: number;
  /** The `headers` object's JSON text. */
  readonly headersJson: string;
  /** From `,"variants":` to the end of the entry (variants, and any field a later builder adds). */
  readonly rest: string;
}

/**
 * The builder's entry up to its headers. Keys cannot occur inside a JSON string value (its quotes
 * would be escaped), so the first `,"variants":{` after the headers ends them (a header named
 * `variants` has a string value, never `{`).
 */
const ENTRY = /^\{"path":("(?:[^"\\]|\\.)*"),"size":(\d{1,16}),"sha256":"([0-9a-f]{64})","type":("(?:[^"\\]|\\.)*"),"mtime":(-?\d{1,16}),"headers":(?=\{)/;
const VARIANTS_KEY = ',"variants":{';
/** How an entry without variants ends. */
export const NO_VARIANTS = ',"variants":{}}';

/**
 * Reads entry lines of one manifest, checking each with the rules `validateManifest` applies:
 * a header set or a type shared by many files is parsed and checked once. Errors are
 * ManifestErrors naming the manifest, the file and the field.
 */
export class EntryReader {
  private readonly headerSets = new Map<string, Readonly<Record<string, string>>>();
  private readonly types = new Map<string, string>();

  constructor(private readonly where: string) {}

  /** The line split and checked; throws when it is not a valid entry in the builder's form. */
  entry(json: string): EntryLine {
    const m = ENTRY.exec(json);
    const v = m === null ? -1 : json.indexOf(VARIANTS_KEY, m[0].length);
    if (m === null || v === -1) return this.notCanonical(json);
    const pathJson = m[1] as string;
    const path = pathJson.includes('\\') ? (JSON.parse(pathJson) as string) : pathJson.slice(1, -1);
    const e: EntryLine = {
      json,
      path,
      pathJson,
      size: Number(m[2]),
      sha256: m[3] as string,
      typeJson: m[4] as string,
      mtime: Number(m[5]),
      headersJson: json.slice(m[0].length, v),
      rest: json.slice(v),
    };
    const at = `files[${JSON.stringify(path)}]`;
    const pathProblem = filePathProblem(path);
    if (pathProblem !== undefined) throw this.fail(`${at}: path ${pathProblem}`);
    if (!Number.isSafeInteger(e.size)) throw this.fail(`${at}: size must be a non-negative integer`);
    if (!Number.isSafeInteger(e.mtime) || Math.abs(e.mtime) > MAX_TIME) throw this.fail(`${at}: mtime must be an integer time in ms`);
    this.type(e.typeJson, at);
    this.headers(e.headersJson, at);
    if (e.rest !== NO_VARIANTS) this.variants(e, at);
    return e;
  }

  /**
   * Where `retype` cuts a line `entry` has already checked (a second read of the same bytes): the
   * type value and the headers object, found by their keys without any check.
   */
  split(json: string): SplitLine {
    const size = json.indexOf('","size":');
    const type = json.indexOf(',"type":', size) + 8;
    const mtime = json.indexOf(',"mtime":', type);
    const headers = json.indexOf(',"headers":', mtime) + 11;
    const rest = json.indexOf(VARIANTS_KEY, headers);
    const pathJson = json.slice(8, size + 1);
    return { json, path: pathJson.includes('\\') ? (JSON.parse(pathJson) as string) : pathJson.slice(1, -1), type, mtime, headers, rest };
  }

  /** The entry's headers, checked (the same object for every entry with the same text). */
  headers(text: string, at = 'files'): Readonly<Record<string, string>> {
    const known = this.headerSets.get(text);
    if (known !== undefined) return known;
    let headers: unknown;
    try {
      headers = JSON.parse(text);
    } catch {
      throw this.fail(`${at}: headers must map names to strings`);
    }
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw this.fail(`${at}: headers must map names to strings`);
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (typeof value !== 'string') throw this.fail(`${at}: headers: ${JSON.stringify(name)} must be a string`);
      const problem = headerProblem(name, value);
      if (problem !== undefined) throw this.fail(`${at}: headers: ${problem}`);
    }
    this.headerSets.set(text, headers as Record<string, string>);
    return headers as Record<string, string>;
  }

  /** The entry's variants, checked. */
  variants(e: EntryLine, at = `files[${JSON.stringify(e.path)}]`): Partial<Record<Encoding, ManifestVariant>> {
    if (e.rest === NO_VARIANTS) return {};
    let rest: { variants?: unknown };
    try {
      rest = JSON.parse('{' + e.rest.slice(1)) as { variants?: unknown };
    } catch (err) {
      throw this.fail(`${at}: is not valid JSON: ${(err as Error).message}`);
    }
    const variants = rest.variants;
    if (typeof variants !== 'object' || variants === null || Array.isArray(variants)) throw this.fail(`${at}: variants must be an object`);
    for (const [enc, v] of Object.entries(variants as Record<string, Partial<ManifestVariant> | null>)) {
      if (!(ENCODINGS as readonly string[]).includes(enc)) throw this.fail(`${at}: variants: unknown encoding ${JSON.stringify(enc)}`);
      if (!Number.isSafeInteger(v?.size) || (v?.size as number) < 0 || typeof v?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256)) throw this.fail(`${at}: variants: ${enc} needs size and sha256`);
    }
    return variants;
  }

  private type(json: string, at: string): string {
    const known = this.types.get(json);
    if (known !== undefined) return known;
    const type = JSON.parse(json) as string;
    const problem = mediaTypeProblem(type);
    if (problem !== undefined) throw this.fail(`${at}: type ${problem}`);
    this.types.set(json, type);
    return type;
  }

  /** A line the builder did not write this way: named, with what is wrong with it if anything. */
  private notCanonical(json: string): never {
    let file: unknown;
    try {
      file = JSON.parse(json);
    } catch (e) {
      throw this.fail(`is not valid JSON: ${(e as Error).message} in ${JSON.stringify(json.slice(0, 120))}`);
    }
    const path = (file as { path?: unknown } | null)?.path;
    const problem = manifestFileProblem(file as null);
    throw this.fail(`files[${JSON.stringify(path)}]: ${problem ?? 'is not in the layout release build writes (path, size, sha256, type, mtime, headers, variants)'}`);
  }

  private fail(what: string): ManifestError {
    return new ManifestError(`${this.where}: ${what}`);
  }
}

/** A checked entry line and where its type value and headers are (see `EntryReader.split`). */
export interface SplitLine {
  readonly json: string;
  readonly path: string;
  /** Start of the type's JSON value, and its end (the `,"mtime":` after it). */
  readonly type: number;
  readonly mtime: number;
  /** Start of the headers object, and its end (the `,"variants":` after it). */
  readonly headers: number;
  readonly rest: number;
}

/** The line with another type (JSON text) and other headers (JSON text); everything else as it was. */
export function retype(l: SplitLine, typeJson: string, headersJson: string): string {
  return l.json.slice(0, l.type) + typeJson + l.json.slice(l.mtime, l.headers) + headersJson + l.json.slice(l.rest);
}

/** True when the entry has no variants (most files: cheaper than parsing them). */
export function hasNoVariants(e: EntryLine): boolean {
  return e.rest === NO_VARIANTS;
}

/**
 * The JSON text of header sets with one release's cache tags taken off (what the id hashes) or
 * swapped for another's (what a child release writes for a file it shares), once per distinct set.
 */
export class TagSwap {
  private readonly untagged = new Map<string, string>();
  private readonly swapped = new Map<string, string>();

  constructor(
    private readonly headers: (text: string) => Readonly<Record<string, string>>,
    private readonly from: string,
  ) {}

  /** `headersJson` (tagged for `from`) without the tags. */
  without(headersJson: string): string {
    let out = this.untagged.get(headersJson);
    if (out === undefined) {
      out = JSON.stringify(withoutCacheTags(this.headers(headersJson), this.from));
      this.untagged.set(headersJson, out);
    }
    return out;
  }

  /** `headersJson` (tagged for `from`) tagged for `to` instead. */
  to(headersJson: string, to: string): string {
    const key = to + headersJson;
    let out = this.swapped.get(key);
    if (out === undefined) {
      out = JSON.stringify(withCacheTags(withoutCacheTags(this.headers(headersJson), this.from), to));
      this.swapped.set(key, out);
    }
    return out;
  }
}

/** The entry as a release `to` writes it for the same file: the same line with the cache tags swapped. */
export function retagged(e: EntryLine, swap: TagSwap, to: string): string {
  return e.json.slice(0, e.json.length - e.rest.length - e.headersJson.length) + swap.to(e.headersJson, to) + e.rest;
}

/** The head of a manifest, checked; undefined when it does not read as one. */
export function readManifestHead(file: string): ManifestHead | undefined {
  let lines: ManifestLines | undefined;
  try {
    lines = ManifestLines.open(file);
    if (lines === undefined) return undefined;
    const head = checkHead({ ...lines.head(), files: [] }, (what) => new ManifestError(what));
    return { format: head.format as ManifestHead['format'], id: head.id as string, created: head.created as string };
  } catch (e) {
    if (e instanceof ManifestError) return undefined;
    throw e;
  } finally {
    lines?.close();
  }
}

/**
 * The id a release directory's manifest gives: from its head (a million-file manifest is ~1 GB as
 * objects), or from a whole read for another layout (which throws ManifestError for an invalid
 * one); undefined without a manifest.
 */
export function readManifestId(dir: string): string | undefined {
  return readManifestHead(join(dir, MANIFEST_NAME))?.id ?? readManifest(dir)?.id;
}

/** A streamed manifest's paths with their types (for `alternates`), and the carried paths `checkRest` adds. */
export class PathTypes implements PathSet {
  private readonly types = new Map<string, string>();
  private readonly typeOfJson = new Map<string, string>();
  private readonly carried = new Set<string>();
  file(path: string, typeJson: string): void {
    let type = this.typeOfJson.get(typeJson);
    if (type === undefined) this.typeOfJson.set(typeJson, (type = JSON.parse(typeJson) as string));
    this.types.set(path, type);
  }
  has(path: string): boolean {
    return this.types.has(path) || this.carried.has(path);
  }
  add(path: string): void {
    this.carried.add(path);
  }
  typeOf(path: string): string | undefined {
    return this.types.get(path);
  }
  [Symbol.iterator](): IterableIterator<string> {
    return this.types.keys();
  }
}
