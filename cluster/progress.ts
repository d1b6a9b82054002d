/**
 * What a person sees while a playbook runs: one line per task and host as results arrive,
 * failures with their whole message, then a table of the recap and one summary line. Everything
 * printed comes from the events; nothing assumes what a playbook does inside.
 *
 * On a terminal one more line, redrawn in place, names the task in progress and the hosts still
 * running it; elsewhere (CI logs, pipes) only the permanent lines are written, no cursor codes.
 */
import type { PlaybookEvent, PlaybookResult, RecapCounts } from './playbook.js';

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** Terminal width: the status line is cut to fit, or `\r` would not return to its start. */
  readonly columns?: number;
}

/** Longest part of a debug message shown on a progress line: these lines are for scanning. */
const NOTE_MAX = 160;
/** Continuation lines of a failure message line up under its first line. */
const INDENT = ' '.repeat(10);
const REDRAW_MS = 1000;
const CLEAR_LINE = '\r\x1b[K';

/** `[  12.3s]`: time since the run started, fixed width so the lines align. */
export function stamp(ms: number): string {
  return `[${(ms / 1000).toFixed(1).padStart(6)}s]`;
}

function firstLine(text: string, max = Infinity): string {
  const line = text.split('\n')[0] as string;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** `Warning: ...`, `** WARNING: ...`, `[WARNING]: ...`: what a tool says on the way, not why it failed. */
export const WARNING_LINE = /^\W*warning\b/i;

/**
 * The line of a failure message that says why: the first that is not blank and not a warning
 * (rsync's failure starts with ssh's "Warning: Permanently added ... to the list of known hosts"),
 * else the first line.
 */
export function causeLine(message: string): string {
  const lines = message.replace(/\r/g, '').split('\n');
  return lines.find((l) => l.trim() !== '' && !WARNING_LINE.test(l.trim()))?.trim() ?? (lines[0] as string);
}

/** The permanent line(s) for an event, without the time stamp; undefined for events shown only on the status line. */
export function formatEvent(e: PlaybookEvent): string | undefined {
  switch (e.type) {
    case 'play':
      return `PLAY ${e.play}${e.hosts === null ? '' : ` · ${e.hosts.length === 0 ? 'no hosts' : e.hosts.join(', ')}`}`;
    case 'result': {
      const host = e.delegatedTo === undefined ? e.host : `${e.host} -> ${e.delegatedTo}`;
      const head = `${e.play}: ${e.task} · ${host}`;
      const message = e.message ?? '';
      switch (e.status) {
        case 'failed':
          return `${head} FAILED: ${indent(message)}`;
        case 'unreachable':
          return `${head} UNREACHABLE: ${indent(message)}`;
        case 'ignored':
          return `${head} failed (ignored): ${indent(message)}`;
        case 'rescued':
          return `${head} failed (rescued): ${indent(message)}`;
        default:
          return message === '' ? `${head} ${e.status}` : `${head} ${e.status}: ${firstLine(message, NOTE_MAX)}`;
      }
    }
    case 'no-hosts-matched':
      return `${e.play}: no hosts matched`;
    case 'no-hosts-remaining':
      return `${e.play}: no hosts left to run on; the run stops`;
    case 'output':
      return e.line;
    default:
      return undefined;
  }
}

function indent(message: string): string {
  return message.replace(/\n/g, `\n${INDENT}`);
}

/**
 * Writes progress for a stream of events. Call {@link onEvent} for each, {@link finish} once at
 * the end (it clears the status line and stops the redraw timer).
 */
export class ProgressPrinter {
  private readonly tty: boolean;
  private task: { play: string; task: string } | undefined;
  /** Hosts handed the current task that have not reported yet. */
  private readonly running = new Set<string>();
  private statusShown = false;
  private timer: NodeJS.Timeout | undefined;
  private lastRemaining = '';

  constructor(
    private readonly out: ProgressStream,
    private readonly err: ProgressStream,
    /** Milliseconds since the run started. */
    private readonly elapsed: () => number,
  ) {
    this.tty = out.isTTY === true;
  }

  onEvent(e: PlaybookEvent): void {
    if (e.type === 'stderr') {
      this.clearStatus();
      this.err.write(e.line + '\n');
      this.drawStatus();
      return;
    }
    if (e.type === 'task') {
      this.task = { play: e.play, task: e.task };
      this.running.clear();
    } else if (e.type === 'host-start') this.running.add(e.host);
    else if (e.type === 'result') this.running.delete(e.host);
    else if (e.type === 'play' || e.type === 'recap') {
      this.task = undefined;
      this.running.clear();
    }
    // Ansible says "no more hosts left" once per strategy check; once is enough here.
    if (e.type === 'no-hosts-remaining') {
      if (this.lastRemaining === e.play) return;
      this.lastRemaining = e.play;
    }
    const line = formatEvent(e);
    this.clearStatus();
    if (line !== undefined) this.out.write(e.type === 'output' ? line + '\n' : `${stamp(e.at)} ${line}\n`);
    this.drawStatus();
  }

  finish(): void {
    this.clearStatus();
    clearInterval(this.timer);
    this.timer = undefined;
    this.task = undefined;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.out.write(CLEAR_LINE);
    this.statusShown = false;
  }

  private drawStatus(): void {
    if (!this.tty || this.task === undefined || this.running.size === 0) return;
    const hosts = [...this.running].join(', ');
    const columns = this.out.columns ?? 0;
    const width = columns >= 20 ? columns - 1 : 79;
    this.out.write(firstLine(`${stamp(this.elapsed())} ${this.task.play}: ${this.task.task} · running on ${hosts}`, width));
    this.statusShown = true;
    // Redraw each second so a long task shows that time passes.
    this.timer ??= setInterval(() => {
      this.clearStatus();
      this.drawStatus();
    }, REDRAW_MS).unref();
  }
}

// ---------------------------------------------------------------------------------------------
// The end of a run

const COLUMNS = [
  ['OK', 'ok'],
  ['CHANGED', 'changed'],
  ['FAILED', 'failed'],
  ['UNREACHABLE', 'unreachable'],
] as const satisfies readonly (readonly [string, keyof RecapCounts])[];

/** One row per host of the recap: NODE, then ok/changed/failed/unreachable, numbers right-aligned. */
export function recapTable(recap: ReadonlyMap<string, RecapCounts>): string {
  const rows = [['NODE', ...COLUMNS.map(([title]) => title)], ...[...recap].map(([host, c]) => [host, ...COLUMNS.map(([, key]) => String(c[key]))])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ')).join('\n');
}

/** `3.2 s` under ten seconds, `41 s`, `2 min 5 s`. */
export function humanDuration(ms: number): string {
  if (ms < 9950) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * One line on how the run ended. `what` names the operation: `rollout of 8b02d4e6f1a7`.
 * - `<what> complete on 3 nodes in 41 s`
 * - `<what> stopped: node2 failed at <task>: <the message's first line that is not a warning>` (the first failure; more are counted)
 * - `<what> stopped: ansible-playbook exited with code 4` when it failed without a host failing (its errors are above)
 * - `<what> interrupted after 12 s`
 */
export function summaryLine(what: string, r: PlaybookResult): string {
  const first = r.failures[0];
  const more = r.failures.length > 1 ? ` (and ${plural(r.failures.length - 1, 'more failure')})` : '';
  const cause = first === undefined ? '' : `${first.host} ${first.status} at ${first.task}: ${causeLine(first.message)}${more}`;
  if (r.aborted) return `${what} interrupted after ${humanDuration(r.durationMs)}${cause === '' ? '' : `; ${cause}`}`;
  if (r.code === 0) {
    // The controller's own plays (localhost) are not nodes.
    const nodes = [...r.recap.keys()].filter((h) => h !== 'localhost').length;
    if (nodes === 0) return `${what} ran on no nodes (no hosts matched) in ${humanDuration(r.durationMs)}`;
    return `${what} complete on ${plural(nodes, 'node')} in ${humanDuration(r.durationMs)}`;
  }
  if (cause !== '') return `${what} stopped: ${cause}`;
  return `${what} stopped: ansible-playbook ${r.signal === null ? `exited with code ${r.code}` : `was killed by ${r.signal}`}`;
}

/** The recap table (when there is one), a blank line, and the summary line. */
export function renderSummary(what: string, r: PlaybookResult): string {
  return (r.recap.size > 0 ? `${recapTable(r.recap)}\n\n` : '') + summaryLine(what, r) + '\n';
}
