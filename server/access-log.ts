/**
 * Access log in combined or JSON-lines format, buffered and written with plain fd writes
 * (worker threads write straight to the file or to fd 1, not through the main thread).
 * The file is opened O_APPEND, so whole-line batches from several workers never interleave
 * mid-line; reopen() is called on SIGHUP/SIGUSR1 after logrotate moved the file.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** What the handler copies from a request for its log line (only when a log is configured). */
export interface LogRecord {
  readonly client: string;
  readonly method: string;
  readonly target: string;
  readonly referer: string;
  readonly userAgent: string;
  /** The Host header as sent ('' when none). */
  readonly host: string;
  /** The listener's scheme. */
  readonly scheme: 'http' | 'https';
  /** The release the request was answered from (a preview's, once known). */
  release: string;
  /** Content-Encoding of the representation chosen (`identity` for none); null when no file was chosen. */
  encoding: string | null;
  /** Where the body came from: the worker's cache, a read into it, or streamed from disk; null: no file body. */
  cache: 'hit' | 'miss' | 'stream' | null;
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 1000;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export class AccessLog {
  private fd: number;
  private lines: string[] = [];
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;
  private clfSecond = -1;
  private clfText = '';

  constructor(
    /** `stdout` or an absolute file path. */
    private readonly destination: string,
    private readonly format: 'combined' | 'json',
  ) {
    this.fd = this.open();
    this.timer = setInterval(() => this.flush(), FLUSH_MS).unref();
  }

  /** One response: its status, body bytes sent, time to last byte (or to the abort) and whether the client aborted it. */
  write(r: LogRecord, status: number, bytes: number, ms: number, aborted: boolean): void {
    const line = this.format === 'json' ? this.json(r, status, bytes, ms, aborted) : this.combined(r, status, bytes);
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    try {
      writeSync(this.fd, text);
    } catch {
      // A full disk or a closed stdout must not take the server down; the lines are dropped.
    }
  }

  /** Flushes and reopens the file (logrotate moved it). A no-op for stdout. */
  reopen(): void {
    this.flush();
    if (this.destination === 'stdout') return;
    const old = this.fd;
    this.fd = this.open();
    closeSync(old);
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    if (this.destination !== 'stdout') closeSync(this.fd);
  }

  private open(): number {
    return this.destination === 'stdout' ? 1 : openSync(this.destination, 'a', 0o640);
  }

  private combined(r: LogRecord, status: number, bytes: number): string {
    return `${r.client} - - [${this.clfNow()}] "${r.method} ${escape(r.target)} HTTP/1.1" ${status} ${bytes} "${escape(r.referer || '-')}" "${escape(r.userAgent || '-')}"\n`;
  }

  private json(r: LogRecord, status: number, bytes: number, ms: number, aborted: boolean): string {
    return (
      JSON.stringify({
        time: new Date().toISOString(),
        client: r.client,
        method: r.method,
        host: r.host,
        target: r.target,
        protocol: 'HTTP/1.1',
        scheme: r.scheme,
        status,
        bytes,
        durationMs: Math.round(ms * 1000) / 1000,
        release: r.release,
        encoding: r.encoding,
        cache: r.cache,
        aborted,
        referer: r.referer,
        userAgent: r.userAgent,
      }) + '\n'
    );
  }

  /** `27/Nov/2026:00:24:36 +0000`, rebuilt once per second. */
  private clfNow(): string {
    const now = Date.now();
    const sec = Math.floor(now / 1000);
    if (sec !== this.clfSecond) {
      const d = new Date(sec * 1000);
      const p = (n: number): string => String(n).padStart(2, '0');
      this.clfText = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()] ?? ''}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
      this.clfSecond = sec;
    }
    return this.clfText;
  }
}

/** Keeps a log line one line: quotes, backslashes and control bytes are escaped. */
function escape(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/["\\\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}
