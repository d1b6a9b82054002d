/**
 * The gate's local side: a temporary releases directory holding the release under test and a
 * second build of it (for cold-start), pi-origin serving it as a child process, the raw uWS
 * baseline serving the same files from memory, and the servers' CPU time.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { activateRelease, buildRelease } from '../../release/release.js';
import { spawnTracked, stopSpawned, type Spawned } from '../bench/procs.js';
import { which } from '../bench/util.js';
import { readSite, type Site } from './scenarios.js';

const CLI_MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const RAW_UWS = fileURLToPath(new URL('../bench/raw-uws.js', import.meta.url));

/** How long a server may take to print that it listens. */
const START_TIMEOUT_MS = 20_000;

export interface Releases {
  readonly dir: string;
  /** The release under test, active at start. */
  readonly a: Site;
  /** A second build of the same site with every text file changed. */
  readonly b: Site;
  readonly current: string;
  remove(): void;
}

const TEXT_TYPE = /^(text\/|application\/(javascript|json|xml)|image\/svg\+xml)/;

/**
 * Copies the release under test into a fresh releases directory and builds a second release
 * from its files, each text file with a comment line added: what a new release of a site
 * looks like to the server (new bytes, new ETags, binary files unchanged). The second build has
 * no rules file, so its per-file headers are the defaults; cold-start does not measure headers.
 */
export async function prepareReleases(site: Site): Promise<Releases> {
  const dir = mkdtempSync(join(tmpdir(), 'pi-origin-gate-'));
  try {
    const releases = join(dir, 'releases');
    mkdirSync(releases);
    cpSync(realpathSync(site.dir), join(releases, site.id), { recursive: true, preserveTimestamps: true });
    const source = join(dir, 'site-b');
    for (const f of site.files) {
      const to = join(source, f.path.slice(1));
      mkdirSync(dirname(to), { recursive: true });
      const body = readFileSync(join(site.dir, f.path.slice(1)));
      writeFileSync(to, TEXT_TYPE.test(f.type) ? Buffer.concat([body, Buffer.from(`\n${commentFor(f.type)}\n`)]) : body);
      utimesSync(to, f.mtime / 1000, f.mtime / 1000);
    }
    const b = await buildRelease(source, releases);
    await activateRelease(releases, site.id);
    const current = join(releases, 'current');
    return { dir: releases, a: readSite(join(releases, site.id)), b: readSite(b.dir), current, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

function commentFor(type: string): string {
  if (type.startsWith('text/html') || type.startsWith('image/svg')) return '<!-- pi-origin gate: cold-start build -->';
  if (type.startsWith('text/css') || type.includes('javascript')) return '/* pi-origin gate: cold-start build */';
  return '# pi-origin gate: cold-start build';
}

export interface LocalServer {
  readonly label: string;
  /** `http://[::1]:PORT` */
  readonly origin: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * On a machine with two or more cores, servers run on CPU 0 and leave the others to the load
 * generator (this process), as the peer benchmark does.
 */
function pinned(argv: readonly string[]): [string, string[]] {
  const taskset = availableParallelism() >= 2 ? which('taskset') : undefined;
  return taskset === undefined ? [argv[0] as string, argv.slice(1)] : [taskset, ['-c', '0', ...argv]];
}

function waitForLine(p: Spawned, pattern: RegExp, label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not report listening within ${START_TIMEOUT_MS / 1000} s:\n${p.tail()}`)), START_TIMEOUT_MS);
    p.onLine((line) => {
      const m = pattern.exec(line);
      if (m?.[1] === undefined) return;
      clearTimeout(timer);
      resolve(m[1]);
    });
    void p.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited during start-up (code ${code}, signal ${signal}):\n${p.tail()}`));
    });
  });
}

async function startChild(label: string, argv: readonly string[], listening: RegExp): Promise<LocalServer> {
  const [cmd, args] = pinned(argv);
  const p = spawnTracked(cmd, args, { group: true });
  try {
    const port = await waitForLine(p, listening, label);
    return { label, origin: `http://[::1]:${port}`, pid: p.pid, stop: () => stopSpawned(p) };
  } catch (e) {
    await stopSpawned(p);
    throw e;
  }
}

/**
 * `node dist/cli/main.js serve ROOT` on [::1], port 0, one worker unless asked for more (the
 * gate's baseline has one thread), watching the root so a release switch is picked up.
 */
export function startPiOrigin(root: string, workers = 1): Promise<LocalServer> {
  return startChild('pi-origin', [process.execPath, CLI_MAIN, 'serve', root, '--listen', '[::1]:0', '--workers', String(workers), '--drain-timeout', '1'], /^pi-origin: listening on http:\/\/\[::1\]:(\d+)\//);
}

/** The raw uWS app from the peer benchmark, serving every file of `dir` from memory. */
export function startRawUws(dir: string): Promise<LocalServer> {
  return startChild('raw uWS', [process.execPath, RAW_UWS, '--dir', realpathSync(dir), '--host', '::1', '--port', '0'], /^raw-uws: .* on http:\/\/\[::1\]:(\d+)\//);
}

/**
 * CPU time a process has used, all threads, in nanoseconds (`/proc/PID/task/TID/schedstat`,
 * which counts in ns where `/proc/PID/stat` counts in 10 ms ticks). Undefined off Linux.
 */
export function cpuNs(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let total = 0;
  for (const tid of tasks) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]);
    } catch {
      /* the thread ended meanwhile */
    }
  }
  return total;
}
