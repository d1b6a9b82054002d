/**
 * Server configuration: one table of options (flag, env var, JSON key, default, help), one
 * parser per source and one validator. Precedence: flags > PI_ORIGIN_* env > JSON file > defaults.
 * Errors name the option and the bad value; nothing is validated per request.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { checkCidr, type Cidr } from '../common/address.js';
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
}

type Kind = 'string' | 'int' | 'bytes' | 'seconds' | 'bool' | 'list';

interface OptionSpec {
  readonly key: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly arg?: string;
  readonly help: string;
  /** Shown in --help; the real default is applied by resolveOptions. */
  readonly shownDefault?: string;
}

/** Where a node listens unless told otherwise. */
const DEFAULT_LISTEN = `[::]:${DEFAULT_PORT}`;

/** Every option, in --help order. `key` is the JSON key; env is PI_ORIGIN_ + key in CONSTANT_CASE. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'listen', flag: '--listen', kind: 'list', arg: 'ADDR:PORT', help: 'address to listen on; repeatable; IPv6 in brackets', shownDefault: DEFAULT_LISTEN },
  { key: 'ipv6Only', flag: '--ipv6-only', kind: 'bool', help: 'refuse IPv4 listen addresses; close connections from IPv4-mapped peers on [::]', shownDefault: 'off' },
  { key: 'workers', flag: '--workers', kind: 'int', arg: 'N', help: 'worker threads, each listening on every address (SO_REUSEPORT)', shownDefault: 'number of CPUs' },
  { key: 'cacheSize', flag: '--cache-size', kind: 'bytes', arg: 'BYTES', help: 'body cache per node, split evenly between workers (e.g. 512MiB)', shownDefault: '1GiB' },
  { key: 'cacheMaxFile', flag: '--cache-max-file', kind: 'bytes', arg: 'BYTES', help: 'larger files are streamed from disk instead of cached (so are files above cache-size / workers)', shownDefault: '16MiB or --cache-size if smaller' },
  { key: 'trustedProxy', flag: '--trusted-proxy', kind: 'list', arg: 'CIDR', help: 'peers whose PROXY v2 header or X-Forwarded-For is believed; repeatable', shownDefault: 'none' },
  { key: 'adminAllow', flag: '--admin-allow', kind: 'list', arg: 'CIDR', help: 'clients allowed to read /_origin/*; repeatable', shownDefault: '::1/128,127.0.0.0/8' },
  { key: 'accessLog', flag: '--access-log', kind: 'string', arg: 'off|stdout|FILE', help: 'access log destination; FILE is reopened on SIGHUP/SIGUSR1', shownDefault: 'off' },
  { key: 'logFormat', flag: '--log-format', kind: 'string', arg: 'combined|json', help: 'access log format', shownDefault: 'combined' },
  { key: 'cacheControl', flag: '--cache-control', kind: 'list', arg: 'PATTERN=VALUE', help: 'Cache-Control for paths matching PATTERN (* matches anything); repeatable, later wins' },
  { key: 'watch', flag: '--watch', kind: 'bool', help: 're-index when the content root changes (--no-watch to disable)', shownDefault: 'on' },
  { key: 'drainTimeout', flag: '--drain-timeout', kind: 'seconds', arg: 'SECONDS', help: 'on SIGTERM, how long in-flight responses may take to finish', shownDefault: '10' },
  { key: 'nodeName', flag: '--node-name', kind: 'string', arg: 'NAME', help: 'name reported by /_origin/status', shownDefault: 'hostname' },
  { key: 'tlsListen', flag: '--tls-listen', kind: 'list', arg: 'ADDR:PORT', help: 'HTTPS listen address; repeatable; needs --tls-cert and --tls-key' },
  { key: 'tlsCert', flag: '--tls-cert', kind: 'string', arg: 'FILE', help: 'default certificate (PEM); re-read when it changes' },
  { key: 'tlsKey', flag: '--tls-key', kind: 'string', arg: 'FILE', help: 'default private key (PEM)' },
  { key: 'sni', flag: '--sni', kind: 'list', arg: 'HOST=CERT,KEY', help: 'extra certificate chosen by SNI; repeatable' },
  { key: 'config', flag: '--config', kind: 'string', arg: 'FILE', help: 'JSON file with any of these options (camelCase keys)' },
];

export type RawValue = string | number | boolean | readonly unknown[] | Readonly<Record<string, unknown>>;
export type RawOptions = Record<string, RawValue>;

/** Parses `serve` arguments into raw options and the positional ROOT. Throws ConfigError. */
export function parseFlags(argv: readonly string[]): { raw: RawOptions; positional: string[] } {
  const raw: Record<string, RawValue> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const negated = flag.startsWith('--no-') ? OPTIONS.find((o) => o.kind === 'bool' && o.flag === '--' + flag.slice(5)) : undefined;
    if (negated !== undefined) {
      raw[negated.key] = false;
      continue;
    }
    const spec = OPTIONS.find((o) => o.flag === flag);
    if (spec === undefined) throw new ConfigError(`unknown option ${flag} (see pi-origin serve --help)`);
    if (spec.kind === 'bool') {
      raw[spec.key] = eq === -1 ? true : arg.slice(eq + 1);
      continue;
    }
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value (${spec.arg ?? 'VALUE'})`);
    if (spec.kind === 'list') raw[spec.key] = [...((raw[spec.key] as string[] | undefined) ?? []), value];
    else raw[spec.key] = value;
  }
  return { raw, positional };
}

/** Lists whose items contain commas themselves: `;`-separated in the environment. */
const SEMICOLON_LISTS = new Set(['cacheControl', 'sni']);

/** PI_ORIGIN_* variables as raw options; lists are comma-separated (`;` for cacheControl and sni). */
export function parseEnv(env: NodeJS.ProcessEnv): RawOptions {
  const raw: RawOptions = {};
  for (const spec of [...OPTIONS, { key: 'root', kind: 'string' as const }]) {
    const value = env[envName(spec.key)];
    if (value === undefined || value === '') continue;
    raw[spec.key] = spec.kind === 'list' ? value.split(SEMICOLON_LISTS.has(spec.key) ? ';' : ',').map((s) => s.trim()).filter((s) => s !== '') : value;
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
  const known = new Set([...OPTIONS.map((o) => o.key), 'root', 'headers']);
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
  const ipv6Only = bool(raw, 'ipv6Only', false);
  const listen = list(raw, 'listen', [DEFAULT_LISTEN]).map((s) => listenAddress('--listen', s, ipv6Only));
  if (listen.length === 0) throw new ConfigError('--listen: at least one address is needed');
  const cacheSize = bytes(raw, 'cacheSize', 1024 ** 3);
  const cacheMaxFile = bytes(raw, 'cacheMaxFile', Math.min(16 * 1024 ** 2, cacheSize));
  if (cacheMaxFile > cacheSize) throw new ConfigError(`--cache-max-file (${cacheMaxFile}) must not exceed --cache-size (${cacheSize})`);
  const accessLog = str(raw, 'accessLog', 'off');
  const logFormat = str(raw, 'logFormat', 'combined');
  if (logFormat !== 'combined' && logFormat !== 'json') throw new ConfigError(`--log-format must be combined or json (got "${logFormat}")`);
  const options: ServeOptions = {
    root: resolve(str(raw, 'root', '')),
    listen,
    ipv6Only,
    workers: int(raw, 'workers', availableParallelism(), 1, 256),
    cacheSize,
    cacheMaxFile,
    trustedProxy: list(raw, 'trustedProxy', []).map((s) => cidr('--trusted-proxy', s)),
    adminAllow: list(raw, 'adminAllow', ['::1/128', '127.0.0.0/8']).map((s) => cidr('--admin-allow', s)),
    accessLog: accessLog === 'off' || accessLog === 'stdout' ? accessLog : resolve(accessLog),
    logFormat,
    headers: [...list(raw, 'cacheControl', []).map(cacheControlRule), ...headerRules(raw['headers'])],
    watch: bool(raw, 'watch', true),
    drainTimeout: seconds(raw, 'drainTimeout', 10),
    nodeName: str(raw, 'nodeName', hostname()),
    tls: tlsOptions(raw, ipv6Only),
  };
  if (str(raw, 'root', '') === '') throw new ConfigError('ROOT: no content root given');
  return Object.freeze(options);
}

function flagOf(key: string): string {
  return OPTIONS.find((o) => o.key === key)?.flag ?? key;
}

function str(raw: RawOptions, key: string, fallback: string): string {
  const v = raw[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'string') throw new ConfigError(`${flagOf(key)} must be a string (got ${JSON.stringify(v)})`);
  return v;
}

function bool(raw: RawOptions, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined) return fallback;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v)) return true;
  if (typeof v === 'string' && /^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${flagOf(key)} must be true or false (got ${JSON.stringify(v)})`);
}

function int(raw: RawOptions, key: string, fallback: number, min: number, max: number): number {
  const v = raw[key];
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${flagOf(key)} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return n;
}

function bytes(raw: RawOptions, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? parseBytes(v) : undefined;
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${flagOf(key)} must be a size like 512MiB or 1GiB (got ${JSON.stringify(v)})`);
  return n;
}

function seconds(raw: RawOptions, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 3600)) throw new ConfigError(`${flagOf(key)} must be a number of seconds from 0 to 3600 (got ${JSON.stringify(v)})`);
  return n;
}

function list(raw: RawOptions, key: string, fallback: readonly string[]): string[] {
  const v = raw[key];
  if (v === undefined) return [...fallback];
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
  if (!Array.isArray(items) || !items.every((x) => typeof x === 'string')) throw new ConfigError(`${flagOf(key)} must be a list of strings (got ${JSON.stringify(v)})`);
  return items;
}

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

function tlsOptions(raw: RawOptions, ipv6Only: boolean): TlsOptions | undefined {
  const listen = list(raw, 'tlsListen', []).map((s) => listenAddress('--tls-listen', s, ipv6Only));
  const cert = str(raw, 'tlsCert', '');
  const key = str(raw, 'tlsKey', '');
  const sni = list(raw, 'sni', []).map(sniEntry);
  if (listen.length === 0) {
    if (cert !== '' || key !== '' || sni.length > 0) throw new ConfigError('--tls-cert, --tls-key and --sni need --tls-listen');
    return undefined;
  }
  if (cert === '' || key === '') throw new ConfigError('--tls-listen needs --tls-cert and --tls-key');
  for (const [flag, file] of [['--tls-cert', cert], ['--tls-key', key], ...sni.flatMap((s) => [['--sni', s.cert], ['--sni', s.key]])] as const) readable(flag, file);
  return { listen, cert: resolve(cert), key: resolve(key), sni };
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

/** The `serve --help` text, generated from OPTIONS so it cannot drift from the code. */
export function serveHelp(defaultRoot: string): string {
  const lines = OPTIONS.map((o) => {
    const left = `  ${o.kind === 'bool' ? `${o.flag}, --no-${o.flag.slice(2)}` : `${o.flag} ${o.arg ?? ''}`}`;
    const def = o.shownDefault === undefined ? '' : ` [default: ${o.shownDefault}]`;
    return `${left.padEnd(34)} ${o.help}${def}\n${' '.repeat(35)}env ${envName(o.key)}`;
  });
  return [
    'Usage: pi-origin serve [ROOT] [options]',
    '',
    'Serve a static content root (a release directory or a plain tree) over HTTP, IPv6 first.',
    `ROOT defaults to the bundled demo site (${defaultRoot}); env PI_ORIGIN_ROOT.`,
    '',
    'Options (flags override PI_ORIGIN_* env, which overrides --config):',
    ...lines,
    '  --help                            show this help',
    '',
    'Admin endpoints (only to --admin-allow clients): /_origin/health, /_origin/status, /_origin/metrics',
    'Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP/SIGUSR1 reopen the access log file.',
  ].join('\n');
}
