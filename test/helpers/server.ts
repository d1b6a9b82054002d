/**
 * Test helpers: start the built origin (dist/) on a free loopback port, and speak raw HTTP/1.1
 * over a real socket so tests can assert exact status lines, headers and body bytes.
 */
import { connect } from 'node:net';
import type { Test } from 'tap';
import { resolveOptions, type RawOptions, type ServeOptions } from '../../dist/server/config.js';
import { startOrigin, type OriginNode } from '../../dist/server/origin.js';

export interface Started {
  readonly node: OriginNode;
  readonly port: number;
  readonly options: ServeOptions;
  readonly warnings: string[];
}

/** Starts an origin on [::1]:0 with one worker and no watching unless `flags` say otherwise. */
export async function startServer(t: Test, root: string, flags: RawOptions = {}): Promise<Started> {
  const options = resolveOptions({ flags: { listen: ['[::1]:0'], workers: '1', watch: false, ...flags }, positionalRoot: root, defaultRoot: root });
  const warnings: string[] = [];
  const node = await startOrigin(options, { warn: (m) => warnings.push(m) });
  t.teardown(() => node.close());
  return { node, port: node.ports[0] as number, options, warnings };
}

export interface RawResponse {
  readonly statusLine: string;
  readonly status: number;
  /** Lower-cased names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  /** Header names in the order sent (original case). */
  readonly headerNames: readonly string[];
  readonly body: Buffer;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly host?: string;
}

/** One request with `Connection: close`; everything after the head is the body, byte for byte. */
export async function request(port: number, path: string, opts: RequestOptions = {}): Promise<RawResponse> {
  const headers = { Host: 'origin.test', ...opts.headers, Connection: 'close' };
  const head = `${opts.method ?? 'GET'} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const data = await rawExchange(port, head, opts.host);
  const responses = parseResponses(data, opts.method === 'HEAD');
  if (responses.length !== 1) throw new Error(`expected one response, got ${responses.length}`);
  return responses[0] as RawResponse;
}

/** Sends `text` (or bytes) as-is and collects everything until the server closes or `ms` pass. */
export function rawExchange(port: number, text: string | Buffer, host = '::1', ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host, port }, () => s.write(text));
    const timer = setTimeout(() => s.destroy(), ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e) => (chunks.length > 0 ? undefined : reject(e)));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Splits a byte stream into responses using Content-Length (no chunked encoding is expected
 * from this server). 1xx/204/304 and HEAD responses have no body.
 */
export function parseResponses(data: Buffer, head = false): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end === -1) throw new Error(`incomplete head: ${JSON.stringify(data.subarray(at).toString('latin1').slice(0, 200))}`);
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const statusLine = lines[0] as string;
    const headers: Record<string, string> = {};
    const headerNames: string[] = [];
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i);
      headerNames.push(name);
      const key = name.toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
    }
    const status = Number(statusLine.split(' ')[1]);
    const noBody = head || status === 304 || status === 204 || status < 200;
    const length = noBody ? 0 : Number(headers['content-length'] ?? data.length - end - 4);
    out.push({ statusLine, status, headers, headerNames, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}
