/**
 * Builds the servable demo root at <package root>/dist/demo-site/.
 *
 *   node dist/demo/build-demo.js
 *
 * 1. copies demo/site/ into a fresh temp dir (dist/.demo-site.tmp-<pid>),
 * 2. generates a deterministic, incompressible 4 MiB download,
 *    and three tiny wheels in packages/ (packages.ts),
 * 3. swaps the temp dir into place, so a half-built site is never left behind,
 * 4. builds and activates a release of it (dist/demo-releases/current), which makes the
 *    precompressed variants itself (the plain tree gets no .br / .gz siblings) and the package
 *    index from the wheels (`--package-index packages`: /simple/ in HTML and JSON, .metadata).
 *
 * All mtimes in the output are truncated to whole seconds: HTTP dates have
 * second resolution.
 */
import { packageRoot } from '../common/package-root.js';
import { activateRelease, buildRelease, pruneReleases } from '../release/release.js';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { PACKAGES_DIR, writeDemoWheels } from './packages.js';

const DOWNLOAD_NAME = 'downloads/pi-origin-demo-4MiB.img';
const DOWNLOAD_SIZE = 4 * 1024 * 1024;
const DOWNLOAD_SEED = 0x9e3779b9; // any non-zero 32-bit value; fixed so output is identical everywhere
const DOWNLOAD_MTIME = Date.UTC(2025, 0, 1) / 1000; // fixed, so Last-Modified/ETag match across nodes

const IGNORED_NAMES = new Set(['.DS_Store', 'Thumbs.db']);

interface Totals {
  files: number;
  bytes: number;
}

function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function setMtime(path: string, seconds: number): void {
  utimesSync(path, seconds, seconds);
}

/** Recursively copies regular files and directories; refuses symlinks and special files. */
function copyTree(src: string, dest: string, totals: Totals): void {
  mkdirSync(dest, { recursive: true });
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    const name = entry.name;
    if (IGNORED_NAMES.has(name) || name.endsWith('~') || name.endsWith('.swp')) continue;
    const from = join(src, name);
    const to = join(dest, name);
    if (entry.isDirectory()) {
      copyTree(from, to, totals);
    } else if (entry.isFile()) {
      const data = readFileSync(from);
      writeFileSync(to, data, { flag: 'wx' });
      setMtime(to, wholeSeconds(statSync(from).mtimeMs));
      totals.files++;
      totals.bytes += data.length;
    } else {
      const kind = entry.isSymbolicLink() ? 'symlink' : 'special file';
      throw new Error(`refusing ${kind} in demo source: ${from}`);
    }
  }
}

/** xorshift32 stream, written little-endian: same bytes on every machine, incompressible. */
function pseudoRandomBytes(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  let off = 0;
  for (; off + 4 <= size; off += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, off);
  }
  for (; off < size; off++) buf[off] = (x >>> (8 * (off & 3))) & 0xff;
  return buf;
}

function writeDownload(root: string, totals: Totals): void {
  const path = join(root, ...DOWNLOAD_NAME.split('/'));
  mkdirSync(dirname(path), { recursive: true });
  const data = pseudoRandomBytes(DOWNLOAD_SIZE, DOWNLOAD_SEED);
  writeFileSync(path, data, { flag: 'wx' });
  setMtime(path, DOWNLOAD_MTIME);
  totals.files++;
  totals.bytes += data.length;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp/old dirs left behind by builds that crashed (their pid is gone). */
function removeStale(distDir: string): void {
  for (const name of readdirSync(distDir)) {
    const m = /^\.demo-site\.(?:tmp|old)-(\d+)$/.exec(name);
    const pid = m?.[1] === undefined ? NaN : Number(m[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
      rmSync(join(distDir, name), { recursive: true, force: true });
    }
  }
}

function build(): void {
  const started = process.hrtime.bigint();
  const root = packageRoot();
  const srcDir = join(root, 'demo', 'site');
  const distDir = join(root, 'dist');
  const outDir = join(distDir, 'demo-site');
  const tmpDir = join(distDir, `.demo-site.tmp-${process.pid}`);
  const oldDir = join(distDir, `.demo-site.old-${process.pid}`);

  if (!statSync(srcDir).isDirectory()) throw new Error(`not a directory: ${srcDir}`);
  mkdirSync(distDir, { recursive: true });
  removeStale(distDir);
  rmSync(tmpDir, { recursive: true, force: true });

  const totals: Totals = { files: 0, bytes: 0 };
  try {
    copyTree(srcDir, tmpDir, totals);
    writeDownload(tmpDir, totals);
    const index = writeDemoWheels(tmpDir);
    totals.files += index.files.length;
    totals.bytes += index.bytes;

    // Swap in with two renames (no window where a half-built tree is visible at outDir).
    const hadOld = lstatExists(outDir);
    if (hadOld) renameSync(outDir, oldDir);
    renameSync(tmpDir, outDir);
    if (hadOld) rmSync(oldDir, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }

  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const shown = relative(process.cwd(), outDir) || '.';
  const mib = (totals.bytes / (1024 * 1024)).toFixed(2);
  console.log(
    `build-demo: ${shown.startsWith('..') ? outDir : shown}${sep}: ${totals.files} files, ` +
      `${totals.bytes} bytes (${mib} MiB) in ${ms.toFixed(0)} ms`,
  );
}

/** True if something (even a dangling symlink) exists at path. */
function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `npm start` serves the demo as an operator would serve a site: a release built from the
 * plain tree, activated under dist/demo-releases/current. Rebuilding the same tree reuses it.
 */
async function buildDemoRelease(): Promise<void> {
  const root = packageRoot();
  const releases = join(root, 'dist', 'demo-releases');
  mkdirSync(releases, { recursive: true });
  const built = await buildRelease(join(root, 'dist', 'demo-site'), releases, { packageIndex: PACKAGES_DIR });
  await activateRelease(releases, built.id);
  await pruneReleases(releases, 2);
  console.log(`build-demo: release ${built.id} ${built.reused ? 'unchanged' : 'built'} and active in ${relative(process.cwd(), releases) || '.'}${sep}current`);
}

try {
  build();
  await buildDemoRelease();
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`build-demo: error: ${message}\n`);
  process.exitCode = 1;
}
