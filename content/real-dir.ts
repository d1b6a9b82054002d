import { realpathSync, statSync } from 'node:fs';

/**
 * The real path of a directory (symlinks resolved), or why there is none. Callers turn the
 * reason into their own error, naming the option or argument the path came from.
 */
export function realDirectory(path: string): { real: string } | { problem: 'does not exist' | 'is not a directory'; detail: string } {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return { problem: 'does not exist', detail: (e as NodeJS.ErrnoException).code ?? String(e) };
  }
  return statSync(real).isDirectory() ? { real } : { problem: 'is not a directory', detail: 'ENOTDIR' };
}
