/**
 * Index cost: how long a node takes to index N files and how much heap the lookup costs per
 * file. Run: `npm run bench:index -- [--files 100000]` (needs --expose-gc, which the script sets).
 * Writes load-tests/index-cost.json and prints a summary; RESULTS.md quotes it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { scanTree } from '../../content/scan.js';
import { buildLookup } from '../../index/lookup.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('Usage: node --expose-gc dist/load-tests/bench/index-cost.js [--files N] [--out FILE]\n');
  process.exit(0);
}
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i === -1 ? fallback : (args[i + 1] ?? fallback);
};
const files = Number(flag('--files', '100000'));
const out = flag('--out', 'load-tests/index-cost.json');
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  process.stderr.write('index-cost: run with node --expose-gc (npm run bench:index does)\n');
  process.exit(2);
}

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const dir = mkdtempSync(join(tmpdir(), 'pi-origin-index-'));
try {
  process.stderr.write(`index-cost: writing ${files} files under ${dir}\n`);
  const perDir = 1000;
  for (let d = 0; d * perDir < files; d++) {
    const sub = join(dir, 'simple', `project-${d}`);
    mkdirSync(sub, { recursive: true });
    for (let i = 0; i < perDir && d * perDir + i < files; i++) {
      writeFileSync(join(sub, `pkg_${d}_${i}-1.0.${i}-py3-none-any.whl`), `wheel ${d} ${i} `.repeat(20));
    }
  }
  const before = heap();
  let t0 = process.hrtime.bigint();
  const { index: site } = await scanTree(dir);
  const scanMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const afterScan = heap();
  t0 = process.hrtime.bigint();
  let index: ReturnType<typeof buildLookup> | undefined = buildLookup(site, []);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const withBoth = heap();
  // What a worker keeps: the lookup only (the plain-data index is dropped after the build).
  const lookupBytes = withBoth - afterScan;
  const siteBytes = afterScan - before;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    files: site.files.length,
    scanAndHashMs: Math.round(scanMs),
    buildLookupMs: Math.round(buildMs),
    totalMs: Math.round(scanMs + buildMs),
    workerLookupBytesPerFile: Math.round(lookupBytes / site.files.length),
    mainThreadScanBytesPerFile: Math.round(siteBytes / site.files.length),
    command: 'npm run bench:index -- --files ' + files,
  };
  if (index.fileCount !== files) throw new Error(`indexed ${index.fileCount} of ${files} files`);
  index = undefined;
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(
    `index-cost: ${result.files} files indexed in ${result.totalMs} ms (scan+hash ${result.scanAndHashMs} ms, lookup ${result.buildLookupMs} ms); ` +
      `worker lookup ${result.workerLookupBytesPerFile} B/file, main-thread scan data ${result.mainThreadScanBytesPerFile} B/file -> ${out}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
