/**
 * The node's established connections, counted by the main thread about once a second from
 * /proc/net/tcp{,6} (uWS exposes no connection events for HTTP, and the kernel's view includes
 * idle keep-alive connections) and stored in the shared counters. Reading those files costs
 * about 100 ms at 10,000 connections: done per admin request on a worker, it stalled requests.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { WorkerMetrics } from './metrics.js';

export const CONNECTIONS_EVERY_MS = 1000;
const FILES = ['/proc/net/tcp', '/proc/net/tcp6'];
const NL = 0x0a;
const SPACE = 0x20;
const COLON = 0x3a;

/**
 * Counts ESTABLISHED sockets whose local port is in `ports` among whole /proc/net/tcp* lines
 * (the column header excluded). Byte scanning, no strings: at 10,000 connections the file is
 * 1.5 MB, and splitting it into lines and columns left tens of MiB of garbage.
 */
export function countEstablished(lines: Uint8Array, ports: ReadonlySet<number>): number {
  let n = 0;
  let line = 0;
  while (line < lines.length) {
    let end = lines.indexOf(NL, line);
    if (end === -1) end = lines.length;
    // "  sl: LOCALADDR:PORT REMADDR:PORT ST ..."
    const local = lines.indexOf(COLON, line) + 2;
    const localEnd = local > 1 && local < end ? lines.indexOf(SPACE, local) : -1;
    const remoteEnd = localEnd === -1 ? -1 : lines.indexOf(SPACE, localEnd + 1);
    if (remoteEnd !== -1 && remoteEnd + 2 < end && lines[remoteEnd + 1] === 0x30 && lines[remoteEnd + 2] === 0x31 && ports.has(hex(lines, localEnd - 4, localEnd))) n++;
    line = end + 1;
  }
  return n;
}

function hex(bytes: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i] as number;
    v = v * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
  }
  return v;
}

/** Counts one /proc file through `buffer` a chunk at a time (a line never spans more than one). */
function countFile(path: string, buffer: Buffer, ports: ReadonlySet<number>): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  try {
    let n = 0;
    let have = 0;
    let header = true;
    for (;;) {
      const got = readSync(fd, buffer, have, buffer.length - have, null);
      have += got;
      const view = buffer.subarray(0, have);
      let start = 0;
      if (header) {
        start = view.indexOf(NL) + 1;
        if (start === 0) return 0;
        header = false;
      }
      // Whole lines only; at the end of the file, the rest too.
      const upTo = got === 0 ? have : view.lastIndexOf(NL) + 1;
      if (upTo > start) n += countEstablished(view.subarray(start, upTo), ports);
      if (got === 0) return n;
      buffer.copyWithin(0, Math.max(start, upTo), have);
      have -= Math.max(start, upTo);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Samples now and then into the `connections` gauge; returns a stop function. Synchronous reads
 * on the main thread (which serves nothing) through one 64 KiB buffer leave next to no garbage.
 * The kernel takes about 100 ms to write these files at 10,000 connections: the next sample
 * waits 20 times as long as this one took, at least CONNECTIONS_EVERY_MS, so counting never
 * costs more than 5% of a core.
 */
export function sampleConnections(metrics: SharedArrayBuffer, ports: readonly number[]): () => void {
  const wanted = new Set(ports);
  // The main thread owns this field; it lives in slot 0, which no worker writes it to.
  const gauge = new WorkerMetrics(metrics, 0);
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let timer: NodeJS.Timeout | undefined;
  const sample = (): void => {
    const started = performance.now();
    gauge.set('connections', FILES.reduce((n, f) => n + countFile(f, buffer, wanted), 0));
    timer = setTimeout(sample, Math.max(CONNECTIONS_EVERY_MS, 20 * (performance.now() - started)));
    timer.unref();
  };
  sample();
  return () => clearTimeout(timer);
}
