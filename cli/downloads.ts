/** `pi-origin downloads`: the most downloaded files, counted from access logs (server/downloads.ts). */
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parseDuration } from '../common/units.js';
import { writeFileAtomic } from '../common/write-atomic.js';
import { DownloadCounter, downloadsTextfile, type GroupBy } from '../server/downloads.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';

const DEFAULT_TOP = 20;
const MAX_TOP = 1_000_000;

export const DOWNLOADS: Subcommand = {
  summary: 'count downloads per file (or directory) from access logs, most first',
  usage: 'pi-origin downloads [--log FILE]... [--top N] [--by file|directory] [--since TIME] [--json] [--textfile FILE]',
  help: [
    'Reads access logs as `serve --access-log` writes them (JSON lines or combined; files',
    'compressed by logrotate are read too; without --log, standard input) and counts downloads:',
    'GET requests answered 200 with the whole body, per path without the query string. A range',
    "request (206), a 304, a HEAD or an aborted download (JSON logs say so) is not one. Lines of",
    'another format are counted as unreadable and skipped.',
    '',
    'The counting costs the server nothing beyond its log line. Logs from several nodes can be',
    'read together; a journal-only node: journalctl -u pi-origin -o cat | pi-origin downloads.',
    '',
    'Exit 0 when the logs were read; 1 when one cannot be read; 2 for a usage error.',
    '',
    'Options:',
    '  --log FILE         an access log (repeatable; .gz files are decompressed)',
    `  --top N            rows to print (default ${DEFAULT_TOP})`,
    '  --by file|directory  count per file (default) or per directory (a project of a package index)',
    '  --since TIME       only lines logged at or after TIME: an ISO 8601 time or a duration before now (24h)',
    '  --json             print {lines, unreadable, downloads, paths, top: [{path, downloads, bytes}]}',
    '  --textfile FILE    also write the top rows for node_exporter\'s textfile collector (atomically)',
  ].join('\n'),
  examples: [
    'pi-origin downloads --log /var/log/pi-origin/access.log --log /var/log/pi-origin/access.log.1 --top 10',
    'pi-origin downloads --log access.log.2.gz --by directory --since 24h --json',
    'pi-origin downloads --log access.log --textfile /var/lib/prometheus/node-exporter/pi-origin-downloads.prom',
  ],
  flags: { log: 'list', top: 'value', by: 'value', since: 'value', json: 'boolean', textfile: 'value' },
  run: downloads,
};

interface Options {
  readonly logs: readonly string[];
  readonly top: number;
  readonly by: GroupBy;
  readonly since: number | undefined;
  readonly json: boolean;
  readonly textfile: string | undefined;
}

function options(flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>, now: number): Options {
  const topText = flags.get('top') as string | undefined;
  const top = topText === undefined ? DEFAULT_TOP : Number(topText);
  if (!Number.isSafeInteger(top) || top < 1 || top > MAX_TOP) throw new UsageError(`--top must be a whole number from 1 to ${MAX_TOP} (got ${JSON.stringify(topText)})`);
  const by = (flags.get('by') as string | undefined) ?? 'file';
  if (by !== 'file' && by !== 'directory') throw new UsageError(`--by must be file or directory (got ${JSON.stringify(by)})`);
  const sinceText = flags.get('since') as string | undefined;
  let since: number | undefined;
  if (sinceText !== undefined) {
    const ago = parseDuration(sinceText);
    since = ago !== undefined ? now - ago : /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-]\d{2}:\d{2})?$/.test(sinceText) ? Date.parse(sinceText) : NaN;
    if (!Number.isFinite(since)) throw new UsageError(`--since must be an ISO 8601 time (2026-12-01T00:00:00Z) or a duration (24h) (got ${JSON.stringify(sinceText)})`);
  }
  return { logs: lists.get('log') ?? [], top, by, since, json: flags.has('json'), textfile: flags.get('textfile') as string | undefined };
}

/** The log's lines: gunzipped when the file starts with gzip's magic bytes. */
function linesOf(path: string): AsyncIterable<string> {
  const fd = openSync(path, 'r');
  const magic = Buffer.alloc(2);
  const n = readSync(fd, magic, 0, 2, 0);
  closeSync(fd);
  const file = createReadStream(path);
  const input: Readable = n === 2 && magic[0] === 0x1f && magic[1] === 0x8b ? file.pipe(createGunzip()) : file;
  file.on('error', (e) => input.destroy(e));
  return createInterface({ input, crlfDelay: Infinity });
}

async function downloads(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const o = options(flags, lists, Date.now());
  const counter = new DownloadCounter({ by: o.by, ...(o.since === undefined ? {} : { since: o.since }) });
  const progress = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\rpi-origin downloads: ${counter.lines.toLocaleString('en-US')} lines read`), 2000) : undefined;
  try {
    for (const log of o.logs.length === 0 ? ['-'] : o.logs) {
      try {
        const lines = log === '-' ? createInterface({ input: process.stdin, crlfDelay: Infinity }) : linesOf(log);
        for await (const line of lines) counter.add(line);
      } catch (e) {
        return fail(`--log: cannot read ${log}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 1);
      }
    }
  } finally {
    if (progress !== undefined) {
      clearInterval(progress);
      process.stderr.write('\n');
    }
  }
  const top = counter.top(o.top);
  if (o.textfile !== undefined) {
    try {
      writeFileAtomic(o.textfile, downloadsTextfile(top, counter.downloads));
    } catch (e) {
      return fail(`--textfile: cannot write ${o.textfile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 1);
    }
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ lines: counter.lines, unreadable: counter.unreadable, downloads: counter.downloads, paths: counter.paths, top }) + '\n');
    return 0;
  }
  const width = Math.max(9, ...top.map((r) => r.downloads.toLocaleString('en-US').length));
  process.stdout.write(
    [
      `${'downloads'.padStart(width)}  ${o.by === 'file' ? 'file' : 'directory'}`,
      ...top.map((r) => `${r.downloads.toLocaleString('en-US').padStart(width)}  ${r.path}`),
      `${counter.downloads.toLocaleString('en-US')} downloads of ${counter.paths.toLocaleString('en-US')} ${o.by === 'file' ? 'files' : 'directories'} in ${counter.lines.toLocaleString('en-US')} lines` +
        (counter.unreadable > 0 ? ` (${counter.unreadable.toLocaleString('en-US')} unreadable, skipped)` : ''),
      '',
    ].join('\n'),
  );
  return 0;
}
