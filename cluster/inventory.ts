/**
 * Reads the Ansible inventory the playbooks use, so the cluster commands and Ansible never
 * disagree about a node. Where Ansible is installed (every controller that runs the playbooks)
 * Ansible resolves it (`ansible-inventory --list`, cluster/ansible-inventory.ts); elsewhere the
 * own reader here does: INI or YAML as Ansible's `ini` and `yaml` plugins parse them, plus
 * group_vars/ and host_vars/ next to the inventory and the playbooks, merged in Ansible's order:
 * inventory-file group vars (`all` < parent groups < child groups, by depth, then
 * `ansible_group_priority`, then name) < group_vars/all < group_vars/<group> (same order) <
 * the host's line < host_vars/<host>.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { DEFAULT_PORT } from '../common/port.js';
import { parseNodeAddress, type NodeAddress } from './address.js';
import { runAnsibleInventory, type AnsibleListing } from './ansible-inventory.js';
import { ANSIBLE_DIR, playbookEnv } from './playbook.js';
import { readVarsFor } from './vars-files.js';

export const INVENTORY_FORMATS = ['ini', 'yaml'] as const;
export type InventoryFormat = (typeof INVENTORY_FORMATS)[number];

/** The group whose hosts the cluster commands talk to unless told otherwise. */
export const DEFAULT_GROUP = 'origins';
/** The origin_node role's HTTPS port when a certificate is given. */
export const DEFAULT_TLS_PORT = 443;

/** A malformed inventory or one that names an invalid address; the message starts with `FILE:LINE:` where a line is known. */
export class InventoryError extends Error {
  readonly code = 'PI_ORIGIN_INVENTORY';
  override readonly name = 'InventoryError';
}

/** A value and the line that set it, so a bad value can be reported where it was written. */
export interface Defined {
  readonly value: unknown;
  /** 0 when unknown. */
  readonly line: number;
  /** The file that set it when not the inventory (a group_vars or host_vars file). */
  readonly file?: string;
}

/** Who resolved the inventory: Ansible itself, or the own reader (where Ansible is not installed). */
export const INVENTORY_READERS = ['ansible-inventory', 'own'] as const;
export type InventoryReader = (typeof INVENTORY_READERS)[number];

/** Variables from group_vars/ and host_vars/ of one directory (the inventory's or the playbooks'). */
export interface VarsLayer {
  readonly groups: ReadonlyMap<string, ReadonlyMap<string, Defined>>;
  readonly hosts: ReadonlyMap<string, ReadonlyMap<string, Defined>>;
}

export interface GroupDef {
  readonly name: string;
  /** Where the group was first declared (0: implicit, like `all`). */
  readonly line: number;
  readonly hosts: string[];
  readonly children: string[];
  readonly vars: Map<string, Defined>;
}

export interface HostDef {
  readonly name: string;
  readonly line: number;
  readonly vars: Map<string, Defined>;
}

/** The inventory as written: every group and host, before variables are merged. */
export interface InventoryModel {
  readonly file: string;
  readonly format: InventoryFormat;
  readonly reader: InventoryReader;
  readonly groups: ReadonlyMap<string, GroupDef>;
  readonly hosts: ReadonlyMap<string, HostDef>;
  /** The inventory directory's group_vars/host_vars, then the playbook directory's (own reader only). */
  readonly layers: readonly VarsLayer[];
}

export interface InventoryHost {
  /** The inventory hostname. */
  readonly name: string;
  /** `ansible_host`, else the name, canonicalised (RFC 5952 for IPv6). */
  readonly address: NodeAddress;
  /** `origin_node_port`, else {@link DEFAULT_PORT}. */
  readonly port: number;
  /**
   * The HTTPS port when the host has origin TLS (`origin_node_tls_cert_src` set in the
   * inventory): `origin_node_tls_port`, else {@link DEFAULT_TLS_PORT}. Absent without TLS.
   */
  readonly tlsPort?: number;
  /** Every variable that applies to the host, merged with Ansible's precedence. */
  readonly vars: Readonly<Record<string, unknown>>;
}

export interface Inventory {
  readonly file: string;
  readonly format: InventoryFormat;
  readonly reader: InventoryReader;
  readonly group: string;
  readonly hosts: readonly InventoryHost[];
}

export interface ReadOptions {
  /** The playbooks' directory, whose group_vars/ and host_vars/ apply too. */
  readonly playbookDir?: string;
  /** The ansible-inventory command; one that does not exist selects the own reader. */
  readonly ansibleInventory?: string;
}

/**
 * Reads `path` and resolves the hosts of `group` (and of its child groups, recursively).
 * Throws InventoryError for an unreadable or malformed file, an unknown or empty group, and
 * a host whose address or port is invalid.
 */
export function readInventory(path: string, group: string = DEFAULT_GROUP, options: ReadOptions = {}): Inventory {
  const model = loadInventoryModel(path, options);
  return { file: path, format: model.format, reader: model.reader, group, hosts: resolveGroup(model, group) };
}

/**
 * Every host and group of `path` with their variables: as ansible-inventory resolves them when
 * Ansible is installed, else by the own reader. Throws InventoryError.
 */
export function loadInventoryModel(path: string, options: ReadOptions = {}): InventoryModel {
  const playbookDir = options.playbookDir ?? ANSIBLE_DIR;
  const listed = runAnsibleInventory(path, playbookDir, playbookEnv(), options.ansibleInventory);
  if (listed.ok === 'absent') return readInventoryModel(path, playbookDir);
  // Parsed again by the own reader only to say on which line a bad value was written.
  let own: InventoryModel | InventoryError;
  try {
    own = readInventoryModel(path, playbookDir);
  } catch (e) {
    if (!(e instanceof InventoryError)) throw e;
    own = e;
  }
  if (!listed.ok) {
    // The own reader's message names the line; Ansible's stands where the own reader sees no fault.
    if (own instanceof InventoryError) throw own;
    throw new InventoryError(`${path}: ansible-inventory cannot read it: ${listed.error}`);
  }
  return modelFromListing(path, listed.listing, own instanceof InventoryError ? undefined : own);
}

/** Reads `path` with the own reader (group_vars/ and host_vars/ included), without resolving a group. Throws InventoryError. */
export function readInventoryModel(path: string, playbookDir: string = ANSIBLE_DIR): InventoryModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InventoryError(`cannot read inventory ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const model = parseInventory(text, path, detectFormat(path, text));
  const dirs = [...new Set([resolve(dirname(path)), resolve(playbookDir)])];
  return { ...model, layers: dirs.map((dir) => readLayer(model, dir)) };
}

function readLayer(model: InventoryModel, dir: string): VarsLayer {
  const fail = (file: string, line: number, message: string): never => {
    throw new InventoryError(`${file}${line > 0 ? `:${line}` : ''}: ${message}`);
  };
  const groups = new Map([...model.groups.keys()].map((g) => [g, readVarsFor(dir, 'group_vars', g, fail)] as const));
  const hosts = new Map([...model.hosts.keys()].map((h) => [h, readVarsFor(dir, 'host_vars', h, fail)] as const));
  return { groups, hosts };
}

/**
 * The model of Ansible's listing: hosts carry the variables Ansible merged (groups carry none);
 * a value the own reader found in the same place keeps its file and line for messages.
 */
function modelFromListing(file: string, listing: AnsibleListing, own: InventoryModel | undefined): InventoryModel {
  const groups = new Map<string, GroupDef>();
  for (const name of ['all', 'ungrouped', ...listing.groups.keys()]) {
    const g = listing.groups.get(name);
    groups.set(name, { name, line: own?.groups.get(name)?.line ?? 0, hosts: [...(g?.hosts ?? [])], children: [...(g?.children ?? [])], vars: new Map() });
  }
  // Hosts in the order a walk from `all` meets them, as the own reader lists them.
  const order = new Set<string>();
  const seen = new Set<string>();
  const walk = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const g = groups.get(name);
    for (const h of g?.hosts ?? []) order.add(h);
    for (const c of g?.children ?? []) walk(c);
  };
  walk('all');
  for (const h of listing.hostvars.keys()) order.add(h);
  const hosts = new Map<string, HostDef>();
  for (const name of order) {
    const ownVars = own?.hosts.has(name) === true ? hostVars(own, name) : undefined;
    const vars = new Map<string, Defined>();
    for (const [k, value] of Object.entries(listing.hostvars.get(name) ?? {})) {
      const mine = ownVars?.get(k);
      vars.set(k, mine !== undefined && JSON.stringify(mine.value) === JSON.stringify(value) ? mine : { value, line: 0 });
    }
    hosts.set(name, { name, line: own?.hosts.get(name)?.line ?? 0, vars });
  }
  return { file, format: own?.format ?? 'ini', reader: 'ansible-inventory', groups, hosts, layers: [] };
}

/** `.yml`/`.yaml`/`.json` are YAML; otherwise YAML when the first content line is `---` or a bare `key:`. */
export function detectFormat(path: string, text: string): InventoryFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.yml' || ext === '.yaml' || ext === '.json') return 'yaml';
  if (ext === '.ini') return 'ini';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    return line === '---' || line.startsWith('{') || /^[^\s[=]+:\s*(#.*)?$/.test(line) ? 'yaml' : 'ini';
  }
  return 'ini';
}

export function parseInventory(text: string, file: string, format: InventoryFormat): InventoryModel {
  return format === 'yaml' ? parseYamlInventory(text, file) : parseIniInventory(text, file);
}

// ---------------------------------------------------------------------------------------------
// Building the model

class Builder {
  readonly groups = new Map<string, GroupDef>();
  readonly hosts = new Map<string, HostDef>();

  constructor(readonly file: string) {
    this.group('all', 0);
    this.group('ungrouped', 0);
  }

  fail(line: number, message: string): never {
    throw new InventoryError(line > 0 ? `${this.file}:${line}: ${message}` : `${this.file}: ${message}`);
  }

  group(name: string, line: number): GroupDef {
    let g = this.groups.get(name);
    if (g === undefined) {
      g = { name, line, hosts: [], children: [], vars: new Map() };
      this.groups.set(name, g);
    }
    return g;
  }

  addHost(group: string, name: string, line: number, vars: ReadonlyMap<string, unknown>): void {
    const g = this.group(group, line);
    if (!g.hosts.includes(name)) g.hosts.push(name);
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = { name, line, vars: new Map() };
      this.hosts.set(name, h);
    }
    for (const [k, v] of vars) h.vars.set(k, { value: v, line });
  }

  addChild(parent: string, child: string, line: number): void {
    if (parent === child) this.fail(line, `group "${parent}" cannot be its own child`);
    const p = this.group(parent, line);
    if (!p.children.includes(child)) p.children.push(child);
  }

  model(format: InventoryFormat): InventoryModel {
    // Hosts that joined a real group are no longer ungrouped (as in Ansible).
    const ungrouped = this.groups.get('ungrouped') as GroupDef;
    const grouped = new Set<string>();
    for (const g of this.groups.values()) if (g.name !== 'ungrouped' && g.name !== 'all') for (const h of g.hosts) grouped.add(h);
    ungrouped.hosts.splice(0, ungrouped.hosts.length, ...ungrouped.hosts.filter((h) => !grouped.has(h)));
    return { file: this.file, format, reader: 'own', groups: this.groups, hosts: this.hosts, layers: [] };
  }
}

// ---------------------------------------------------------------------------------------------
// INI, as Ansible's `ini` plugin reads it

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;
const SECTION_KINDS = ['hosts', 'children', 'vars'] as const;
type SectionKind = (typeof SECTION_KINDS)[number];

/** Parses an INI inventory. Comment lines start with `#` or `;`; host lines end at an unquoted `#`. */
export function parseIniInventory(text: string, file: string): InventoryModel {
  const b: Builder = new Builder(file);
  // Groups referenced by `[x:vars]` or `[p:children]` must be declared by `[x]` or `[x:children]`.
  const declared = new Set(['all', 'ungrouped']);
  const referenced = new Map<string, { line: number; how: string }>();
  let group = 'ungrouped';
  let kind: SectionKind = 'hosts';
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = SECTION.exec(line);
    if (section !== null) {
      group = section[1] as string;
      const k = section[2] ?? 'hosts';
      if (!(SECTION_KINDS as readonly string[]).includes(k)) b.fail(lineNo, `section [${group}:${k}] has unknown type "${k}" (expected hosts, children or vars)`);
      kind = k as SectionKind;
      b.group(group, lineNo);
      if (kind === 'vars') {
        if (!declared.has(group) && !referenced.has(group)) referenced.set(group, { line: lineNo, how: `section [${group}:vars] is for undefined group "${group}"` });
      } else declared.add(group);
      continue;
    }
    if (line.startsWith('[') && line.endsWith(']')) b.fail(lineNo, `invalid section header ${JSON.stringify(line)} (expected [group], [group:vars] or [group:children], without spaces)`);
    if (kind === 'hosts') {
      const tokens = shellWords(line, (m) => b.fail(lineNo, m));
      const [pattern, ...assignments] = tokens;
      if (pattern === undefined) continue;
      const vars = new Map<string, unknown>();
      for (const a of assignments) {
        const eq = a.indexOf('=');
        if (eq <= 0) b.fail(lineNo, `expected key=value after the host name, got ${JSON.stringify(a)}`);
        vars.set(a.slice(0, eq), pythonValue(a.slice(eq + 1)));
      }
      const { names, port } = expandHostPattern(pattern, (m) => b.fail(lineNo, m));
      if (port !== undefined) vars.set('ansible_port', port);
      for (const name of names) b.addHost(group, name, lineNo, vars);
    } else if (kind === 'vars') {
      const eq = line.indexOf('=');
      if (eq <= 0) b.fail(lineNo, `expected key=value in [${group}:vars], got ${JSON.stringify(line)}`);
      b.group(group, lineNo).vars.set(line.slice(0, eq).trim(), { value: pythonValue(line.slice(eq + 1).trim()), line: lineNo });
    } else {
      const m = GROUP_NAME.exec(line);
      if (m === null) b.fail(lineNo, `expected a group name in [${group}:children], got ${JSON.stringify(line)}`);
      const child = m[1] as string;
      b.addChild(group, child, lineNo);
      if (!declared.has(child) && !referenced.has(child)) referenced.set(child, { line: lineNo, how: `section [${group}:children] names undefined group "${child}"` });
    }
  }
  for (const [name, ref] of referenced) if (!declared.has(name)) b.fail(ref.line, ref.how);
  return b.model('ini');
}

/** POSIX shell words as Python's `shlex.split(line, comments=True)` makes them. */
export function shellWords(line: string, fail: (message: string) => never): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#') {
      break;
    } else if (c === "'" || c === '"') {
      const close = findClosingQuote(line, i, c);
      if (close === -1) fail(`unterminated ${c} quote in ${JSON.stringify(line)}`);
      const inner = line.slice(i + 1, close);
      word += c === '"' ? inner.replace(/\\([\\"$`])/g, '$1') : inner;
      inWord = true;
      i = close;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i] as string;
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function findClosingQuote(text: string, open: number, quote: string): number {
  for (let i = open + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

/**
 * The subset of Python's `ast.literal_eval` that inventories use, as Ansible applies it to
 * every INI value: integers, floats, True/False/None and quoted strings become typed values
 * (a trailing `# comment` after one is dropped); anything else stays the raw string.
 */
export function pythonValue(text: string): unknown {
  const m = /^\s*(?:([-+]?(?:0|[1-9]\d*))|([-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?)|(True|False|None)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))\s*(?:#.*)?$/.exec(text);
  if (m === null) return text;
  if (m[1] !== undefined) return Number(m[1]);
  if (m[2] !== undefined) return Number(m[2]);
  if (m[3] !== undefined) return m[3] === 'True' ? true : m[3] === 'False' ? false : null;
  const quoted = m[4] as string;
  return quoted.slice(1, -1).replace(/\\(.)/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '0': '\0' })[c] ?? c);
}

/**
 * A host pattern: `name`, `name:port`, a bare IPv6 literal, `[ipv6]:port`, or a name with one
 * numeric or alphabetic range (`pi[01:12]`, `node[a:c]`). A port here is Ansible's SSH port
 * (`ansible_port`), not the origin's.
 */
export function expandHostPattern(pattern: string, fail: (message: string) => never): { names: string[]; port?: number } {
  const bracketed = /^\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\](?::(\d+))?$/.exec(pattern);
  if (bracketed !== null && bracketed[1]?.includes(':') === true) {
    return { names: [bracketed[1]], ...(bracketed[2] !== undefined ? { port: sshPort(bracketed[2], fail) } : {}) };
  }
  if (parseNodeAddress(pattern)?.kind === 'ipv6') return { names: [pattern] };
  let name = pattern;
  let port: number | undefined;
  const withPort = /^([^:]+):(\d+)$/.exec(pattern);
  if (withPort !== null) {
    name = withPort[1] as string;
    port = sshPort(withPort[2] as string, fail);
  } else if (pattern.endsWith(':')) {
    fail(`host pattern ${JSON.stringify(pattern)} ends in ":" (reserved for a port)`);
  } else if (pattern.includes(':') && !pattern.includes('[')) {
    fail(`host ${JSON.stringify(pattern)} is neither an IPv6 literal nor name[:port]`);
  }
  const range = /^(.*?)\[([0-9]+|[a-z]):([0-9]+|[a-z])(?::(\d+))?\](.*)$/.exec(name);
  const names = range === null ? [name] : expandRange(range, fail);
  return port === undefined ? { names } : { names, port };
}

function expandRange(m: RegExpExecArray, fail: (message: string) => never): string[] {
  const [, before, from, to, step, after] = m as unknown as [string, string, string, string, string | undefined, string];
  if (after.includes('[')) fail(`host pattern ${JSON.stringify(m[0])}: only one range is supported`);
  const numeric = /^\d+$/.test(from);
  if (numeric !== /^\d+$/.test(to)) fail(`host range [${from}:${to}] mixes digits and letters`);
  const [a, z] = numeric ? [Number(from), Number(to)] : [from.charCodeAt(0), to.charCodeAt(0)];
  const by = step === undefined ? 1 : Number(step);
  if (a > z || by < 1) fail(`host range [${from}:${to}${step === undefined ? '' : `:${step}`}] is empty`);
  if ((z - a) / by >= 10000) fail(`host range [${from}:${to}] names more than 10000 hosts`);
  const width = numeric && from.startsWith('0') ? from.length : 0;
  const names: string[] = [];
  for (let i = a; i <= z; i += by) names.push(before + (numeric ? String(i).padStart(width, '0') : String.fromCharCode(i)) + after);
  return names;
}

function sshPort(text: string, fail: (message: string) => never): number {
  const n = Number(text);
  if (!(n >= 1 && n <= 65535)) fail(`port ${text} is out of range 1-65535`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// YAML, as Ansible's `yaml` plugin reads it

const GROUP_KEYS = new Set(['hosts', 'children', 'vars']);

/** Parses a YAML (or JSON) inventory: top-level keys are groups with `hosts`, `children` and `vars`. */
export function parseYamlInventory(text: string, file: string): InventoryModel {
  const b: Builder = new Builder(file);
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) b.fail(counter.linePos(first.pos[0]).line, `invalid YAML: ${first.message.split('\n')[0] as string}`);
  const lineOf = (node: unknown): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? 0 : counter.linePos(range[0]).line;
  };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return b.model('yaml');
  if (!isMap(root)) b.fail(lineOf(root), 'a YAML inventory is a mapping of group names (usually just "all")');

  const mapping = (node: unknown, what: string, line: number): YAMLMap | undefined => {
    if (node === null || node === undefined || (isScalar(node) && node.value === null)) return undefined;
    if (!isMap(node)) b.fail(lineOf(node) || line, `${what} must be a mapping`);
    return node;
  };
  const key = (k: unknown): string => String(isScalar(k) ? k.value : k);
  const vars = (node: YAMLMap | undefined): Map<string, Defined> => {
    const out = new Map<string, Defined>();
    for (const pair of node?.items ?? []) out.set(key(pair.key), { value: (pair.value as YamlNode | null)?.toJSON() ?? null, line: lineOf(pair.key) });
    return out;
  };
  const parseGroup = (name: string, node: unknown, line: number): void => {
    b.group(name, line);
    const body = mapping(node, `group "${name}"`, line);
    for (const pair of body?.items ?? []) {
      const k = key(pair.key);
      const at = lineOf(pair.key);
      if (!GROUP_KEYS.has(k)) b.fail(at, `group "${name}" has unknown key "${k}" (expected hosts, children or vars)`);
      if (k === 'vars') for (const [v, d] of vars(mapping(pair.value, `vars of group "${name}"`, at))) b.group(name, line).vars.set(v, d);
      if (k === 'children') {
        for (const child of mapping(pair.value, `children of group "${name}"`, at)?.items ?? []) {
          const childName = key(child.key);
          b.addChild(name, childName, lineOf(child.key));
          parseGroup(childName, child.value, lineOf(child.key));
        }
      }
      if (k === 'hosts') {
        for (const host of mapping(pair.value, `hosts of group "${name}"`, at)?.items ?? []) {
          const hostLine = lineOf(host.key);
          const hostVars = vars(mapping(host.value, `host "${key(host.key)}"`, hostLine));
          const { names, port } = expandHostPattern(key(host.key), (m) => b.fail(hostLine, m));
          for (const h of names) {
            b.addHost(name, h, hostLine, new Map());
            const def = b.hosts.get(h) as HostDef;
            if (port !== undefined) def.vars.set('ansible_port', { value: port, line: hostLine });
            for (const [v, d] of hostVars) def.vars.set(v, d);
          }
        }
      }
    }
  };
  for (const pair of root.items) parseGroup(key(pair.key), pair.value, lineOf(pair.key));
  return b.model('yaml');
}

// ---------------------------------------------------------------------------------------------
// Resolving a group's hosts and their variables

/** Group depth (longest path from `all`), for precedence; throws on a cycle. */
function depths(model: InventoryModel): Map<string, number> {
  const parents = new Map<string, string[]>();
  for (const g of model.groups.values()) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), g.name]);
  const depth = new Map<string, number>([['all', 0]]);
  const visiting = new Set<string>();
  const of = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) throw new InventoryError(`${model.file}:${model.groups.get(name)?.line ?? 0}: group "${name}" is its own ancestor`);
    visiting.add(name);
    const d = 1 + Math.max(0, ...(parents.get(name) ?? []).filter((p) => p !== 'all').map(of));
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const name of model.groups.keys()) of(name);
  return depth;
}

/** Every host in `group` and its descendants: own hosts first, then each child's, in order. */
function hostsIn(model: InventoryModel, group: string): string[] {
  if (group === 'all') return [...model.hosts.keys()];
  const out = new Set<string>();
  const seen = new Set<string>();
  const walk = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const g = model.groups.get(name);
    if (g === undefined) return;
    for (const h of g.hosts) out.add(h);
    for (const c of g.children) walk(c);
  };
  walk(group);
  return [...out];
}

/** The groups a host belongs to, ancestors and `all` included. */
function groupsOf(model: InventoryModel, host: string): string[] {
  return [...model.groups.keys()].filter((g) => hostsIn(model, g).includes(host));
}

function groupPriority(g: GroupDef): number {
  const p = g.vars.get('ansible_group_priority')?.value;
  return typeof p === 'number' ? p : typeof p === 'string' && /^-?\d+$/.test(p) ? Number(p) : 1;
}

/**
 * A host's variables merged in Ansible's order (its default VARIABLE_PRECEDENCE): the
 * inventory's group vars, groups by (depth, priority, name); group_vars/all of each directory;
 * group_vars/<group> of each directory, groups in the same order; the host's own; host_vars.
 */
export function hostVars(model: InventoryModel, host: string): Map<string, Defined> {
  const depth = depths(model);
  const groups = groupsOf(model, host).map((name) => model.groups.get(name) as GroupDef);
  groups.sort((a, b) => (depth.get(a.name) as number) - (depth.get(b.name) as number) || groupPriority(a) - groupPriority(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const merged = new Map<string, Defined>();
  const add = (vars: ReadonlyMap<string, Defined> | undefined): void => {
    for (const [k, v] of vars ?? []) merged.set(k, v);
  };
  for (const g of groups) add(g.vars);
  for (const layer of model.layers) add(layer.groups.get('all'));
  for (const layer of model.layers) for (const g of groups) if (g.name !== 'all') add(layer.groups.get(g.name));
  add(model.hosts.get(host)?.vars);
  for (const layer of model.layers) add(layer.hosts.get(host));
  return merged;
}

/** `FILE:LINE` where a value was written, or the inventory file when that is not known. */
function where(file: string, d: Defined): string {
  return `${d.file ?? file}${d.line > 0 ? `:${d.line}` : ''}`;
}

/** The hosts of `group` with address, port and merged variables; throws InventoryError for an unknown or empty group or a bad value. */
export function resolveGroup(model: InventoryModel, group: string): InventoryHost[] {
  if (!model.groups.has(group)) {
    const known = [...model.groups.keys()].filter((g) => g !== 'all' && g !== 'ungrouped');
    throw new InventoryError(`${model.file}: no group "${group}" (groups: ${known.length === 0 ? 'none' : known.join(', ')})`);
  }
  const names = hostsIn(model, group);
  if (names.length === 0) throw new InventoryError(`${model.file}: group "${group}" has no hosts`);
  return names.map((name) => {
    const def = model.hosts.get(name) as HostDef;
    const vars = hostVars(model, name);
    const tlsCert = vars.get('origin_node_tls_cert_src')?.value;
    const tlsPort = typeof tlsCert === 'string' && tlsCert !== '' ? portVar(model.file, name, 'origin_node_tls_port', vars.get('origin_node_tls_port'), DEFAULT_TLS_PORT) : undefined;
    return {
      name,
      address: hostAddress(model.file, def, vars.get('ansible_host')),
      port: portVar(model.file, name, 'origin_node_port', vars.get('origin_node_port'), DEFAULT_PORT),
      ...(tlsPort === undefined ? {} : { tlsPort }),
      vars: Object.fromEntries([...vars].map(([k, v]) => [k, v.value])),
    };
  });
}

function hostAddress(file: string, host: HostDef, set: Defined | undefined): NodeAddress {
  const defined = set ?? { value: host.name, line: host.line };
  const { value } = defined;
  const at = where(file, defined);
  const what = set === undefined ? `host name "${host.name}" (no ansible_host)` : `host ${host.name}: ansible_host ${JSON.stringify(value)}`;
  if (typeof value !== 'string') throw new InventoryError(`${at}: ${what} must be a string (quote it)`);
  const address = parseNodeAddress(value);
  if (address !== undefined) return address;
  const hint = value.includes('{{') ? ' (templated values are not supported here)' : value.startsWith('[') ? ' (write IPv6 literals without brackets)' : '';
  throw new InventoryError(`${at}: ${what} is not an IPv6 or IPv4 literal or a host name${hint}`);
}

function portVar(file: string, host: string, name: string, set: Defined | undefined, fallback: number): number {
  if (set === undefined) return fallback;
  const n = typeof set.value === 'number' ? set.value : typeof set.value === 'string' && /^\d+$/.test(set.value) ? Number(set.value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InventoryError(`${where(file, set)}: host ${host}: ${name} must be an integer from 1 to 65535 (got ${JSON.stringify(set.value)})`);
  return n;
}
