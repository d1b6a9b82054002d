/**
 * Runs one of the cluster playbooks with `ansible-playbook` and turns its output into events
 * as it streams. Ansible's own text output is for people (banners padded with `*`, results as
 * `fatal: [node2]: FAILED! => {...}` spread over lines); instead the run selects the stdout
 * callback shipped in ansible/callback_plugins/pi_origin_events.py, which writes one JSON object
 * per line. The callback is chosen by environment variables for this run only, so
 * `ansible-playbook` run by hand keeps the output ansible.cfg asks for.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../common/package-root.js';

/** `<package root>/ansible`: two levels up from dist/cluster/playbook.js, one from the TypeScript source (tests). */
export const ANSIBLE_DIR = join(packageRoot(), 'ansible');
export const CALLBACK_NAME = 'pi_origin_events';
export const CALLBACK_DIR = join(ANSIBLE_DIR, 'callback_plugins');

/**
 * `<dir>/<name>.yml`, dir the package's ansible/ unless given. The node artifact ships the
 * server without ansible/: run from there, the error says where the playbooks are.
 */
export function playbookFile(name: string, dir: string = ANSIBLE_DIR): string {
  const path = resolve(dir, `${name}.yml`);
  if (existsSync(path)) return path;
  const where = existsSync(ANSIBLE_DIR) ? '' : `: ${packageRoot()} has no ansible/ (the node artifact holds the server only); run cluster commands from the installed package (npm install -g ./pi-origin-VERSION.tgz)`;
  throw new PlaybookError(`playbook ${path} does not exist${where}`, 'PI_ORIGIN_PLAYBOOK_INPUT');
}

/**
 * A host's result for one task. `skipped` is Ansible's `skipping`; `failed` covers its
 * `fatal: ... FAILED!` and `failed: ... (item=...)`; `ignored` and `rescued` are failures that
 * did not fail the host (`ignore_errors`, a block's `rescue`).
 */
export const HOST_STATUSES = ['ok', 'changed', 'skipped', 'failed', 'unreachable', 'rescued', 'ignored'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];

/** The counts of Ansible's PLAY RECAP for one host (`ok` includes `changed`, as there). */
export interface RecapCounts {
  readonly ok: number;
  readonly changed: number;
  readonly unreachable: number;
  readonly failed: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
}
const RECAP_KEYS = ['ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored'] as const;

/** `at`: milliseconds since the run started, when the line arrived. */
export type PlaybookEvent =
  | { readonly type: 'playbook'; readonly at: number; readonly file: string }
  /** Once per play, and again for each `serial` batch; `hosts` is the batch (null if unknown). */
  | { readonly type: 'play'; readonly at: number; readonly play: string; readonly hosts: readonly string[] | null }
  | { readonly type: 'task'; readonly at: number; readonly play: string; readonly task: string; readonly role: string | null; readonly kind: 'task' | 'handler' | 'cleanup' }
  /** A host was handed the task: it is running from now until its result. */
  | { readonly type: 'host-start'; readonly at: number; readonly play: string; readonly task: string; readonly host: string }
  /** `message`: for failures, what went wrong; for `debug` tasks, their msg. */
  | { readonly type: 'result'; readonly at: number; readonly play: string; readonly task: string; readonly role: string | null; readonly host: string; readonly status: HostStatus; readonly message?: string; readonly delegatedTo?: string }
  | { readonly type: 'no-hosts-matched'; readonly at: number; readonly play: string }
  /** Ansible's "NO MORE HOSTS LEFT": every host of the batch failed or the failure limit was hit; later batches and plays do not run. */
  | { readonly type: 'no-hosts-remaining'; readonly at: number; readonly play: string }
  | { readonly type: 'recap'; readonly at: number; readonly hosts: ReadonlyMap<string, RecapCounts> }
  /** A stdout line that is not an event (another plugin printing directly). */
  | { readonly type: 'output'; readonly at: number; readonly line: string }
  /** A line ansible-playbook wrote to stderr: warnings, `ERROR! ...`. */
  | { readonly type: 'stderr'; readonly at: number; readonly line: string };

export interface PlaybookFailure {
  readonly host: string;
  readonly play: string;
  readonly task: string;
  readonly status: 'failed' | 'unreachable';
  readonly message: string;
}

export interface PlaybookResult {
  /** ansible-playbook's exit code (0 ok, 2 a host failed, 4 unreachable or a parse error, ...); 128+n when killed by signal n. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  /** PLAY RECAP by host, in Ansible's (sorted) order; empty when the run ended before it. */
  readonly recap: ReadonlyMap<string, RecapCounts>;
  /** Failed and unreachable results, in the order they arrived; ignored and rescued ones are not failures. */
  readonly failures: readonly PlaybookFailure[];
  readonly durationMs: number;
  /** Ansible reported "no more hosts left": the run ended before every batch and play ran. */
  readonly stoppedEarly: boolean;
  /** The run was stopped through `signal`. */
  readonly aborted: boolean;
  /** The end of ansible-playbook's stderr (at most {@link STDERR_KEEP} characters). */
  readonly stderr: string;
}

export interface RunPlaybookOptions {
  /** The command; default `ansible-playbook` from PATH. */
  readonly ansiblePlaybook?: string;
  /** Path of the playbook. */
  readonly playbook: string;
  /** Path of the inventory (`-i`). */
  readonly inventory: string;
  /** Passed as `-e @<file>` through a private temporary JSON file, so values keep their types. */
  readonly extraVars: Readonly<Record<string, unknown>>;
  /** `--limit PATTERN`: run on these hosts only. */
  readonly limit?: string;
  /** `--check`: Ansible's dry run, nothing changed on the hosts. */
  readonly check?: boolean;
  /** `--diff`: show what changes (or would change, with `check`) in files and templates. */
  readonly diff?: boolean;
  /** The environment to start from (default process.env); see {@link playbookEnv}. */
  readonly env?: NodeJS.ProcessEnv;
  readonly onProgress?: (event: PlaybookEvent) => void;
  /** Aborting sends ansible-playbook SIGINT, SIGTERM after {@link TERM_AFTER_MS}, SIGKILL after {@link KILL_AFTER_MS}. */
  readonly signal?: AbortSignal;
  /** Milliseconds since some origin; default performance.now. For tests. */
  readonly now?: () => number;
}

export const PLAYBOOK_ERROR_CODES = ['PI_ORIGIN_NO_ANSIBLE', 'PI_ORIGIN_PLAYBOOK_INPUT'] as const;
export type PlaybookErrorCode = (typeof PLAYBOOK_ERROR_CODES)[number];

/** ansible-playbook cannot be started, or the run's inputs are wrong; the message is one line a person can act on. */
export class PlaybookError extends Error {
  override readonly name = 'PlaybookError';
  constructor(
    message: string,
    readonly code: PlaybookErrorCode,
  ) {
    super(message);
  }
}

export const STDERR_KEEP = 64 * 1024;
/**
 * Stopping a run. ansible-playbook runs in its own process group, and an abort signals the
 * whole group, as Ctrl-C at a terminal would: SIGINT first (Ansible stops as usual), then
 * SIGTERM and SIGKILL for whatever is left, workers and their children included (a worker's
 * child holding the output pipe would otherwise keep the run open). A module already running
 * on a node finishes there unobserved.
 */
export const TERM_AFTER_MS = 2000;
export const KILL_AFTER_MS = 10_000;

/**
 * The environment of a run: `base` plus the settings that make the output parseable.
 * ANSIBLE_CONFIG is the package's ansible.cfg unless `base` sets one; the callback directory
 * is put before any the operator configured.
 */
export function playbookEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const plugins = base.ANSIBLE_CALLBACK_PLUGINS;
  return {
    ...base,
    ANSIBLE_CONFIG: base.ANSIBLE_CONFIG !== undefined && base.ANSIBLE_CONFIG !== '' ? base.ANSIBLE_CONFIG : join(ANSIBLE_DIR, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_STDOUT_CALLBACK: CALLBACK_NAME,
    ANSIBLE_CALLBACK_PLUGINS: plugins !== undefined && plugins !== '' ? `${CALLBACK_DIR}:${plugins}` : CALLBACK_DIR,
    ANSIBLE_RETRY_FILES_ENABLED: '0',
  };
}

/**
 * Runs the playbook to the end and resolves with what happened; a failing playbook resolves
 * too (`code` is not 0). Rejects with PlaybookError when ansible-playbook cannot be started.
 */
export async function runPlaybook(options: RunPlaybookOptions): Promise<PlaybookResult> {
  const command = options.ansiblePlaybook ?? 'ansible-playbook';
  const now = options.now ?? (() => performance.now());
  const varsDir = mkdtempSync(join(tmpdir(), 'pi-origin-vars-'));
  const varsFile = join(varsDir, 'vars.json');
  // Extra vars may hold secrets: a private file, removed when the run ends.
  writeFileSync(varsFile, JSON.stringify(options.extraVars), { mode: 0o600 });
  try {
    const limit = options.limit === undefined ? [] : ['--limit', options.limit];
    const modes = [...(options.check === true ? ['--check'] : []), ...(options.diff === true ? ['--diff'] : [])];
    return await spawnPlaybook(command, ['-i', options.inventory, options.playbook, '-e', `@${varsFile}`, ...limit, ...modes], options, now);
  } finally {
    rmSync(varsDir, { recursive: true, force: true });
  }
}

function spawnPlaybook(command: string, args: readonly string[], options: RunPlaybookOptions, now: () => number): Promise<PlaybookResult> {
  const started = now();
  const collector = new PlaybookCollector();
  const emit = (event: PlaybookEvent): void => {
    collector.add(event);
    options.onProgress?.(event);
  };
  let stderr = '';
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted === true) {
      resolve(collector.result(128 + constants.signals.SIGINT, null, 0, true, ''));
      return;
    }
    const child = spawn(command, args, { env: playbookEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let aborted = false;
    const timers: NodeJS.Timeout[] = [];
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    const onAbort = (): void => {
      aborted = true;
      signalGroup('SIGINT');
      timers.push(
        setTimeout(() => signalGroup('SIGTERM'), TERM_AFTER_MS),
        setTimeout(() => signalGroup('SIGKILL'), KILL_AFTER_MS),
      );
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const stdoutLines = lineSplitter((line) => emit(parseEventLine(line, now() - started)));
    const stderrLines = lineSplitter((line) => emit({ type: 'stderr', at: now() - started, line }));
    child.stdout.setEncoding('utf8').on('data', stdoutLines.push).on('end', stdoutLines.end);
    child.stderr
      .setEncoding('utf8')
      .on('data', (s: string) => {
        stderr = (stderr + s).slice(-STDERR_KEEP);
        stderrLines.push(s);
      })
      .on('end', stderrLines.end);
    child.on('error', (e: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (e.code === 'ENOENT')
        reject(new PlaybookError(command === 'ansible-playbook' ? 'ansible-playbook not found on PATH: install Ansible (Debian package "ansible": apt install ansible)' : `${command} not found: install Ansible (Debian package "ansible": apt install ansible)`, 'PI_ORIGIN_NO_ANSIBLE'));
      else reject(new PlaybookError(`cannot start ${command}: ${e.code ?? e.message}`, 'PI_ORIGIN_NO_ANSIBLE'));
    });
    // 'close' comes after both pipes ended, so every line has been emitted.
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      for (const timer of timers) clearTimeout(timer);
      const exit = code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
      resolve(collector.result(exit, signal, now() - started, aborted, stderr));
    });
  });
}

/** Splits a text stream into lines without `\r`; the last line may lack its `\n`. */
function lineSplitter(onLine: (line: string) => void): { push: (chunk: string) => void; end: () => void } {
  let rest = '';
  return {
    push: (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() as string;
      for (const line of lines) onLine(line.replace(/\r$/, ''));
    },
    end: () => {
      if (rest !== '') onLine(rest.replace(/\r$/, ''));
      rest = '';
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Lines to events

type Json = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * One stdout line of the pi_origin_events callback as an event. A line that is not one of its
 * JSON objects (another plugin's print, an unknown event) becomes an `output` event, so nothing
 * ansible-playbook says is lost.
 */
export function parseEventLine(line: string, at: number): PlaybookEvent {
  let data: unknown;
  try {
    data = line.startsWith('{') ? JSON.parse(line) : undefined;
  } catch {
    data = undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { type: 'output', at, line };
  const d = data as Json;
  const play = str(d.play);
  switch (d.event) {
    case 'playbook':
      return { type: 'playbook', at, file: str(d.file) };
    case 'play':
      return { type: 'play', at, play, hosts: Array.isArray(d.hosts) ? d.hosts.map(str) : null };
    case 'task':
      return { type: 'task', at, play, task: str(d.task), role: strOrNull(d.role), kind: d.kind === 'handler' || d.kind === 'cleanup' ? d.kind : 'task' };
    case 'host_start':
      return { type: 'host-start', at, play, task: str(d.task), host: str(d.host) };
    case 'result': {
      const status = (HOST_STATUSES as readonly unknown[]).includes(d.status) ? (d.status as HostStatus) : undefined;
      if (status === undefined) break;
      const detail = typeof d.result === 'object' && d.result !== null ? (d.result as Json) : undefined;
      const message = detail === undefined ? undefined : status === 'ok' || status === 'changed' ? str(detail.msg) : failureMessage(detail);
      const delegatedTo = strOrNull(d.delegated_to);
      return {
        type: 'result',
        at,
        play,
        task: str(d.task),
        role: strOrNull(d.role),
        host: str(d.host),
        status,
        ...(message !== undefined ? { message } : {}),
        ...(delegatedTo !== null ? { delegatedTo } : {}),
      };
    }
    case 'no_hosts_matched':
      return { type: 'no-hosts-matched', at, play };
    case 'no_hosts_remaining':
      return { type: 'no-hosts-remaining', at, play };
    case 'recap': {
      const hosts = new Map<string, RecapCounts>();
      const raw = typeof d.hosts === 'object' && d.hosts !== null ? (d.hosts as Record<string, Json>) : {};
      for (const [host, counts] of Object.entries(raw)) hosts.set(host, Object.fromEntries(RECAP_KEYS.map((k) => [k, typeof counts[k] === 'number' ? counts[k] : 0])) as unknown as RecapCounts);
      return { type: 'recap', at, hosts };
    }
  }
  return { type: 'output', at, line };
}

/** Messages that say only that something failed; the output says what. */
const UNINFORMATIVE = /^(non-zero return code|MODULE FAILURE\b.*|One or more items failed)$/s;
const TAIL_LINES = 20;
/** Ansible's message for a loop that ran to its end, even when its host went unreachable in it. */
const LOOP_DONE = 'All items completed';

/**
 * What went wrong, from a failed result: `msg`, else the end of stderr, else of stdout. A
 * message that says only that something failed ("non-zero return code", "MODULE FAILURE")
 * gets the rc and the output's end appended; a loop's message gets each failed item's, and a
 * loop that says only that it ended ("All items completed", an unreachable host) is its items'.
 */
export function failureMessage(result: Readonly<Json>): string {
  const msg = str(result.msg).trim();
  const output = tail(str(result.stderr) || str(result.module_stderr)) || tail(str(result.stdout) || str(result.module_stdout));
  const rc = typeof result.rc === 'number' ? result.rc : undefined;
  const items = Array.isArray(result.results) ? (result.results as unknown[]).filter((i): i is Json => typeof i === 'object' && i !== null) : [];
  if (items.length > 0) {
    const lines = items.map((i) => `item ${str(i.item)}: ${failureMessage(i)}`);
    // A loop whose host became unreachable says only "All items completed": the items say why.
    return (msg === LOOP_DONE ? lines : [msg || 'items failed', ...lines]).join('\n');
  }
  const where = rc === undefined ? '' : ` (rc ${rc})`;
  if (msg === '') return output === '' ? `failed${where} without a message` : output;
  if (UNINFORMATIVE.test(msg) && (output !== '' || where !== '')) return `${msg.split('\n')[0] as string}${where}${output === '' ? '' : `: ${output}`}`;
  return msg;
}

function tail(text: string): string {
  const lines = text.replace(/\r/g, '').trimEnd().split('\n');
  return lines.slice(-TAIL_LINES).join('\n').trim();
}

// ---------------------------------------------------------------------------------------------
// Events to a result

/** Folds events into the parts of a {@link PlaybookResult}; used while streaming and on recorded output alike. */
export class PlaybookCollector {
  recap: ReadonlyMap<string, RecapCounts> = new Map();
  readonly failures: PlaybookFailure[] = [];
  stoppedEarly = false;

  add(event: PlaybookEvent): void {
    if (event.type === 'recap') this.recap = event.hosts;
    else if (event.type === 'no-hosts-remaining') this.stoppedEarly = true;
    else if (event.type === 'result' && (event.status === 'failed' || event.status === 'unreachable'))
      this.failures.push({ host: event.host, play: event.play, task: event.task, status: event.status, message: event.message ?? '' });
  }

  result(code: number, signal: NodeJS.Signals | null, durationMs: number, aborted: boolean, stderr: string): PlaybookResult {
    return { code, signal, recap: this.recap, failures: [...this.failures], durationMs, stoppedEarly: this.stoppedEarly, aborted, stderr };
  }
}
