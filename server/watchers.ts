/**
 * The origin's file watchers: the content root (and the link that may point to it) and the TLS
 * certificate files. Each turns a burst of file events into one call after a quiet period; what
 * that call does (a rescan, a certificate reload) is startOrigin's business.
 */
import { basename, dirname } from 'node:path';
import { watch as chokidarWatch, type ChokidarOptions } from 'chokidar';
import { debounce, systemClock, type Clock } from './clock.js';

/** Content changes are rescanned once they have been quiet this long. */
export const CONTENT_DEBOUNCE_MS = 100;
/** Certificate files are reloaded once quiet this long (a renewal rewrites cert and key). */
export const CERT_DEBOUNCE_MS = 500;

/** The part of a chokidar FSWatcher used here (a test passes a fake). */
export interface Watcher {
  on(event: 'all', fn: (event: string, path: string) => void): unknown;
  on(event: 'error', fn: (e: unknown) => void): unknown;
  once(event: 'ready', fn: () => void): unknown;
  close(): Promise<void>;
}
export type WatchFn = (paths: string | string[], options: ChokidarOptions) => Watcher;

export interface WatcherDeps {
  readonly clock?: Clock;
  readonly watch?: WatchFn;
}

export interface ContentWatcher {
  /** Resolves once the watchers have walked their trees: they report nothing before. */
  readonly ready: Promise<void>;
  /** Watches `realRoot` in place of the previous target; resolves when its watcher is ready. */
  follow(realRoot: string): Promise<void>;
  close(): Promise<void>;
}

/** A watcher reports nothing until its initial walk is done. */
export function ready(w: Watcher): Promise<void> {
  return new Promise((resolve) => w.once('ready', () => resolve()));
}

/**
 * Watches the tree at `realRoot` and, since `root` may be a symlink (releases/current), the
 * parent directory of `root` for the link itself being re-pointed by rename(2). A watcher error
 * counts as a change: the rescan finds out what is true.
 */
export function watchContent(root: string, realRoot: string, onChange: () => void, deps: WatcherDeps = {}): ContentWatcher {
  const watch: WatchFn = deps.watch ?? chokidarWatch;
  const changed = debounce(deps.clock ?? systemClock, CONTENT_DEBOUNCE_MS, onChange);
  const trigger = (): void => changed.trigger();
  const watchTree = (dir: string): Watcher => {
    const w = watch(dir, { ignoreInitial: true, followSymlinks: false });
    w.on('all', trigger);
    w.on('error', trigger);
    return w;
  };
  let tree = watchTree(realRoot);
  const link = watch(dirname(root), { ignoreInitial: true, depth: 0, followSymlinks: false });
  link.on('all', (_event, path) => (basename(path) === basename(root) ? trigger() : undefined));
  link.on('error', trigger);
  let closed = false;
  return {
    ready: Promise.all([ready(tree), ready(link)]).then(() => undefined),
    async follow(dir) {
      if (closed) return;
      await tree.close();
      if (closed) return;
      tree = watchTree(dir);
      await ready(tree);
    },
    async close() {
      closed = true;
      changed.cancel();
      await Promise.all([tree.close(), link.close()]);
    },
  };
}

export interface CertWatcher {
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Calls `onChange` once the certificate and key files have stopped changing. */
export function watchCertificates(files: readonly string[], onChange: () => void, deps: WatcherDeps = {}): CertWatcher {
  const changed = debounce(deps.clock ?? systemClock, CERT_DEBOUNCE_MS, onChange);
  const watch: WatchFn = deps.watch ?? chokidarWatch;
  const w = watch([...files], { ignoreInitial: true });
  w.on('all', () => changed.trigger());
  return {
    ready: ready(w),
    async close() {
      changed.cancel();
      await w.close();
    },
  };
}
