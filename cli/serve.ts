/** `pi-origin serve [ROOT]`: start an origin node and keep it running until SIGTERM/SIGINT. */
import { fileCount, loadSite } from '../index/load-site.js';
import { ConfigError, parseEnv, rawOptions, resolveOptions, SERVE_FLAGS, serveHelp, type ServeOptions } from '../server/config.js';
import { stderrLogger } from '../server/log-lines.js';
import { StartError, startOrigin } from '../server/origin.js';
import { loadUws, NativeUwsError } from '../server/uws.js';

import { DEMO_ROOT } from './demo-root.js';
import { UsageError, type ArgOption, type Subcommand } from './subcommands.js';

export { DEMO_ROOT };

export const SERVE: Subcommand = {
  summary: 'serve a content root over HTTP (the origin node)',
  usage: 'pi-origin serve [ROOT] [options]',
  help: serveHelp(DEMO_ROOT, [
    `${'  --check'.padEnd(34)} check the options and the root as a start would (root, release, TLS files,`,
    `${''.padEnd(35)}the native uWS binary), print one line and exit 0, or 2 with the error; listens on nothing`,
    `${'  --json'.padEnd(34)} with --check: print the result as JSON`,
  ]),
  examples: [
    'pi-origin serve',
    'pi-origin serve /srv/origin/releases/current --listen [::]:8080 --workers 4',
    'pi-origin serve /srv/origin/releases/current --config /etc/pi-origin.json --check',
    'PI_ORIGIN_WORKERS=2 pi-origin serve site/ --access-log stdout --log-format json',
  ],
  flags: { ...SERVE_FLAGS, check: 'boolean', json: 'boolean' },
  optional: ['ROOT'],
  lastWins: true,
  run: serve,
};

/** The flags, the PI_ORIGIN_* environment and --config, resolved and validated once. */
function options(positional: readonly string[], ordered: readonly ArgOption[]): ServeOptions {
  const env = parseEnv(process.env);
  return resolveOptions({ flags: rawOptions(ordered), positionalRoot: positional[0] ?? (env['root'] === undefined ? DEMO_ROOT : undefined), env, defaultRoot: DEMO_ROOT });
}

/**
 * `serve --check`, like `nginx -t`: every check a start makes before it listens (the options,
 * the native uWS binary, the root loaded as the server loads it), and nothing bound. Exit 0
 * with one line, or 2 with the error.
 */
async function check(o: ServeOptions, json: boolean): Promise<number> {
  const failed = (message: string): number => {
    if (json) process.stdout.write(JSON.stringify({ ok: false, error: message }) + '\n');
    process.stderr.write(`pi-origin serve: check failed: ${message}\n`);
    return 2;
  };
  try {
    loadUws();
  } catch (e) {
    if (e instanceof NativeUwsError) return failed(e.message);
    throw e;
  }
  let site;
  try {
    site = (await loadSite(o.root)).index;
  } catch (e) {
    // As startOrigin words it (PI_ORIGIN_BAD_ROOT): any failure to load the root.
    return failed(`cannot serve ${o.root}: ${(e as Error).message}`);
  }
  const listen = [...o.listen, ...(o.tls?.listen ?? [])].map((l) => (l.family === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`));
  const result = { ok: true, root: o.root, release: site.releaseId, files: fileCount(site), listen, tls: o.tls !== undefined, workers: o.workers };
  process.stdout.write(
    json ? JSON.stringify(result) + '\n' : `pi-origin serve: configuration ok: ${o.root} (release ${site.releaseId}, ${fileCount(site)} files), listen ${listen.join(' ')}, ${o.workers} worker${o.workers === 1 ? '' : 's'}${o.tls === undefined ? '' : ', TLS'}\n`,
  );
  return 0;
}

async function serve(positional: readonly string[], flags: ReadonlyMap<string, string | true>, _lists: unknown, ordered: readonly ArgOption[]): Promise<number> {
  if (flags.has('json') && !flags.has('check')) throw new UsageError('--json goes with --check');
  let resolved: ServeOptions;
  try {
    resolved = options(positional, ordered);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (flags.has('check')) return check(resolved, flags.has('json'));
  const log = stderrLogger();
  let node;
  try {
    node = await startOrigin(resolved, { info: (m) => log('info', m), warn: (m) => log('warning', `warning: ${m}`) });
    process.stdout.write(`pi-origin: serving ${resolved.root} (release ${node.releaseId()}) with ${resolved.workers} worker${resolved.workers === 1 ? '' : 's'}\n`);
    for (const url of node.urls) process.stdout.write(`pi-origin: listening on ${url}\n`);
  } catch (e) {
    if (e instanceof StartError || e instanceof NativeUwsError) {
      log('error', `error: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const running = node;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      log('info', `${why}: draining`);
      void running.close().then(() => {
        log('info', 'stopped');
        resolve(code);
      });
    };
    const reopen = (): void => running.reopenLog();
    process.on('SIGHUP', reopen);
    process.on('SIGUSR1', reopen);
    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));
    // Left to Node, an exception in the main thread ends the process with the workers still
    // holding their sockets, and Node aborts ("uv_loop_close() while having open handles").
    // Drain instead, and exit 1 for the service manager to restart the node.
    const fatal = (what: string, e: unknown): void => {
      log('error', `error: ${what} in the main thread: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      stop('stopping', 1);
    };
    process.on('uncaughtException', (e) => fatal('uncaught exception', e));
    process.on('unhandledRejection', (e) => fatal('unhandled promise rejection', e));
  });
}
