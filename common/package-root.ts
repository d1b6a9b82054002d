/**
 * The package root: the nearest ancestor of this module holding package.json. The same answer
 * from the sources (tsx) and from dist/, and for the installed app (/opt/pi-origin).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot locate package.json above ${here}`);
  }
}
