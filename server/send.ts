/**
 * Writing bodies to uWS responses with backpressure, following uWS's VideoStreamer example:
 * `tryEnd` a chunk; when it does not fit, wait for `onWritable` and retry the unsent rest.
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
  private onAbort: (() => void) | undefined;
  private finished = false;

  constructor(
    readonly res: HttpResponse,
    private readonly onFinish: (status: number, bytes: number) => void,
  ) {
    res.onAborted(() => {
      this.aborted = true;
      const cb = this.onAbort;
      this.onAbort = undefined;
      cb?.();
      this.finish(0, 0);
    });
  }

  /** What to release if the client goes away (closing a file, for example). */
  whenAborted(cb: (() => void) | undefined): void {
    this.onAbort = cb;
  }

  finish(status: number, bytes: number): void {
    if (this.finished) return;
    this.finished = true;
    this.onAbort = undefined;
    this.onFinish(status, bytes);
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
  res.onWritable((offset) => {
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
 * Streams a slice of a file. `hooks.head` runs once the file is open and still matches the
 * index; `hooks.refuse` gets the error instead when it cannot be opened or has changed. Once the
 * head is out, a failed read, an early end of file or a write to the file cuts the connection
 * (after `hooks.cut`): bytes read after a change are never sent under the old headers.
 * The fd is closed exactly once: at the end, on error, or on abort (after any read in progress).
 */
export function streamFile(flight: Flight, slice: DiskSlice, hooks: StreamHooks, status: number): void {
  const res = flight.res;
  let fd = -1;
  let opened: Stats;
  let reading = false;
  let position = slice.start;
  const end = slice.start + slice.length;
  const buffer = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, slice.length)));
  const release = (): void => {
    if (fd !== -1) close(fd, () => undefined);
    fd = -1;
  };
  flight.whenAborted(() => {
    if (!reading) release();
  });

  // Set while a chunk waits for onWritable; the handler is registered once and ignores
  // writable events at other times (a read in progress owns `buffer` then).
  let waiting = false;
  let chunk = buffer;
  let base = 0;
  const complete = (): void => {
    release();
    flight.finish(status, slice.length);
  };
  const pump = (): void => {
    reading = true;
    read(fd, buffer, 0, Math.min(buffer.length, end - position), position, (err, n) => {
      reading = false;
      if (flight.aborted) return release();
      const problem = err ?? (n === 0 ? changedError(slice.path, 'while being sent (it ended early)') : rewrittenSinceOpen(fd, opened, slice.path));
      if (problem !== undefined) {
        // The head is already out: the only honest signal left is to cut the connection.
        release();
        hooks.cut(problem);
        res.close();
        return;
      }
      position += n;
      chunk = buffer.subarray(0, n);
      res.cork(() => {
        base = res.getWriteOffset();
        const [ok, done] = res.tryEnd(chunk, slice.length);
        if (done) complete();
        else if (ok) pump();
        else waiting = true;
      });
    });
  };
  res.onWritable((offset) => {
    if (!waiting) return true;
    const [ok, done] = res.tryEnd(chunk.subarray(offset - base), slice.length);
    if (done) {
      waiting = false;
      complete();
    } else if (ok) {
      waiting = false;
      pump();
    }
    return ok;
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
