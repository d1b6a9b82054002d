/**
 * The file table: a large release's site index without an object per file. Built once on the
 * main thread while the manifest streams by (release/manifest-stream.ts); its arrays live in
 * SharedArrayBuffers, so posting it to the workers shares the memory instead of copying it, and
 * every worker looks paths up in the same bytes.
 *
 * Layout: one fixed-size record per file (size, mtime, sha256, path offset and length, type and
 * header-set numbers, variants, a page's alternate), a UTF-8 pool of paths, variant records (size, sha256) for the
 * few files that have them, and an open-addressing hash table from a path's hash to its record.
 * Types and header sets are few per site: they are stored once and referred to by number.
 * About 80 bytes per file plus its path, against ~2 KB per file as objects in every worker.
 */
import { ManifestError, type ManifestFile } from '../release/manifest.js';
import { OTHER_LAYOUT, streamManifest, wholeManifest, type ManifestHead, type ManifestSink } from '../release/manifest-stream.js';
import { ENCODINGS, VARIANT_SUFFIX, type IndexedFile, type IndexedVariant } from '../content/site-index.js';

/** Bytes per file record. */
const RECORD = 80;
// Offsets within a record.
const SIZE = 0; // f64
const MTIME = 8; // f64
const SHA = 16; // 32 bytes
const PATH_OFF = 48; // u32 (byte offset into the pool; 4 GiB of paths at most)
const PATH_LEN = 52; // u32
const TYPE = 56; // u16
const VARIANT_COUNT = 58; // u8
const HEADERS = 60; // u32
const VARIANTS = 64; // u32: the first variant record
const HASH = 68; // u32: hash of the path
const ALTERNATE = 72; // u32: a negotiated page's alternate (PEP 691 JSON beside HTML): its record + 1, or 0
/** Bytes per variant record: size (f64), encoding (u32), pad, sha256. */
const VARIANT = 48;

/** Plain data: what the main thread posts to each worker (the buffers are shared, not copied). */
export interface SiteTable {
  readonly kind: 'table';
  readonly root: string;
  readonly releaseId: string;
  readonly count: number;
  readonly totalBytes: number;
  readonly records: SharedArrayBuffer;
  readonly paths: SharedArrayBuffer;
  readonly variants: SharedArrayBuffer;
  /** Power-of-two sized; each slot holds a record number + 1, or 0 when empty. */
  readonly slots: SharedArrayBuffer;
  readonly types: readonly string[];
  readonly headerSets: readonly Readonly<Record<string, string>>[];
  readonly redirects: ManifestHead['redirects'];
  /** Other names of media types for pages with an alternate (release/package-index.ts); absent when no page has one. */
  readonly aliases?: Readonly<Record<string, string>>;
  readonly routes?: ManifestHead['routes'];
  readonly skipped: readonly string[];
  readonly fromManifest: true;
}

/** A release's manifest streamed into the file table; undefined when it has none. Throws ManifestError. */
export function loadTable(dir: string): SiteTable | undefined {
  let builder = new TableBuilder();
  let head = streamManifest(dir, builder);
  if (head === OTHER_LAYOUT) {
    builder = new TableBuilder();
    head = wholeManifest(dir, builder);
  }
  return head === undefined ? undefined : builder.finish(dir, head);
}

/** FNV-1a over the UTF-16 code units: the same for a path as the builder and a request see it. */
export function pathHash(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Grows a byte array by doubling: the count of files is unknown until the manifest ends. */
class Bytes {
  // A Buffer, to encode hex and UTF-8 in place (a Buffer per field per file costs ~10% of a load).
  buffer = Buffer.alloc(1 << 16);
  view = new DataView(this.buffer.buffer);
  length = 0;

  reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buffer.length) {
      let size = this.buffer.length * 2;
      while (size < at + n) size *= 2;
      const next = Buffer.alloc(size);
      next.set(this.buffer.subarray(0, at));
      this.buffer = next;
      this.view = new DataView(next.buffer);
    }
    this.length = at + n;
    return at;
  }

  /** The bytes so far, in a SharedArrayBuffer of their exact size. */
  shared(): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(this.length);
    new Uint8Array(sab).set(this.buffer.subarray(0, this.length));
    return sab;
  }
}

/** The sink the manifest streams into; `finish` gives the table. */
export class TableBuilder implements ManifestSink {
  private readonly records = new Bytes();
  private readonly pool = new Bytes();
  private readonly variantBytes = new Bytes();
  private readonly types = new Map<string, number>();
  private readonly headerSets = new Map<string, number>();
  /** The same object seen before (the stream shares one per distinct set): no key to build. */
  private readonly headerObjects = new Map<object, number>();
  private readonly headerList: Readonly<Record<string, string>>[] = [];
  /** The hash table so far (doubled as files arrive): for duplicates and `has` while streaming. */
  private slots: Uint32Array = new Uint32Array(16);
  private reader: Reader | undefined;
  private readonly extra = new Set<string>();
  private count = 0;
  private totalBytes = 0;

  /** Adds `f`; false (and nothing added) when its path is in the table already. */
  file(f: ManifestFile): boolean {
    const hash = pathHash(f.path);
    if (this.find(f.path, hash) !== -1) return false;
    const at = this.records.reserve(RECORD);
    const view = this.records.view;
    const bytes = this.records.buffer;
    view.setFloat64(at + SIZE, f.size, true);
    view.setFloat64(at + MTIME, f.mtime, true);
    bytes.write(f.sha256, at + SHA, 32, 'hex');
    const length = Buffer.byteLength(f.path, 'utf8');
    const off = this.pool.reserve(length);
    this.pool.buffer.write(f.path, off, length, 'utf8');
    view.setUint32(at + PATH_OFF, off, true);
    view.setUint32(at + PATH_LEN, length, true);
    const type = this.intern(this.types, f.type);
    if (type > 0xffff) throw new ManifestError(`files[${JSON.stringify(f.path)}]: more than 65,536 distinct types in one release`);
    view.setUint16(at + TYPE, type, true);
    view.setUint32(at + HEADERS, this.internHeaders(f.headers), true);
    const [first, n] = this.addVariants(f);
    view.setUint32(at + VARIANTS, first, true);
    view.setUint8(at + VARIANT_COUNT, n);
    view.setUint32(at + HASH, hash, true);
    this.count++;
    this.totalBytes += f.size;
    if (this.count * 2 > this.slots.length) this.slots = placeAll(new Uint32Array(this.slots.length * 2), this.records.view, this.count);
    else place(this.slots, hash, this.count - 1);
    return true;
  }

  typeOf(path: string): string | undefined {
    const i = this.find(path);
    return i === -1 ? undefined : (this.typeList()[this.records.view.getUint16(i * RECORD + TYPE, true)]);
  }

  has(path: string): boolean {
    return this.extra.has(path) || this.find(path) !== -1;
  }

  private find(path: string, hash = pathHash(path)): number {
    // The arrays move when they grow: a reader of the old ones would miss the newest files.
    if (this.reader?.over(this.records.buffer, this.pool.buffer) !== true) this.reader = new Reader(this.records.buffer, this.pool.buffer);
    return findIn(this.slots, this.reader, path, hash);
  }

  private typeList(): string[] {
    const types = new Array<string>(this.types.size);
    for (const [type, n] of this.types) types[n] = type;
    return types;
  }

  /** A carried (skew) path, announced before its entry arrives through `file`. */
  add(path: string): void {
    this.extra.add(path);
  }

  finish(root: string, head: ManifestHead): SiteTable {
    // Each negotiated page points at its alternate (validated by the stream: both are files).
    for (const [page, alternate] of Object.entries(head.alternates?.pages ?? {})) {
      this.records.view.setUint32(this.find(page) * RECORD + ALTERNATE, this.find(alternate) + 1, true);
    }
    const slots = new SharedArrayBuffer(this.slots.byteLength);
    new Uint32Array(slots).set(this.slots);
    const types = this.typeList();
    return {
      kind: 'table', root, releaseId: head.id, count: this.count, totalBytes: this.totalBytes,
      records: this.records.shared(), paths: this.pool.shared(), variants: this.variantBytes.shared(), slots,
      types, headerSets: this.headerList, redirects: head.redirects, ...(head.alternates === undefined ? {} : { aliases: head.alternates.aliases }), ...(head.routes === undefined ? {} : { routes: head.routes }),
      skipped: [], fromManifest: true,
    };
  }

  private intern(map: Map<string, number>, value: string): number {
    let n = map.get(value);
    if (n === undefined) map.set(value, (n = map.size));
    return n;
  }

  private internHeaders(headers: Readonly<Record<string, string>>): number {
    const same = this.headerObjects.get(headers);
    if (same !== undefined) return same;
    const n = this.internHeadersByValue(headers);
    // Bounded: a manifest read whole has an object per file, and those are not kept.
    if (this.headerObjects.size < 1024) this.headerObjects.set(headers, n);
    return n;
  }

  private internHeadersByValue(headers: Readonly<Record<string, string>>): number {
    const key = JSON.stringify(headers);
    let n = this.headerSets.get(key);
    if (n === undefined) {
      n = this.headerList.length;
      this.headerSets.set(key, n);
      this.headerList.push(headers);
    }
    return n;
  }

  /** Writes br then gzip, as present, in consecutive records; returns the first's number and how many. */
  private addVariants(f: ManifestFile): [number, number] {
    const first = this.variantBytes.length / VARIANT;
    let n = 0;
    ENCODINGS.forEach((encoding, e) => {
      const v = f.variants[encoding];
      if (v === undefined) return;
      const at = this.variantBytes.reserve(VARIANT);
      this.variantBytes.view.setFloat64(at, v.size, true);
      this.variantBytes.view.setUint32(at + 8, e, true);
      this.variantBytes.buffer.set(Buffer.from(v.sha256, 'hex'), at + 16);
      n++;
    });
    return [first, n];
  }
}

/** Puts record `i` into the first free slot from its hash (linear probing; at most half full). */
function place(slots: Uint32Array, hash: number, i: number): void {
  const mask = slots.length - 1;
  let s = hash & mask;
  while (slots[s] !== 0) s = (s + 1) & mask;
  slots[s] = i + 1;
}

function placeAll(slots: Uint32Array, records: DataView, count: number): Uint32Array {
  for (let i = 0; i < count; i++) place(slots, records.getUint32(i * RECORD + HASH, true), i);
  return slots;
}

/** The record number of `path` in `slots`, or -1. */
function findIn(slots: Uint32Array, reader: Reader, path: string, hash = pathHash(path)): number {
  const mask = slots.length - 1;
  for (let s = hash & mask; ; s = (s + 1) & mask) {
    const r = slots[s] as number;
    if (r === 0) return -1;
    if (reader.view.getUint32((r - 1) * RECORD + HASH, true) === hash && reader.pathIs(r - 1, path)) return r - 1;
  }
}

/** Reads records; shared by the builder (for `has`) and the lookup. */
class Reader {
  readonly view: DataView;
  readonly pool: Buffer;
  private scratch = Buffer.allocUnsafe(1024);

  constructor(records: Uint8Array | SharedArrayBuffer, pool: Uint8Array | SharedArrayBuffer) {
    this.view = records instanceof Uint8Array ? new DataView(records.buffer, records.byteOffset, records.byteLength) : new DataView(records);
    this.pool = pool instanceof Uint8Array ? Buffer.from(pool.buffer, pool.byteOffset, pool.byteLength) : Buffer.from(pool);
  }

  /** True when this reader reads exactly these arrays. */
  over(records: Uint8Array, pool: Uint8Array): boolean {
    return this.view.buffer === records.buffer && this.pool.buffer === pool.buffer;
  }

  pathIs(i: number, path: string): boolean {
    const at = i * RECORD;
    const len = this.view.getUint32(at + PATH_LEN, true);
    if (len < path.length || len > path.length * 3) return false;
    // Room for one more character than `len`: a longer path then writes more than `len` bytes.
    if (this.scratch.length < len + 4) this.scratch = Buffer.allocUnsafe(len * 2 + 4);
    const written = this.scratch.write(path, 0, 'utf8');
    if (written !== len) return false;
    const off = this.view.getUint32(at + PATH_OFF, true);
    return this.pool.compare(this.scratch, 0, len, off, off + len) === 0;
  }
}

/** A worker's view of a SiteTable: find a path, read a file's fields. */
export class FileTable {
  private readonly reader: Reader;
  private readonly slots: Uint32Array;
  private readonly variants: DataView;
  private readonly variantBytes: Buffer;
  private readonly records: Buffer;

  constructor(readonly data: SiteTable) {
    this.reader = new Reader(data.records, data.paths);
    this.records = Buffer.from(data.records);
    this.slots = new Uint32Array(data.slots);
    this.variants = new DataView(data.variants);
    this.variantBytes = Buffer.from(data.variants);
  }

  get count(): number {
    return this.data.count;
  }

  /** The record number of `path`, or -1. */
  find(path: string): number {
    return findIn(this.slots, this.reader, path);
  }

  /** The record of the alternate of the page at record `i`, or -1. */
  alternateOf(i: number): number {
    return this.reader.view.getUint32(i * RECORD + ALTERNATE, true) - 1;
  }

  /** The path of record `i`. */
  pathAt(i: number): string {
    const at = i * RECORD;
    const off = this.reader.view.getUint32(at + PATH_OFF, true);
    return this.reader.pool.toString('utf8', off, off + this.reader.view.getUint32(at + PATH_LEN, true));
  }

  /** The file at record `i`, whose path is `path` (the caller found it by that path). */
  file(i: number, path: string): IndexedFile {
    const view = this.reader.view;
    const at = i * RECORD;
    const file = path.slice(1);
    const variants: IndexedVariant[] = [];
    const first = view.getUint32(at + VARIANTS, true);
    const n = view.getUint8(at + VARIANT_COUNT);
    for (let v = first; v < first + n; v++) {
      const vat = v * VARIANT;
      const encoding = ENCODINGS[this.variants.getUint32(vat + 8, true)] as (typeof ENCODINGS)[number];
      variants.push({ encoding, file: file + VARIANT_SUFFIX[encoding], size: this.variants.getFloat64(vat, true), sha256: this.variantBytes.toString('hex', vat + 16, vat + 48) });
    }
    return {
      path, file,
      size: view.getFloat64(at + SIZE, true),
      sha256: this.records.toString('hex', at + SHA, at + SHA + 32),
      mtimeMs: view.getFloat64(at + MTIME, true),
      type: this.data.types[view.getUint16(at + TYPE, true)] as string,
      headers: this.data.headerSets[view.getUint32(at + HEADERS, true)],
      variants,
    };
  }
}
