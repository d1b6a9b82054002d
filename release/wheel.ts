/**
 * What the package index needs from one wheel: its name parts (the binary distribution format's
 * file name) and its core metadata (`<name>-<version>.dist-info/METADATA`, PEP 658's
 * `.metadata` file), read from the zip's central directory without reading the whole archive.
 *
 * A wheel is operator input: every offset and size is checked before it is used, the one entry
 * read is bounded, inflated with a cap and checked against its CRC-32. Anything wrong is a
 * {@link WheelProblem} saying what, which the caller turns into an error naming the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';

/** Why a file is not a usable wheel; the message names no file (the caller does). */
export class WheelProblem extends Error {
  override readonly name = 'WheelProblem';
}

export interface WheelName {
  /** The distribution part as written in the file name (`pi_origin_demo`). */
  readonly distribution: string;
  readonly version: string;
  /** PEP 503 normalized project name (`pi-origin-demo`): the `/simple/<name>/` segment. */
  readonly project: string;
}

export interface WheelMetadata {
  /** The METADATA entry's bytes, exactly: the `.metadata` file. */
  readonly bytes: Buffer;
  /** `Requires-Python`, when the metadata has one. */
  readonly requiresPython: string | undefined;
}

/** PEP 503: `re.sub(r"[-_.]+", "-", name).lower()`. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

const DISTRIBUTION = /^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._!+]*$/;
const TAG = /^[A-Za-z0-9_.]+$/;

/** `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, or a WheelProblem. */
export function parseWheelName(filename: string): WheelName {
  const parts = filename.endsWith('.whl') ? filename.slice(0, -4).split('-') : [];
  const [distribution, version] = parts;
  if ((parts.length !== 5 && parts.length !== 6) || !DISTRIBUTION.test(distribution as string) || !VERSION.test(version as string) || !parts.slice(2).every((p) => TAG.test(p)))
    throw new WheelProblem('not a wheel file name (name-version[-build]-python-abi-platform.whl)');
  return { distribution: distribution as string, version: version as string, project: normalizeName(distribution as string) };
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** A central directory larger than this is refused (the largest wheels have a few MB). */
const MAX_CENTRAL = 64 * 1024 * 1024;
/** A METADATA larger than this is refused (the largest on PyPI are well under 1 MB). */
export const MAX_METADATA = 16 * 1024 * 1024;

interface Entry {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc: number;
  readonly compressed: number;
  readonly size: number;
  readonly offset: number;
}

/** Reads the wheel at `file` (named `filename`) and returns its METADATA; throws WheelProblem, or the fs error. */
export function readWheelMetadata(file: string, name: WheelName): WheelMetadata {
  const fd = openSync(file, 'r');
  try {
    const entries = centralDirectory(fd, fstatSync(fd).size);
    const bytes = readEntry(fd, metadataEntry(entries));
    return { bytes, requiresPython: checkMetadata(bytes, name) };
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  for (let n = 0; done < length && (n = readSync(fd, buf, done, length - done, position + done)) > 0; done += n);
  if (done !== length) throw new WheelProblem('truncated zip archive');
  return buf;
}

/** Every entry of the central directory, found through the end record (after a comment of up to 64 KiB). */
function centralDirectory(fd: number, size: number): Entry[] {
  if (size < EOCD_SIZE) throw new WheelProblem('not a zip archive (too short)');
  const tailLength = Math.min(size, EOCD_SIZE + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  let at = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD && i + EOCD_SIZE + tail.readUInt16LE(i + 20) === tailLength) {
      at = i;
      break;
    }
  }
  if (at === -1) throw new WheelProblem('not a zip archive (no end of central directory record)');
  const count = tail.readUInt16LE(at + 10);
  const cdSize = tail.readUInt32LE(at + 12);
  const cdOffset = tail.readUInt32LE(at + 16);
  if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0) throw new WheelProblem('a multi-part zip archive');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw new WheelProblem('a zip64 archive, which is not supported');
  if (cdSize > MAX_CENTRAL || cdOffset + cdSize > size - tailLength + at) throw new WheelProblem('central directory out of bounds');
  const cd = readAt(fd, cdOffset, cdSize);
  const entries: Entry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw new WheelProblem('damaged central directory');
    const flags = cd.readUInt16LE(p + 8);
    const nameLength = cd.readUInt16LE(p + 28);
    const next = p + CENTRAL_SIZE + nameLength + cd.readUInt16LE(p + 30) + cd.readUInt16LE(p + 32);
    if (next > cd.length) throw new WheelProblem('damaged central directory');
    entries.push({
      name: cd.toString(flags & 0x800 ? 'utf8' : 'latin1', p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLength),
      method: cd.readUInt16LE(p + 10),
      flags,
      crc: cd.readUInt32LE(p + 16),
      compressed: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      offset: cd.readUInt32LE(p + 42),
    });
    p = next;
  }
  return entries;
}

/** The METADATA of the one top-level `.dist-info` directory (pip refuses a wheel with none or several). */
function metadataEntry(entries: readonly Entry[]): Entry {
  const dirs = new Set(entries.map((e) => e.name.split('/', 1)[0] as string).filter((d) => d.endsWith('.dist-info') && d.length > '.dist-info'.length));
  if (dirs.size !== 1) throw new WheelProblem(dirs.size === 0 ? 'no .dist-info directory' : `more than one .dist-info directory (${[...dirs].sort().join(', ')})`);
  const [dir] = dirs;
  const entry = entries.find((e) => e.name === `${dir as string}/METADATA`);
  if (entry === undefined) throw new WheelProblem(`no ${dir as string}/METADATA`);
  return entry;
}

function readEntry(fd: number, e: Entry): Buffer {
  if (e.flags & 0x1) throw new WheelProblem(`${e.name} is encrypted`);
  if (e.size > MAX_METADATA || e.compressed > MAX_METADATA) throw new WheelProblem(`${e.name} is larger than ${MAX_METADATA} bytes`);
  const local = readAt(fd, e.offset, LOCAL_SIZE);
  if (local.readUInt32LE(0) !== LOCAL) throw new WheelProblem(`${e.name}: damaged local header`);
  const data = readAt(fd, e.offset + LOCAL_SIZE + local.readUInt16LE(26) + local.readUInt16LE(28), e.compressed);
  let bytes: Buffer;
  if (e.method === 0) bytes = data;
  else if (e.method === 8) {
    try {
      bytes = inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      throw new WheelProblem(`${e.name}: cannot inflate (${(err as Error).message})`);
    }
  } else throw new WheelProblem(`${e.name}: compression method ${e.method} is not supported (stored or deflate)`);
  if (bytes.length !== e.size || crc32(bytes) !== e.crc) throw new WheelProblem(`${e.name}: size or CRC-32 does not match the central directory`);
  return bytes;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Checks the metadata names the wheel's project (pip refuses one that does not) and returns its
 * Requires-Python. Only the header block (RFC 822 style, up to the first blank line) is read.
 */
function checkMetadata(bytes: Buffer, wheel: WheelName): string | undefined {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new WheelProblem('METADATA is not UTF-8');
  }
  const fields = new Map<string, string>();
  // The field a continuation line (indented) belongs to; undefined after a repeated field, whose
  // first value counts (Name and Requires-Python appear once). Lines that are neither are
  // skipped, as Python's email parser skips them.
  let current: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (/^[ \t]/.test(line)) {
      if (current !== undefined) fields.set(current, `${fields.get(current) as string} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : undefined;
    current = field === undefined || fields.has(field) ? undefined : field;
    if (current !== undefined) fields.set(current, line.slice(colon + 1).trim());
  }
  const name = fields.get('name');
  if (name === undefined || name === '') throw new WheelProblem('METADATA has no Name');
  if (normalizeName(name) !== wheel.project) throw new WheelProblem(`METADATA names ${JSON.stringify(name)}, the file name ${JSON.stringify(wheel.distribution)}`);
  const requires = fields.get('requires-python');
  return requires === undefined || requires === '' ? undefined : requires;
}
