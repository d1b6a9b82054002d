/** The server process as /proc shows it, once a second during a soak: resident memory and open descriptors. */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessSample {
  readonly rssBytes: number;
  readonly fds: number;
}

/** One sample of `pid`; undefined when the process is gone (a zombie has no VmRSS either). */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    if (m === null) return undefined;
    return { rssBytes: Number(m[1]) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** Why `pid` cannot be sampled from here, or undefined when it can. */
export function unsampleable(pid: number): string | undefined {
  try {
    readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return `no process ${pid} on this machine (the pid must be the server's, on the machine running the soak)`;
  }
  try {
    readdirSync(`/proc/${pid}/fd`);
  } catch (e) {
    return `cannot read /proc/${pid}/fd (${(e as NodeJS.ErrnoException).code ?? 'error'}): run the soak as the server's user or as root`;
  }
  return undefined;
}
