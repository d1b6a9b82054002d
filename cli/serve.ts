/** `pi-origin serve [ROOT]`: start an origin node and keep it running until SIGTERM/SIGINT. */
import { ConfigError, parseEnv, parseFlags, resolveOptions, serveHelp } from '../server/config.js';
import { stderrLogger } from '../server/log-lines.js';
import { StartError, startOrigin } from '../server/origin.js';
import { NativeUwsError } from '../server/uws.js';

import { DEMO_ROOT } from './demo-root.js';

export { DEMO_ROOT };

export async function serveCommand(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(serveHelp(DEMO_ROOT) + '\n');
    return 0;
  }
  const log = stderrLogger();
  let node;
  try {
    const { raw, positional } = parseFlags(args);
    if (positional.length > 1) throw new ConfigError(`serve takes one ROOT (got ${positional.length}: ${positional.join(' ')})`);
    const env = parseEnv(process.env);
    const options = resolveOptions({ flags: raw, positionalRoot: positional[0] ?? (env['root'] === undefined ? DEMO_ROOT : undefined), env, defaultRoot: DEMO_ROOT });
    node = await startOrigin(options, { info: (m) => log('info', m), warn: (m) => log('warning', `warning: ${m}`) });
    process.stdout.write(`pi-origin: serving ${options.root} (release ${node.releaseId()}) with ${options.workers} worker${options.workers === 1 ? '' : 's'}\n`);
    for (const url of node.urls) process.stdout.write(`pi-origin: listening on ${url}\n`);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof StartError || e instanceof NativeUwsError) {
      log('error', `error: ${e.message}`);
      return e instanceof ConfigError ? 2 : 1;
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
