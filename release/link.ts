/**
 * Hard links between releases: how a release shares the bytes of files it has in common with
 * another (unchanged files at build, carried assets for skew protection) without copying them.
 */
import { linkSync, lstatSync } from 'node:fs';
import { join, sep } from 'node:path';
import { BatchThreads } from './threads.js';
import { ENCODINGS, VARIANT_SUFFIX, type Encoding } from '../content/site-index.js';
import type { ManifestFile, ManifestVariant } from './manifest.js';

/**
 * Hard-links a file of the release at `fromDir` (and whichever of its variants link) to `target`.
 * Undefined when the file cannot be linked (missing there, another size, another filesystem).
 * The linked inode is left as it is: a release never changes another's files.
 */
export function linkFrom(fromDir: string, file: Pick<ManifestFile, 'path' | 'size' | 'variants'>, target: string): Partial<Record<Encoding, ManifestVariant>> | undefined {
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
 * The link worker (threads.ts): for each relative path of a batch it links `from + rel` to
 * `to + rel`, making the directories, and answers with its count and the first failures.
 */
const LINK_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { linkSync, mkdirSync } = require('node:fs');
const { from, to, keep } = workerData;
let dir = null;
// Directories below \`to\` one level at a time, never \`to\` itself: once the build removes
// it (an interrupt), nothing here makes it again.
const mkdirs = (d) => {
  for (let i = d.indexOf('/'); ; i = d.indexOf('/', i + 1)) {
    try { mkdirSync(to + (i === -1 ? d : d.slice(0, i)), { mode: 0o755 }); } catch (e) { if (e.code !== 'EEXIST') throw e; }
    if (i === -1) return;
  }
};
parentPort.on('message', (batch) => {
  let linked = 0, failures = 0;
  const failed = [];
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
  parentPort.postMessage({ linked, failures, failed });
});
`;

export interface LinkOutcome {
  readonly linked: number;
  /** How many could not be linked, and the first few of them (`/path (ENOENT)`). */
  readonly failures: number;
  readonly failed: readonly string[];
}

const KEEP_FAILED = 10;

/**
 * Hard-links files of one release into another on worker threads (threads.ts), so that the main
 * thread reads and writes the manifest meanwhile (about 8 µs of kernel time per link here). Paths
 * are relative to both directories (no leading `/`).
 */
export class TreeLinker {
  private readonly threads: BatchThreads<LinkOutcome>;

  constructor(fromDir: string, toDir: string) {
    this.threads = new BatchThreads(LINK_WORKER, { from: fromDir + sep, to: toDir + sep, keep: KEEP_FAILED });
  }

  add(rel: string): void {
    this.threads.add(rel);
  }

  /** Waits for every link; the workers then exit. */
  async finish(): Promise<LinkOutcome> {
    try {
      const all = await this.threads.results();
      return { linked: all.reduce((n, r) => n + r.linked, 0), failures: all.reduce((n, r) => n + r.failures, 0), failed: all.flatMap((r) => r.failed).slice(0, KEEP_FAILED) };
    } finally {
      await this.stop();
    }
  }

  /** Stops the workers at once (a failed or interrupted build): nothing more is linked after it resolves. */
  stop(): Promise<void> {
    return this.threads.stop();
  }
}
