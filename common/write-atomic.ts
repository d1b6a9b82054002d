/**
 * Whole-file replacement that a reader never sees half done: the text goes to a temporary file
 * next to `path` (same filesystem, so rename(2) is atomic), which is then renamed over it.
 * Readers that reload on change (a browser on a report, Prometheus's file_sd) see the old file
 * or the new one; a failed write leaves the old one in place.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/**
 * Writes `text` to `path` atomically. The temporary name ends in `.tmp`, which no `*.json`
 * glob (file_sd's `files:`) matches.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
