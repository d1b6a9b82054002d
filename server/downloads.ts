/**
 * Download counts from the access log (access-log.ts writes it): the hot path pays nothing
 * beyond the log line it writes anyway, and the counts survive restarts, releases and node
 * changes, since the logs do. A download is a GET answered 200 with the whole body (not
 * aborted, where the JSON format says so), counted per file path: the request target without
 * its query, normalised as the server looks it up (`/a%20b` and `/a b` are one file).
 *
 * Both formats are read: JSON lines (`--log-format json`, which also says `aborted`) and
 * combined. Lines of neither, or of another request, are counted as skipped, never an error:
 * a log holds whatever clients sent.
 */
import { normalisePath } from '../index/path.js';

export interface LogEntry {
  readonly method: string;
  /** Request target as logged (path and query). */
  readonly target: string;
  readonly status: number;
  readonly bytes: number;
  /** Ms since the epoch, NaN when the line's time cannot be read. */
  readonly time: number;
  readonly aborted: boolean;
}

// 2001:db8::1 - - [04/Dec/2026:17:30:00 +0000] "GET /x HTTP/1.1" 200 123 "-" "pip/24"
const COMBINED = /^\S+ \S+ \S+ \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+)/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** One access-log line in either format; undefined for anything else. */
export function parseLogLine(line: string): LogEntry | undefined {
  if (line.startsWith('{')) {
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    if (typeof r['method'] !== 'string' || typeof r['target'] !== 'string' || typeof r['status'] !== 'number') return undefined;
    return {
      method: r['method'], target: r['target'], status: r['status'],
      bytes: typeof r['bytes'] === 'number' ? r['bytes'] : 0,
      time: typeof r['time'] === 'string' ? Date.parse(r['time']) : NaN,
      aborted: r['aborted'] === true,
    };
  }
  const m = COMBINED.exec(line);
  if (m === null) return undefined;
  const [, dd, mon, yyyy, hh, mi, ss, zone, method, target, status, bytes] = m as unknown as string[];
  const month = MONTHS.indexOf(mon as string);
  const offset = (Number(zone?.slice(0, 1) + '1') * (Number(zone?.slice(1, 3)) * 60 + Number(zone?.slice(3, 5)))) * 60_000;
  const time = month === -1 ? NaN : Date.UTC(Number(yyyy), month, Number(dd), Number(hh), Number(mi), Number(ss)) - offset;
  // The combined format escapes `"` and `\` as \xNN (access-log.ts); a path has neither once decoded.
  return { method: method as string, target: (target as string).replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), status: Number(status), bytes: Number(bytes), time, aborted: false };
}

export type GroupBy = 'file' | 'directory';

export interface DownloadRow {
  /** The file path, or with `directory` the directory's path ending in `/`. */
  readonly path: string;
  readonly downloads: number;
  readonly bytes: number;
}

export interface CountOptions {
  /** Lines logged before this time (ms) are not counted; NaN-timed lines are then skipped. */
  readonly since?: number;
  readonly by?: GroupBy;
}

/** Counts downloads line by line; `top` sorts them. */
export class DownloadCounter {
  private readonly counts = new Map<string, { downloads: number; bytes: number }>();
  lines = 0;
  /** Lines of neither format. */
  unreadable = 0;
  downloads = 0;

  constructor(private readonly options: CountOptions = {}) {}

  add(line: string): void {
    if (line === '') return;
    this.lines++;
    const e = parseLogLine(line);
    if (e === undefined) {
      this.unreadable++;
      return;
    }
    if (e.method !== 'GET' || e.status !== 200 || e.aborted) return;
    if (this.options.since !== undefined && !(e.time >= this.options.since)) return;
    const q = e.target.indexOf('?');
    const key = normalisePath(q === -1 ? e.target : e.target.slice(0, q));
    if (typeof key !== 'string') return;
    const path = this.options.by === 'directory' ? key.slice(0, key.lastIndexOf('/') + 1) : key;
    const c = this.counts.get(path);
    if (c === undefined) this.counts.set(path, { downloads: 1, bytes: e.bytes });
    else {
      c.downloads++;
      c.bytes += e.bytes;
    }
    this.downloads++;
  }

  /** Distinct paths downloaded. */
  get paths(): number {
    return this.counts.size;
  }

  /** The `n` most downloaded, most first (ties by path). */
  top(n: number): DownloadRow[] {
    const rows: DownloadRow[] = [];
    for (const [path, c] of this.counts) rows.push({ path, downloads: c.downloads, bytes: c.bytes });
    return rows.sort((a, b) => b.downloads - a.downloads || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).slice(0, n);
  }
}

/**
 * The top rows as a Prometheus text file for node_exporter's textfile collector: a gauge per
 * path (the count over the logs read, not a counter this process keeps).
 */
export function downloadsTextfile(rows: readonly DownloadRow[], total: number): string {
  const label = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return [
    '# HELP pi_origin_log_downloads Downloads (GET 200, whole body) per path in the access logs read by pi-origin downloads.',
    '# TYPE pi_origin_log_downloads gauge',
    ...rows.map((r) => `pi_origin_log_downloads{path="${label(r.path)}"} ${r.downloads}`),
    '# HELP pi_origin_log_downloads_all Downloads of every path in the access logs read.',
    '# TYPE pi_origin_log_downloads_all gauge',
    `pi_origin_log_downloads_all ${total}`,
    '',
  ].join('\n');
}
