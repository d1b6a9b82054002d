/**
 * The dashboard over HTTP (node:http: the controller is not the hot path). Four things are
 * served, all read-only: the page, `/api/state` (the last poll as JSON), the gate/bench report
 * files listed in that state, and a favicon. Nothing here changes the cluster.
 *
 * The dashboard listens on loopback and has no login, so a web page the operator visits could try
 * to read it through DNS rebinding (its own name re-pointed at ::1). Requests whose Host is not an
 * address or `localhost` are refused for that reason.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { parseNodeAddress } from './address.js';
import { REPORT_FILE } from './dashboard-reports.js';
import type { Dashboard } from './dashboard.js';

export interface Site {
  readonly dashboard: Pick<Dashboard, 'stateJson'>;
  /** The page and its Content-Security-Policy (cluster/dashboard-page.ts). */
  readonly page: { readonly html: string; readonly csp: string };
  /** Directories the report links point into, by index (`/reports/0/...`). */
  readonly reportDirs: readonly string[];
}

/** Headers on every answer: nothing is cached, sniffed, framed or sent on as a referrer. */
const COMMON = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

/** The gate and bench reports are static documents with inline styles and no script (load-tests/report/html.ts). */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/** A one-colour "pi" mark, so browsers do not ask for /favicon.ico and log a 404. */
export const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0072b2"/><text x="8" y="12" font-size="10" font-family="sans-serif" fill="#fff" text-anchor="middle">π</text></svg>';

export function createDashboardServer(site: Site): Server {
  return createServer((req, res) => {
    route(site, req).then(
      (a) => send(res, a),
      () => send(res, text(500, 'internal error')),
    );
  });
}

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

const text = (status: number, body: string, headers?: Record<string, string>): Answer => ({ status, type: 'text/plain; charset=utf-8', body: body + '\n', ...(headers === undefined ? {} : { headers }) });

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, { ...COMMON, ...a.headers, 'Content-Type': a.type, 'Content-Length': String(Buffer.byteLength(a.body)) });
  // For HEAD, node:http sends the headers only.
  res.end(a.body);
}

/** The answer to one request; checks in order: Host, method, path. */
export async function route(site: Site, req: IncomingMessage): Promise<Answer> {
  const hostProblem = checkHost(req.headers.host);
  if (hostProblem !== undefined) return text(hostProblem.status, hostProblem.message);
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
  const path = (req.url ?? '/').split('?')[0] as string;
  if (path === '/') return { status: 200, type: 'text/html; charset=utf-8', body: site.page.html, headers: { 'Content-Security-Policy': site.page.csp } };
  if (path === '/api/state') {
    const json = site.dashboard.stateJson();
    return json === '' ? text(503, 'the first poll is still running', { 'Retry-After': '1' }) : { status: 200, type: 'application/json; charset=utf-8', body: json };
  }
  if (path === '/favicon.svg') return { status: 200, type: 'image/svg+xml', body: FAVICON };
  if (path.startsWith('/reports/')) return report(site.reportDirs, path);
  return text(404, 'not found');
}

/** `/reports/<dir index>/<file>`: only names the gate and bench write, only in the configured directories. */
async function report(dirs: readonly string[], path: string): Promise<Answer> {
  const m = /^\/reports\/(\d{1,3})\/([^/]+)$/.exec(path);
  const dir = m === null ? undefined : dirs[Number(m[1])];
  let name: string | undefined;
  try {
    name = m === null ? undefined : decodeURIComponent(m[2] as string);
  } catch {
    name = undefined;
  }
  const kind = name === undefined ? null : REPORT_FILE.exec(name);
  if (dir === undefined || name === undefined || kind === null) return text(404, 'not found');
  let body: Buffer;
  try {
    body = await readFile(join(dir, name));
  } catch {
    return text(404, 'not found');
  }
  return kind[2] === 'html'
    ? { status: 200, type: 'text/html; charset=utf-8', body, headers: { 'Content-Security-Policy': REPORT_CSP } }
    : { status: 200, type: 'application/json; charset=utf-8', body };
}

/** Undefined when the Host header names an IP address or localhost (with any port). */
export function checkHost(host: string | undefined): { status: number; message: string } | undefined {
  if (host === undefined || host === '') return { status: 400, message: 'a Host header is required' };
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::\d{1,5})?$/.exec(host);
  if (m?.[1] !== undefined && parseNodeAddress(m[1])?.kind === 'ipv6') return undefined;
  if (m?.[2] !== undefined && (m[2].toLowerCase() === 'localhost' || parseNodeAddress(m[2])?.kind === 'ipv4')) return undefined;
  return { status: 421, message: `the dashboard answers only to an IP address or localhost in Host (got ${JSON.stringify(host.slice(0, 100))}): a DNS name could be a rebinding attack` };
}
