/**
 * `Link` preload headers built once, at build time, from each HTML page's stylesheets and
 * scripts (opt-in: `release build --preload`). Every value is `rel=preload` with an `as`, the
 * form CDNs turn into `103 Early Hints` (Cloudflare and others build hints from the `Link`
 * headers of a page's 200 response), and only for files of the same release, so a hint never
 * sends a browser to a 404 or another host.
 *
 * The scan is a small tag reader, not an HTML parser: it sees `<link rel=stylesheet href>` and
 * `<script src>` outside comments, `<template>`, `<noscript>` and script or style bodies. A tag
 * it does not understand gives no hint; a hint is only ever an optimisation.
 */
import { MAX_PRELOAD_LINKS } from './manifest.js';

const TOKENS = /<!--[\s\S]*?-->|<(script|link|style|template|noscript)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
const ATTRIBUTE = /([^\s"'=<>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
/** Script types a browser runs as classic scripts (HTML's "JavaScript MIME type essence match", the common ones). */
const CLASSIC = new Set(['', 'text/javascript', 'application/javascript', 'application/ecmascript', 'text/ecmascript']);
const BASE = 'http://origin.invalid';
const CLOSE: Readonly<Record<string, RegExp>> = Object.fromEntries(['script', 'style', 'template', 'noscript'].map((t) => [t, new RegExp(`</${t}`, 'gi')]));

/**
 * The `Link` values for one page, in document order, without duplicates, at most
 * MAX_PRELOAD_LINKS: `</assets/site.css>; rel=preload; as=style`,
 * `</assets/app.js>; rel=preload; as=script; crossorigin` (a module script is fetched in CORS
 * mode: a preload without `crossorigin` would not be used and the file fetched twice).
 * `exists` says whether a decoded URL path is a file of the release.
 */
export function preloadLinks(html: string, pagePath: string, exists: (path: string) => boolean): string[] {
  const links: string[] = [];
  TOKENS.lastIndex = 0;
  for (let m = TOKENS.exec(html); m !== null && links.length < MAX_PRELOAD_LINKS; m = TOKENS.exec(html)) {
    const tag = m[1]?.toLowerCase();
    if (tag === undefined) continue;
    if (tag !== 'link') skipBody(html, tag);
    const attrs = attributes(m[2] as string);
    const hint = tag === 'link' ? stylesheetHint(attrs) : tag === 'script' ? scriptHint(attrs) : undefined;
    if (hint === undefined) continue;
    const target = sameOriginPath(hint.href, pagePath, exists);
    const link = target === undefined ? undefined : `<${target}>; ${hint.params}`;
    if (link !== undefined && !links.includes(link)) links.push(link);
  }
  return links;
}

/** Moves the scan past the element's closing tag: nothing inside a script, style, template or noscript is a hint. */
function skipBody(html: string, tag: string): void {
  const close = CLOSE[tag] as RegExp;
  close.lastIndex = TOKENS.lastIndex;
  TOKENS.lastIndex = close.exec(html)?.index ?? html.length;
}

function attributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const a of text.matchAll(ATTRIBUTE)) {
    const name = (a[1] as string).toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(a[2] ?? a[3] ?? a[4] ?? ''));
  }
  return attrs;
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|quot|apos|lt|gt|#39);/g, (_, e: string) => ({ amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', '#39': "'" })[e] as string);
}

interface Hint {
  readonly href: string;
  readonly params: string;
}

/** `<link rel=stylesheet href>` for all media (a `media`-limited or alternate sheet is not render-blocking). */
function stylesheetHint(attrs: Map<string, string>): Hint | undefined {
  const rel = (attrs.get('rel') ?? '').toLowerCase().split(/\s+/);
  const href = attrs.get('href');
  const media = (attrs.get('media') ?? 'all').trim().toLowerCase();
  if (!rel.includes('stylesheet') || rel.includes('alternate') || href === undefined || (media !== 'all' && media !== 'screen')) return undefined;
  return { href, params: `rel=preload; as=style${crossorigin(attrs.get('crossorigin'))}` };
}

/** `<script src>`, classic or module; `nomodule` scripts are never fetched by the browsers that read hints. */
function scriptHint(attrs: Map<string, string>): Hint | undefined {
  const href = attrs.get('src');
  const type = (attrs.get('type') ?? '').trim().toLowerCase();
  if (href === undefined || attrs.has('nomodule')) return undefined;
  if (type === 'module') return { href, params: `rel=preload; as=script${crossorigin(attrs.get('crossorigin') ?? '')}` };
  if (!CLASSIC.has(type)) return undefined;
  return { href, params: `rel=preload; as=script${crossorigin(attrs.get('crossorigin'))}` };
}

/** The preload must be fetched in the same mode as the element, or the browser fetches twice. */
function crossorigin(value: string | undefined): string {
  if (value === undefined) return '';
  return value.trim().toLowerCase() === 'use-credentials' ? '; crossorigin=use-credentials' : '; crossorigin';
}

/** The href resolved against the page, when it names a file of this release: its encoded path and query. */
function sameOriginPath(href: string, pagePath: string, exists: (path: string) => boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(href.trim(), BASE + encodeURI(pagePath));
  } catch {
    return undefined;
  }
  if (url.origin !== BASE) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {
    return undefined;
  }
  return exists(decoded) ? url.pathname + url.search : undefined;
}
