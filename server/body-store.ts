/**
 * File bodies held in memory: an LRU bounded in bytes (lru-cache's maxSize), keyed by ETag
 * (a content hash), so identical bytes share one entry across files and releases and a
 * re-index keeps the cache warm. A body is verified (length and hash) when it is loaded:
 * a file rewritten after indexing is never served under the old headers.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import type { Representation } from '../index/lookup.js';
import type { WorkerMetrics } from './metrics.js';
import type { WorkerCache } from '../common/worker-cache.js';

/** The file no longer holds the bytes the index promised (rewritten since it was indexed). */
export class ContentChangedError extends Error {
  override readonly name = 'ContentChangedError';
  readonly code = 'ECHANGED';
}

export class BodyStore {
  private readonly cache: LRUCache<string, Buffer>;
  private readonly loading = new Map<string, Promise<Buffer>>();

  /** Bodies above this size are streamed, never cached: every body up to it fits this cache. */
  readonly maxFile: number;

  constructor(
    budget: WorkerCache,
    private readonly metrics: WorkerMetrics,
  ) {
    this.maxFile = budget.maxFile;
    this.cache = new LRUCache<string, Buffer>({
      maxSize: Math.max(1, budget.bytes),
      maxEntrySize: Math.max(1, budget.maxFile),
      sizeCalculation: (b) => Math.max(1, b.length),
    });
  }

  /** The cached body, or undefined. Counts a hit or a miss. */
  get(rep: Representation): Buffer | undefined {
    const body = this.cache.get(rep.etag);
    this.metrics.add(body === undefined ? 'cacheMisses' : 'cacheHits', 1);
    return body;
  }

  /** Reads, verifies and caches a body; concurrent loads of one body share one read. */
  load(root: string, rep: Representation): Promise<Buffer> {
    let p = this.loading.get(rep.etag);
    if (p === undefined) {
      p = this.read(root, rep).finally(() => this.loading.delete(rep.etag));
      this.loading.set(rep.etag, p);
    }
    return p;
  }

  get calculatedSize(): number {
    return this.cache.calculatedSize;
  }

  private async read(root: string, rep: Representation): Promise<Buffer> {
    const body = await readFile(root + '/' + rep.file);
    if (body.length !== rep.size || `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` !== rep.etag) {
      throw new ContentChangedError(`${rep.file} changed since it was indexed`);
    }
    this.cache.set(rep.etag, body);
    this.metrics.set('cacheBytes', this.cache.calculatedSize);
    return body;
  }
}
