/**
 * group_vars/ and host_vars/ as Ansible's host_group_vars plugin reads them, for the own
 * inventory reader (used only where ansible-inventory is not installed): `<dir>/group_vars/<name>`
 * without an extension or with .yml, .yaml or .json (the first that exists), or a directory of
 * such files read in name order, recursively, hidden and `~` backup files skipped. Each file is
 * a YAML mapping; later files win.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';

const EXTENSIONS = ['', '.yml', '.yaml', '.json'] as const;

/** A variable's value and where it was written. */
export interface FileDefined {
  readonly value: unknown;
  readonly line: number;
  readonly file: string;
}

export type VarsKind = 'group_vars' | 'host_vars';

/** Reports a bad file: `fail(file, line, message)`; never returns. */
export type VarsFail = (file: string, line: number, message: string) => never;

/** The variables `dir/kind/name` sets (empty when there is no such file), in Ansible's order. */
export function readVarsFor(dir: string, kind: VarsKind, name: string, fail: VarsFail): Map<string, FileDefined> {
  const out = new Map<string, FileDefined>();
  for (const file of varsFiles(join(dir, kind, name))) for (const [k, v] of readVarsFile(file, fail)) out.set(k, v);
  return out;
}

function kindOf(path: string): 'file' | 'dir' | undefined {
  try {
    const s = statSync(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

function varsFiles(base: string): string[] {
  for (const ext of EXTENSIONS) {
    const path = base + ext;
    const kind = kindOf(path);
    if (kind === 'file') return [path];
    if (kind === 'dir') return filesBelow(path);
  }
  return [];
}

function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.') || entry.endsWith('~')) continue;
    const path = join(dir, entry);
    const kind = kindOf(path);
    if (kind === 'dir') out.push(...filesBelow(path));
    else if (kind === 'file' && (EXTENSIONS as readonly string[]).includes(extname(entry))) out.push(path);
  }
  return out;
}

function readVarsFile(file: string, fail: VarsFail): Map<string, FileDefined> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail(file, 0, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) fail(file, counter.linePos(first.pos[0]).line, `invalid YAML: ${first.message.split('\n')[0] as string}`);
  const out = new Map<string, FileDefined>();
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return out;
  if (!isMap(root)) fail(file, 1, 'a vars file is a mapping of variable names to values');
  for (const pair of root.items) {
    const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const range = (pair.key as { range?: [number, number, number] } | null)?.range;
    out.set(key, { value: (pair.value as YamlNode | null)?.toJSON() ?? null, line: range === undefined ? 0 : counter.linePos(range[0]).line, file });
  }
  return out;
}
