/**
 * HAProxy's view of the backend servers, as `show stat` prints it: over the runtime API socket
 * (the dualstack_proxy role's `stats socket`) or from a stats page's CSV export (`...;csv`).
 * Read-only: the dashboard never sends HAProxy anything but `show stat`.
 */
import { connect } from 'node:net';
import type { ProxyServer, ProxyState } from './dashboard-state.js';
import { endpointOf, httpOnce } from '../common/http-once.js';

export type ProxySource = { readonly kind: 'socket'; readonly path: string } | { readonly kind: 'url'; readonly url: URL };

/** `show stat` for every proxy, servers only (type 4), every server id. */
export const SHOW_STAT = 'show stat -1 4 -1\n';
/** A few hundred bytes per server; a stats answer far larger than this is not one. */
const MAX_BYTES = 4 << 20;

export function describeSource(source: ProxySource): string {
  return source.kind === 'socket' ? `socket ${source.path}` : source.url.href;
}

/** The servers HAProxy lists, or why they could not be read. Never rejects. */
export async function readProxy(source: ProxySource, timeoutMs: number, signal?: AbortSignal): Promise<ProxyServer[] | string> {
  const text = source.kind === 'socket' ? await readSocket(source.path, timeoutMs, signal) : await readUrl(source.url, timeoutMs, signal);
  return text.ok ? parseShowStat(text.body) : text.error;
}

type Read = { ok: true; body: string } | { ok: false; error: string };

const SOCKET_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such socket',
  EACCES: 'permission denied (the socket is mode 600: run as its owner, or give the dashboard a stats URL)',
  ECONNREFUSED: 'refused (HAProxy not running?)',
  ENOTSOCK: 'not a socket',
};

/** One command on the runtime API: HAProxy answers and closes (non-interactive mode). */
function readSocket(path: string, timeoutMs: number, signal?: AbortSignal): Promise<Read> {
  return collect(timeoutMs, signal, (done) => {
    const chunks: Buffer[] = [];
    let length = 0;
    // Not end(): HAProxy answers one command and closes; a half-close first may cut the answer short.
    const s = connect(path, () => s.write(SHOW_STAT));
    s.on('data', (c: Buffer) => {
      length += c.length;
      if (length > MAX_BYTES) done({ ok: false, error: 'answer too large' });
      else chunks.push(c);
    });
    s.on('end', () => done({ ok: true, body: Buffer.concat(chunks).toString('utf8') }));
    s.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: (e.code !== undefined ? SOCKET_ERRORS[e.code] : undefined) ?? e.code ?? e.message }));
    return () => s.destroy();
  });
}

async function readUrl(url: URL, timeoutMs: number, signal?: AbortSignal): Promise<Read> {
  try {
    const a = await httpOnce(endpointOf(url), url.pathname + url.search, { headers: { Accept: 'text/csv, text/plain', 'User-Agent': 'pi-origin-cluster' }, timeoutMs, maxBodyBytes: MAX_BYTES, signal });
    return a.status === 200 ? { ok: true, body: a.body.toString('utf8') } : { ok: false, error: `HTTP ${a.status}` };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** Runs `start` with one deadline and one abort; the first result wins and the rest is torn down. */
function collect(timeoutMs: number, signal: AbortSignal | undefined, start: (done: (r: Read) => void) => () => void): Promise<Read> {
  return new Promise((resolve) => {
    let settled = false;
    let stop = (): void => undefined;
    const done = (r: Read): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
      stop();
      resolve(r);
    };
    const aborted = (): void => done({ ok: false, error: 'stopped' });
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), timeoutMs);
    stop = start(done);
    if (signal?.aborted === true) aborted();
    else signal?.addEventListener('abort', aborted);
  });
}

/**
 * The server rows of a `show stat` CSV (a header line `# pxname,svname,...`, then one line per
 * proxy, backend and server), or why the text is not one.
 */
export function parseShowStat(csv: string): ProxyServer[] | string {
  const lines = csv.split('\n').map((l) => l.replace(/\r$/, ''));
  const header = lines[0] ?? '';
  if (!header.startsWith('# pxname,svname,')) return `not a show stat answer: ${JSON.stringify(header.slice(0, 80))}`;
  const columns = splitCsv(header.slice(2));
  const at = (name: string): number => columns.indexOf(name);
  const [pxname, svname, status, checkStatus, scur, lastchg, type] = ['pxname', 'svname', 'status', 'check_status', 'scur', 'lastchg', 'type'].map(at) as [number, number, number, number, number, number, number];
  if (status === -1) return 'not a show stat answer: no status column';
  const servers: ProxyServer[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const f = splitCsv(line);
    const field = (i: number): string => (i === -1 ? '' : (f[i] ?? ''));
    const name = field(svname);
    if (type !== -1 ? field(type) !== '2' : name === 'FRONTEND' || name === 'BACKEND') continue;
    const change = field(lastchg);
    servers.push({
      backend: field(pxname),
      server: name,
      state: proxyState(field(status)),
      status: field(status),
      check: field(checkStatus).replace(/^\* /, ''),
      sessions: Number(field(scur)) || 0,
      lastChangeSeconds: /^\d+$/.test(change) ? Number(change) : null,
    });
  }
  return servers;
}

/** `UP 1/2` (going down) is still UP, `MAINT(via)` is MAINT; `no check` is its own state. */
export function proxyState(status: string): ProxyState {
  const m = /^(UP|DOWN|DRAIN|MAINT|NOLB)\b/.exec(status);
  if (m !== null) return m[1] as ProxyState;
  return status.toLowerCase() === 'no check' ? 'NO CHECK' : 'OTHER';
}

/** One CSV line: commas, with fields in double quotes (`""` inside) where HAProxy quotes them. */
function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}
