/**
 * The release rules file (`--headers RULES`, or `_headers` at the site root): response headers
 * per path pattern and exact-path redirects, in the Netlify / Cloudflare Pages `_headers` format
 * or as JSON. Parsed once per build; every error names the file and line.
 *
 * ```
 * # comment
 * /assets/*
 *   Cache-Control: public, max-age=31536000, immutable
 * /old-page  /new-page  308
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePattern, compileRules, defaultCacheControl, headerProblem, type HeaderRule } from './header-rules.js';
import { errnoText, ReleaseError } from './release-error.js';
import { checkRedirect, type RedirectRule, type RedirectStatus } from './servable.js';

export interface ReleaseRules {
  readonly headers: readonly HeaderRule[];
  readonly redirects: readonly RedirectRule[];
}

export const NO_RULES: ReleaseRules = Object.freeze({ headers: Object.freeze([]), redirects: Object.freeze([]) });

/** Name of the rules file picked up from the site root when no `--headers` is given; never published. */
export const SITE_RULES_FILE = '_headers';

/** The Netlify / Cloudflare Pages redirects file (read by redirects-file.ts): compiled into the manifest, never published. */
export const SITE_REDIRECTS_FILE = '_redirects';

/** Files at a site's root that configure the site: never content, in a release or a plain directory. */
export const SITE_CONTROL_FILES: readonly string[] = Object.freeze([SITE_RULES_FILE, SITE_REDIRECTS_FILE]);

/** The rules of the site at `root`: its `_headers` when there is one, else NO_RULES. */
export function readSiteRules(root: string): ReleaseRules {
  const file = join(root, SITE_RULES_FILE);
  return existsSync(file) ? readRulesFile(file) : NO_RULES;
}

/** Each file's headers under `rules`, as a release records them: the default Cache-Control by kind, then every matching rule. */
export function ruleHeaders(rules: ReleaseRules): (path: string, type: string) => Record<string, string> {
  const compiled = compileRules(rules.headers);
  return (path, type) => Object.fromEntries(compiled.headersFor(path, type));
}

/** One distinct header set of a release, shared by every file that has it, and its JSON. */
export interface HeaderSet {
  readonly headers: Readonly<Record<string, string>>;
  readonly json: string;
}

/**
 * {@link ruleHeaders} for many files at once (an incremental build of a million): a file's
 * headers depend only on its default Cache-Control (by kind: HTML, fingerprinted, other) and on
 * which rules match its path, so files alike share one frozen set, made and serialised once.
 */
export function ruleHeaderSets(rules: ReleaseRules): (path: string, type: string) => HeaderSet {
  const compiled = compileRules(rules.headers);
  const matchers = rules.headers.map((r) => compilePattern(r.pattern));
  const sets = new Map<string, HeaderSet>();
  return (path, type) => {
    let key = defaultCacheControl(path, type);
    for (let i = 0; i < matchers.length; i++) if ((matchers[i] as (p: string) => boolean)(path)) key += `\0${i}`;
    let set = sets.get(key);
    if (set === undefined) {
      const headers = Object.freeze(Object.fromEntries(compiled.headersFor(path, type)));
      set = { headers, json: JSON.stringify(headers) };
      sets.set(key, set);
    }
    return set;
  };
}

const DEFAULT_STATUS: RedirectStatus = 301;

/** Reads and parses a rules file: JSON when its first non-blank character is `{`, else `_headers` text. */
export function readRulesFile(file: string): ReleaseRules {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ReleaseError(`cannot read rules file ${file}: ${errnoText(e)}`, 'PI_ORIGIN_RELEASE_RULES');
  }
  return parseRules(text, file);
}

/** Parses rules text; `where` (the file name) starts every error message. */
export function parseRules(text: string, where: string): ReleaseRules {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.trimStart().startsWith('{') ? parseRulesJson(body, where) : parseHeadersText(body, where);
}

/** The `_headers` text format, plus `FROM TO [STATUS]` redirect lines. */
export function parseHeadersText(text: string, where: string): ReleaseRules {
  const headers: HeaderRule[] = [];
  const redirects: RedirectRule[] = [];
  const fromLine = new Map<string, number>();
  let block: { pattern: string; line: number; headers: Map<string, [string, string]> } | undefined;
  let afterRedirect = false;
  const close = (): void => {
    if (block === undefined) return;
    if (block.headers.size === 0) throw rulesError(where, block.line, `${block.pattern} has no header lines (indent them under the pattern)`);
    headers.push({ pattern: block.pattern, headers: Object.fromEntries(block.headers.values()) });
    block = undefined;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = (lines[i] as string).replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      if (block === undefined) throw rulesError(where, n, afterRedirect ? 'indented header line follows a redirect, not a path pattern' : 'indented header line before any path pattern');
      const [name, value] = headerLine(trimmed, where, n);
      const key = name.toLowerCase();
      const had = block.headers.get(key);
      // Repeated names join as one list, as Netlify does (`Link` lines, for example).
      block.headers.set(key, had === undefined ? [name, value] : [had[0], `${had[1]}, ${value}`]);
      continue;
    }
    close();
    const tokens = trimmed.split(/\s+/);
    if (tokens.length === 1) {
      block = { pattern: patternOf(trimmed, where, n), line: n, headers: new Map() };
      afterRedirect = false;
    } else if (tokens.length <= 3) {
      const rule = redirectOf(tokens, where, n);
      const seen = fromLine.get(rule.from);
      if (seen !== undefined) throw rulesError(where, n, `redirect from ${rule.from} is already defined on line ${seen}`);
      fromLine.set(rule.from, n);
      redirects.push(rule);
      afterRedirect = true;
    } else {
      throw rulesError(where, n, `expected a path pattern or "FROM TO [STATUS]", got ${tokens.length} fields`);
    }
  }
  close();
  return { headers, redirects };
}

function headerLine(text: string, where: string, n: number): [string, string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw rulesError(where, n, `expected "Name: value", got ${JSON.stringify(text)}`);
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  if (value === '') throw rulesError(where, n, `header ${name} has an empty value`);
  const problem = headerProblem(name, value);
  if (problem !== undefined) throw rulesError(where, n, problem);
  return [name, value];
}

function patternOf(pattern: string, where: string, n: number): string {
  if (!pattern.startsWith('/')) throw rulesError(where, n, `path pattern ${JSON.stringify(pattern)} must start with /`);
  return pattern;
}

function redirectOf(tokens: readonly string[], where: string, n: number): RedirectRule {
  const [from = '', to = '', status] = tokens;
  return checkRedirect(from, to, status === undefined ? DEFAULT_STATUS : statusOf(status), (m) => rulesError(where, n, m));
}

function statusOf(text: string | number): number {
  return typeof text === 'number' ? text : /^\d{3}$/.test(text) ? Number(text) : NaN;
}

/** `{ "headers": [{ "pattern", "headers" }], "redirects": [{ "from", "to", "status"? }] }`. */
export function parseRulesJson(text: string, where: string): ReleaseRules {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const at = /position (\d+)/.exec(message);
    const line = at === null ? undefined : text.slice(0, Number(at[1])).split('\n').length;
    throw line === undefined ? new ReleaseError(`${where}: not valid JSON: ${message}`, 'PI_ORIGIN_RELEASE_RULES') : rulesError(where, line, `not valid JSON: ${message}`);
  }
  const fail = (message: string): Error => new ReleaseError(`${where}: ${message}`, 'PI_ORIGIN_RELEASE_RULES');
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw fail('must be a JSON object with "headers" and/or "redirects"');
  const unknown = Object.keys(data).filter((k) => k !== 'headers' && k !== 'redirects');
  if (unknown.length > 0) throw fail(`unknown key ${JSON.stringify(unknown[0])} (expected "headers" and "redirects")`);
  const raw = data as { headers?: unknown; redirects?: unknown };
  const list = (value: unknown, key: string): unknown[] => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw fail(`${key} must be a list`);
    return value as unknown[];
  };
  const headers = list(raw.headers, 'headers').map((r, i) => jsonHeaderRule(r, `headers[${i}]`, fail));
  const seen = new Set<string>();
  const redirects = list(raw.redirects, 'redirects').map((r, i) => {
    const at = `redirects[${i}]`;
    const rule = r as { from?: unknown; to?: unknown; status?: unknown } | null;
    if (typeof rule !== 'object' || rule === null || typeof rule.from !== 'string' || typeof rule.to !== 'string') throw fail(`${at} needs "from" and "to" strings`);
    const status = rule.status === undefined ? DEFAULT_STATUS : typeof rule.status === 'number' || typeof rule.status === 'string' ? statusOf(rule.status) : NaN;
    const checked = checkRedirect(rule.from, rule.to, status, (m) => fail(`${at}: ${m}`));
    if (seen.has(checked.from)) throw fail(`${at}: redirect from ${checked.from} is already defined`);
    seen.add(checked.from);
    return checked;
  });
  return { headers, redirects };
}

function jsonHeaderRule(r: unknown, at: string, fail: (message: string) => Error): HeaderRule {
  const rule = r as { pattern?: unknown; headers?: unknown } | null;
  if (typeof rule !== 'object' || rule === null || typeof rule.pattern !== 'string') throw fail(`${at} needs a "pattern" string`);
  if (!rule.pattern.startsWith('/')) throw fail(`${at}: pattern ${JSON.stringify(rule.pattern)} must start with /`);
  if (typeof rule.headers !== 'object' || rule.headers === null || Array.isArray(rule.headers)) throw fail(`${at} needs a "headers" object`);
  const entries = Object.entries(rule.headers as Record<string, unknown>);
  if (entries.length === 0) throw fail(`${at}: headers is empty`);
  const headers: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (typeof value !== 'string' || value.trim() === '') throw fail(`${at}: header ${name} must be a non-empty string`);
    const problem = headerProblem(name, value);
    if (problem !== undefined) throw fail(`${at}: ${problem}`);
    headers[name] = value;
  }
  return { pattern: rule.pattern, headers };
}

function rulesError(where: string, line: number, message: string): ReleaseError {
  return new ReleaseError(`${where}:${line}: ${message}`, 'PI_ORIGIN_RELEASE_RULES');
}
