/**
 * Where a rollout's time goes, read from what `pi-origin cluster rollout|rollback` prints: every
 * progress line is stamped with the seconds since the run started (cluster/progress.ts), and
 * names its play and task. The time between one stamped line and the next is charged to the
 * phase of the later line's task, so the phases add up to the run's stamped span exactly.
 */

export const PHASES = ['push', 'verify', 'activate', 'confirm', 'gate', 'other'] as const;
export type Phase = (typeof PHASES)[number];

/** A task's phase by its name (the playbooks' task names, ansible/roles/origin_release/tasks). */
export function phaseOf(play: string, task: string): Phase {
  if (/^Verify the copy/.test(task)) return 'verify';
  if (/^Wait for (the|every) node to report|^Fail when the node does not report/.test(task)) return 'confirm';
  if (/gate|^Record the rollout/i.test(task) || /gate/i.test(play)) return 'gate';
  if (/^Push/.test(play)) return 'push';
  if (/^Activate release|^Start the server|release pointers|^Put the release pointers back/.test(task)) return 'activate';
  return 'other';
}

export interface StampedLine {
  /** Seconds since the run started. */
  readonly at: number;
  /** `PLAY <name> · hosts` lines: the play's name; else undefined. */
  readonly playStart?: string;
  readonly play?: string;
  readonly task?: string;
}

const STAMP = /^\[\s*(\d+(?:\.\d+)?)s\] (.*)$/;
const PLAY = /^PLAY (.*?)(?: · .*)?$/;
// `<play>: <task> · <host> <status>`: plays are named without ': ' (ansible/*.yml).
const RESULT = /^([^:]+): (.*) · \S+(?: -> \S+)? (?:ok|changed|skipped|failed|unreachable|FAILED|UNREACHABLE|failed \((?:ignored|rescued)\))(?::|$)/;

/** The stamped progress lines of a run's output; other lines (the recap, messages) are skipped. */
export function stampedLines(output: string): StampedLine[] {
  const lines: StampedLine[] = [];
  for (const raw of output.split('\n')) {
    const m = STAMP.exec(raw);
    if (m === null) continue;
    const at = Number(m[1]);
    const text = m[2] as string;
    const play = PLAY.exec(text);
    if (play !== null) {
      lines.push({ at, playStart: play[1] });
      continue;
    }
    const r = RESULT.exec(text);
    if (r !== null) lines.push({ at, play: r[1], task: r[2] });
  }
  return lines;
}

export type PhaseSeconds = Record<Phase, number>;

/** Seconds per phase; the gap before a PLAY line is 'other' (the play's start-up). */
export function phaseSeconds(output: string): PhaseSeconds {
  const out = Object.fromEntries(PHASES.map((p) => [p, 0])) as PhaseSeconds;
  let prev = 0;
  for (const l of stampedLines(output)) {
    const phase = l.task === undefined ? 'other' : phaseOf(l.play ?? '', l.task);
    out[phase] += Math.max(0, l.at - prev);
    prev = Math.max(prev, l.at);
  }
  for (const p of PHASES) out[p] = Math.round(out[p] * 10) / 10;
  return out;
}

/** One `serial` batch of the "Activate in batches" play: its hosts and how long it took. */
export interface Batch {
  readonly hosts: number;
  readonly seconds: number;
}

/** The batches of a rollout: from each batch's PLAY line to the next PLAY line (or the last stamped line). */
export function batches(output: string, play = 'Activate in batches'): Batch[] {
  const out: Batch[] = [];
  const lines = output.split('\n');
  let open: { at: number; hosts: number } | undefined;
  let last = 0;
  for (const raw of lines) {
    const m = STAMP.exec(raw);
    if (m === null) continue;
    const at = Number(m[1]);
    const p = PLAY.exec(m[2] as string);
    if (p !== null) {
      if (open !== undefined) out.push({ hosts: open.hosts, seconds: round1(at - open.at) });
      open = undefined;
      if (p[1] === play) {
        const hosts = /· (.*)$/.exec(m[2] as string)?.[1]?.split(', ').length ?? 0;
        open = { at, hosts };
      }
    }
    last = at;
  }
  if (open !== undefined) out.push({ hosts: open.hosts, seconds: round1(last - open.at) });
  return out;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
