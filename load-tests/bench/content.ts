/** The benchmark corpus: three files with deterministic content and mtime. */
import { linkSync, mkdirSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

export interface BenchFile {
  /** URL path component, e.g. "small.html". */
  name: string;
  /** Short label used in tables and progress lines. */
  label: string;
  bytes: number;
  sha256: string;
}

/** Fixed mtime so ETag / Last-Modified are identical from run to run. */
const MTIME = new Date('2024-01-01T00:00:00Z');

/** mulberry32: tiny deterministic PRNG, good enough for incompressible filler. */
function prngBytes(size: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let a = seed >>> 0;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    buf.writeUInt32LE((t ^ (t >>> 14)) >>> 0, i);
  }
  for (; i < size; i++) buf[i] = (i * 131 + seed) & 0xff;
  return buf;
}

/** Exactly 1024 bytes of plausible HTML. */
function smallHtml(): Buffer {
  const head = '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>pi-origin bench</title></head>\n<body><main><h1>pi-origin benchmark page</h1>\n<p>';
  const tail = '</p></main></body></html>\n';
  const filler = 'The quick brown fox jumps over the lazy dog. ';
  let body = '';
  while (head.length + body.length + tail.length < 1024) body += filler;
  body = body.slice(0, 1024 - head.length - tail.length);
  const out = Buffer.from(head + body + tail, 'utf8');
  if (out.length !== 1024) throw new Error(`small.html is ${out.length} bytes, expected 1024`);
  return out;
}

export function createContent(dir: string): BenchFile[] {
  const specs: { name: string; label: string; data: Buffer }[] = [
    { name: 'small.html', label: '1KB', data: smallHtml() },
    { name: 'image.png', label: '200KB', data: prngBytes(200 * 1024, 0xc0ffee) },
    { name: 'big.bin', label: '5MB', data: prngBytes(5 * 1024 * 1024, 0xbadf00d) },
  ];
  return specs.map(({ name, label, data }) => {
    const path = join(dir, name);
    writeFileSync(path, data);
    utimesSync(path, MTIME, MTIME);
    return { name, label, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  });
}

/** The `_redirects` site's rule counts: Cloudflare Pages' limits (2,000 static, 100 dynamic). */
export const RULES_STATIC = 1999;
export const RULES_DYNAMIC = 99;

/**
 * The same files plus `index.html` and a `_redirects` at the limits of the format: 1,999
 * static redirects, 99 placeholder rules and an SPA fallback (`/* /index.html 200`), none of
 * which matches a file, so a request for a file shows only what the rules cost it. Files are
 * hard links of `contentDir`'s (same bytes, same mtime, same ETags).
 */
export function createRulesSite(dir: string, contentDir: string, files: readonly BenchFile[]): number {
  mkdirSync(dir);
  for (const f of files) linkSync(join(contentDir, f.name), join(dir, f.name));
  linkSync(join(contentDir, files[0]?.name ?? 'small.html'), join(dir, 'index.html'));
  const lines: string[] = [];
  for (let i = 0; i < RULES_STATIC; i++) lines.push(`/old/page-${i}  /new/page-${i}  301`);
  for (let i = 0; i < RULES_DYNAMIC; i++) lines.push(`/d${i}/:id  /users/${i}/:id  302`);
  lines.push('/*  /index.html  200');
  writeFileSync(join(dir, '_redirects'), lines.join('\n') + '\n');
  return lines.length;
}
