/**
 * Server configuration: one table of options (flag, env var, JSON key, typed default, help) that
 * drives the parsers, --help and the README's table; one parser per source and one validator. Precedence: flags > PI_ORIGIN_* env > JSON file > defaults.
 * Errors name the option and the bad value; nothing is validated per request.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { checkCidr, type Cidr } from '../common/address.js';
import { scanArgs, UsageError, type ArgOption, type FlagKind } from '../common/args.js';
import { DEFAULT_PORT } from '../common/port.js';
import { parseBytes } from '../common/units.js';
import { headerProblem, type HeaderRule } from '../content/header-rules.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'PI_ORIGIN_INVALID_OPTION';
}

export interface ListenAddress {
  /** Literal without brackets: `::`, `2001:db8::1`, `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

export interface SniCertificate {
  readonly hostname: string;
  readonly cert: string;
  readonly key: string;
}

export interface TlsOptions {
  readonly listen: readonly ListenAddress[];
  readonly cert: string;
  readonly key: string;
  readonly sni: readonly SniCertificate[];
}

/** Resolved, validated, frozen options; plain data so it can be posted to worker threads. */
export interface ServeOptions {
  readonly root: string;
  readonly listen: readonly ListenAddress[];
  readonly ipv6Only: boolean;
  readonly workers: number;
  readonly cacheSize: number;
  readonly cacheMaxFile: number;
  readonly trustedProxy: readonly Cidr[];
  readonly adminAllow: readonly Cidr[];
  readonly accessLog: string;
  readonly logFormat: 'combined' | 'json';
  readonly headers: readonly HeaderRule[];
  readonly watch: boolean;
  readonly drainTimeout: number;
  readonly nodeName: string;
  readonly tls: TlsOptions | undefined;
  readonly preview: PreviewOptions | undefined;
}

/** Where releases other than the served one are shown (server/preview.ts); undefined when neither form is set. */
export interface PreviewOptions {
  /** `preview.example.org`: `<id>.preview.example.org` serves release `<id>`; '' when off. Lower case, no dot at either end. */
  readonly host: string;
  /** `/_preview/`: `/_preview/<id>/...` serves release `<id>`; '' when off. Starts and ends with `/`. */
  readonly path: string;
  /** Clients that may see previews; empty: anyone. */
  readonly allow: readonly Cidr[];
  /** The directory holding the releases: the parent of ROOT (`<releases>/current`). */
  readonly releasesDir: string;
}

type Kind = 'string' | 'int' | 'bytes' | 'seconds' | 'bool' | 'list';
/** The resolved type of each kind. */
interface KindValue {
  string: string;
  int: number;
  bytes: number;
  seconds: number;
  bool: boolean;
  list: readonly string[];
}

/** A default that depends on the machine or on another option, read through `get`. */
type Computed<T> = (get: (key: string) => unknown) => T;

interface OptionSpec<K extends Kind = Kind> {
  /** The JSON key; the env var is PI_ORIGIN_ + key in CONSTANT_CASE. */
  readonly key: string;
  readonly flag: string;
  readonly kind: K;
  readonly arg?: string;
  /** One text for --help and the README (backticks are dropped in --help). */
  readonly help: string;
  /** Applied when no source sets the option; none: the option is off unless given. */
  readonly default?: KindValue[K] | Computed<KindValue[K]>;
  /** How --help and the README show a computed default. */
  readonly shown?: string;
  /** For a list whose items hold commas: the separator in the environment. */
  readonly envSeparator?: ';';
  /** Bounds of an int. */
  readonly min?: number;
  readonly max?: number;
}

/** Checks `default` against `kind` and keeps the key's literal type. */
function option<const Key extends string, K extends Kind>(spec: OptionSpec<K> & { readonly key: Key }): OptionSpec<K> & { readonly key: Key } {
  return Object.freeze(spec);
}

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/**
 * Every option, in --help order: the one table that parsing, the defaults, --help and the
 * README's options table (test/docs.test.ts) come from.
 */
export const OPTIONS = [
  option({ key: 'listen', flag: '--listen', kind: 'list', arg: 'ADDR:PORT', help: 'repeatable; IPv6 in brackets (`[2001:db8::1]:80`), IPv4 plain (`127.0.0.1:8080`)', default: [`[::]:${DEFAULT_PORT}`] }),
  option({ key: 'ipv6Only', flag: '--ipv6-only', kind: 'bool', help: 'refuse IPv4 listen addresses; on `[::]`, close connections from IPv4-mapped peers (this uWS build cannot set `IPV6_V6ONLY`)', default: false }),
  option({ key: 'workers', flag: '--workers', kind: 'int', arg: 'N', help: 'worker threads, each listening on every address (SO_REUSEPORT)', default: () => availableParallelism(), shown: 'number of CPUs', min: 1, max: 256 }),
  option({ key: 'cacheSize', flag: '--cache-size', kind: 'bytes', arg: 'BYTES', help: 'body cache for the node, split evenly between workers (e.g. `512MiB`)', default: GiB }),
  option({ key: 'cacheMaxFile', flag: '--cache-max-file', kind: 'bytes', arg: 'BYTES', help: "larger files are streamed from disk with backpressure, as are files larger than one worker's share of `--cache-size` (each worker caches `--cache-size / --workers`)", default: (get) => Math.min(16 * MiB, get('cacheSize') as number), shown: '`16MiB` or `--cache-size` if smaller' }),
  option({ key: 'trustedProxy', flag: '--trusted-proxy', kind: 'list', arg: 'CIDR', help: 'peers whose PROXY v2 header or `X-Forwarded-For` is believed; repeatable', default: [] }),
  option({ key: 'adminAllow', flag: '--admin-allow', kind: 'list', arg: 'CIDR', help: 'clients that may read `/_origin/*`; repeatable', default: ['::1/128', '127.0.0.0/8'] }),
  option({ key: 'accessLog', flag: '--access-log', kind: 'string', arg: 'off|stdout|FILE', help: 'buffered access log; FILE is reopened on SIGHUP/SIGUSR1', default: 'off' }),
  option({ key: 'logFormat', flag: '--log-format', kind: 'string', arg: 'combined|json', help: 'access log format', default: 'combined' }),
  option({ key: 'cacheControl', flag: '--cache-control', kind: 'list', arg: 'PATTERN=VALUE', help: 'Cache-Control for paths matching PATTERN (`*` matches anything); repeatable, later wins', default: [], envSeparator: ';' }),
  option({ key: 'watch', flag: '--watch', kind: 'bool', help: 're-index when the content root changes', default: true }),
  option({ key: 'drainTimeout', flag: '--drain-timeout', kind: 'seconds', arg: 'SECONDS', help: 'on SIGTERM, how long in-flight responses may take to finish', default: 10 }),
  option({ key: 'nodeName', flag: '--node-name', kind: 'string', arg: 'NAME', help: 'name reported by `/_origin/status`', default: () => hostname(), shown: 'hostname' }),
  option({ key: 'tlsListen', flag: '--tls-listen', kind: 'list', arg: 'ADDR:PORT', help: 'HTTPS listen address (uWS SSLApp); repeatable; needs `--tls-cert` and `--tls-key`', default: [] }),
  option({ key: 'tlsCert', flag: '--tls-cert', kind: 'string', arg: 'FILE', help: 'default certificate (PEM); re-read when the files change (new connections get it at once; connections made before are closed after `--drain-timeout`)' }),
  option({ key: 'tlsKey', flag: '--tls-key', kind: 'string', arg: 'FILE', help: 'default private key (PEM), re-read with the certificate' }),
  option({ key: 'sni', flag: '--sni', kind: 'list', arg: 'HOST=CERT,KEY', help: 'more certificates, chosen by SNI; repeatable', default: [], envSeparator: ';' }),
  option({ key: 'previewHost', flag: '--preview-host', kind: 'string', arg: 'SUFFIX', help: 'serve any release beside ROOT at `<id>.SUFFIX` (e.g. `preview.example.org`), never publicly cached, with `X-Robots-Tag: noindex`' }),
  option({ key: 'previewPath', flag: '--preview-path', kind: 'string', arg: 'PREFIX', help: 'serve any release beside ROOT under `PREFIX<id>/` (e.g. `/_preview/`), like `--preview-host`' }),
  option({ key: 'previewAllow', flag: '--preview-allow', kind: 'list', arg: 'CIDR', help: 'clients that may see previews (others get 403); repeatable; none: anyone', default: [] }),
  option({ key: 'config', flag: '--config', kind: 'string', arg: 'FILE', help: 'JSON file with any of these options (camelCase keys) plus `headers`' }),
] as const;

export type OptionKey = (typeof OPTIONS)[number]['key'];
type SpecOf<Key extends OptionKey> = Extract<(typeof OPTIONS)[number], { readonly key: Key }>;
type ValueOf<Key extends OptionKey> = KindValue[SpecOf<Key>['kind']];

const SPECS: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.key, o]));

function specOf(key: OptionKey): OptionSpec {
  return SPECS.get(key) as OptionSpec;
}

export type RawValue = string | number | boolean | readonly unknown[] | Readonly<Record<string, unknown>>;
export type RawOptions = Record<string, RawValue>;

/**
 * The `serve` options as the argument parser (common/args.ts) takes them: each flag, and
 * `--no-X` for each on/off option.
 */
export const SERVE_FLAGS: Readonly<Record<string, FlagKind>> = Object.fromEntries(
  OPTIONS.flatMap((o): [string, FlagKind][] => {
    const name = o.flag.slice(2);
    if (o.kind === 'bool') return [[name, 'boolean'], [`no-${name}`, 'boolean']];
    return [[name, o.kind === 'list' ? 'list' : 'value']];
  }),
);

const OPTION_OF_FLAG: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.map((o) => [o.flag.slice(2), o]));

/** Parsed `serve` options as raw options: a later flag wins over an earlier one (`--watch --no-watch`), lists add up. */
export function rawOptions(options: readonly ArgOption[]): RawOptions {
  const raw: Record<string, RawValue> = {};
  for (const { name, value } of options) {
    const negated = name.startsWith('no-') ? OPTION_OF_FLAG.get(name.slice(3)) : undefined;
    if (negated?.kind === 'bool') {
      raw[negated.key] = false;
      continue;
    }
    const spec = OPTION_OF_FLAG.get(name);
    if (spec === undefined) continue; // a flag of the command, not an option (serve --check)
    raw[spec.key] = spec.kind === 'list' ? [...((raw[spec.key] as string[] | undefined) ?? []), value] : value;
  }
  return raw;
}

/** Parses `serve` arguments into raw options and the positional ROOT. Throws ConfigError. */
export function parseFlags(argv: readonly string[]): { raw: RawOptions; positional: string[] } {
  try {
    const { options, positional } = scanArgs(argv, { flags: SERVE_FLAGS });
    return { raw: rawOptions(options), positional };
  } catch (e) {
    if (e instanceof UsageError) throw new ConfigError(e.message);
    throw e;
  }
}

/** The positional ROOT, also a JSON key and PI_ORIGIN_ROOT; no flag of its own. */
const ROOT: OptionSpec<'string'> = { key: 'root', flag: 'root', kind: 'string', help: 'content root' };

/** PI_ORIGIN_* variables as raw options; lists are comma-separated (`;` where items hold commas). */
export function parseEnv(env: NodeJS.ProcessEnv): RawOptions {
  const raw: RawOptions = {};
  for (const spec of [...OPTIONS, ROOT] as readonly OptionSpec[]) {
    const value = env[envName(spec.key)];
    if (value === undefined || value === '') continue;
    raw[spec.key] = spec.kind === 'list' ? value.split(spec.envSeparator ?? ',').map((s) => s.trim()).filter((s) => s !== '') : value;
  }
  return raw;
}

export function envName(key: string): string {
  return 'PI_ORIGIN_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Reads the JSON config file. Throws ConfigError naming the file. */
export function readConfigFile(path: string): RawOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`--config: ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ConfigError(`--config: ${path} must hold a JSON object`);
  const known = new Set<string>([...OPTIONS.map((o) => o.key), ROOT.key, 'headers']);
  for (const key of Object.keys(data)) if (!known.has(key)) throw new ConfigError(`--config: unknown key "${key}" in ${path}`);
  return data as RawOptions;
}

export interface Sources {
  readonly flags?: RawOptions;
  readonly positionalRoot?: string;
  readonly env?: RawOptions;
  readonly defaultRoot: string;
}

/** Merges the sources (reading --config if given) and validates everything once. */
export function resolveOptions(sources: Sources): ServeOptions {
  const flags = { ...(sources.flags ?? {}) };
  if (sources.positionalRoot !== undefined) flags['root'] = sources.positionalRoot;
  const env = sources.env ?? {};
  const configPath = flags['config'] ?? env['config'];
  const file = typeof configPath === 'string' ? readConfigFile(configPath) : {};
  const raw: RawOptions = { ...file, ...env, ...flags };
  return validate(raw);
}

function validate(raw: RawOptions): ServeOptions {
  const get = <Key extends OptionKey>(key: Key): ValueOf<Key> => valueOf(raw, key);
  const ipv6Only = get('ipv6Only');
  const listen = get('listen').map((s) => listenAddress('--listen', s, ipv6Only));
  if (listen.length === 0) throw new ConfigError('--listen: at least one address is needed');
  const cacheSize = get('cacheSize');
  const cacheMaxFile = get('cacheMaxFile');
  if (cacheMaxFile > cacheSize) throw new ConfigError(`--cache-max-file (${cacheMaxFile}) must not exceed --cache-size (${cacheSize})`);
  const accessLog = get('accessLog');
  const logFormat = get('logFormat');
  if (logFormat !== 'combined' && logFormat !== 'json') throw new ConfigError(`--log-format must be combined or json (got "${logFormat}")`);
  const rawRoot = raw[ROOT.key];
  const root = rawRoot === undefined ? '' : PARSE.string(rawRoot, ROOT);
  const options: ServeOptions = {
    root: resolve(root),
    listen,
    ipv6Only,
    workers: get('workers'),
    cacheSize,
    cacheMaxFile,
    trustedProxy: get('trustedProxy').map((s) => cidr('--trusted-proxy', s)),
    adminAllow: get('adminAllow').map((s) => cidr('--admin-allow', s)),
    accessLog: accessLog === 'off' || accessLog === 'stdout' ? accessLog : resolve(accessLog),
    logFormat,
    headers: [...get('cacheControl').map(cacheControlRule), ...headerRules(raw['headers'])],
    watch: get('watch'),
    drainTimeout: get('drainTimeout'),
    nodeName: get('nodeName'),
    tls: tlsOptions(get, ipv6Only),
    preview: previewOptions(get, resolve(root)),
  };
  if (root === '') throw new ConfigError('ROOT: no content root given');
  return Object.freeze(options);
}

type Get = <Key extends OptionKey>(key: Key) => ValueOf<Key>;

/** The option's value from `raw`, checked against its kind, or its default. */
function valueOf<Key extends OptionKey>(raw: RawOptions, key: Key): ValueOf<Key> {
  const spec = specOf(key);
  const v = raw[key];
  if (v !== undefined) return PARSE[spec.kind](v, spec) as ValueOf<Key>;
  const d = spec.default;
  // Only strings lack a default (--tls-cert, --config): unset is empty.
  return (typeof d === 'function' ? d((k) => valueOf(raw, k as OptionKey)) : (d ?? '')) as ValueOf<Key>;
}

/** One parser per kind: a raw value from any source to its type, or a ConfigError naming the flag. */
const PARSE: { readonly [K in Kind]: (v: RawValue, spec: OptionSpec) => KindValue[K] } = {
  string(v, spec) {
    if (typeof v !== 'string') throw new ConfigError(`${spec.flag} must be a string (got ${JSON.stringify(v)})`);
    return v;
  },
  bool(v, spec) {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v)) return true;
    if (typeof v === 'string' && /^(0|false|no|off)$/i.test(v)) return false;
    throw new ConfigError(`${spec.flag} must be true or false (got ${JSON.stringify(v)})`);
  },
  int(v, spec) {
    const { min = 0, max = Number.MAX_SAFE_INTEGER } = spec;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${spec.flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
    return n;
  },
  bytes(v, spec) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseBytes(v) : undefined;
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${spec.flag} must be a size like 512MiB or 1GiB (got ${JSON.stringify(v)})`);
    return n;
  },
  seconds(v, spec) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
    if (!(n >= 0 && n <= 3600)) throw new ConfigError(`${spec.flag} must be a number of seconds from 0 to 3600 (got ${JSON.stringify(v)})`);
    return n;
  },
  list(v, spec) {
    const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
    if (!Array.isArray(items) || !items.every((x) => typeof x === 'string')) throw new ConfigError(`${spec.flag} must be a list of strings (got ${JSON.stringify(v)})`);
    return items;
  },
};

/** `[2001:db8::1]:80`, `[::]:8080`, `127.0.0.1:8080`. */
export function listenAddress(flag: string, text: string, ipv6Only: boolean): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (m === null || host === undefined || port > 65535) throw new ConfigError(`${flag}: "${text}" is not ADDR:PORT (IPv6 in brackets: [::]:8080, [2001:db8::1]:80; IPv4: 127.0.0.1:8080)`);
  if (isIPv6(host) && !host.includes('%')) return { host, port, family: 6 };
  if (isIPv4(host)) {
    if (ipv6Only) throw new ConfigError(`${flag}: "${text}" is IPv4 but --ipv6-only is set`);
    return { host, port, family: 4 };
  }
  throw new ConfigError(`${flag}: "${host}" in "${text}" is not an IPv4 or IPv6 literal`);
}

function cidr(flag: string, text: string): Cidr {
  const c = checkCidr(text.trim());
  if (typeof c === 'string') throw new ConfigError(`${flag}: "${text}" is not an address prefix like 2001:db8::/32 or 10.0.0.0/8: ${c}`);
  return c;
}

function cacheControlRule(text: string): HeaderRule {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--cache-control: "${text}" is not PATTERN=VALUE (e.g. /assets/*=public, max-age=31536000, immutable)`);
  return checkedRule('--cache-control', { pattern: text.slice(0, eq), headers: { 'Cache-Control': text.slice(eq + 1) } });
}

function headerRules(v: unknown): HeaderRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError('headers must be a list of {"pattern": "...", "headers": {"Name": "value"}}');
  return v.map((r: unknown) => {
    const rule = r as Partial<HeaderRule> | null;
    if (typeof rule?.pattern !== 'string' || typeof rule.headers !== 'object' || rule.headers === null || !Object.values(rule.headers).every((x) => typeof x === 'string'))
      throw new ConfigError(`headers: ${JSON.stringify(r)} is not {"pattern": "...", "headers": {"Name": "value"}}`);
    return checkedRule('headers', rule as HeaderRule);
  });
}

function checkedRule(flag: string, rule: HeaderRule): HeaderRule {
  if (!rule.pattern.startsWith('/') && !rule.pattern.startsWith('*')) throw new ConfigError(`${flag}: pattern "${rule.pattern}" must start with / or *`);
  for (const [name, value] of Object.entries(rule.headers)) {
    const problem = headerProblem(name, value);
    if (problem !== undefined) throw new ConfigError(`${flag}: ${problem}`);
  }
  return rule;
}

function tlsOptions(get: Get, ipv6Only: boolean): TlsOptions | undefined {
  const listen = get('tlsListen').map((s) => listenAddress('--tls-listen', s, ipv6Only));
  const cert = get('tlsCert');
  const key = get('tlsKey');
  const sni = get('sni').map(sniEntry);
  if (listen.length === 0) {
    if (cert !== '' || key !== '' || sni.length > 0) throw new ConfigError('--tls-cert, --tls-key and --sni need --tls-listen');
    return undefined;
  }
  if (cert === '' || key === '') throw new ConfigError('--tls-listen needs --tls-cert and --tls-key');
  for (const [flag, file] of [['--tls-cert', cert], ['--tls-key', key], ...sni.flatMap((s) => [['--sni', s.cert], ['--sni', s.key]])] as const) readable(flag, file);
  return { listen, cert: resolve(cert), key: resolve(key), sni };
}

/** A DNS name of letters, digits and hyphens per label (RFC 1123), at most 253 characters. */
const HOST_SUFFIX = /^(?=.{1,240}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** Path segments of unreserved characters, from `/` to `/`. */
const PATH_PREFIX = /^\/([A-Za-z0-9._~-]+\/)+$/;

function previewOptions(get: Get, root: string): PreviewOptions | undefined {
  const host = get('previewHost').toLowerCase();
  const path = get('previewPath');
  const allow = get('previewAllow').map((s) => cidr('--preview-allow', s));
  if (host === '' && path === '') {
    if (allow.length > 0) throw new ConfigError('--preview-allow needs --preview-host or --preview-path');
    return undefined;
  }
  if (host !== '' && !HOST_SUFFIX.test(host)) throw new ConfigError(`--preview-host: "${host}" is not a host name suffix like preview.example.org`);
  if (path !== '' && (!PATH_PREFIX.test(path) || path.split('/').some((s) => s === '.' || s === '..')))
    throw new ConfigError(`--preview-path: "${path}" is not a path prefix like /_preview/ (starts and ends with /, letters, digits and ._~- only)`);
  if (path !== '' && path.startsWith('/_origin/')) throw new ConfigError(`--preview-path: "${path}" is under /_origin/, the admin endpoints`);
  return Object.freeze({ host, path, allow, releasesDir: dirname(root) });
}

function sniEntry(text: string): SniCertificate {
  const m = /^([^=]+)=([^,]+),(.+)$/.exec(text);
  if (m === null) throw new ConfigError(`--sni: "${text}" is not HOST=CERT,KEY`);
  return { hostname: (m[1] as string).toLowerCase(), cert: resolve(m[2] as string), key: resolve(m[3] as string) };
}

function readable(flag: string, file: string): void {
  try {
    readFileSync(file);
  } catch (e) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** How --help and the README show an option's default (markdown); undefined when it has none. */
export function shownDefault(o: OptionSpec): string | undefined {
  const d = o.default;
  if (o.shown !== undefined || typeof d === 'function') return o.shown;
  if (typeof d === 'boolean') return d ? 'on' : 'off';
  if (Array.isArray(d)) return d.length === 0 ? 'none' : `\`${d.join(',')}\``;
  if (typeof d === 'number') return `\`${o.kind === 'bytes' ? showBytes(d) : d}\``;
  return d === undefined ? undefined : `\`${String(d)}\``;
}

function showBytes(n: number): string {
  for (const [unit, scale] of [['GiB', GiB], ['MiB', MiB], ['KiB', 1024]] as const) if (n >= scale && n % scale === 0) return `${n / scale}${unit}`;
  return String(n);
}

const plain = (markdown: string): string => markdown.replaceAll('`', '');

const HELP_WIDTH = 100;

/** Breaks `text` at spaces into lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/**
 * The `serve --help` text after the usage line, generated from OPTIONS so it cannot drift from
 * the code; `extra` are the command's own option lines (cli/serve.ts: --check, --json).
 */
export function serveHelp(defaultRoot: string, extra: readonly string[] = []): string {
  const lines = OPTIONS.map((o: OptionSpec) => {
    const left = `  ${o.kind === 'bool' ? `${o.flag}, --no-${o.flag.slice(2)}` : `${o.flag} ${o.arg ?? ''}`}`;
    const shown = shownDefault(o);
    const def = shown === undefined ? '' : ` [default: ${plain(shown)}]`;
    return [`${left.padEnd(34)} ${wrap(plain(o.help) + def, HELP_WIDTH - 35).join(`\n${' '.repeat(35)}`)}`, `${' '.repeat(35)}env ${envName(o.key)}`].join('\n');
  });
  return [
    'Serve a static content root (a release directory or a plain tree) over HTTP, IPv6 first.',
    `ROOT defaults to the bundled demo site (${defaultRoot}); env PI_ORIGIN_ROOT.`,
    '',
    'Options (flags override PI_ORIGIN_* env, which overrides --config):',
    ...lines,
    ...extra,
    '  --help                            show this help',
    '',
    'Admin endpoints (only to --admin-allow clients): /_origin/health, /_origin/status, /_origin/metrics',
    'Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP/SIGUSR1 reopen the access log file.',
  ].join('\n');
}

/** The README's options table (markdown), generated from OPTIONS; test/docs.test.ts holds them equal. */
export function optionsTable(): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const rows = OPTIONS.map((o: OptionSpec) => [
    o.kind === 'bool' ? `\`${o.flag}\`, \`--no-${o.flag.slice(2)}\`` : `\`${o.flag} ${o.arg ?? ''}\``,
    `\`${envName(o.key)}\`${o.envSeparator === undefined ? '' : ` (\`${o.envSeparator}\`-separated)`}`,
    shownDefault(o) ?? 'none',
    o.help,
  ]);
  return [
    '| flag | env | default | meaning |',
    '|---|---|---|---|',
    `| \`ROOT\` (positional) | \`${envName(ROOT.key)}\` | bundled demo site | ${ROOT.help} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}
