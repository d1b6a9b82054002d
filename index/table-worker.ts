/**
 * The thread `loadSite` builds a large release's file table in (index/load-site.ts): it reads
 * the manifest, posts the table (its buffers are shared) or the error, and ends, taking the
 * parse's garbage with it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ManifestError } from '../release/manifest.js';
import { loadTable, type SiteTable } from './table.js';

export type TableAnswer = { readonly table: SiteTable | undefined } | { readonly error: string; readonly manifest: boolean };

let answer: TableAnswer;
try {
  answer = { table: loadTable(workerData as string) };
} catch (e) {
  answer = { error: e instanceof Error ? e.message : String(e), manifest: e instanceof ManifestError };
}
parentPort?.postMessage(answer);
