/**
 * The uWS adapter: turns one request into one response. Everything it needs per request was
 * prepared when the lookup was built (index/lookup.ts); here is one Map lookup, a few header
 * reads and writes. All request data is copied synchronously (HttpRequest is stack-allocated),
 * and every response that outlives the handler goes through a Flight (send.ts).
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { formatAddress, inAny, isLoopbackPrefix, type Cidr } from '../common/address.js';
import { resolveClient, toV6Bytes } from './client-address.js';
import type { AccessLog, LogRecord } from './access-log.js';
import { ContentChangedError, type BodyStore } from './body-store.js';
import { ifRangeMatches, noneMatch, notModifiedSince } from './conditional.js';
import { CACHE_NOT_FOUND } from '../content/header-rules.js';
import { FileEntry, StatusPage, type Lookup, type Entry, type Redirect, type Representation } from '../index/lookup.js';
import { BR, chooseEncoding, GZIP, NONE, parseAcceptEncoding } from './encoding.js';
import { GET, methodIndex, ResponseClock, type MethodIndex, type WorkerMetrics } from './metrics.js';
import { normalisePath } from '../index/path.js';
import { parseRange, type ByteRange } from './range.js';
import { Flight, sendBuffer, streamFile } from './send.js';
import type { ServeOptions } from './config.js';
import { PREVIEW_HEADERS, type Previews, type PreviewTarget } from './preview.js';

export const ADMIN_PREFIX = '/_origin/';

export interface AdminEndpoints {
  /**
   * Answers an admin path and returns the status sent, or 0 when the path is not an admin
   * endpoint, or -1 when the answer comes later through the Flight `later(status)` made.
   */
  answer(res: HttpResponse, path: string, isHead: boolean, later: (status: number) => Flight): number;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK', 204: '204 No Content', 206: '206 Partial Content', 301: '301 Moved Permanently', 302: '302 Found', 303: '303 See Other', 304: '304 Not Modified',
  307: '307 Temporary Redirect', 308: '308 Permanent Redirect',
  400: '400 Bad Request', 403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 406: '406 Not Acceptable',
  416: '416 Range Not Satisfiable', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};
const TEXT_PLAIN = 'text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff';

/** A preview's answers without a body of their own (server/preview.ts): never stored by a shared cache, never indexed. */
const PREVIEW_PLAIN = `${TEXT_PLAIN}\r\nCache-Control: ${PREVIEW_HEADERS['Cache-Control']}\r\nX-Robots-Tag: ${PREVIEW_HEADERS['X-Robots-Tag']}`;

/** No body and no representation: the status line, plain text and a no-store (a preview's own head for a preview). */
function plainHead(status: number, preview = false): string {
  if (preview) return PREVIEW_PLAIN;
  return `${TEXT_PLAIN}\r\nCache-Control: ${status === 404 ? CACHE_NOT_FOUND : 'no-store'}`;
}

/**
 * The Content-Type block of a redirect, by status. A permanent redirect may be cached briefly and
 * shared; a temporary one (302, 303, 307) is not stored at all: it may point elsewhere with the next
 * release, and a cache that kept it for 60 s would keep sending clients there (docs/releases.md).
 */
const REDIRECT_HEAD: Readonly<Record<Redirect['status'], string>> = {
  301: `${TEXT_PLAIN}\r\nCache-Control: ${CACHE_NOT_FOUND}`,
  308: `${TEXT_PLAIN}\r\nCache-Control: ${CACHE_NOT_FOUND}`,
  302: plainHead(302),
  303: plainHead(303),
  307: plainHead(307),
};

/** Every method this server answers: GET and HEAD, and OPTIONS (204) that lists them. */
const ALLOW = 'GET, HEAD, OPTIONS';

/**
 * Every X-Forwarded-For line, joined with ',' (RFC 9110 5.3). getHeader returns only the first,
 * and a proxy that adds its own line (HAProxy's `option forwardfor`) leaves the client's forged
 * line first: the rightmost hop, the one the proxy wrote, must be the one read.
 */
function forwardedFor(req: HttpRequest): string {
  let all: string | undefined;
  req.forEach((key, value) => {
    if (key === 'x-forwarded-for') all = all === undefined ? value : `${all},${value}`;
  });
  return all ?? '';
}

/** The socket peer's address, 16 bytes (`::` when uWS has none). */
function peerOf(res: HttpResponse): Uint8Array {
  return toV6Bytes(res.getRemoteAddress()) ?? new Uint8Array(16);
}

/** The raw query string; this uWS build returns undefined rather than '' when there is none. */
function queryOf(req: HttpRequest): string {
  const query: string | undefined = req.getQuery();
  return query ?? '';
}

export class OriginHandler {
  /** Swapped atomically by the worker on re-index; each request reads it once, at its start. */
  index: Lookup;
  /** Files whose read failure this worker has reported: the main thread gets each once. */
  private readonly reported = new Set<string>();
  /**
   * --admin-allow without its loopback prefixes: what a client address relayed by a trusted
   * proxy (PROXY v2 or X-Forwarded-For) is matched against. A relayed `::1` says only that the
   * proxy's client was local to the proxy (any user on that host), never that it is this node's
   * operator; loopback prefixes are for the socket peer alone.
   */
  private readonly relayedAdminAllow: readonly Cidr[];
  /** --preview-allow without its loopback prefixes, for a relayed client address (as above). */
  private readonly relayedPreviewAllow: readonly Cidr[];

  constructor(
    index: Lookup,
    private readonly bodies: BodyStore,
    private readonly metrics: WorkerMetrics,
    private readonly options: ServeOptions,
    private readonly admin: AdminEndpoints,
    private readonly log: AccessLog | undefined,
    /** Called once per file (per worker) that cannot be read, with its path and the error code. */
    private readonly reportReadError: (path: string, reason: string) => void,
    /** A response whose code threw after the handler returned: closes its connection, counts and logs it. */
    private readonly fault: ResponseFault,
    /** Set only when a preview host or path is configured: the live site pays nothing otherwise. */
    private readonly previews?: Previews,
  ) {
    this.index = index;
    this.relayedAdminAllow = options.adminAllow.filter((c) => !isLoopbackPrefix(c));
    this.relayedPreviewAllow = (options.preview?.allow ?? []).filter((c) => !isLoopbackPrefix(c));
  }

  /**
   * The request being handled: set at the handler's start and read by `done` before the handler
   * returns (a thread handles one request at a time); a Flight copies them for later.
   */
  private started = 0;
  private readonly clock = new ResponseClock();
  private method: MethodIndex = GET;
  private record: LogRecord | undefined;

  /** The uWS route handlers for every method and path, on plain and on TLS listeners. */
  readonly handle = (res: HttpResponse, req: HttpRequest): void => this.serve(res, req, 'http');
  readonly handleTls = (res: HttpResponse, req: HttpRequest): void => this.serve(res, req, 'https');

  private serve(res: HttpResponse, req: HttpRequest, scheme: 'http' | 'https'): void {
    this.started = this.clock.start();
    // Before getMethod(), which lower-cases the method in uWS's buffer: the log keeps it as sent.
    this.record = this.log === undefined ? undefined : this.captureLog(res, req, scheme);
    const method = req.getMethod();
    const isHead = method === 'head';
    this.method = methodIndex(method);
    if (!isHead && method !== 'get') return this.wrongMethod(res, method);
    const url = req.getUrl();
    const index = this.index;
    if (url.startsWith(ADMIN_PREFIX) && this.adminAllowed(res, req)) {
      const status = this.admin.answer(res, url, isHead, (later) => this.fly(res, later));
      if (status > 0) return this.done(status, 0);
      if (status < 0) return;
    }
    if (this.previews !== undefined) {
      const target = this.previews.target(req.getHeader('host'), url);
      if (target !== undefined) return this.servePreview(res, req, target, isHead);
    }
    this.serveFrom(res, req, index, url, isHead, '');
  }

  /** Answers `url` from `index`; `base` goes before a redirect's Location (a preview's path prefix). */
  private serveFrom(res: HttpResponse, req: HttpRequest, index: Lookup, url: string, isHead: boolean, base: string): void {
    let entry: Entry | undefined = url.indexOf('%') === -1 ? index.entries.get(url) : undefined;
    if (entry === undefined) {
      const key = normalisePath(url);
      if (typeof key === 'number') return this.plain(res, index, key, isHead);
      entry = index.entries.get(key);
      if (entry === undefined) {
        // The `_redirects` rules with placeholders or splats: only where no file or static rule answers.
        entry = index.routes?.miss(key);
        if (entry === undefined) return this.notFound(res, req, index, isHead);
      } else if (index.forcedRoutes !== undefined) entry = index.forcedRoutes.hit(key) ?? entry;
    } else if (index.forcedRoutes !== undefined) {
      entry = index.forcedRoutes.hit(url) ?? entry;
    }
    // A negotiated page (index/negotiate.ts): its HTML or its alternate, by Accept.
    if (entry instanceof FileEntry) return this.serveFile(res, req, index, entry.alternate === undefined ? entry : entry.alternate.pick(entry, req.getHeader('accept')), isHead);
    if (entry instanceof StatusPage) return this.sendRepresentation(res, index, representationFor(entry.page, req) ?? entry.page.identity, undefined, isHead, entry.status);
    const query = queryOf(req);
    const target = base !== '' && entry.location.startsWith('/') ? base + entry.location : entry.location;
    const location = query === '' || target.includes('?') ? target : `${target}?${query}`;
    res.writeStatus(STATUS_TEXT[entry.status] as string).writeHeader('Location', location).writeHeader('Content-Type', index.preview ? PREVIEW_PLAIN : REDIRECT_HEAD[entry.status]).writeHeader('X-Origin-Release', index.releaseId).end();
    this.done(entry.status, 0);
  }

  /**
   * A preview request: 403 to a client outside --preview-allow, 404 for a release this node does
   * not hold; every answer private (server/preview.ts). An invalid manifest throws: the worker's
   * guard closes that connection and reports it, as for any fault of one response.
   */
  private servePreview(res: HttpResponse, req: HttpRequest, target: PreviewTarget, isHead: boolean): void {
    const previews = this.previews as Previews;
    const refusal = { releaseId: this.index.releaseId, preview: true };
    if (previews.options.allow.length > 0 && !this.clientAllowed(res, req, previews.options.allow, this.relayedPreviewAllow)) return this.plain(res, refusal, 403, isHead);
    const lookup = previews.lookup(target.id);
    if (lookup === undefined) return this.plain(res, refusal, 404, isHead);
    if (this.record !== undefined) this.record.release = lookup.releaseId;
    this.serveFrom(res, req, lookup, target.url, isHead, target.base);
  }

  /** The current request's response was sent in full before the handler returned. */
  private done(status: number, bytes: number): void {
    this.settle(this.started, this.method, this.record, status, bytes, false);
  }

  /** Counts (and logs) one response: finished, or aborted by the client after `bytes` body bytes. */
  private settle(started: number, method: MethodIndex, record: LogRecord | undefined, status: number, bytes: number, aborted: boolean): void {
    const ms = this.clock.end() - started;
    if (aborted) this.metrics.aborted(bytes);
    else this.metrics.response(status, method, bytes, ms);
    if (record !== undefined) this.log?.write(record, status, bytes, ms, aborted);
  }

  private captureLog(res: HttpResponse, req: HttpRequest, scheme: 'http' | 'https'): LogRecord {
    const query = queryOf(req);
    return {
      client: formatAddress(this.clientOf(res, req)),
      method: req.getCaseSensitiveMethod(),
      target: query === '' ? req.getUrl() : `${req.getUrl()}?${query}`,
      referer: req.getHeader('referer'),
      userAgent: req.getHeader('user-agent'),
      host: req.getHeader('host'),
      scheme,
      release: this.index.releaseId,
      encoding: null,
      cache: null,
    };
  }

  private clientOf(res: HttpResponse, req: HttpRequest, peer: Uint8Array = peerOf(res)): Uint8Array {
    const proxied = res.getProxiedRemoteAddress();
    const trusted = this.options.trustedProxy;
    // Headers are read only from a trusted proxy that sent no PROXY v2 address.
    const xff = toV6Bytes(proxied) === undefined && trusted.length > 0 && inAny(peer, trusted) ? forwardedFor(req) : '';
    return resolveClient(peer, proxied, xff, trusted);
  }

  private adminAllowed(res: HttpResponse, req: HttpRequest): boolean {
    return this.clientAllowed(res, req, this.options.adminAllow, this.relayedAdminAllow);
  }

  /** The client is in `direct` (the socket peer) or `relayed` (an address a trusted proxy relayed). */
  private clientAllowed(res: HttpResponse, req: HttpRequest, direct: readonly Cidr[], relayed: readonly Cidr[]): boolean {
    const peer = peerOf(res);
    const client = this.clientOf(res, req, peer);
    // resolveClient hands back `peer` itself when no proxy relayed an address.
    return inAny(client, client === peer ? direct : relayed);
  }

  private serveFile(res: HttpResponse, req: HttpRequest, index: Lookup, entry: FileEntry, isHead: boolean): void {
    const rep = representationFor(entry, req);
    if (rep === undefined) return this.plain(res, index, 406, isHead, entry.identity.head.varyLine);
    if (this.record !== undefined) this.record.encoding = rep.head.contentEncoding;
    const inm = req.getHeader('if-none-match');
    if (inm !== '' ? noneMatch(inm, rep.etag) : notModified(req.getHeader('if-modified-since'), rep.mtimeSec)) {
      rep.head.writeNotModifiedTo(res.writeStatus(STATUS_TEXT[304] as string).writeHeader('ETag', rep.etag).writeHeader('Last-Modified', rep.lastModified)).endWithoutBody();
      return this.done(304, 0);
    }
    let range: ByteRange | undefined;
    const rangeHeader = req.getHeader('range');
    if (rangeHeader !== '') {
      const ifRange = req.getHeader('if-range');
      const parsed = ifRange === '' || ifRangeMatches(ifRange, rep.etag, rep.mtimeSec) ? parseRange(rangeHeader, rep.size) : 'ignore';
      if (parsed === 'unsatisfiable') return this.unsatisfiable(res, index, rep, isHead);
      if (parsed !== 'ignore') range = parsed;
    }
    this.sendRepresentation(res, index, rep, range, isHead, 200);
  }

  /** Writes status and headers for `rep` (with Content-Range for a 206). Must run corked. */
  private writeHead(res: HttpResponse, rep: Representation, range: ByteRange | undefined, status: number): void {
    rep.head
      .writeTo(res.writeStatus(STATUS_TEXT[range === undefined ? status : 206] as string))
      .writeHeader('ETag', rep.etag)
      .writeHeader('Last-Modified', rep.lastModified);
    if (range !== undefined) res.writeHeader('Content-Range', `bytes ${range.start}-${range.end}/${rep.size}`);
  }

  private sendRepresentation(res: HttpResponse, index: Lookup, rep: Representation, range: ByteRange | undefined, isHead: boolean, status: number): void {
    if (this.record !== undefined) this.record.encoding = rep.head.contentEncoding;
    const outStatus = range === undefined ? status : 206;
    const length = range === undefined ? rep.size : range.end - range.start + 1;
    if (isHead) {
      this.writeHead(res, rep, range, status);
      res.writeHeader('Content-Length', String(length)).endWithoutBody();
      return this.done(outStatus, 0);
    }
    const cached = rep.size <= this.bodies.maxFile ? this.bodies.get(rep) : undefined;
    if (cached !== undefined) {
      this.writeHead(res, rep, range, status);
      const body = range === undefined ? cached : cached.subarray(range.start, range.end + 1);
      if (this.record !== undefined) this.record.cache = 'hit';
      if (sendBuffer(res, body, () => this.fly(res, outStatus), outStatus)) this.done(outStatus, length);
      return;
    }
    const flight = this.fly(res, outStatus);
    if (this.record !== undefined) this.record.cache = rep.size > this.bodies.maxFile ? 'stream' : 'miss';
    if (rep.size > this.bodies.maxFile) {
      // A release's files carry the manifest's times, not necessarily the disk's: compare size only.
      const slice = { path: `${index.root}/${rep.file}`, start: range?.start ?? 0, length, size: rep.size, mtimeSec: index.fromManifest ? NaN : rep.mtimeSec, ctimeMs: rep.ctimeMs };
      return streamFile(flight, slice, {
        head: () => this.writeHead(res, rep, range, status),
        refuse: (err) => this.failed(flight, index, rep, err),
        cut: (err) => void this.noteFailure(index, rep, err),
      }, outStatus);
    }
    this.bodies
      .load(index.root, rep)
      .then(
        (body) => {
          if (flight.aborted) return;
          res.cork(() => {
            this.writeHead(res, rep, range, status);
            const part = range === undefined ? body : body.subarray(range.start, range.end + 1);
            if (sendBuffer(res, part, () => flight, outStatus)) flight.finish(outStatus, length);
          });
        },
        (err: NodeJS.ErrnoException) => this.failed(flight, index, rep, err),
      )
      // A throw in either callback is this response's fault, not the worker's: left to reach
      // the unhandled-rejection handler, it would take every connection of the worker down.
      .catch((e: unknown) => {
        flight.closedByServer = true;
        // Only a GET reads a body (HEAD ended above).
        this.fault(flight.res, `/${rep.file}`, e, GET);
        // Closing ran onAborted and finished the flight; a response already ended still needs it.
        flight.finish(0, 0);
      });
  }

  /** A response that outlives the handler (sending `status`): abort handling plus in-flight accounting. */
  private fly(res: HttpResponse, status: number): Flight {
    const { started, method, record } = this;
    this.metrics.add('inflight', 1);
    return new Flight(res, status, (sent, bytes, aborted) => {
      this.metrics.add('inflight', -1);
      if (sent !== 0) this.settle(started, method, record, sent, bytes, aborted);
    });
  }

  /**
   * The status a failure to send `rep` earns, counted and reported (once per file) when it is the
   * disk's fault: a file that is gone or changed is the content's business, not an error.
   */
  private noteFailure(index: Lookup, rep: Representation, err: NodeJS.ErrnoException): number {
    const status = failureStatus(err);
    if (status === 500) {
      this.metrics.add('readErrors', 1);
      const path = `${index.root}/${rep.file}`;
      if (!this.reported.has(path)) {
        this.reported.add(path);
        this.reportReadError(path, err.code ?? err.message);
      }
    }
    return status;
  }

  /** Answers a failure that happened before anything was sent. */
  private failed(flight: Flight, index: Lookup, rep: Representation, err: NodeJS.ErrnoException): void {
    if (flight.aborted) return;
    const status = this.noteFailure(index, rep, err);
    flight.res.cork(() => {
      flight.res
        .writeStatus(STATUS_TEXT[status] as string)
        .writeHeader('Content-Type', plainHead(status, index.preview) + (status === 503 ? '\r\nRetry-After: 1' : ''))
        .writeHeader('X-Origin-Release', index.releaseId)
        .end(`${STATUS_TEXT[status]}\n`);
    });
    flight.finish(status, 0);
  }

  private unsatisfiable(res: HttpResponse, index: Lookup, rep: Representation, isHead: boolean): void {
    res.writeStatus(STATUS_TEXT[416] as string).writeHeader('Content-Type', plainHead(416, index.preview)).writeHeader('Content-Range', `bytes */${rep.size}`).writeHeader('X-Origin-Release', index.releaseId);
    if (isHead) res.writeHeader('Content-Length', '0').endWithoutBody();
    else res.end();
    this.done(416, 0);
  }

  private notFound(res: HttpResponse, req: HttpRequest, index: Lookup, isHead: boolean): void {
    const page = index.notFound;
    if (page === undefined) return this.plain(res, index, 404, isHead);
    // The 404 page is sent even to a client that accepts no encoding we have: it is an error page.
    this.sendRepresentation(res, index, representationFor(page, req) ?? page.identity, undefined, isHead, 404);
  }

  private plain(res: HttpResponse, index: Pick<Lookup, 'releaseId' | 'preview'>, status: number, isHead: boolean, extra?: string): void {
    const text = `${STATUS_TEXT[status]}\n`;
    const head = plainHead(status, index.preview);
    res.writeStatus(STATUS_TEXT[status] as string).writeHeader('Content-Type', extra === undefined ? head : `${head}\r\n${extra}`).writeHeader('X-Origin-Release', index.releaseId);
    if (isHead) res.writeHeader('Content-Length', String(text.length)).endWithoutBody();
    else res.end(text);
    this.done(status, isHead ? 0 : text.length);
  }

  private wrongMethod(res: HttpResponse, method: string): void {
    if (method === 'options') {
      res.writeStatus(STATUS_TEXT[204] as string).writeHeader('Allow', ALLOW).writeHeader('X-Origin-Release', this.index.releaseId).endWithoutBody();
      return this.done(204, 0);
    }
    const text = `${STATUS_TEXT[405]}\n`;
    res.writeStatus(STATUS_TEXT[405] as string).writeHeader('Allow', ALLOW).writeHeader('Content-Type', plainHead(405)).writeHeader('X-Origin-Release', this.index.releaseId).end(text);
    this.done(405, text.length);
  }
}

/** Contains one response's exception: `target` names what was asked for, for the log; counted as a 500 of `method`. */
export type ResponseFault = (res: HttpResponse, target: string, e: unknown, method: MethodIndex) => void;

/** Maps a read failure to a status (the one place that does): 404 gone, 503 changed, 500 otherwise. */
function failureStatus(err: NodeJS.ErrnoException): 404 | 500 | 503 {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return 404;
  return err instanceof ContentChangedError || err.code === 'ECHANGED' ? 503 : 500;
}

/** The representation Accept-Encoding asks for; undefined when none is acceptable (406). */
function representationFor(entry: FileEntry, req: HttpRequest): Representation | undefined {
  if (!entry.negotiate) return entry.identity;
  const choice = chooseEncoding(parseAcceptEncoding(req.getHeader('accept-encoding')), entry.br !== undefined, entry.gzip !== undefined);
  return choice === BR ? entry.br : choice === GZIP ? entry.gzip : choice === NONE ? undefined : entry.identity;
}

function notModified(ims: string, mtimeSec: number): boolean {
  return ims !== '' && notModifiedSince(ims, mtimeSec);
}
