/**
 * The headers every response of one representation shares, joined once when a release loads
 * and written by the block itself, so no call site knows which header key carries which block.
 *
 * uWS writes `key: value\r\n` verbatim, so a value holding `\r\n`-joined lines writes a whole
 * block in one native call. That is only safe when no part holds a CR or LF of its own: every
 * name and value is checked here, where the block is made, whatever validated it before.
 */
import type { HttpResponse } from 'uWebSockets.js';
import type { Encoding } from '../content/site-index.js';
import { headerProblem, isHeaderValue } from '../content/header-rules.js';

export interface HeadParts {
  /** Content-Type value. */
  readonly type: string;
  /** Content-Encoding of the representation, undefined for identity. */
  readonly encoding: Encoding | undefined;
  /** True for negotiated resources: every response carries `Vary: Accept-Encoding`. */
  readonly vary: boolean;
  /** True for a page chosen by Accept (index/negotiate.ts): `Vary` names `Accept` too. */
  readonly varyAccept?: boolean;
  readonly releaseId: string;
  /** The resource's own headers from the rules (Cache-Control among them, when set). */
  readonly lines: readonly (readonly [string, string])[];
}

export class HeadBlock {
  private constructor(
    /** Value for key `Content-Type` on 200/206/HEAD: the type, then every other shared header. */
    private readonly full: string,
    /** Value for key `Cache-Control` on 304: the headers a 304 must repeat, no representation metadata. */
    private readonly notModified: string,
    /** The Content-Encoding sent, `identity` for none: what the access log records. */
    readonly contentEncoding: string,
    /** The `Vary` line of this resource (`Vary: Accept-Encoding`), '' when it varies on nothing: for a 406 about it. */
    readonly varyLine: string,
  ) {
    Object.freeze(this);
  }

  /** Joins the block; throws on a part that could split a header (a bug where it was admitted). */
  static build(parts: HeadParts): HeadBlock {
    for (const [what, value] of [['Content-Type', parts.type], ['X-Origin-Release', parts.releaseId]] as const)
      if (!isHeaderValue(value)) throw new Error(`header block: ${what} ${JSON.stringify(value)} has control characters`);
    for (const [name, value] of parts.lines) {
      const problem = headerProblem(name, value);
      if (problem !== undefined) throw new Error(`header block: ${problem}`);
    }
    const extra = parts.lines.map(([n, v]) => `\r\n${n}: ${v}`).join('');
    const vary = [...(parts.varyAccept === true ? ['Accept'] : []), ...(parts.vary ? ['Accept-Encoding'] : [])];
    const varyLine = vary.length === 0 ? '' : `Vary: ${vary.join(', ')}`;
    const common = `${varyLine === '' ? '' : `\r\n${varyLine}`}\r\nX-Content-Type-Options: nosniff\r\nX-Origin-Release: ${parts.releaseId}`;
    // The 304 carries Cache-Control as its key's value, so that line is left out of the rest.
    const at = parts.lines.findIndex(([n]) => n.toLowerCase() === 'cache-control');
    const cacheControl = parts.lines[at]?.[1] ?? 'no-cache';
    const others = parts.lines.filter((_, i) => i !== at).map(([n, v]) => `\r\n${n}: ${v}`).join('');
    return new HeadBlock(
      `${parts.type}${parts.encoding === undefined ? '' : `\r\nContent-Encoding: ${parts.encoding}`}\r\nAccept-Ranges: bytes${common}${extra}`,
      `${cacheControl}${common}${others}`,
      parts.encoding ?? 'identity',
      varyLine,
    );
  }

  /** The shared headers of a 200, 206 or HEAD answer. Must run corked, like every write. */
  writeTo(res: HttpResponse): HttpResponse {
    return res.writeHeader('Content-Type', this.full);
  }

  /** The shared headers a 304 repeats (RFC 9110 15.4.5): Cache-Control, Vary and the rules' own. */
  writeNotModifiedTo(res: HttpResponse): HttpResponse {
    return res.writeHeader('Cache-Control', this.notModified);
  }
}
