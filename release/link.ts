/**
 * Hard links between releases: how a release shares the bytes of files it has in common with
 * another (unchanged files at build, carried assets for skew protection) without copying them.
 */
import { linkSync, lstatSync } from 'node:fs';
import { join, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ENCODINGS, VARIANT_SUFFIX, type Encoding } from '../content/site-index.js';
import type { ManifestFile, ManifestVariant } from './manifest.js';

/**
 * Hard-links a file of the release at `fromDir` (and whichever of its variants link) to `target`.
 * Undefined when the file cannot be linked (missing there, another size, another filesystem).
 * The linked inode is left as it is: a release never changes another's files.
 */
export function linkFrom(fromDir: string, file: ManifestFile, target: string): Partial<Record<Encoding, ManifestVariant>> | undefined {
  const from = join(fromDir, file.path.slice(1));
  if (!tryLink(from, target, file.size)) return undefined;
  const variants: Partial<Record<Encoding, ManifestVariant>> = {};
  for (const encoding of ENCODINGS) {
    const v = file.variants[encoding];
    if (v !== undefined && tryLink(from + VARIANT_SUFFIX[encoding], target + VARIANT_SUFFIX[encoding], v.size)) variants[encoding] = { size: v.size, sha256: v.sha256 };
  }
  return variants;
}

function tryLink(from: string, to: string, size: number): boolean {
  try {
    const st = lstatSync(from);
    if (!st.isFile() || st.size !== size) return false;
    linkSync(from, to);
    return true;
  } catch {
    return false;
  }
}

/**
 * The worker's source, plain CommonJS so that it runs the same from the TypeScript sources and
 * from dist/: it links `from + rel` to `to + rel` for each relative path it is sent (making the
 * directories), and answers the `null` that ends the list with its count and the failures.
 */
const LINK_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { linkSync, mkdirSync } = require('node:fs');
const { from, to, keep } = workerData;
let dir = null, linked = 0, failures = 0;
const failed = [];
// Directories below \`to\` one level at a time, never \`to\` itself: once the build removes
// it (an interrupt), nothing here makes it again.
const mkdirs = (d) => {
  for (let i = d.indexOf('/'); ; i = d.indexOf('/', i + 1)) {
    try { mkdirSync(to + (i === -1 ? d : d.slice(0, i)), { mode: 0o755 }); } catch (e) { if (e.code !== 'EEXIST') throw e; }
    if (i === -1) return;
  }
};
parentPort.on('message', (batch) => {
  if (batch === null) return parentPort.postMessage({ linked, failures, failed });
  for (const rel of batch.split('\\n')) {
    const slash = rel.lastIndexOf('/');
    const d = slash === -1 ? '' : rel.slice(0, slash);
    try {
      if (d !== dir) { if (d !== '') mkdirs(d); dir = d; }
      linkSync(from + rel, to + rel);
      linked++;
    } catch (e) {
      if (failures++ < keep) failed.push('/' + rel + ' (' + (e.code || e.message) + ')');
    }
  }
});
`;

export interface LinkOutcome {
  readonly linked: number;
  /** How many could not be linked, and the first few of them (`/path (ENOENT)`). */
  readonly failures: number;
  readonly failed: readonly string[];
}

/** Paths sent to the worker per message: one string each, so a message is one copy, not thousands. */
const BATCH = 4096;
const KEEP_FAILED = 10;
/** Link threads: two kept a 2-core machine busy beside the main thread (1M links: 8 s with one, see docs/releases.md). */
const LINK_THREADS = 2;

/**
 * Hard-links files of one release into another on worker threads, so that the main thread reads
 * and writes the manifest meanwhile: for a million files the links are the largest cost of an
 * incremental build or a rollout's staging (about 8 µs of kernel time each here), and they then
 * share the machine's cores with it. Batches go to the workers in turn. Paths are relative to
 * both directories (no leading `/`).
 */
export class TreeLinker {
  private readonly workers: Worker[];
  private readonly results: Promise<LinkOutcome>[];
  private batch: string[] = [];
  private turn = 0;

  constructor(fromDir: string, toDir: string, threads = LINK_THREADS) {
    // execArgv []: the source is CommonJS whatever flags this process runs with (--input-type).
    const options = { eval: true, execArgv: [], workerData: { from: fromDir + sep, to: toDir + sep, keep: KEEP_FAILED } };
    this.workers = Array.from({ length: threads }, () => new Worker(LINK_WORKER, options));
    this.results = this.workers.map((w) => {
      const result = new Promise<LinkOutcome>((resolve, reject) => {
        w.once('message', (m: LinkOutcome) => resolve(m));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`the link worker stopped (exit ${code})`)));
      });
      // Observed by finish(); a worker that fails before then must not be an unhandled rejection.
      result.catch(() => undefined);
      return result;
    });
  }

  add(rel: string): void {
    this.batch.push(rel);
    if (this.batch.length >= BATCH) this.flush();
  }

  /** Waits for every link; the workers then exit. */
  async finish(): Promise<LinkOutcome> {
    this.flush();
    for (const w of this.workers) w.postMessage(null);
    try {
      const all = await Promise.all(this.results);
      return { linked: all.reduce((n, r) => n + r.linked, 0), failures: all.reduce((n, r) => n + r.failures, 0), failed: all.flatMap((r) => r.failed).slice(0, KEEP_FAILED) };
    } finally {
      await this.stop();
    }
  }

  /** Stops the workers at once (a failed or interrupted build): nothing more is linked after it resolves. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    (this.workers[this.turn++ % this.workers.length] as Worker).postMessage(this.batch.join('\n'));
    this.batch = [];
  }
}
