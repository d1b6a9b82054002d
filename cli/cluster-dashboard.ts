/**
 * `pi-origin cluster dashboard`: the cluster on one web page, served from the controller. The
 * polling is in cluster/dashboard.ts, the page in cluster/dashboard-page.ts, the serving in
 * cluster/dashboard-http.ts; this module checks the arguments, starts them and stops them.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseIPv6 } from '../common/address.js';
import { parseNodeAddress } from '../cluster/address.js';
import { Dashboard } from '../cluster/dashboard.js';
import { createDashboardServer } from '../cluster/dashboard-http.js';
import { dashboardPage } from '../cluster/dashboard-page.js';
import type { ProxySource } from '../cluster/haproxy-stat.js';
import { DEFAULT_GROUP, readInventory } from '../cluster/inventory.js';
import { packageRoot } from '../common/package-root.js';
import { reportsDir } from '../common/reports-dir.js';
import { durationFlag } from './duration.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';

const DEFAULT_LISTEN = '[::1]:8090';
const DEFAULT_INTERVAL = '2s';
/** Polling faster than this measures the poll more than the nodes. */
const MIN_INTERVAL_MS = 200;
/** The per-node deadline when --timeout is not given: the interval, at most this. */
const MAX_DEFAULT_TIMEOUT_MS = 2000;

export const DASHBOARD: Subcommand = {
  summary: 'serve a live page of the cluster: nodes, rates, releases, HAProxy, reports',
  usage: `pi-origin cluster dashboard --inventory FILE [--listen ${DEFAULT_LISTEN}] [--group ${DEFAULT_GROUP}] [--interval ${DEFAULT_INTERVAL}] [--timeout DURATION] [--haproxy-socket PATH | --haproxy-stats URL] [--reports DIR ...]`,
  help: [
    'Serves one self-contained web page (no external resources, works offline) that every',
    '--interval asks each node of the group for /_origin/status and /_origin/metrics, as cluster',
    'status does, and shows: per node its address, health, release (a node on another release',
    'than the majority is marked), uptime, requests/s, bytes/s, errors/s (5xx) and cache use,',
    'or DOWN with the last error; for the cluster the total requests/s and Mbit/s with a chart',
    'of the last 10 minutes and the current release; with --haproxy-socket or --haproxy-stats,',
    "HAProxy's state of each backend server (UP, DOWN, DRAIN, MAINT); and links to the latest",
    'gate and bench reports. Rates are counter differences between two polls.',
    '',
    'It listens on loopback: from a laptop, forward a port over SSH',
    `(ssh -L 8090:[::1]:8090 controller) and open http://localhost:8090/. The page is read-only`,
    'and has no login: a --listen address other than loopback shows node addresses, releases',
    "and counters to whoever reaches it. This machine must be in each node's --admin-allow.",
    '',
    'Runs until SIGINT (Ctrl-C) or SIGTERM, then exits 0; 1 when the inventory is invalid or',
    'the address cannot be bound; 2 for a usage error.',
    '',
    'Options:',
    '  -i, --inventory FILE   the Ansible inventory the playbooks use (required; read once at start)',
    `  --listen ADDR:PORT     where to serve the page: [IPv6]:PORT or IPv4:PORT (default ${DEFAULT_LISTEN};`,
    '                         port 0 picks a free one, printed at start)',
    `  --group NAME           inventory group to show, children included (default ${DEFAULT_GROUP})`,
    `  --interval DURATION    time between polls and page refreshes: 500ms, 2s (default ${DEFAULT_INTERVAL},`,
    `                         ${MIN_INTERVAL_MS}ms to 5m)`,
    `  --timeout DURATION     per request to a node or HAProxy (default: the interval, at most ${MAX_DEFAULT_TIMEOUT_MS / 1000}s)`,
    "  --haproxy-socket PATH  HAProxy's runtime API socket, read with `show stat` (the dualstack_proxy",
    '                         role: /run/haproxy/admin.sock, mode 600: run as root on the proxy host)',
    "  --haproxy-stats URL    or a stats page's CSV export, e.g. http://[2001:db8::2]:8404/stats;csv",
    '  --reports DIR          where gate and bench reports are (gate-*.html, bench-report.html);',
    "                         repeatable (default: the package's load-tests/out and load-tests)",
  ].join('\n'),
  examples: [
    'pi-origin cluster dashboard -i inventory.ini',
    'pi-origin cluster dashboard -i inventory.ini --listen [::1]:8090 --haproxy-stats "http://[2001:db8::2]:8404/stats;csv"',
    'pi-origin cluster dashboard -i inventory.ini --reports load-tests/out --interval 5s',
  ],
  flags: { inventory: 'value', listen: 'value', group: 'value', interval: 'value', timeout: 'value', 'haproxy-socket': 'value', 'haproxy-stats': 'value', reports: 'list' },
  short: { i: 'inventory' },
  run: dashboard,
};

interface Listen {
  readonly host: string;
  readonly port: number;
  /** `[::1]:8090` as a person writes it. */
  readonly text: string;
  readonly loopback: boolean;
}

/** `[IPv6]:PORT` or `IPv4:PORT`; a literal, so the dashboard never listens somewhere a name resolved to. */
export function parseListen(text: string): Listen {
  const m = /^(?:\[([^\]]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const address = m === null ? undefined : parseNodeAddress((m[1] ?? m[2]) as string);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || address === undefined || address.kind === 'hostname' || (m[1] !== undefined) !== (address.kind === 'ipv6') || address.text.includes('%') || port > 65535)
    throw new UsageError(`--listen must be [IPv6]:PORT or IPv4:PORT, like ${DEFAULT_LISTEN} or 127.0.0.1:8090 (got ${JSON.stringify(text)})`);
  const groups = address.kind === 'ipv6' ? parseIPv6(address.text) : undefined;
  const loopback = address.kind === 'ipv4' ? address.text.startsWith('127.') : groups?.slice(0, 7).every((g) => g === 0) === true && groups[7] === 1;
  return { host: address.text, port, text: address.kind === 'ipv6' ? `[${address.text}]:${port}` : `${address.text}:${port}`, loopback };
}

function proxySource(flags: ReadonlyMap<string, string | true>): ProxySource | undefined {
  const socket = flags.get('haproxy-socket');
  const stats = flags.get('haproxy-stats');
  if (typeof socket === 'string' && typeof stats === 'string') throw new UsageError('give --haproxy-socket or --haproxy-stats, not both');
  if (typeof socket === 'string') return { kind: 'socket', path: resolve(socket) };
  if (typeof stats !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(stats);
  } catch {
    throw new UsageError(`--haproxy-stats must be an http:// or https:// URL like http://[2001:db8::2]:8404/stats;csv (got ${JSON.stringify(stats)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--haproxy-stats must be an http:// or https:// URL (got ${JSON.stringify(stats)})`);
  return { kind: 'url', url };
}

/** The given directories (each must exist), or the package's defaults (which may not, yet). */
function reportDirs(given: readonly string[] | undefined): string[] {
  if (given === undefined) {
    const root = packageRoot();
    return [reportsDir(root), join(root, 'load-tests')];
  }
  return given.map((dir) => {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new UsageError(`--reports ${dir} is not a directory`);
    return resolve(dir);
  });
}

async function dashboard(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number> {
  const inventory = flags.get('inventory');
  if (typeof inventory !== 'string') throw new UsageError('--inventory FILE is required');
  const group = (flags.get('group') as string | undefined) ?? DEFAULT_GROUP;
  const intervalMs = durationFlag(flags, 'interval', DEFAULT_INTERVAL, 1, '2s');
  if (intervalMs < MIN_INTERVAL_MS) throw new UsageError(`--interval must be from ${MIN_INTERVAL_MS}ms to 5m (got ${JSON.stringify(flags.get('interval'))})`);
  const timeoutMs = durationFlag(flags, 'timeout', `${Math.min(intervalMs, MAX_DEFAULT_TIMEOUT_MS)}ms`, 1, '2s');
  const listen = parseListen((flags.get('listen') as string | undefined) ?? DEFAULT_LISTEN);
  const proxy = proxySource(flags);
  const dirs = reportDirs(lists.get('reports'));
  const { hosts } = readInventory(inventory, group);

  let page;
  try {
    page = dashboardPage(intervalMs);
  } catch (e) {
    return fail((e as Error).message, 1);
  }
  const board = new Dashboard({ hosts, inventory: { file: resolve(inventory), group }, intervalMs, timeoutMs, reportDirs: dirs, ...(proxy === undefined ? {} : { proxy }) });
  const server = createDashboardServer({ dashboard: board, page, reportDirs: dirs });
  const bound = await new Promise<NodeJS.ErrnoException | undefined>((done) => {
    server.once('error', done);
    server.listen({ host: listen.host, port: listen.port }, () => done(undefined));
  });
  if (bound !== undefined) return fail(listenError(listen, bound), 1);
  if (!listen.loopback)
    process.stderr.write(`pi-origin: warning: --listen ${listen.text} is not loopback: anyone who reaches it sees node addresses, releases and counters (there is no login)\n`);

  let onSignal = (_signal: NodeJS.Signals): void => undefined;
  const stopped = new Promise<NodeJS.Signals>((done) => (onSignal = done));
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  await board.start();
  const port = (server.address() as { port: number }).port;
  const url = listen.host.includes(':') ? `http://[${listen.host}]:${port}/` : `http://${listen.host}:${port}/`;
  process.stdout.write(`pi-origin: listening on ${url}\npi-origin: ${hosts.length} node${hosts.length === 1 ? '' : 's'} of ${group} every ${intervalMs} ms; Ctrl-C stops\n`);

  const signal = await stopped;
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  board.stop();
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  process.stdout.write(`pi-origin: dashboard stopped (${signal})\n`);
  return 0;
}

function listenError(listen: Listen, e: NodeJS.ErrnoException): string {
  if (e.code === 'EADDRINUSE') return `${listen.text} is already in use (another dashboard? pick a port with --listen)`;
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${listen.text}: no such address on this machine`;
  if (e.code === 'EACCES') return `cannot listen on ${listen.text}: permission denied (ports below 1024 need root)`;
  return `cannot listen on ${listen.text}: ${e.code ?? e.message}`;
}
