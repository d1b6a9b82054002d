import { extname } from 'node:path';
import mime from 'mime-types';

/**
 * Content-Type for a file path, with `charset=utf-8` on text types; octet-stream when unknown.
 * Only the extension is passed: mime-types treats any string containing `/` as a type.
 */
export function contentTypeFor(path: string): string {
  const ext = extname(path);
  return (ext !== '' && mime.contentType(ext)) || 'application/octet-stream';
}
