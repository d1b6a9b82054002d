/**
 * One HTTP request from the operator's side to a node (status, metrics, the content check, the
 * gate's probes, a stats page): a fresh connection, one deadline over connect, headers and the
 * whole body, and a cap on the body held in memory. A node that answers slowly or streams without
 * end fails the request; it never holds the caller past its deadline or grows it past the cap.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Status, metrics and error documents are a few hundred bytes to a few KiB; anything far larger is not one. */
export const DOCUMENT_MAX_BYTES = 1 << 20;

export interface Endpoint {
  /** Name or literal, without brackets; an IPv6 zone (`fe80::1%eth0`) is kept as is. */
  readonly host: string;
  readonly port: number;
  readonly tls?: boolean;
  /** Accept any certificate: the gate checks serving, not certificates, and nodes often have self-signed ones. */
  readonly anyCertificate?: boolean;
  /** `user:password` for basic authentication (a stats page's `stats auth`). */
  readonly auth?: string;
  /** Only for a host name that must resolve to one family; a literal is never looked up. */
  readonly family?: 4 | 6;
}

export interface OnceOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Covers connect, the response head and the whole body: not an idle timeout. */
  readonly timeoutMs: number;
  /**
   * The most body bytes held; a longer body fails the request. `'discard'` reads the status and
   * headers and closes the connection without reading the body (for checks that need no body).
   */
  readonly maxBodyBytes: number | 'discard';
  readonly signal?: AbortSignal;
}

export interface OnceAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Why a request failed, in words short enough for a table cell: `refused`, `timeout`, `body over 1048576 bytes`. */
export class HttpOnceError extends Error {
  override readonly name = 'HttpOnceError';
}

const ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'name lookup failed',
};

function describeError(e: NodeJS.ErrnoException): string {
  return (e.code !== undefined ? ERRORS[e.code] : undefined) ?? e.code ?? e.message;
}

/** `http://[::1]:8080` or `https://user:pw@pi1.lan` as an {@link Endpoint}. */
export function endpointOf(url: URL, anyCertificate = false): Endpoint {
  const tls = url.protocol === 'https:';
  const auth = url.username === '' && url.password === '' ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? (tls ? 443 : 80) : Number(url.port), tls, anyCertificate, auth };
}

const EMPTY = Buffer.alloc(0);

/**
 * Sends one request for `path` (sent as given: the caller encodes it) and resolves with the
 * answer, whatever its status; rejects with an {@link HttpOnceError} on a network error, at the
 * deadline, on abort, or when the body passes the cap.
 */
export function httpOnce(endpoint: Endpoint, path: string, opts: OnceOptions): Promise<OnceAnswer> {
  const send = endpoint.tls === true ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: OnceAnswer | HttpOnceError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', aborted);
      req.destroy();
      if (outcome instanceof HttpOnceError) reject(outcome);
      else resolve(outcome);
    };
    const fail = (message: string): void => finish(new HttpOnceError(message));
    const aborted = (): void => fail('stopped');
    const req = send(
      {
        host: endpoint.host,
        port: endpoint.port,
        path,
        method: opts.method ?? 'GET',
        family: endpoint.family,
        agent: false,
        headers: { ...opts.headers },
        auth: endpoint.auth,
        rejectUnauthorized: endpoint.anyCertificate !== true,
      },
      (res) => {
        const head = { status: res.statusCode ?? 0, headers: res.headers };
        if (opts.maxBodyBytes === 'discard') return finish({ ...head, body: EMPTY });
        readCapped(res, opts.maxBodyBytes, fail, (body) => finish({ ...head, body }));
      },
    );
    const timer = setTimeout(() => fail('timeout'), opts.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => fail(describeError(e)));
    if (opts.signal?.aborted === true) aborted();
    else opts.signal?.addEventListener('abort', aborted);
    req.end();
  });
}

/** Collects at most `max` bytes; one byte more fails (the caller then destroys the connection). */
function readCapped(res: IncomingMessage, max: number, fail: (message: string) => void, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  res.on('data', (c: Buffer) => {
    length += c.length;
    if (length > max) fail(`body over ${max} bytes`);
    else chunks.push(c);
  });
  res.on('end', () => done(Buffer.concat(chunks)));
  res.on('error', (e) => fail(e.message));
  res.on('aborted', () => fail('connection closed mid-response'));
}
