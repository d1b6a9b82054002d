/**
 * Child-process bookkeeping for the benchmark: spawning servers in their own
 * process group (so a clustered server's workers die with it), killing every
 * child on exit/SIGINT/error, and reading RSS / CPU time from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { sleep } from './util.js';

interface Tracked {
  child: ChildProcess;
  /** Spawned with detached: true, i.e. leader of its own process group. */
  group: boolean;
}

const tracked = new Set<Tracked>();

/**
 * Environment for children: ours minus PI_ORIGIN_* (pi-origin reads its
 * config from those; a stray PI_ORIGIN_ACCESS_LOG=stdout would skew results)
 * and minus UWS_USE_FALLBACK (forces uWS's slow pure-JS implementation).
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('PI_ORIGIN_') || k === 'UWS_USE_FALLBACK') continue;
    env[k] = v;
  }
  return env;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Last lines of stdout+stderr, for error messages. */
  tail: () => string;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning: () => boolean;
  onLine: (cb: (line: string) => void) => void;
}

/**
 * Spawn a tracked child. Servers use `group: true` (own process group,
 * killed as a group); short-lived tools (wrk) use `group: false`.
 */
export function spawnTracked(cmd: string, args: readonly string[], opts: { group: boolean; cwd?: string }): Spawned {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    detached: opts.group,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv(),
  });
  if (child.pid === undefined) {
    // spawn failures surface as an 'error' event; make them synchronous-ish.
    throw new Error(`could not spawn ${cmd}`);
  }
  const entry: Tracked = { child, group: opts.group };
  tracked.add(entry);
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  const feed = (stream: NodeJS.ReadableStream | null): void => {
    if (!stream) return;
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (lines.length > 40) lines.shift();
        for (const l of listeners) l(line);
      }
      if (buf.length > 64 * 1024) buf = buf.slice(-4096);
    });
  };
  feed(child.stdout);
  feed(child.stderr);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      tracked.delete(entry);
      resolve({ code, signal });
    });
    child.on('error', () => {
      running = false;
      tracked.delete(entry);
      resolve({ code: null, signal: null });
    });
  });
  return {
    child,
    pid: child.pid,
    tail: () => lines.slice(-15).join('\n'),
    exited,
    isRunning: () => running,
    onLine: (cb) => listeners.push(cb),
  };
}

function signalEntry(e: Tracked, sig: NodeJS.Signals): void {
  const pid = e.child.pid;
  if (pid === undefined) return;
  try {
    if (e.group) process.kill(-pid, sig);
    else process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Stop one spawned process (group): SIGTERM, then SIGKILL after graceMs. */
export async function stopSpawned(s: Spawned, graceMs = 3000): Promise<void> {
  const entry = [...tracked].find((t) => t.child === s.child);
  if (!entry) return;
  signalEntry(entry, 'SIGTERM');
  const timedOut = await Promise.race([s.exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) {
    signalEntry(entry, 'SIGKILL');
    await s.exited;
  }
  // Leftover group members (e.g. cluster workers) get a final SIGKILL.
  if (entry.group) signalEntry(entry, 'SIGKILL');
  tracked.delete(entry);
}

/**
 * Until the returned function is called, SIGINT and SIGTERM run `cleanUp` (synchronous: the
 * children are killed before this process ends) and then end this process by the same signal.
 */
export function cleanUpOnSignal(cleanUp: () => void): () => void {
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanUp();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}

/** Synchronous last-resort cleanup: SIGKILL every tracked child (used from 'exit' and signal handlers). */
export function killAllSync(): void {
  for (const e of tracked) signalEntry(e, 'SIGKILL');
  tracked.clear();
}

// ---------------------------------------------------------------- /proc ---

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime in clock ticks. */
  ticks: number;
  /** cutime + cstime (reaped children) in clock ticks. */
  childTicks: number;
}

function readStat(pid: number | 'self'): ProcStat | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may contain spaces/parens: fields start after the last ')'.
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // rest[0] = state (field 3), so field N is rest[N - 3].
  const f = (n: number): number => Number(rest[n - 3]);
  return { pid: Number(s.slice(0, s.indexOf(' '))), ppid: f(4), ticks: f(14) + f(15), childTicks: f(16) + f(17) };
}

/** pid plus all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(st.pid);
    else children.set(st.ppid, [st.pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop() as number;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** Sum of VmRSS (KiB) over a process tree. Shared pages are counted once per process. */
export function treeRssKiB(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1]) total += Number(m[1]);
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** Number of threads over a process tree (worker_threads show up here, not as processes). */
export function treeThreads(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1]) total += Number(m[1]);
    } catch {
      /* exited meanwhile */
    }
  }
  return total;
}

/** CPU time (clock ticks) consumed so far by a live process tree. */
export function treeCpuTicks(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) total += readStat(pid)?.ticks ?? 0;
  return total;
}

/** CPU ticks of this process's reaped children (wrk's CPU time shows up here once it exits). */
export function reapedChildTicks(): number {
  return readStat('self')?.childTicks ?? 0;
}

let clkTck: number | undefined;
/** Clock ticks per second (USER_HZ); 100 on every mainstream Linux. */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

// ------------------------------------------------- interference detection ---

/** pid -> own + reaped-children CPU ticks (and parent pid), for every user-space process on the machine. */
export type CpuSnapshot = Map<number, { ticks: number; ppid: number }>;

export function snapshotAll(): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    // Skip kernel threads (kthreadd and its children, e.g. ksoftirqd doing our own loopback traffic).
    if (!st || st.pid === 2 || st.ppid === 2) continue;
    snap.set(st.pid, { ticks: st.ticks + st.childTicks, ppid: st.ppid });
  }
  return snap;
}

/**
 * CPU ticks burned between two snapshots by processes that are not part of
 * the measurement (anything except `exclude`): other users of the machine.
 * Processes that exit in between are caught through their parent's
 * reaped-children time, minus what they had already used before the window.
 */
export function foreignTicks(before: CpuSnapshot, after: CpuSnapshot, exclude: ReadonlySet<number>): number {
  let total = 0;
  for (const [pid, a] of after) {
    if (exclude.has(pid)) continue;
    total += Math.max(0, a.ticks - (before.get(pid)?.ticks ?? 0));
  }
  // An exited process's whole lifetime lands in its reaper's cutime (possibly via a chain of
  // exited parents); take out what it had already used before the window.
  for (const [pid, b] of before) {
    if (after.has(pid) || exclude.has(pid) || exclude.has(b.ppid)) continue;
    total -= b.ticks;
  }
  return Math.max(0, total);
}
/** Aggregate steal ticks (hypervisor took the vCPU away) from /proc/stat. */
export function stealTicks(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = line.trim().split(/\s+/);
    return Number(f[8] ?? 0) || 0;
  } catch {
    return 0;
  }
}
