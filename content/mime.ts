import { extname } from 'node:path';
import mime from 'mime-types';

/**
 * Content-Type for a file path, with `charset=utf-8` on text types; octet-stream when unknown.
 * Only the extension is passed: mime-types treats any string containing `/` as a type.
 */
export function contentTypeFor(path: string): string {
  const ext = extname(path);
  let type = byExtension.get(ext);
  if (type === undefined) {
    type = (ext !== '' && mime.contentType(ext)) || 'application/octet-stream';
    // One string per extension, not one per file (a million files share a few dozen).
    if (byExtension.size < MAX_EXTENSIONS) byExtension.set(ext, type);
  }
  return type;
}

const byExtension = new Map<string, string>();
const MAX_EXTENSIONS = 4096;
