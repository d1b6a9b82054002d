/**
 * The node's diagnostics on stderr, one line per event. When stderr is the journal (systemd
 * sets JOURNAL_STREAM to its device:inode, systemd.exec(5)), each line starts with its syslog
 * priority, `<3>` error, `<4>` warning, `<6>` info, which journald reads as the entry's
 * priority (SyslogLevelPrefix=, on by default) and strips: `journalctl -p warning` then shows
 * warnings and errors. On a terminal or in a file the lines stay as a person reads them.
 */
import { fstatSync } from 'node:fs';

export const PRIORITY = { error: 3, warning: 4, info: 6 } as const;
export type Priority = keyof typeof PRIORITY;

/** Whether fd `fd` is the stream JOURNAL_STREAM names (`device:inode`, decimal). */
export function isJournalStream(fd: number, journalStream: string | undefined): boolean {
  if (journalStream === undefined) return false;
  const m = /^(\d+):(\d+)$/.exec(journalStream);
  if (m === null) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1] as string) && st.ino === BigInt(m[2] as string);
  } catch {
    return false;
  }
}

/** Writes `pi-origin: TEXT` lines to stderr, prefixed with the priority when journald reads them. */
export function stderrLogger(env: NodeJS.ProcessEnv = process.env): (priority: Priority, text: string) => void {
  const prefixed = isJournalStream(2, env['JOURNAL_STREAM']);
  // A message that spans lines would become several journal entries, the rest at the default priority.
  const oneLine = (text: string): string => text.replace(/\r?\n/g, ' | ');
  return prefixed
    ? (priority, text) => void process.stderr.write(`<${PRIORITY[priority]}>pi-origin: ${oneLine(text)}\n`)
    : (_priority, text) => void process.stderr.write(`pi-origin: ${oneLine(text)}\n`);
}
