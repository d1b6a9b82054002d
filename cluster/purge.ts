/**
 * Purging the previous release at the CDN once a rollout has completed: every response carries
 * `Surrogate-Key` and `Cache-Tag` `release-<id>` (content/release-id.ts), so one request per CDN
 * drops what the old release left cached.
 *
 * - Cloudflare: `POST /client/v4/zones/{zone}/purge_cache` with `{"tags": [...]}` (or
 *   `{"prefixes": [...]}` where configured), `Authorization: Bearer <token>`; the answer is
 *   `{"success": bool, "errors": [{code, message}], "messages": [], "result": {"id"}}`
 *   (https://developers.cloudflare.com/api/resources/cache/methods/purge/).
 * - Fastly: `POST /service/{service}/purge/{surrogate_key}` with `Fastly-Key: <token>` and
 *   `Fastly-Soft-Purge: 1` (marks objects stale rather than dropping them); the answer is
 *   `{"status": "ok", "id": "..."}` (https://www.fastly.com/documentation/reference/api/purging/#purge-tag).
 *
 * Tokens come from the environment or an Ansible Vault file and are never part of any message:
 * every text this module returns passes `redact` first. A failed purge is reported; the caller
 * never undoes a rollout for it (the old objects expire on their own max-age).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { releaseTag } from '../content/release-id.js';

export const CLOUDFLARE_API = 'https://api.cloudflare.com';
export const FASTLY_API = 'https://api.fastly.com';
/** One purge request may take this long, connect to last byte. */
export const PURGE_TIMEOUT_MS = 15_000;

export interface CloudflarePurge {
  readonly cdn: 'cloudflare';
  readonly zone: string;
  readonly token: string;
  /** Purge these URL prefixes (`www.example.com/assets/`) instead of the release's tag. */
  readonly prefixes: readonly string[];
  readonly api: string;
}

export interface FastlyPurge {
  readonly cdn: 'fastly';
  readonly service: string;
  readonly token: string;
  readonly api: string;
}

export type PurgeTarget = CloudflarePurge | FastlyPurge;

export interface PurgeOutcome {
  readonly cdn: PurgeTarget['cdn'];
  readonly ok: boolean;
  /** `purged release-<id> (purge id 123)`, or why not; never a token. */
  readonly detail: string;
}

export class PurgeConfigError extends Error {
  override readonly name = 'PurgeConfigError';
}

/** The settings as the environment or a credentials file give them (file keys in parentheses). */
interface PurgeSettings {
  cloudflareZone?: string;
  cloudflareToken?: string;
  cloudflarePrefixes?: string;
  cloudflareApi?: string;
  fastlyService?: string;
  fastlyToken?: string;
  fastlyApi?: string;
}

/** Environment variable and credentials-file key of each setting. */
const SETTINGS: readonly (readonly [keyof PurgeSettings, string, string])[] = [
  ['cloudflareZone', 'PI_ORIGIN_CLOUDFLARE_ZONE', 'cloudflare_zone'],
  ['cloudflareToken', 'PI_ORIGIN_CLOUDFLARE_TOKEN', 'cloudflare_token'],
  ['cloudflarePrefixes', 'PI_ORIGIN_CLOUDFLARE_PREFIXES', 'cloudflare_prefixes'],
  ['cloudflareApi', 'PI_ORIGIN_CLOUDFLARE_API', 'cloudflare_api'],
  ['fastlyService', 'PI_ORIGIN_FASTLY_SERVICE', 'fastly_service'],
  ['fastlyToken', 'PI_ORIGIN_FASTLY_TOKEN', 'fastly_token'],
  ['fastlyApi', 'PI_ORIGIN_FASTLY_API', 'fastly_api'],
];

/** Zone and service ids are hex or alphanumeric: nothing that could leave the URL path. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The CDNs to purge: from a credentials file (JSON, plain or Ansible Vault-encrypted, decrypted
 * with `ansible-vault view` and the vault password Ansible is configured with), then the
 * environment, which wins. An empty list: purging is not configured. Throws PurgeConfigError
 * naming the setting (never its value when it is a token).
 */
export function purgeTargets(env: NodeJS.ProcessEnv, credentialsFile?: string): PurgeTarget[] {
  const s: PurgeSettings = credentialsFile === undefined ? {} : readCredentials(credentialsFile, env);
  for (const [key, name] of SETTINGS) {
    const v = env[name];
    if (v !== undefined && v !== '') s[key] = v;
  }
  const targets: PurgeTarget[] = [];
  if (s.cloudflareZone !== undefined || s.cloudflareToken !== undefined) {
    const zone = need(s.cloudflareZone, 'PI_ORIGIN_CLOUDFLARE_ZONE (cloudflare_zone)', true);
    const token = need(s.cloudflareToken, 'PI_ORIGIN_CLOUDFLARE_TOKEN (cloudflare_token)', false);
    const prefixes = (s.cloudflarePrefixes ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    targets.push({ cdn: 'cloudflare', zone, token, prefixes, api: apiBase(s.cloudflareApi, CLOUDFLARE_API, 'PI_ORIGIN_CLOUDFLARE_API') });
  }
  if (s.fastlyService !== undefined || s.fastlyToken !== undefined) {
    const service = need(s.fastlyService, 'PI_ORIGIN_FASTLY_SERVICE (fastly_service)', true);
    const token = need(s.fastlyToken, 'PI_ORIGIN_FASTLY_TOKEN (fastly_token)', false);
    targets.push({ cdn: 'fastly', service, token, api: apiBase(s.fastlyApi, FASTLY_API, 'PI_ORIGIN_FASTLY_API') });
  }
  return targets;
}

function need(value: string | undefined, what: string, isId: boolean): string {
  if (value === undefined || value === '') throw new PurgeConfigError(`${what} is needed with the other settings of its CDN`);
  if (isId && !ID.test(value)) throw new PurgeConfigError(`${what}: ${JSON.stringify(value)} is not an id (letters, digits, _ and -)`);
  if (!isId && !/^[\x21-\x7e]+$/.test(value)) throw new PurgeConfigError(`${what} must be printable ASCII without spaces`);
  return value;
}

function apiBase(value: string | undefined, fallback: string, what: string): string {
  if (value === undefined) return fallback;
  if (!/^https?:\/\/[^/?#]+$/.test(value)) throw new PurgeConfigError(`${what}: ${JSON.stringify(value)} is not a base URL like ${fallback}`);
  return value;
}

/** A credentials file's settings; Vault-encrypted files are decrypted by ansible-vault itself. */
function readCredentials(file: string, env: NodeJS.ProcessEnv): PurgeSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PurgeConfigError(`--purge-credentials: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (text.startsWith('$ANSIBLE_VAULT;')) {
    try {
      text = execFileSync('ansible-vault', ['view', file], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { code?: string; stderr?: string };
      throw new PurgeConfigError(`--purge-credentials: ansible-vault cannot decrypt ${file}: ${err.code === 'ENOENT' ? 'ansible-vault is not installed' : (err.stderr ?? '').trim().split('\n').pop() ?? 'failed'}`);
    }
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // The parser's message may quote the file, tokens included.
    throw new PurgeConfigError(`--purge-credentials: ${file} is not valid JSON`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new PurgeConfigError(`--purge-credentials: ${file} must hold a JSON object`);
  const out: PurgeSettings = {};
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const setting = SETTINGS.find(([, , k]) => k === key);
    if (setting === undefined) throw new PurgeConfigError(`--purge-credentials: unknown key "${key}" in ${file} (known: ${SETTINGS.map(([, , k]) => k).join(', ')})`);
    const v = record[key];
    if (typeof v !== 'string') throw new PurgeConfigError(`--purge-credentials: "${key}" in ${file} must be a string`);
    out[setting[0]] = v;
  }
  return out;
}

/** The request one target gets for release `id`: method POST, path, headers, body. */
export function purgeRequest(target: PurgeTarget, id: string): { url: string; headers: Record<string, string>; body: string | undefined } {
  const tag = releaseTag(id);
  if (target.cdn === 'cloudflare')
    return {
      url: `${target.api}/client/v4/zones/${target.zone}/purge_cache`,
      headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(target.prefixes.length > 0 ? { prefixes: target.prefixes } : { tags: [tag] }),
    };
  return { url: `${target.api}/service/${target.service}/purge/${tag}`, headers: { 'Fastly-Key': target.token, 'Fastly-Soft-Purge': '1', Accept: 'application/json' }, body: undefined };
}

/** Purges release `id` at every target, one after the other; never throws, never rejects. */
export async function purgeRelease(targets: readonly PurgeTarget[], id: string, timeoutMs = PURGE_TIMEOUT_MS): Promise<PurgeOutcome[]> {
  const outcomes: PurgeOutcome[] = [];
  for (const target of targets) {
    const detail = await purgeOne(target, id, timeoutMs).catch((e: unknown) => ({ ok: false, text: `request failed: ${describe(e)}` }));
    outcomes.push({ cdn: target.cdn, ok: detail.ok, detail: redact(detail.text, target.token) });
  }
  return outcomes;
}

async function purgeOne(target: PurgeTarget, id: string, timeoutMs: number): Promise<{ ok: boolean; text: string }> {
  const r = purgeRequest(target, id);
  const res = await fetch(r.url, { method: 'POST', headers: r.headers, ...(r.body === undefined ? {} : { body: r.body }), signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  const text = (await res.text()).slice(0, 4096);
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return { ok: false, text: `HTTP ${res.status}, not a JSON answer` };
  }
  const what = target.cdn === 'cloudflare' && target.prefixes.length > 0 ? `prefixes ${target.prefixes.join(', ')}` : releaseTag(id);
  return target.cdn === 'cloudflare' ? cloudflareOutcome(res.status, answer, what) : fastlyOutcome(res.status, answer, what);
}

function cloudflareOutcome(status: number, answer: unknown, what: string): { ok: boolean; text: string } {
  const a = answer as { success?: unknown; errors?: unknown; result?: { id?: unknown } | null } | null;
  if (status === 200 && a?.success === true) return { ok: true, text: `purged ${what}${typeof a.result?.id === 'string' ? ` (purge id ${a.result.id})` : ''}` };
  const errors = Array.isArray(a?.errors) ? (a.errors as { code?: unknown; message?: unknown }[]).map((e) => `${String(e.code)} ${String(e.message)}`).join('; ') : '';
  return { ok: false, text: `HTTP ${status}${errors === '' ? '' : `: ${errors}`}` };
}

function fastlyOutcome(status: number, answer: unknown, what: string): { ok: boolean; text: string } {
  const a = answer as { status?: unknown; id?: unknown; msg?: unknown; detail?: unknown } | null;
  if (status === 200 && a?.status === 'ok') return { ok: true, text: `soft-purged ${what}${typeof a.id === 'string' ? ` (purge id ${a.id})` : ''}` };
  const why = [a?.msg, a?.detail].filter((x) => typeof x === 'string').join(': ');
  return { ok: false, text: `HTTP ${status}${why === '' ? '' : `: ${why}`}` };
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
    return e.name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? e.message);
  }
  return String(e);
}

/** `text` with every occurrence of `secret` replaced: an API may echo what it was sent. */
export function redact(text: string, secret: string): string {
  return secret === '' ? text : text.replaceAll(secret, '[redacted]');
}
