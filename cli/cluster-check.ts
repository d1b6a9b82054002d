/**
 * `pi-origin cluster check`: the content check of cluster/content-check.ts against one node, as
 * the rollout's canary gate runs it (until the load-test gate exists).
 */
import { ManifestError, readManifest } from '../release/manifest.js';
import { checkNode, DEFAULT_CONCURRENCY, renderCheck, renderWait, waitForRelease, type CheckReport } from '../cluster/content-check.js';
import { isReleaseId } from '../content/release-id.js';
import { durationFlag } from './duration.js';
import { UsageError, type Subcommand } from './subcommands.js';

const DEFAULT_TIMEOUT = '5s';

export const CHECK: Subcommand = {
  summary: 'check that a node serves a release: health, every file, every redirect',
  usage: `pi-origin cluster check --target URL... (--release RELEASE_DIR | --expect ID [--wait DURATION]) [--timeout ${DEFAULT_TIMEOUT}] [--concurrency ${DEFAULT_CONCURRENCY}] [--json]`,
  help: [
    'With --release: asks URL/_origin/health for "ok <id>", then GETs every file in',
    'RELEASE_DIR/manifest.json from URL (no content coding) and compares status 200,',
    'X-Origin-Release, size and SHA-256, and every redirect\'s status and Location. The rollout',
    'runs this against the canary as its gate; any problem puts the canary back.',
    'With --expect ID: only asks /_origin/health for "ok ID", again every 100 ms for up to',
    '--wait: how the rollout confirms that a node switched. --target may be repeated: the',
    'nodes are asked at once and each gets its line (the rollback confirms every node so).',
    'This machine must be in the node\'s --admin-allow.',
    '',
    'Exit 0 when the node passes; 1 listing the problems; 2 for a usage error.',
    '',
    'Options:',
    '  --target URL          the node, e.g. http://[2001:db8::11]:8080 (required; with',
    '                        --expect, repeat it for several nodes)',
    '  --release DIR         the release directory on this machine: full content check',
    '  --expect ID           the release id the node must report: health check only',
    '  --wait DURATION       with --expect, keep asking this long (default 0: once, at most 5m)',
    `  --timeout DURATION    per request (default ${DEFAULT_TIMEOUT}, at most 5m)`,
    `  --concurrency N       requests in flight (default ${DEFAULT_CONCURRENCY}, 1-64)`,
    '  --json                print {target, release, checked, bytes, ms, ok, problems} as JSON',
    '                        (one line per target)',
  ].join('\n'),
  examples: [
    'pi-origin cluster check --target http://[2001:db8::11]:8080 --release /srv/origin/releases/current',
    'pi-origin cluster check --target http://[2001:db8::11]:8080 --expect 0123456789ab --wait 30s',
    'pi-origin cluster check --target http://[2001:db8::11]:8080 --target http://[2001:db8::12]:8080 --expect 0123456789ab --wait 30s --json',
    'pi-origin cluster check --target http://[::1]:8080 --release releases/current --json',
  ],
  flags: { target: 'list', release: 'value', expect: 'value', wait: 'value', timeout: 'value', concurrency: 'value', json: 'boolean' },
  run: check,
};

/** A --target: an http:// URL of a node, without a path. */
function targetUrl(target: string): URL {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new UsageError(`--target must be an http:// URL like http://[2001:db8::11]:8080 (got ${JSON.stringify(target)})`);
  }
  if (url.protocol !== 'http:' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '')
    throw new UsageError(`--target must be an http:// URL of a node without a path, like http://[2001:db8::11]:8080 (got ${JSON.stringify(target)})`);
  return url;
}

async function check(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const targets = lists.get('target') ?? [];
  if (targets.length === 0) throw new UsageError('--target URL is required');
  const urls = targets.map(targetUrl);
  const timeoutMs = durationFlag(flags, 'timeout', DEFAULT_TIMEOUT, 1, '500ms or 5s');
  const expect = flags.get('expect');
  const releaseDir = flags.get('release');
  if (typeof expect === 'string') {
    if (releaseDir !== undefined) throw new UsageError('give --release or --expect, not both');
    if (!isReleaseId(expect)) throw new UsageError(`--expect must be a release id, 12 hex digits (got ${JSON.stringify(expect)})`);
    const waitMs = durationFlag(flags, 'wait', '0', 0, '500ms or 5s');
    const reports = await Promise.all(urls.map((u) => waitForRelease({ target: u.origin, release: expect, timeoutMs, waitMs })));
    return reports.map((r) => printed(r, flags.has('json') ? undefined : renderWait)).reduce((a, b) => Math.max(a, b), 0);
  }
  if (flags.has('wait')) throw new UsageError('--wait goes with --expect');
  if (typeof releaseDir !== 'string') throw new UsageError('--release RELEASE_DIR or --expect ID is required');
  if (urls.length > 1) throw new UsageError('--release checks one node: give --target once (several go with --expect)');
  const url = urls[0] as URL;
  const concurrencyText = (flags.get('concurrency') as string | undefined) ?? String(DEFAULT_CONCURRENCY);
  const concurrency = Number(concurrencyText);
  if (!/^\d+$/.test(concurrencyText) || concurrency < 1 || concurrency > 64) throw new UsageError(`--concurrency must be a whole number from 1 to 64 (got ${JSON.stringify(concurrencyText)})`);
  let manifest;
  try {
    manifest = readManifest(releaseDir);
  } catch (e) {
    if (e instanceof ManifestError) throw new UsageError(`--release: ${e.message}`);
    throw e;
  }
  if (manifest === undefined) throw new UsageError(`--release ${releaseDir} is not a release directory (no manifest.json)`);
  const tty = process.stderr.isTTY;
  const report = await checkNode({
    target: url.origin,
    manifest,
    timeoutMs,
    concurrency,
    ...(tty ? { onProgress: (done: number, total: number) => process.stderr.write(`\r${done}/${total} checked`) } : {}),
  });
  if (tty) process.stderr.write('\r\x1b[K');
  return printed(report, flags.has('json') ? undefined : renderCheck);
}

/** The report as text (`render`) or, without one, as JSON; exit 0 when it found no problem. */
function printed(report: CheckReport, render: ((r: CheckReport) => string) | undefined): number {
  const ok = report.problems.length === 0;
  process.stdout.write((render === undefined ? JSON.stringify({ ...report, ok }) : render(report)) + '\n');
  return ok ? 0 : 1;
}
