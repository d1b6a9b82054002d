/** Small helpers for test/serving.test.ts: fixed mtimes, expected validators, exact header checks. */
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { request, type RawResponse } from './server.js';

/** The mtime given to every fixture file unless a test says otherwise, and its HTTP-date. */
export const MTIME = new Date('2024-03-04T05:06:07Z');
export const LAST_MODIFIED = 'Mon, 04 Mar 2024 05:06:07 GMT';

/** Sets the mtime (and atime) of each `dir/name`. */
export function setMtime(dir: string, names: readonly string[], when: Date = MTIME): void {
  for (const name of names) utimesSync(join(dir, name), when, when);
}

export function get(port: number, path: string, headers: Readonly<Record<string, string>> = {}): Promise<RawResponse> {
  return request(port, path, { headers });
}

export function head(port: number, path: string, headers: Readonly<Record<string, string>> = {}): Promise<RawResponse> {
  return request(port, path, { method: 'HEAD', headers });
}

/**
 * Asserts status, each listed header's exact value (`undefined`: must be absent) and, when
 * given, the exact body bytes. Headers not listed are not checked.
 */
export function expectResponse(
  t: Test,
  r: RawResponse,
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  body?: Buffer | string,
): void {
  t.equal(r.status, status, `status ${status}`);
  for (const [name, value] of Object.entries(headers)) {
    const actual = r.headers[name.toLowerCase()];
    if (value === undefined) t.equal(actual, undefined, `no ${name} header`);
    else t.equal(actual, value, `${name}: ${value}`);
  }
  if (body !== undefined) {
    const want = typeof body === 'string' ? Buffer.from(body) : body;
    t.equal(r.body.length, want.length, `body is ${want.length} bytes`);
    t.ok(r.body.equals(want), 'body bytes match exactly');
  }
}

/** Headers except Date (which legitimately differs between two responses), sorted by name. */
export function stableHeaders(r: RawResponse): [string, string][] {
  return Object.entries(r.headers)
    .filter(([k]) => k !== 'date')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Asserts that HEAD answers exactly like GET, minus the body. */
export async function expectHeadLikeGet(t: Test, port: number, path: string, headers: Readonly<Record<string, string>> = {}): Promise<void> {
  const g = await get(port, path, headers);
  const h = await head(port, path, headers);
  t.equal(h.statusLine, g.statusLine, `${path}: same status line`);
  t.same(stableHeaders(h), stableHeaders(g), `${path}: same header names and values`);
  t.equal(h.headers['content-length'], String(g.body.length), `${path}: HEAD Content-Length is the GET body length`);
  t.ok(h.headers['date'] !== undefined && g.headers['date'] !== undefined, `${path}: both carry Date`);
  t.equal(h.body.length, 0, `${path}: HEAD has no body`);
}
