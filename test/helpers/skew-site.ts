/**
 * A site in versions for skew-protection tests: version n has its own fingerprinted script and
 * stylesheet (`app.<n>0a0b0c0.js`, `site.<n>0d0e0f0.css`) linked from index.html; robots.txt
 * never changes. HTML is cached by a CDN for 600 s (`s-maxage`).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SKEW_RULES = '/*.html\n  Cache-Control: public, max-age=60, s-maxage=600\n';

export function writeSkewSite(dir: string, n: number): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'assets'), { recursive: true });
  const js = `app.${n}0a0b0c0.js`;
  const css = `site.${n}0d0e0f0.css`;
  writeFileSync(join(dir, 'index.html'), `<!doctype html><link rel=stylesheet href=/assets/${css}><script src=/assets/${js}></script><p>v${n}</p>\n`);
  writeFileSync(join(dir, 'assets', js), `export const version = ${n};\n`.repeat(20));
  writeFileSync(join(dir, 'assets', css), `body { order: ${n}; }\n`);
  writeFileSync(join(dir, 'robots.txt'), 'User-agent: *\n');
  writeFileSync(join(dir, '_headers'), SKEW_RULES);
}
