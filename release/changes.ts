/**
 * The change set of an incremental build (`release build --parent ID --changes FILE`): which
 * paths of the site were added, replaced or removed since the parent release was built.
 *
 * One change per line, an operation, a tab and a path relative to the site (a leading `/` is
 * allowed): `A` added, `M` replaced, `D` removed. That is what `git diff --name-status
 * --no-renames` prints; its NUL-separated form (`-z`: `A\0path\0…`) is read too, for names git
 * would quote. In the line form, blank lines and lines starting with `#` are ignored.
 */
import { ReleaseError } from '../content/release-error.js';
import { hasControl } from '../content/servable.js';

export const CHANGE_OPS = ['A', 'M', 'D'] as const;
export type ChangeOp = (typeof CHANGE_OPS)[number];

export interface Change {
  readonly op: ChangeOp;
  /** Relative to the site, `/` separators, no leading `/`. */
  readonly rel: string;
  /** Where it was read, for messages: `changes.txt line 3`. */
  readonly at: string;
}

/** Parses a change list; throws PI_ORIGIN_RELEASE_CHANGES naming the file, the line and what is wrong. */
export function parseChanges(text: string, where: string): Change[] {
  const records = text.includes('\0') ? nulRecords(text, where) : lineRecords(text, where);
  const seen = new Map<string, string>();
  return records.map(({ op, path, at }) => {
    const fail = (what: string): ReleaseError => new ReleaseError(`${at}: ${what}`, 'PI_ORIGIN_RELEASE_CHANGES');
    if (!(CHANGE_OPS as readonly string[]).includes(op)) throw fail(`unknown change ${JSON.stringify(op)} (expected A, M or D, as git diff --name-status --no-renames prints)`);
    const rel = path.startsWith('/') ? path.slice(1) : path;
    const problem = relProblem(rel);
    if (problem !== undefined) throw fail(`${JSON.stringify(path)} ${problem}`);
    const before = seen.get(rel);
    if (before !== undefined) throw fail(`${JSON.stringify(path)} is already named at ${before}`);
    seen.set(rel, at);
    return { op: op as ChangeOp, rel, at };
  });
}

interface ChangeRecord {
  readonly op: string;
  readonly path: string;
  readonly at: string;
}

function lineRecords(text: string, where: string): ChangeRecord[] {
  const out: ChangeRecord[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const at = `${where} line ${i + 1}`;
    const tab = line.indexOf('\t');
    if (tab === -1) throw new ReleaseError(`${at}: expected an operation, a tab and a path (got ${JSON.stringify(line.slice(0, 80))})`, 'PI_ORIGIN_RELEASE_CHANGES');
    out.push({ op: line.slice(0, tab), path: line.slice(tab + 1), at });
  });
  return out;
}

function nulRecords(text: string, where: string): ChangeRecord[] {
  const fields = text.split('\0');
  if (fields[fields.length - 1] === '') fields.pop();
  if (fields.length % 2 !== 0) throw new ReleaseError(`${where}: the NUL-separated list ends with an operation and no path`, 'PI_ORIGIN_RELEASE_CHANGES');
  const out: ChangeRecord[] = [];
  for (let i = 0; i < fields.length; i += 2) out.push({ op: fields[i] as string, path: fields[i + 1] as string, at: `${where} entry ${i / 2 + 1}` });
  return out;
}

/** Why `rel` names no file of a site: it must be a plain relative path (names a scan could publish are checked later). */
function relProblem(rel: string): string | undefined {
  if (rel === '') return 'is empty';
  if (hasControl(rel)) return 'holds a control character';
  if (rel.includes('\\')) return 'holds a backslash';
  for (const s of rel.split('/')) {
    if (s === '') return 'has an empty segment (// or a trailing /)';
    if (s === '.' || s === '..') return `has a ${s} segment`;
  }
  return undefined;
}
