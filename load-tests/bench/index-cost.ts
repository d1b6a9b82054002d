/**
 * Index cost at package-index scale: a piwheels-shaped tree (1,000 small files per project
 * directory) built into a release and served, with the figures issue 17 asks for, in one run:
 *
 * - `release build` (first): wall time and peak RSS of the CLI process;
 * - manifest.json bytes, and the file table a node builds from it (bytes, load time in-process);
 * - `serve` with 2 and 4 workers: time from spawn to the listening line, RSS after a warm-up;
 * - publishing `--publish` new files: `release build --parent --changes` (time, RSS), then
 *   `release verify --parent` of the new release against the first;
 * - the cost per lookup of the table against a filesystem stat (the other candidate index).
 *
 * Run: `npm run bench:index -- --files 1000000` (default 100,000). The tree and releases go
 * under a temporary directory (or `--dir`), removed at the end unless `--keep`. Peak RSS is the
 * kernel's high-water mark (VmHWM), sampled every 20 ms for a process that exits. Records the
 * run in load-tests/index-cost.json (or `--out`) beside the runs at other file counts;
 * RESULTS.md quotes them (index-cost-section.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../../common/package-root.js';
import { loadTable } from '../../index/table.js';
import { FileTable } from '../../index/table.js';
import { indexCostRuns, type IndexCostRun } from './index-cost-section.js';

const USAGE = 'Usage: npm run bench:index -- [--files N] [--per-dir N] [--publish N] [--workers 2,4] [--dir DIR] [--keep] [--out FILE]';
let parsed;
try {
  parsed = parseArgs({
    options: {
      files: { type: 'string', default: '100000' }, 'per-dir': { type: 'string', default: '1000' }, publish: { type: 'string', default: '1000' },
      workers: { type: 'string', default: '2,4' }, dir: { type: 'string' }, keep: { type: 'boolean', default: false },
      out: { type: 'string', default: 'load-tests/index-cost.json' }, help: { type: 'boolean', default: false },
    },
  }).values;
} catch (e) {
  process.stderr.write(`index-cost: ${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${USAGE}\n\nBuilds a piwheels-shaped release of N small files, serves it, and records build time and\npeak RSS, manifest and table bytes, serve ready time and RSS per worker count, and the\ncost of publishing --publish new files. Needs free disk for N files (about 4 KiB each).\n`);
  process.exit(0);
}
const positive = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`index-cost: --${name} must be a positive integer (got ${JSON.stringify(text)})\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
};
const FILES = positive('files', parsed.files);
const PER_DIR = positive('per-dir', parsed['per-dir']);
const PUBLISH = positive('publish', parsed.publish);
const WORKERS = parsed.workers.split(',').map((w) => positive('workers', w));
const MAIN = join(packageRoot(), 'dist', 'cli', 'main.js');
const MiB = 1024 * 1024;

const base = parsed.dir ?? mkdtempSync(join(tmpdir(), 'pi-origin-index-'));
const site = join(base, 'site');
const releases = join(base, 'releases');
const say = (line: string): void => void process.stderr.write(`index-cost: ${line}\n`);

/** Small wheel-like files, as a package index names them; returns their paths relative to the site. */
function writeProject(d: number, count: number, version = 1): string[] {
  const dir = join(site, 'simple', `project-${d}`);
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `project_${d}-${version}.0.${i}-py3-none-any.whl`;
    writeFileSync(join(dir, name), `wheel ${d} ${version} ${i} `.repeat(20));
    written.push(`simple/project-${d}/${name}`);
  }
  return written;
}

interface ProcessRun {
  readonly ms: number;
  readonly peakRssMiB: number;
  readonly stdout: string;
}

/** Kernel high-water mark and current RSS of a process, in MiB (0 when it is gone). */
function memoryOf(pid: number): { hwm: number; rss: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

/** Runs the CLI to its end: wall time and peak RSS. */
function runCli(args: readonly string[]): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let peak = 0;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setInterval(() => (peak = Math.max(peak, memoryOf(child.pid as number).hwm)), 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`pi-origin ${args.join(' ')} exited with ${code}`));
      else resolve({ ms: performance.now() - t0, peakRssMiB: peak, stdout });
    });
  });
}

interface ServeRun {
  readonly workers: number;
  readonly readyMs: number;
  readonly rssMiB: number;
  readonly peakRssMiB: number;
  readonly requests: number;
}

/** Starts `serve`, times it to the listening line, fetches `paths`, then reads its memory. */
async function measureServe(root: string, workers: number, paths: readonly string[]): Promise<ServeRun> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAIN, 'serve', root, '--listen', '[::1]:0', '--workers', String(workers), '--no-watch'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on http:\/\/\[::1\]:(\d+)\//.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening`)));
    });
    const readyMs = performance.now() - t0;
    let ok = 0;
    for (let i = 0; i < paths.length; i += 50) {
      const batch = await Promise.all(paths.slice(i, i + 50).map((p) => fetch(`http://[::1]:${port}${encodeURI(p)}`).then(async (r) => (await r.arrayBuffer(), r.status))));
      ok += batch.filter((s) => s === 200).length;
    }
    if (ok !== paths.length) throw new Error(`serve answered ${ok} of ${paths.length} files with 200`);
    const { hwm, rss } = memoryOf(child.pid as number);
    return { workers, readyMs: Math.round(readyMs), rssMiB: Math.round(rss), peakRssMiB: Math.round(hwm), requests: paths.length };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Per lookup: the table's hash probe against stat(2) of the same path (the filesystem as the index). */
function lookupCost(dir: string, paths: readonly string[]): { tableNs: number; statNs: number } {
  const data = loadTable(dir);
  if (data === undefined) throw new Error('no manifest');
  const table = new FileTable(data);
  let found = 0;
  let t0 = process.hrtime.bigint();
  for (let r = 0; r < 5; r++) for (const p of paths) if (table.find(p) !== -1) found++;
  const tableNs = Number(process.hrtime.bigint() - t0) / (paths.length * 5);
  t0 = process.hrtime.bigint();
  for (const p of paths) if (statSync(join(dir, p)).size >= 0) found++;
  const statNs = Number(process.hrtime.bigint() - t0) / paths.length;
  if (found !== paths.length * 6) throw new Error('a lookup missed');
  return { tableNs: Math.round(tableNs), statNs: Math.round(statNs) };
}

const sample = (count: number): string[] => {
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const i = Math.floor(((k * 2654435761) % 4294967296) / 4294967296 * FILES);
    const d = Math.floor(i / PER_DIR);
    out.push(`/simple/project-${d}/project_${d}-1.0.${i % PER_DIR}-py3-none-any.whl`);
  }
  return out;
};

try {
  say(`writing ${FILES} files, ${PER_DIR} per directory, under ${site}`);
  let t0 = performance.now();
  for (let d = 0; d * PER_DIR < FILES; d++) void writeProject(d, Math.min(PER_DIR, FILES - d * PER_DIR));
  say(`tree written in ${Math.round(performance.now() - t0)} ms; release build (first)`);
  const first = await runCli(['release', 'build', site, '--out', releases, '--json']);
  const firstId = (JSON.parse(first.stdout) as { id: string }).id;
  const releaseDir = join(releases, firstId);
  const manifestBytes = statSync(join(releaseDir, 'manifest.json')).size;
  say(`built ${firstId} in ${Math.round(first.ms)} ms, peak RSS ${Math.round(first.peakRssMiB)} MiB; loading the table`);
  t0 = performance.now();
  const table = loadTable(releaseDir);
  const tableMs = performance.now() - t0;
  if (table === undefined || table.count !== FILES) throw new Error(`table holds ${table?.count} of ${FILES} files`);
  const tableBytes = table.records.byteLength + table.paths.byteLength + table.variants.byteLength + table.slots.byteLength;
  const lookups = lookupCost(releaseDir, sample(20_000));
  const serve: ServeRun[] = [];
  for (const w of WORKERS) {
    say(`serve with ${w} workers`);
    serve.push(await measureServe(releaseDir, w, sample(2000)));
  }
  say(`publishing ${PUBLISH} new files: an incremental build from ${firstId}, then verify against it`);
  const newDir = Math.ceil(FILES / PER_DIR) + 1;
  const added: string[] = [];
  for (let written = 0, d = newDir; written < PUBLISH; d++, written += PER_DIR) added.push(...writeProject(d, Math.min(PER_DIR, PUBLISH - written), 2));
  const changes = join(base, 'changes.txt');
  writeFileSync(changes, added.map((rel) => `A\t${rel}\n`).join(''));
  const publish = await runCli(['release', 'build', site, '--out', releases, '--parent', firstId, '--changes', changes, '--json']);
  const childId = (JSON.parse(publish.stdout) as { id: string }).id;
  const verify = await runCli(['release', 'verify', join(releases, childId), '--parent', releaseDir, '--json']);
  const result: IndexCostRun = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    files: FILES,
    perDirectory: PER_DIR,
    build: { ms: Math.round(first.ms), peakRssMiB: Math.round(first.peakRssMiB) },
    manifestBytes,
    table: { bytes: tableBytes, bytesPerFile: Math.round(tableBytes / FILES), loadMs: Math.round(tableMs) },
    lookup: lookups,
    serve,
    publish: { files: PUBLISH, ms: Math.round(publish.ms), peakRssMiB: Math.round(publish.peakRssMiB), incremental: true, verifyMs: Math.round(verify.ms), verifyPeakRssMiB: Math.round(verify.peakRssMiB) },
    command: `npm run bench:index -- --files ${FILES}`,
  };
  mkdirSync(join(parsed.out, '..'), { recursive: true });
  const runs = Object.fromEntries([...(existsSync(parsed.out) ? indexCostRuns(parsed.out) : []), result].map((r) => [String(r.files), r]));
  writeFileSync(parsed.out, JSON.stringify({ memoryGiB: Math.round(totalmem() / 1024 ** 3), runs }, null, 2) + '\n');
  process.stdout.write(
    `index-cost: ${FILES} files: build ${result.build.ms} ms (peak ${result.build.peakRssMiB} MiB), manifest ${(manifestBytes / MiB).toFixed(1)} MiB, ` +
      `table ${(tableBytes / MiB).toFixed(1)} MiB (${result.table.bytesPerFile} B/file, ${result.table.loadMs} ms); ` +
      serve.map((s) => `serve ${s.workers}w ready ${s.readyMs} ms, RSS ${s.rssMiB} MiB (peak ${s.peakRssMiB})`).join('; ') +
      `; publish ${PUBLISH} files ${result.publish.ms} ms (peak ${result.publish.peakRssMiB} MiB), verify --parent ${verify.ms.toFixed(0)} ms; lookup ${lookups.tableNs} ns vs stat ${lookups.statNs} ns -> ${parsed.out}\n`,
  );
} finally {
  if (!parsed.keep) rmSync(base, { recursive: true, force: true });
}
