/**
 * The files of the release a full build replaces, read one manifest line at a time beside the
 * build's own files (both are in path order): what a file can be hard-linked from, without
 * holding that release's manifest as objects (a million entries: ~1 GB).
 */
import { join } from 'node:path';
import { ManifestError, MANIFEST_NAME, type ManifestFile } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestLines, type EntryLine } from './manifest-text.js';

/** What linking needs of a previous file (release/link.ts). */
export type PreviousFile = Pick<ManifestFile, 'path' | 'size' | 'sha256' | 'variants'>;

export class PreviousFiles {
  private readonly reader: EntryReader;
  private line: EntryLine | undefined;
  private done = false;

  private constructor(private readonly lines: ManifestLines) {
    this.reader = new EntryReader(lines.file);
  }

  /** The release at `dir`; undefined when its manifest is missing or its head does not read. */
  static open(dir: string): PreviousFiles | undefined {
    let lines: ManifestLines | undefined;
    try {
      lines = ManifestLines.open(join(dir, MANIFEST_NAME));
      if (lines === undefined) return undefined;
      lines.head();
      return new PreviousFiles(lines);
    } catch (e) {
      lines?.close();
      if (e instanceof ManifestError) return undefined;
      throw e;
    }
  }

  /**
   * The previous file at `path`, asked in ascending code-unit order. A manifest that stops
   * reading part-way gives nothing more: the rest is copied, which is always correct.
   */
  find(path: string): PreviousFile | undefined {
    while (!this.done && (this.line === undefined || this.line.path < path)) this.advance();
    const e = this.line;
    if (e === undefined || e.path !== path) return undefined;
    return { path: e.path, size: e.size, sha256: e.sha256, variants: hasNoVariants(e) ? {} : this.reader.variants(e) };
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.line = undefined;
    this.lines.close();
  }

  private advance(): void {
    try {
      const json = this.lines.next();
      if (json === undefined) {
        this.close();
        return;
      }
      this.line = this.reader.entry(json);
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      this.close();
    }
  }
}
