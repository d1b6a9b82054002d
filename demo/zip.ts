/**
 * A minimal, deterministic zip writer: STORED entries (no compression), one fixed timestamp
 * for every entry, no extra fields, no data descriptors, no zip64. Enough for the demo's tiny
 * wheels; the same entries always give the same bytes, on any machine and any Node version.
 * `deflate` compresses instead, as real wheels are: its output may change with the bundled
 * zlib, so the demo never uses it (tests of the wheel reader do).
 *
 * Layout (APPNOTE.TXT 4.3): [local file header + data]... central directory, end record.
 */
import { deflateRawSync } from 'node:zlib';

export interface ZipEntry {
  /** Path inside the archive, `/`-separated, no leading `/`. Encoded as UTF-8 (flag bit 11). */
  readonly name: string;
  readonly data: Buffer | string;
}

export interface ZipOptions {
  /** Timestamp of every entry, in UTC (zip stores local DOS time; UTC fields are written). */
  readonly mtime?: Date;
  /** DEFLATE every entry (method 8) instead of storing it; not byte-stable across zlib versions. */
  readonly deflate?: boolean;
}

/** 2025-01-01 00:00:00 (the demo download's mtime). */
export const DEFAULT_ZIP_MTIME = new Date(Date.UTC(2025, 0, 1));

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;
const VERSION_NEEDED = 20; // 2.0: directories / plain STORED files
const VERSION_MADE_BY = (3 << 8) | 20; // host 3 = Unix, so external attributes carry a mode
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FILE_MODE = 0o100644; // regular file, rw-r--r--
const MAX_16 = 0xffff;
const MAX_32 = 0xffffffff;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as used by zip and gzip. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** MS-DOS date and time words; DOS time has 2-second resolution and starts in 1980. */
function dosDateTime(d: Date): { date: number; time: number } {
  const year = d.getUTCFullYear();
  if (year < 1980 || year > 2107) throw new RangeError(`zip timestamps cover 1980..2107, not ${year}`);
  return {
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

/** Builds a zip archive holding `entries` in the order given. Names must be unique. */
export function zip(entries: readonly ZipEntry[], options: ZipOptions = {}): Buffer {
  const { date, time } = dosDateTime(options.mtime ?? DEFAULT_ZIP_MTIME);
  const seen = new Set<string>();
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;

  for (const entry of entries) {
    if (entry.name === '' || entry.name.startsWith('/') || entry.name.includes('\\') || entry.name.split('/').includes('..')) {
      throw new Error(`bad zip entry name: ${JSON.stringify(entry.name)}`);
    }
    if (seen.has(entry.name)) throw new Error(`duplicate zip entry: ${entry.name}`);
    seen.add(entry.name);
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data;
    if (name.length > MAX_16 || data.length >= MAX_32) throw new Error(`zip entry too large for a non-zip64 archive: ${entry.name}`);
    const crc = crc32(data);
    const method = options.deflate === true ? METHOD_DEFLATE : METHOD_STORED;
    const stored = options.deflate === true ? deflateRawSync(data) : data;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_SIG, 0);
    local.writeUInt16LE(VERSION_NEEDED, 4);
    local.writeUInt16LE(FLAG_UTF8, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18); // compressed size
    local.writeUInt32LE(data.length, 22); // uncompressed size
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // extra field length
    locals.push(local, name, stored);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL_SIG, 0);
    central.writeUInt16LE(VERSION_MADE_BY, 4);
    central.writeUInt16LE(VERSION_NEEDED, 6);
    central.writeUInt16LE(FLAG_UTF8, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(date, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra field length
    central.writeUInt16LE(0, 32); // comment length
    central.writeUInt16LE(0, 34); // disk number start
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE((FILE_MODE << 16) >>> 0, 38); // external attributes: Unix mode in the high word
    central.writeUInt32LE(offset, 42); // offset of the local header
    centrals.push(central, name);

    offset += local.length + name.length + stored.length;
    if (offset >= MAX_32) throw new Error('zip archive too large for a non-zip64 archive');
  }
  if (entries.length > MAX_16) throw new Error('too many zip entries for a non-zip64 archive');

  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_SIG, 0);
  end.writeUInt16LE(0, 4); // this disk
  end.writeUInt16LE(0, 6); // disk with the central directory
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20); // comment length
  return Buffer.concat([...locals, ...centrals, end]);
}
