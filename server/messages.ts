/** Messages between the main thread (origin.ts) and worker threads (worker.ts). */
import type { ServedSite } from '../index/load-site.js';
import type { ServeOptions } from './config.js';

export interface WorkerData {
  readonly options: ServeOptions;
  readonly worker: number;
  readonly metrics: SharedArrayBuffer;
  readonly startedAt: number;
  readonly version: string;
  /** Concrete ports per listen address (port 0 resolved by the first worker), TLS after plain. */
  readonly ports: readonly number[] | undefined;
  readonly site: ServedSite;
}

export type ToWorker =
  | { readonly type: 'index'; readonly site: ServedSite }
  | { readonly type: 'invalid-root'; readonly reason: string }
  | { readonly type: 'drain' }
  | { readonly type: 'reopen-log' }
  | { readonly type: 'tls-reload' };

export type FromWorker =
  | { readonly type: 'listening'; readonly ports: readonly number[] }
  | { readonly type: 'listen-failed'; readonly address: string }
  | { readonly type: 'warn'; readonly message: string }
  /** A file this worker could not read (reported once per worker; the main thread logs it once). */
  | { readonly type: 'read-error'; readonly path: string; readonly reason: string }
  /** Something nothing caught: the worker closes its sockets and ends with a non-zero code. */
  | { readonly type: 'fault'; readonly message: string }
  | { readonly type: 'closed' };
