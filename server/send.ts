/**
 * Writing bodies to uWS responses with backpressure, following uWS's VideoStreamer example:
 * `tryEnd` a chunk; when it does not fit, wait for `onWritable` and send the unsent rest (for a
 * cached body, from the body; for a streamed file, read again from disk, see streamFile).
 * Every response that outlives its handler has exactly one onAborted (registered through
 * Flight before anything asynchronous) and finishes exactly once.
 */
import { close, fstat, fstatSync, open, read, type Stats } from 'node:fs';
import type { HttpResponse } from 'uWebSockets.js';

/** Bodies up to this size are written with one `end`; larger ones with `tryEnd` and backpressure. */
export const END_AT_ONCE = 64 * 1024;
const CHUNK = 256 * 1024;

/**
 * Life of one response that outlives its handler: the abort flag, what to run on abort, and a
 * finish callback that runs exactly once (completed, failed or aborted).
 */
export class Flight {
  aborted = false;
  /** Body bytes uWS has taken so far: what a response the client aborted is counted and logged with. */
  sent = 0;
  /** Set before the server closes the connection itself (a cut stream, a fault): that is no client abort. */
  closedByServer = false;
  private onAbort: (() => void) | undefined;
  private finished = false;

  constructor(
    readonly res: HttpResponse,
    /** The status being sent, reported when the client goes away before the last byte. */
    readonly status: number,
    /** `status` 0: nothing to count (the server cut it). `aborted`: the client went away. */
    private readonly onFinish: (status: number, bytes: number, aborted: boolean) => void,
  ) {
    res.onAborted(() => {
      this.aborted = true;
      const cb = this.onAbort;
      this.onAbort = undefined;
      cb?.();
      this.end(this.closedByServer ? 0 : this.status, this.sent, !this.closedByServer);
    });
  }

  /** What to release if the client goes away (closing a file, for example). */
  whenAborted(cb: (() => void) | undefined): void {
    this.onAbort = cb;
  }

  /** The last byte was handed to uWS (or, with `status` 0, the response ends uncounted). */
  finish(status: number, bytes: number): void {
    this.end(status, bytes, false);
  }

  /** Closes the connection for the server's own reason: not counted as the client's abort. */
  cut(): void {
    this.closedByServer = true;
    this.res.close();
  }

  private end(status: number, bytes: number, aborted: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.onAbort = undefined;
    this.onFinish(status, bytes, aborted);
  }
}

/**
 * Sends `body` as the whole response body (headers already written, inside a cork).
 * Small bodies complete at once; large ones may continue on onWritable, which needs a Flight.
 * Returns true when the response completed synchronously.
 */
export function sendBuffer(res: HttpResponse, body: Buffer, flight: () => Flight, status: number): boolean {
  if (body.length <= END_AT_ONCE) {
    res.end(body);
    return true;
  }
  const total = body.length;
  const base = res.getWriteOffset();
  const [, done] = res.tryEnd(body, total);
  if (done) return true;
  const f = flight();
  f.sent = res.getWriteOffset() - base;
  res.onWritable((offset) => {
    f.sent = offset - base;
    const [ok, finished] = res.tryEnd(body.subarray(offset - base), total);
    if (finished) f.finish(status, total);
    return ok;
  });
  return false;
}

/** Size, and when known mtime (whole seconds) and ctime, must all still match the index. */
function changedSince(st: Stats, slice: DiskSlice): boolean {
  const known = (n: number): boolean => n === n; // not NaN
  return st.size !== slice.size || (known(slice.mtimeSec) && Math.floor(st.mtimeMs / 1000) !== slice.mtimeSec) || (known(slice.ctimeMs) && st.ctimeMs !== slice.ctimeMs);
}

export interface DiskSlice {
  readonly path: string;
  readonly start: number;
  readonly length: number;
  /** Size and mtime (whole seconds; NaN: not compared) the index recorded; a file that differs is not sent. */
  readonly size: number;
  readonly mtimeSec: number;
  /** Change time recorded at indexing; NaN to skip the check (manifest-described files). */
  readonly ctimeMs: number;
}

/** What a stream reports back to the handler, which owns statuses, counters and warnings. */
export interface StreamHooks {
  /** Writes status and headers; runs (corked) once the file is open and still matches the index. */
  readonly head: () => void;
  /** Nothing was sent: the file cannot be opened or no longer matches the index. */
  readonly refuse: (err: NodeJS.ErrnoException) => void;
  /** The head was sent, then a read failed or the file changed: the connection is being cut. */
  readonly cut: (err: NodeJS.ErrnoException) => void;
}

function changedError(path: string, when: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path} changed ${when}`), { code: 'ECHANGED' });
}

/**
 * After a read: the open file must be as it was when opened. write(2) and truncate set mtime
 * before they change a byte, so a read that overlapped either is followed by a different mtime
 * (or size). Renaming another file over it or deleting it changes neither (the open inode keeps
 * its bytes): those downloads complete. A sync fstat on an open fd is one syscall, no disk I/O.
 */
function rewrittenSinceOpen(fd: number, opened: Stats, path: string): NodeJS.ErrnoException | undefined {
  try {
    const st = fstatSync(fd);
    return st.size === opened.size && st.mtimeMs === opened.mtimeMs ? undefined : changedError(path, 'while being sent');
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

/**
 * Read buffers shared by every stream of this thread, at most MAX_CHUNKS of them: streaming
 * memory is bounded per worker, whatever the number of clients. A stream holds a chunk only
 * from its read until uWS has taken what fits (synchronously, in tryEnd), never while it waits
 * on a client, so a client that stops reading costs a descriptor and no body memory (the unsent
 * rest is read again when the socket is writable; it is in the page cache). Reads beyond
 * MAX_CHUNKS wait their turn in order; the thread pool runs only four at a time anyway.
 */
const MAX_CHUNKS = 16;
const spareChunks: Buffer[] = [];
let chunksMade = 0;
const chunkWaiters: { readonly flight: Flight; readonly use: (chunk: Buffer) => void }[] = [];

/** Runs `use` with a chunk now, or once one is given back; never for a flight aborted meanwhile. */
function withChunk(flight: Flight, use: (chunk: Buffer) => void): void {
  let chunk = spareChunks.pop();
  if (chunk === undefined && chunksMade < MAX_CHUNKS) {
    chunksMade++;
    chunk = Buffer.allocUnsafe(CHUNK);
  }
  if (chunk === undefined) chunkWaiters.push({ flight, use });
  else use(chunk);
}

function giveChunk(chunk: Buffer): void {
  let next = chunkWaiters.shift();
  while (next?.flight.aborted) next = chunkWaiters.shift();
  if (next === undefined) spareChunks.push(chunk);
  else next.use(chunk);
}

/**
 * Streams a slice of a file. `hooks.head` runs once the file is open and still matches the
 * index; `hooks.refuse` gets the error instead when it cannot be opened or has changed. Once the
 * head is out, a failed read, an early end of file or a write to the file cuts the connection
 * (after `hooks.cut`): bytes read after a change are never sent under the old headers.
 * The fd is closed exactly once: at the end, on error, or on abort (after any read in progress).
 * Each read starts at the first byte uWS has not taken, so nothing is kept between a write that
 * did not fit and the client's next onWritable.
 */
export function streamFile(flight: Flight, slice: DiskSlice, hooks: StreamHooks, status: number): void {
  const res = flight.res;
  let fd = -1;
  let opened: Stats;
  let reading = false;
  /** Set while the socket is full: the next onWritable resumes reading. */
  let waiting = false;
  /** uWS's write offset before the first body byte: body bytes taken = getWriteOffset() - base. */
  let base = 0;
  const release = (): void => {
    if (fd !== -1) close(fd, () => undefined);
    fd = -1;
  };
  flight.whenAborted(() => {
    if (!reading) release();
  });
  const complete = (): void => {
    release();
    flight.finish(status, slice.length);
  };
  /** Offers `n` bytes of `chunk` to uWS (corked), then gives the chunk back: uWS keeps no reference. */
  const write = (chunk: Buffer, n: number): void => {
    const [ok, done] = res.tryEnd(chunk.subarray(0, n), slice.length);
    giveChunk(chunk);
    if (done) complete();
    else if (ok) pump();
    else waiting = true;
  };
  const pump = (): void => {
    withChunk(flight, (chunk) => {
      reading = true;
      const sent = res.getWriteOffset() - base;
      flight.sent = sent;
      read(fd, chunk, 0, Math.min(chunk.length, slice.length - sent), slice.start + sent, (err, n) => {
        reading = false;
        if (flight.aborted) {
          giveChunk(chunk);
          return release();
        }
        const problem = err ?? (n === 0 ? changedError(slice.path, 'while being sent (it ended early)') : rewrittenSinceOpen(fd, opened, slice.path));
        if (problem !== undefined) {
          // The head is already out: the only honest signal left is to cut the connection.
          giveChunk(chunk);
          release();
          hooks.cut(problem);
          flight.cut();
          return;
        }
        res.cork(() => write(chunk, n));
      });
    });
  };
  res.onWritable(() => {
    // Ignored unless a write did not fit (a read in progress, or a spurious event, otherwise).
    if (waiting) {
      waiting = false;
      pump();
    }
    return true;
  });

  open(slice.path, 'r', (err, handle) => {
    if (err !== null) return flight.aborted ? undefined : hooks.refuse(err);
    fd = handle;
    if (flight.aborted) return release();
    fstat(fd, (err2, st) => {
      if (flight.aborted) return release();
      if (err2 !== null || changedSince(st, slice)) {
        release();
        return hooks.refuse(err2 ?? changedError(slice.path, 'since it was indexed'));
      }
      opened = st;
      res.cork(hooks.head);
      base = res.getWriteOffset();
      if (slice.length === 0) {
        res.cork(() => res.end());
        release();
        flight.finish(status, 0);
        return;
      }
      pump();
    });
  });
}
