/**
 * Another process's memory and descriptor limit, read from /proc (Linux), for tests that hold a
 * server child process to a memory bound: its resident set is its own, not the test's sockets.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

const MiB = 1024 * 1024;

/**
 * A spawn wrapper (it execs, so the pid stays the server's) that runs the server as deployed:
 * without the NODE_OPTIONS (an --import of tap's process-info and coverage hooks) and
 * NODE_V8_COVERAGE that tap hands to child processes. They add tens of MiB to the heap, and a
 * memory figure should be the server's own.
 */
export const UNINSTRUMENTED: readonly string[] = ['env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE'];

/** One `Vm*` line of /proc/PID/status, in bytes. */
function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resident set size in bytes. */
export function rss(pid: number): number {
  return vm(pid, 'VmRSS');
}

/** Bytes as MiB with one decimal, for messages. */
export function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

/**
 * The highest resident set size from now until `stop()`: the kernel's high-water mark (VmHWM,
 * reset through clear_refs) when the test may reset it, and a 25 ms sample in every case.
 */
export class PeakRss {
  private sampled: number;
  private readonly timer: NodeJS.Timeout;
  private readonly exact: boolean;

  constructor(private readonly pid: number) {
    this.exact = resetHighWaterMark(pid);
    this.sampled = rss(pid);
    this.timer = setInterval(() => this.sample(), 25);
  }

  private sample(): void {
    try {
      this.sampled = Math.max(this.sampled, rss(this.pid));
    } catch {
      // the process ended; the peak so far stands
    }
  }

  /** The peak so far, without stopping. */
  now(): number {
    this.sample();
    return this.exact ? Math.max(this.sampled, vm(this.pid, 'VmHWM')) : this.sampled;
  }

  stop(): number {
    clearInterval(this.timer);
    return this.now();
  }
}

/** Writing 5 to clear_refs sets VmHWM back to the current RSS (Linux 4.0+); false when refused. */
function resetHighWaterMark(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface Limit {
  readonly soft: number;
  readonly hard: number;
}

/** RLIMIT_NOFILE of a process ("unlimited" as Infinity). */
export function nofile(pid: number): Limit {
  const line = readFileSync(`/proc/${pid}/limits`, 'latin1').split('\n').find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').slice('Max open files'.length).trim().split(/\s+/);
  const value = (s: string | undefined): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: value(soft), hard: value(hard) };
}

/**
 * Makes sure `pid` may open `want` descriptors: with prlimit up to `want` (raising the hard
 * limit needs root with CAP_SYS_RESOURCE), else the soft limit up to the hard one. Returns why
 * it cannot, or undefined when the limit is now high enough. Children inherit the limit.
 */
export function ensureNofile(pid: number, want: number): string | undefined {
  let limit = nofile(pid);
  if (limit.soft >= want) return undefined;
  const attempts = [`--nofile=${want}:${Math.max(want, limit.hard)}`, `--nofile=${limit.hard}:${limit.hard}`];
  for (const arg of attempts) {
    try {
      execFileSync('prlimit', ['--pid', String(pid), arg], { stdio: 'ignore' });
    } catch {
      // not permitted (no CAP_SYS_RESOURCE) or no prlimit: try the next, then report
    }
    limit = nofile(pid);
    if (limit.soft >= want) return undefined;
  }
  const who = process.getuid?.() === 0 ? 'root without CAP_SYS_RESOURCE' : 'not root';
  return `needs ${want} open files but RLIMIT_NOFILE is ${limit.soft} (hard ${limit.hard}) and prlimit could not raise it (${who}); run as root or with ulimit -n ${want}`;
}

/**
 * The local ports of the TCP sockets `pid` holds in LISTEN state, one entry per socket (workers
 * sharing a port through SO_REUSEPORT each count): the process's sockets from /proc/PID/fd,
 * matched by inode against the kernel's tables, so other processes' listeners never count.
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed since the directory was read
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null) inodes.add(m[1] as string);
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'latin1').split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9] as string)) ports.push(parseInt((f[1] as string).split(':')[1] as string, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}
