/**
 * The cluster rollback's fast path: what ansible/rollback.yml does, without Ansible's cost per
 * host and task (about 0.15 s of controller CPU each; 30 s for a 24-node rollback on the rig,
 * a minute predicted for 100 nodes). One `ssh` per node, all at once, each running one shell
 * command on the node: read the release pointers, then `pi-origin release activate` (--quick
 * unless origin_release_activate_hash). Then the controller confirms every switched node over
 * HTTP (/_origin/health reports the release), all at once. The safety is the playbook's:
 *   - the target is what the canary (the first origin) recorded of the last rollout, and only
 *     while the canary serves that rollout's release; or the release the operator names;
 *   - a node that fails to switch or to confirm is put back on what it served (current and
 *     previous as before) and named; the others still switch;
 *   - a node without a release is refused, never given its first release by a rollback.
 * It reports through the playbooks' events (same plays, tasks and summary as rollback.yml), so
 * the output, its time stamps and `bench:fleet`'s phases read the same whichever path ran.
 */
import { spawn } from 'node:child_process';
import { nodeUrl } from './address.js';
import { waitForRelease } from './content-check.js';
import type { InventoryHost } from './inventory.js';
import { inParallel } from './parallel.js';
import { STDERR_KEEP, type HostStatus, type PlaybookEvent, type PlaybookFailure, type PlaybookResult, type RecapCounts } from './playbook.js';
import { WARNING_LINE } from './progress.js';
import { ansibleBool, shellQuote, sshTarget, type SshTarget } from './ssh-target.js';
import { isReleaseId } from '../content/release-id.js';

/** The role's inputs the switch needs, read as origin_release's defaults read them (defaults/main.yml). */
export interface ReleaseVars {
  readonly releasesDir: string;
  readonly appDir: string;
  readonly nodeBinary: string;
  readonly port: number;
  readonly hash: boolean;
  readonly confirmTimeoutSec: number;
}

/** origin_release's defaults (test/rollback-switch.test.ts compares them with the role's). */
export const RELEASE_DEFAULTS: ReleaseVars = { releasesDir: '/srv/origin/releases', appDir: '/opt/pi-origin', nodeBinary: '/usr/bin/node', port: 8080, hash: false, confirmTimeoutSec: 30 };

/** Seconds one node's ssh command may take: a quick activation stats every file of the release. */
export const SWITCH_TIMEOUT_SEC = 300;
/** Per health request while confirming (the playbook's `cluster check` default). */
const HEALTH_TIMEOUT_MS = 5000;

export type Prepared = { readonly ok: true; readonly nodes: readonly SwitchNode[] } | { readonly ok: false; readonly reason: string };

export interface SwitchNode {
  readonly host: InventoryHost;
  readonly ssh: SshTarget;
  readonly vars: ReleaseVars;
}

const first = (vars: Readonly<Record<string, unknown>>, names: readonly string[]): unknown => {
  for (const n of names) if (vars[n] !== undefined && vars[n] !== null && vars[n] !== '') return vars[n];
  return undefined;
};

function releaseVars(host: InventoryHost): ReleaseVars | string {
  const v = host.vars;
  const text = (names: readonly string[], fallback: string): string | Error => {
    const value = first(v, names);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value.includes('{{') || !value.startsWith('/')) return new Error(`${names[0]} must be an absolute path, not a template (got ${JSON.stringify(value)})`);
    return value;
  };
  const int = (names: readonly string[], fallback: number, max: number): number | Error => {
    const value = first(v, names);
    if (value === undefined) return fallback;
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    return Number.isInteger(n) && n >= 1 && n <= max ? n : new Error(`${names[0]} must be an integer from 1 to ${max}, not a template (got ${JSON.stringify(value)})`);
  };
  const d = RELEASE_DEFAULTS;
  const r = {
    releasesDir: text(['origin_release_releases_dir', 'origin_node_releases_dir'], d.releasesDir),
    appDir: text(['origin_release_app_dir', 'origin_node_app_dir'], d.appDir),
    nodeBinary: text(['origin_release_node_binary', 'origin_node_node_binary'], d.nodeBinary),
    port: int(['origin_release_port', 'origin_node_port'], d.port, 65535),
    confirmTimeoutSec: int(['origin_release_confirm_timeout'], d.confirmTimeoutSec, 3600),
  };
  for (const value of Object.values(r)) if (value instanceof Error) return `${host.name}: ${value.message}`;
  const hash = first(v, ['origin_release_activate_hash']);
  if (typeof hash === 'string' && hash.includes('{{')) return `${host.name}: origin_release_activate_hash is a template`;
  return { ...(r as Omit<ReleaseVars, 'hash'>), hash: hash === undefined ? d.hash : ansibleBool(hash) };
}

/**
 * Every origin with its ssh command and role inputs, `extraVars` (the command's -e) over the
 * inventory's. Not ok, with the reason, when one of them is not reached with plain ssh or its
 * inputs need Ansible to resolve: then the playbook runs.
 */
export function prepareSwitch(hosts: readonly InventoryHost[], extraVars: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = process.env): Prepared {
  const nodes: SwitchNode[] = [];
  for (const h of hosts) {
    const host = { ...h, vars: { ...h.vars, ...extraVars } };
    const ssh = sshTarget(host, env);
    if (!ssh.ok) return { ok: false, reason: ssh.reason };
    const vars = releaseVars(host);
    if (typeof vars === 'string') return { ok: false, reason: vars };
    nodes.push({ host, ssh: ssh.target, vars });
  }
  return { ok: true, nodes };
}

// ---------------------------------------------------------------------------------------------
// On the node: POSIX sh, arguments as positional parameters (never pasted into the script).

/** Prints `pointers <current> <previous>` and `record <from> <to>` (the canary's .last-rollout). */
const READ_SCRIPT = `r=$1
cur=$(readlink -- "$r/current" 2>/dev/null) || cur=
prev=$(readlink -- "$r/previous" 2>/dev/null) || prev=
rec=$(cat -- "$r/.last-rollout" 2>/dev/null) || rec=
printf 'pointers %s %s\\nrecord %s\\n' "\${cur##*/}" "\${prev##*/}" "$(printf '%s' "$rec" | tr -s ' \\t\\n' '   ')"`;

/**
 * Prints the pointers, then runs the activation (its argv follows the id). Exit 3: no release
 * on the node; 4: a pointer that does not name a release (nothing is switched, so nothing
 * would be put back wrong).
 */
const SWITCH_SCRIPT = `r=$1 id=$2
shift 2
cur=$(readlink -- "$r/current" 2>/dev/null) || cur=
prev=$(readlink -- "$r/previous" 2>/dev/null) || prev=
printf 'pointers %s %s\\n' "\${cur##*/}" "\${prev##*/}"
[ -n "$cur" ] || { echo "the node serves no release ($r/current does not exist): roll a release out to it first" >&2; exit 3; }
for p in "\${cur##*/}" "\${prev##*/}"; do
  case $p in
    '') ;;
    *[!0-9a-f]*) echo "$r: current or previous points at $p, not a release id; left as it is" >&2; exit 4 ;;
    *) [ \${#p} -eq 12 ] || { echo "$r: current or previous points at $p, not a release id; left as it is" >&2; exit 4; } ;;
  esac
done
exec "$@" --json "$id"`;

/** Re-activates <current> and points previous back at <previous> (removes it when that is empty). */
const RESTORE_SCRIPT = `r=$1 cur=$2 prev=$3
shift 3
"$@" --json "$cur" >/dev/null || exit
if [ -n "$prev" ]; then
  ln -sfn -- "$prev" "$r/.previous.restore" && mv -fT -- "$r/.previous.restore" "$r/previous"
else
  rm -f -- "$r/previous"
fi`;

function remote(script: string, args: readonly string[]): string {
  return ['sh', '-c', script, 'pi-origin', ...args].map(shellQuote).join(' ');
}

function activateArgv(v: ReleaseVars): string[] {
  return [v.nodeBinary, `${v.appDir}/current/dist/cli/main.js`, 'release', 'activate', v.releasesDir, ...(v.hash ? [] : ['--quick'])];
}

interface SshRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** ssh's own failures (cannot connect, host key refused) exit 255; the remote command's codes are its own. */
const SSH_FAILED = 255;

function runSsh(target: SshTarget, command: string, signal: AbortSignal | undefined): Promise<SshRun> {
  return new Promise((resolve) => {
    const [cmd, ...args] = target.argv as [string, ...string[]];
    const child = spawn(cmd, [...args, command], { stdio: ['ignore', 'pipe', 'pipe'], timeout: SWITCH_TIMEOUT_SEC * 1000, killSignal: 'SIGKILL', ...(signal === undefined ? {} : { signal }) });
    let stdout = '';
    let stderr = '';
    // A node's answer is bounded: the head of stdout (the pointers and the JSON come first),
    // the end of stderr (where the error is), as ansible-playbook's stderr is kept.
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < STDERR_KEEP) stdout = (stdout + s).slice(0, STDERR_KEEP);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-STDERR_KEEP)));
    child.on('error', (e) => (stderr += `${stderr === '' ? '' : '\n'}ssh: ${e.message}`));
    child.on('close', (code, sig) => resolve({ code: sig === null ? code : null, stdout, stderr: sig === null || stderr !== '' ? stderr : `ssh was killed by ${sig} (${SWITCH_TIMEOUT_SEC} s limit or interrupted)` }));
  });
}

/** The node's `pointers <current> <previous>` line: each a release id or empty; anything else is no answer. */
function pointersOf(stdout: string): { current: string; previous: string } | undefined {
  const m = /^pointers ((?:[0-9a-f]{12})?) ((?:[0-9a-f]{12})?)$/m.exec(stdout);
  return m === null ? undefined : { current: m[1] as string, previous: m[2] as string };
}

/** What went wrong, in one or a few lines: the remote command's stderr without ssh's warnings. */
function why(r: SshRun): string {
  const lines = r.stderr
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !WARNING_LINE.test(l));
  return lines.length > 0 ? lines.join('\n') : r.code === null ? 'killed' : `exit code ${r.code}`;
}

// ---------------------------------------------------------------------------------------------

export interface SwitchOptions {
  readonly nodes: readonly SwitchNode[];
  /** --to: the release to go to; undefined: what the canary recorded. */
  readonly to?: string;
  /** How many ssh commands and health checks at once. */
  readonly parallel: number;
  readonly onEvent: (e: PlaybookEvent) => void;
  readonly signal?: AbortSignal;
  /** Milliseconds since the run started. */
  readonly now: () => number;
}

const READ_PLAY = 'Read what the last rollout did';
const SWITCH_PLAY = 'Switch every node at once';

type Counts = { -readonly [K in keyof RecapCounts]: number };

/** Runs the rollback; the result reads like ansible-playbook's (exit 2 when a node failed). */
export async function rollbackSwitch(o: SwitchOptions): Promise<PlaybookResult> {
  const recap = new Map<string, Counts>();
  const failures: PlaybookFailure[] = [];
  const count = (host: string, status: HostStatus): void => {
    const c = recap.get(host) ?? { ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0 };
    if (status === 'ok' || status === 'changed') c.ok++;
    if (status !== 'ok') c[status === 'rescued' ? 'rescued' : status]++;
    recap.set(host, c);
  };
  const emit = (e: PlaybookEvent): void => o.onEvent(e);
  const task = (play: string, name: string, hosts: readonly string[]): void => {
    emit({ type: 'task', at: o.now(), play, task: name, role: null, kind: 'task' });
    for (const host of hosts) emit({ type: 'host-start', at: o.now(), play, task: name, host });
  };
  const result = (play: string, name: string, host: string, status: HostStatus, message?: string, delegatedTo?: string): void => {
    count(host, status);
    if (status === 'failed' || status === 'unreachable') failures.push({ host, play, task: name, status, message: message ?? '' });
    emit({ type: 'result', at: o.now(), play, task: name, role: null, host, status, ...(message === undefined ? {} : { message }), ...(delegatedTo === undefined ? {} : { delegatedTo }) });
  };
  const done = (): PlaybookResult => {
    emit({ type: 'recap', at: o.now(), hosts: recap });
    const unreachable = failures.some((f) => f.status === 'unreachable');
    return { code: failures.length === 0 ? 0 : unreachable ? 4 : 2, signal: null, recap, failures, durationMs: o.now(), stoppedEarly: false, aborted: o.signal?.aborted === true, stderr: '' };
  };

  const canary = o.nodes[0];
  if (canary === undefined) return done();
  emit({ type: 'output', at: o.now(), line: `fast switch: one ssh per node, ${o.nodes.length} at once (--playbook runs ansible/rollback.yml instead)` });

  // 1. The target: --to, or the canary's record of the last rollout.
  emit({ type: 'play', at: o.now(), play: READ_PLAY, hosts: [canary.host.name] });
  let target = o.to;
  if (target === undefined) {
    const name = "Read the canary's record of the last rollout";
    task(READ_PLAY, name, [canary.host.name]);
    const read = await runSsh(canary.ssh, remote(READ_SCRIPT, [canary.vars.releasesDir]), o.signal);
    const pointers = pointersOf(read.stdout);
    if (read.code !== 0 || pointers === undefined) {
      result(READ_PLAY, name, canary.host.name, read.code === SSH_FAILED ? 'unreachable' : 'failed', `${canary.ssh.display}: ${why(read)}`);
      return done();
    }
    result(READ_PLAY, name, canary.host.name, 'ok');
    const record = (/^record (.*)$/m.exec(read.stdout)?.[1] ?? '').trim().split(' ').filter((w) => w !== '');
    const from = record.length === 2 && record[1] === pointers.current ? (record[0] as string) : '';
    if (!isReleaseId(from)) {
      const check = 'Fail when there is nothing to go back to';
      task(READ_PLAY, check, [canary.host.name]);
      result(
        READ_PLAY,
        check,
        canary.host.name,
        'failed',
        `nothing to roll back: the canary ${canary.host.name} serves ${pointers.current || 'nothing'} and the last rollout it recorded is ${record.join(' ') || 'none'} (from to); ` +
          'name the release with origin_rollback_to (pi-origin cluster rollback --to ID)',
      );
      return done();
    }
    target = from;
  }
  const report = 'Report the rollback target';
  task(READ_PLAY, report, [canary.host.name]);
  result(READ_PLAY, report, canary.host.name, 'ok', `rolling back to release ${target}`);

  // 2. Every node switches at once.
  const id = target;
  const all = o.nodes.map((n) => n.host.name);
  emit({ type: 'play', at: o.now(), play: SWITCH_PLAY, hosts: all });
  const activate = `Activate release ${id}`;
  task(SWITCH_PLAY, activate, all);
  type Outcome = { node: SwitchNode; before?: { current: string; previous: string }; failedAt?: string; message?: string };
  const outcomes = await inParallel(o.nodes, o.parallel, async (node): Promise<Outcome> => {
    const run = await runSsh(node.ssh, remote(SWITCH_SCRIPT, [node.vars.releasesDir, id, ...activateArgv(node.vars)]), o.signal);
    const before = pointersOf(run.stdout);
    if (run.code === SSH_FAILED && before === undefined) {
      result(SWITCH_PLAY, activate, node.host.name, 'unreachable', `${node.ssh.display}: ${why(run)}`);
      return { node };
    }
    // Without pointers read there is nothing to put back and nothing to confirm against: a
    // failure, never a node silently left out of the confirmation.
    const problem = before === undefined ? `its release pointers are not release ids: ${why(run)}` : run.code !== 0 || !/^\{"current":/m.test(run.stdout) ? why(run) : undefined;
    if (problem !== undefined) {
      result(SWITCH_PLAY, activate, node.host.name, 'rescued', problem);
      return { node, ...(before === undefined ? {} : { before }), failedAt: activate, message: problem };
    }
    result(SWITCH_PLAY, activate, node.host.name, before?.current === id ? 'ok' : 'changed');
    return { node, ...(before === undefined ? {} : { before }) };
  });

  // 3. One confirmation over HTTP for every node that switched.
  const wait = `Wait for every node to report release ${id}`;
  const switched = outcomes.filter((x) => x.before !== undefined && x.failedAt === undefined);
  if (switched.length > 0) {
    const reporter = switched[0]!.node.host.name;
    task(SWITCH_PLAY, wait, [reporter]);
    const reports = await inParallel(switched, o.parallel, (x) =>
      waitForRelease({ target: nodeUrl(x.node.host.address, x.node.vars.port, '/'), release: id, timeoutMs: HEALTH_TIMEOUT_MS, waitMs: x.node.vars.confirmTimeoutSec * 1000 }),
    );
    result(SWITCH_PLAY, wait, reporter, 'ok', undefined, 'localhost');
    const confirmFail = `Fail when the node does not report release ${id}`;
    const missing = switched.flatMap((x, i) => (reports[i]!.problems.length > 0 ? [{ x, problems: reports[i]!.problems }] : []));
    if (missing.length > 0) task(SWITCH_PLAY, confirmFail, missing.map((m) => m.x.node.host.name));
    for (const { x, problems } of missing) {
      x.failedAt = confirmFail;
      x.message = problems.join('; ');
      result(SWITCH_PLAY, confirmFail, x.node.host.name, 'rescued', x.message);
    }
  }

  // 4. Nodes that failed go back to what they served, and are named.
  const broken = outcomes.filter((x): x is Outcome & { failedAt: string; message: string } => x.failedAt !== undefined);
  if (broken.length > 0) {
    const restore = 'Put the node back on what it served';
    task(SWITCH_PLAY, restore, broken.map((x) => x.node.host.name));
    await inParallel(broken, o.parallel, async (x) => {
      const before = x.before;
      if (before === undefined || before.current === '' || before.current === id) {
        result(SWITCH_PLAY, restore, x.node.host.name, 'skipped');
        return;
      }
      const run = await runSsh(x.node.ssh, remote(RESTORE_SCRIPT, [x.node.vars.releasesDir, before.current, before.previous, ...activateArgv(x.node.vars)]), o.signal);
      if (run.code === 0) result(SWITCH_PLAY, restore, x.node.host.name, 'changed');
      else {
        x.message += `; putting it back on ${before.current} failed too: ${why(run)}`;
        result(SWITCH_PLAY, restore, x.node.host.name, 'rescued', why(run));
      }
    });
    const named = 'Report the node that did not switch';
    task(SWITCH_PLAY, named, broken.map((x) => x.node.host.name));
    for (const x of broken) {
      const h = x.node.host.name;
      result(
        SWITCH_PLAY,
        named,
        h,
        'failed',
        `${h} did not take release ${id} (${x.failedAt}: ${x.message.replace(/\s*\n\s*/g, '; ')}); ${x.before === undefined ? 'not switched, left as it is' : `restored current=${x.before.current || 'none'}`}; ` +
          `the other nodes switched: once ${h} is fixed, run pi-origin cluster rollback --to ${id}`,
      );
    }
  }
  return done();
}
