/**
 * The playbook runner behind `pi-origin cluster rollout|rollback|register|deregister|provision`:
 * - the parser and the progress/summary rendering as units, fed with output recorded from real
 *   runs of the fixture playbooks (test/fixtures/playbook-output/*.jsonl, recorded with
 *   ANSIBLE_STDOUT_CALLBACK=pi_origin_events ansible-playbook -i playbooks/hosts.ini playbooks/NAME.yml
 *   in test/fixtures; unreachable*.jsonl with -i playbooks/unreachable.ini);
 * - real `ansible-playbook` runs against three names for this machine (ansible_connection=local);
 * - the CLI as a person runs it (dist/), with PI_ORIGIN_ANSIBLE_DIR pointing at the fixture
 *   playbooks that stand in for ansible/rollout.yml and friends.
 * Needs Debian's `ansible` (ansible-core 2.14).
 */
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parseExtraVars } from '../cli/cluster-playbooks.js';
import { parseBatch } from '../cli/cluster-rollout.js';
import { UsageError } from '../cli/subcommands.js';
import { ANSIBLE_DIR, CALLBACK_DIR, failureMessage, parseEventLine, PlaybookCollector, PlaybookError, playbookEnv, runPlaybook, type PlaybookEvent, type PlaybookResult, type RecapCounts } from '../cluster/playbook.js';
import { formatEvent, humanDuration, ProgressPrinter, recapTable, renderSummary, stamp, summaryLine } from '../cluster/progress.js';
import { runCli, type Result } from './helpers/cli.js';

// About twenty ansible-playbook runs: more than the suite's default 120 s on a busy machine.
t.setTimeout(300_000);

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
const PLAYBOOKS = join(FIXTURES, 'playbooks');
const HOSTS = join(PLAYBOOKS, 'hosts.ini');
const ID = '8b02d4e6f1a7';

function recorded(name: string): PlaybookEvent[] {
  const lines = readFileSync(join(FIXTURES, 'playbook-output', `${name}.jsonl`), 'utf8').trimEnd().split('\n');
  return lines.map((line, i) => parseEventLine(line, i * 100));
}

function collect(events: readonly PlaybookEvent[], code: number, durationMs = 41_000): PlaybookResult {
  const c = new PlaybookCollector();
  for (const e of events) c.add(e);
  return c.result(code, null, durationMs, false, '');
}

function render(events: readonly PlaybookEvent[], tty = false): { out: string; err: string } {
  let out = '';
  let err = '';
  const printer = new ProgressPrinter({ write: (s: string) => (out += s), isTTY: tty, columns: 60 }, { write: (s: string) => (err += s) }, () => 1234);
  for (const e of events) printer.onEvent(e);
  printer.finish();
  return { out, err };
}

const counts = (c: Partial<RecapCounts>): RecapCounts => ({ ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0, ...c });
const shape = (events: readonly PlaybookEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'result' ? [`${e.task}/${e.host}=${e.status}`] : e.type === 'play' ? [`play ${e.play} [${(e.hosts ?? []).join(',')}]`] : e.type === 'host-start' || e.type === 'task' || e.type === 'playbook' ? [] : [e.type]));

// ---------------------------------------------------------------------------------------------
// Units: recorded output

/** The summary of the serial fixture (canary batch, then host2 failing), recorded or run live. */
const CANARY_STOPPED_SUMMARY = [
  'NODE   OK  CHANGED  FAILED  UNREACHABLE',
  'host1   2        1       0            0',
  'host2   1        1       1            0',
  'host3   1        1       0            0',
  '',
  `rollout of ${ID} stopped: host2 failed at Check health: health check failed`,
  '',
].join('\n');

t.test('recorded: a canary batch, then a failure in the next batch ends the run', (t) => {
  const events = recorded('serial');
  t.same(shape(events), [
    'play Roll [host1]',
    'Activate/host1=changed',
    'Check health/host1=skipped',
    'Report/host1=ok',
    'play Roll [host2,host3]',
    'Activate/host3=changed',
    'Activate/host2=changed',
    'Check health/host2=failed',
    'Check health/host3=skipped',
    'no-hosts-remaining',
    'no-hosts-remaining',
    'recap',
  ]);
  const r = collect(events, 2);
  t.same(r.failures, [{ host: 'host2', play: 'Roll', task: 'Check health', status: 'failed', message: 'health check failed' }]);
  t.same([...r.recap], [
    ['host1', counts({ ok: 2, changed: 1, skipped: 1 })],
    ['host2', counts({ ok: 1, changed: 1, failed: 1 })],
    ['host3', counts({ ok: 1, changed: 1, skipped: 1 })],
  ]);
  t.equal(r.stoppedEarly, true);

  const { out, err } = render(events);
  t.equal(
    out,
    [
      '[   0.1s] PLAY Roll · host1',
      '[   0.4s] Roll: Activate · host1 changed',
      '[   0.7s] Roll: Check health · host1 skipped',
      '[   1.0s] Roll: Report · host1 ok: host1 healthy',
      '[   1.1s] PLAY Roll · host2, host3',
      '[   1.5s] Roll: Activate · host3 changed',
      '[   1.6s] Roll: Activate · host2 changed',
      '[   2.0s] Roll: Check health · host2 FAILED: health check failed',
      '[   2.1s] Roll: Check health · host3 skipped',
      '[   2.2s] Roll: no hosts left to run on; the run stops',
      '',
    ].join('\n'),
    'one line per task and host, "no hosts left" once, no cursor codes',
  );
  t.equal(err, '');
  t.equal(
    renderSummary(`rollout of ${ID}`, r),
    CANARY_STOPPED_SUMMARY,
  );
  t.end();
});

t.test('recorded: ignored, rescued and failed results', (t) => {
  const events = recorded('fail');
  t.same(shape(events), ['play Fail [host1]', 'Tolerated/host1=ignored', 'Try the risky thing/host1=rescued', 'Recover/host1=ok', 'Check the disk/host1=failed', 'recap']);
  const results = events.filter((e) => e.type === 'result');
  t.same(
    results.map((e) => e.message),
    ['non-zero return code (rc 3): not fatal', 'risky thing failed', 'recovered', 'disk full on host1'],
  );
  const r = collect(events, 2);
  t.same(r.failures, [{ host: 'host1', play: 'Fail', task: 'Check the disk', status: 'failed', message: 'disk full on host1' }], 'ignored and rescued failures are not failures');
  t.same(r.recap.get('host1'), counts({ ok: 2, failed: 1, rescued: 1, ignored: 1 }));
  t.equal(r.stoppedEarly, false);
  const { out } = render(events);
  t.match(out, /^\[ {3}0\.4s\] Fail: Tolerated · host1 failed \(ignored\): non-zero return code \(rc 3\): not fatal$/m);
  t.match(out, /^\[ {3}0\.7s\] Fail: Try the risky thing · host1 failed \(rescued\): risky thing failed$/m);
  t.match(out, /^\[ {3}1\.3s\] Fail: Check the disk · host1 FAILED: disk full on host1$/m);
  t.equal(summaryLine('provisioning', r), 'provisioning stopped: host1 failed at Check the disk: disk full on host1');
  t.end();
});

t.test('recorded: a loop names each failed item; an unreachable host', (t) => {
  const loop = collect(recorded('loop'), 2);
  t.equal(loop.failures[0]?.message, 'One or more items failed\nitem 2: non-zero return code (rc 1)\nitem 3: non-zero return code (rc 1)');
  t.equal(
    render(recorded('loop')).out.split('\n')[1],
    '[   0.4s] Loop: Count · host1 FAILED: One or more items failed',
    'the first line of a failure on the progress line',
  );
  t.match(render(recorded('loop')).out, /FAILED: One or more items failed\n {10}item 2: non-zero return code \(rc 1\)\n {10}item 3: /, 'the rest indented below it, in full');
  t.equal(summaryLine('rollback', loop), 'rollback stopped: host1 failed at Count: One or more items failed');

  const events = recorded('unreachable');
  const r = collect(events, 4);
  const message = 'Data could not be sent to remote host "::1". Make sure this host can be reached over ssh: ssh: connect to host ::1 port 1: Connection refused';
  t.same(r.failures, [{ host: 'ghost', play: 'Reach', task: 'Ping', status: 'unreachable', message }]);
  t.same(r.recap.get('ghost'), counts({ unreachable: 1 }));
  t.match(render(events).out, `Reach: Ping · ghost UNREACHABLE: ${message}\n`);
  t.equal(summaryLine('registration of ghost', r), `registration of ghost stopped: ghost unreachable at Ping: ${message}`);
  t.equal(renderSummary('registration of ghost', r).split('\n')[1], 'ghost   0        0       0            1');

  // A host that goes unreachable inside a loop: Ansible's message is "All items completed".
  const inLoop = collect(recorded('unreachable-loop'), 4);
  t.equal(inLoop.failures[0]?.message, `item current: ${message}\nitem previous: ${message}`, 'the items say why, not the loop');
  t.equal(summaryLine(`rollout of ${ID}`, inLoop), `rollout of ${ID} stopped: ghost unreachable at Read the pointers: item current: ${message}`);
  t.end();
});

t.test('the summary names the error, not a warning printed before it (rsync missing on a node)', (t) => {
  // What synchronize reported on a Debian 13 node without rsync: ssh's note comes first.
  const message = [
    "Warning: Permanently added 'fd00:cafe::12' (ED25519) to the list of known hosts.\r",
    '** WARNING: connection is not using a post-quantum key exchange algorithm.',
    'bash: line 1: rsync: command not found',
    'rsync: connection unexpectedly closed (0 bytes received so far) [sender]',
    'rsync error: error in rsync protocol data stream (code 12) at io.c(232) [sender=3.2.7]',
  ].join('\n');
  const failed = { code: 2, signal: null, aborted: false, stoppedEarly: false, stderr: '', durationMs: 9000, recap: new Map<string, never>(), failures: [{ host: 'node2', play: 'Push', task: 'Copy the release', status: 'failed' as const, message }] };
  t.equal(summaryLine('rollout of x', failed), 'rollout of x stopped: node2 failed at Copy the release: bash: line 1: rsync: command not found');
  const onlyWarning = { ...failed, failures: [{ ...failed.failures[0]!, message: 'Warning: something\n' }] };
  t.equal(summaryLine('rollout of x', onlyWarning), 'rollout of x stopped: node2 failed at Copy the release: Warning: something', 'a message of warnings only: its first line');
  t.end();
});

t.test('parseEventLine keeps what it does not understand as output', (t) => {
  t.same(parseEventLine('Tuesday 01 July 2025  12:00:00 +0000 (0:00:00.012)', 5), { type: 'output', at: 5, line: 'Tuesday 01 July 2025  12:00:00 +0000 (0:00:00.012)' });
  t.same(parseEventLine('{"event": "future_event"}', 1), { type: 'output', at: 1, line: '{"event": "future_event"}' });
  t.same(parseEventLine('{"event": "result", "status": "exploded"}', 1).type, 'output', 'an unknown status');
  t.same(parseEventLine('{not json', 1).type, 'output');
  t.same(parseEventLine('[1, 2]', 1).type, 'output');
  t.same(parseEventLine('{"event": "task", "play": "P", "task": "T", "role": "origin_node", "kind": "handler", "new": 1}', 2), { type: 'task', at: 2, play: 'P', task: 'T', role: 'origin_node', kind: 'handler' }, 'unknown fields are ignored');
  t.same(parseEventLine('{"event": "result", "host": "n1", "delegated_to": "lb1", "play": "P", "task": "T", "role": null, "status": "changed"}', 3), { type: 'result', at: 3, play: 'P', task: 'T', role: null, host: 'n1', status: 'changed', delegatedTo: 'lb1' });
  t.equal(formatEvent(parseEventLine('{"event": "result", "host": "n1", "delegated_to": "lb1", "play": "P", "task": "T", "status": "changed"}', 3)), 'P: T · n1 -> lb1 changed');
  t.equal(formatEvent(parseEventLine('{"event": "play", "play": "P", "hosts": []}', 0)), 'PLAY P · no hosts');
  t.equal(formatEvent(parseEventLine('{"event": "no_hosts_matched", "play": "P"}', 0)), 'P: no hosts matched');
  t.end();
});

t.test('failureMessage: msg, else the output; uninformative messages get the output appended', (t) => {
  t.equal(failureMessage({ msg: 'disk full\n' }), 'disk full');
  t.equal(failureMessage({ msg: 'non-zero return code', rc: 3, stderr: 'one\r\ntwo\n', stdout: 'ignored' }), 'non-zero return code (rc 3): one\ntwo');
  t.equal(failureMessage({ msg: 'non-zero return code', rc: 1, stderr: '', stdout: 'only stdout\n' }), 'non-zero return code (rc 1): only stdout');
  t.equal(failureMessage({ msg: 'MODULE FAILURE\nSee stdout/stderr for the exact error', rc: 1, module_stderr: 'Traceback (most recent call last):\nKeyError: x\n' }), 'MODULE FAILURE (rc 1): Traceback (most recent call last):\nKeyError: x');
  t.equal(failureMessage({ stderr: 'no msg at all' }), 'no msg at all');
  t.equal(failureMessage({ rc: 1 }), 'failed (rc 1) without a message');
  t.equal(failureMessage({}), 'failed without a message');
  t.equal(failureMessage({ msg: { reason: 'structured' } }), '{"reason":"structured"}');
  const long = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n');
  t.equal(failureMessage({ stderr: long }), Array.from({ length: 20 }, (_, i) => `line ${i + 11}`).join('\n'), 'the last 20 lines');
  t.end();
});

t.test('the summary line', (t) => {
  const base: PlaybookResult = { code: 0, signal: null, recap: new Map([['node1', counts({ ok: 3 })], ['node2', counts({ ok: 3 })], ['node3', counts({ ok: 3 })]]), failures: [], durationMs: 41_200, stoppedEarly: false, aborted: false, stderr: '' };
  t.equal(summaryLine(`rollout of ${ID}`, base), `rollout of ${ID} complete on 3 nodes in 41 s`);
  t.equal(summaryLine('registration of node4', { ...base, recap: new Map([['node4', counts({ ok: 1 })]]), durationMs: 3240 }), 'registration of node4 complete on 1 node in 3.2 s');
  t.equal(summaryLine('provisioning', { ...base, recap: new Map() }), 'provisioning ran on no nodes (no hosts matched) in 41 s');
  const failures = [
    { host: 'node2', play: 'Canary', task: 'Check health', status: 'failed', message: 'answers 503\nmore detail' },
    { host: 'node3', play: 'Canary', task: 'Check health', status: 'unreachable', message: 'gone' },
    { host: 'node4', play: 'Canary', task: 'Check health', status: 'failed', message: 'also' },
  ] as const;
  t.equal(summaryLine(`rollout of ${ID}`, { ...base, code: 2, failures: failures.slice(0, 1) }), `rollout of ${ID} stopped: node2 failed at Check health: answers 503`);
  t.equal(summaryLine(`rollout of ${ID}`, { ...base, code: 2, failures }), `rollout of ${ID} stopped: node2 failed at Check health: answers 503 (and 2 more failures)`);
  t.equal(summaryLine('rollback', { ...base, code: 4, recap: new Map() }), 'rollback stopped: ansible-playbook exited with code 4');
  t.equal(summaryLine('rollback', { ...base, code: 137, signal: 'SIGKILL', recap: new Map() }), 'rollback stopped: ansible-playbook was killed by SIGKILL');
  t.equal(summaryLine('rollback', { ...base, code: 99, aborted: true, durationMs: 12_300 }), 'rollback interrupted after 12 s');
  t.equal(summaryLine('rollback', { ...base, code: 99, aborted: true, failures: failures.slice(1, 2), durationMs: 800 }), 'rollback interrupted after 0.8 s; node3 unreachable at Check health: gone');
  t.equal(recapTable(new Map([['a-long-node-name', counts({ ok: 12, changed: 3 })]])), 'NODE              OK  CHANGED  FAILED  UNREACHABLE\na-long-node-name  12        3       0            0');
  t.equal(humanDuration(0), '0.0 s');
  t.equal(humanDuration(9949), '9.9 s');
  t.equal(humanDuration(9950), '10 s');
  t.equal(humanDuration(119_499), '119 s');
  t.equal(humanDuration(125_000), '2 min 5 s');
  t.equal(stamp(12_345), '[  12.3s]');
  t.equal(stamp(1_234_567), '[1234.6s]');
  t.end();
});

t.test('on a terminal, a status line names the hosts still running the task', (t) => {
  const ev = (line: Record<string, unknown>, at: number): PlaybookEvent => parseEventLine(JSON.stringify(line), at);
  const task = { play: 'Canary', task: 'Wait for health', role: null };
  const events = [
    ev({ event: 'task', kind: 'task', ...task }, 100),
    ev({ event: 'host_start', host: 'node1', ...task }, 110),
    ev({ event: 'host_start', host: 'node2', ...task }, 120),
    ev({ event: 'result', host: 'node1', status: 'ok', ...task }, 900),
    { type: 'stderr', at: 950, line: '[WARNING]: something' } as const,
    ev({ event: 'result', host: 'node2', status: 'failed', result: { msg: 'timed out' }, ...task }, 1000),
  ];
  const CLEAR = '\r\x1b[K';
  const { out, err } = render(events, true);
  t.equal(
    out,
    [
      '[   1.2s] Canary: Wait for health · running on node1',
      CLEAR,
      '[   1.2s] Canary: Wait for health · running on node1, node2',
      CLEAR,
      '[   0.9s] Canary: Wait for health · node1 ok\n',
      '[   1.2s] Canary: Wait for health · running on node2',
      CLEAR,
      '[   1.2s] Canary: Wait for health · running on node2',
      CLEAR,
      '[   1.0s] Canary: Wait for health · node2 FAILED: timed out\n',
    ].join(''),
    'the status line is cleared before each permanent line and redrawn after it; nothing is left after finish()',
  );
  t.equal(err, '[WARNING]: something\n');
  const narrow = { ...events[1]!, host: 'a-host-with-a-very-long-name-that-does-not-fit' } as PlaybookEvent;
  const cut = render([events[0]!, narrow], true).out.split(CLEAR)[0]!;
  t.equal(cut.length, 59, 'cut to the terminal width (60 columns) less one');
  t.ok(cut.endsWith('…'));
  t.end();
});

t.test('playbookEnv selects the callback for this run only and keeps an operator ANSIBLE_CONFIG', (t) => {
  const env = playbookEnv({ PATH: '/usr/bin' });
  t.same(env, {
    PATH: '/usr/bin',
    ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_STDOUT_CALLBACK: 'pi_origin_events',
    ANSIBLE_CALLBACK_PLUGINS: CALLBACK_DIR,
    ANSIBLE_RETRY_FILES_ENABLED: '0',
  });
  t.equal(ANSIBLE_DIR, fileURLToPath(new URL('../ansible', import.meta.url)), 'the package root is found from the sources too');
  const own = playbookEnv({ ANSIBLE_CONFIG: '/etc/site/ansible.cfg', ANSIBLE_CALLBACK_PLUGINS: '/site/callbacks', ANSIBLE_STDOUT_CALLBACK: 'yaml' });
  t.equal(own.ANSIBLE_CONFIG, '/etc/site/ansible.cfg');
  t.equal(own.ANSIBLE_CALLBACK_PLUGINS, `${CALLBACK_DIR}:/site/callbacks`);
  t.equal(own.ANSIBLE_STDOUT_CALLBACK, 'pi_origin_events');
  t.end();
});

t.test('--batch and -e parsing', (t) => {
  t.equal(parseBatch('2'), 2);
  t.equal(parseBatch('25%'), '25%');
  t.equal(parseBatch('100%'), '100%');
  for (const bad of ['0', '0%', '101%', '-1', '1.5', '02', 'x', '', '5 %']) t.equal(parseBatch(bad), undefined, `"${bad}" is not a batch`);

  const dir = t.testdir({ 'vars.json': JSON.stringify({ b: 2, list: [1, 2] }), 'array.json': '[1]', 'bad.json': '{' });
  t.same(parseExtraVars(['a=1', `@${join(dir, 'vars.json')}`, 'b=x=y', 'empty='], {}), { a: '1', b: 'x=y', list: [1, 2], empty: '' }, 'KEY=VALUE as strings, files as JSON, later wins');
  t.throws(() => parseExtraVars(['=1'], {}), new UsageError('--extra-vars takes KEY=VALUE or @FILE.json, KEY a variable name (got "=1")'));
  t.throws(() => parseExtraVars(['novalue'], {}), new UsageError('--extra-vars takes KEY=VALUE or @FILE.json, KEY a variable name (got "novalue")'));
  t.throws(() => parseExtraVars(['a-b=1'], {}), new UsageError('--extra-vars takes KEY=VALUE or @FILE.json, KEY a variable name (got "a-b=1")'));
  t.throws(() => parseExtraVars(['origin_node=x'], { origin_node: 'NODE' }), new UsageError('--extra-vars cannot set origin_node: give NODE instead'));
  t.throws(() => parseExtraVars([`@${join(dir, 'vars.json')}`], { list: '--list' }), new UsageError('--extra-vars cannot set list: give --list instead'), 'files too');
  t.throws(() => parseExtraVars([`@${join(dir, 'array.json')}`], {}), { name: 'PlaybookError', code: 'PI_ORIGIN_PLAYBOOK_INPUT', message: `extra vars ${join(dir, 'array.json')} must hold a JSON object` });
  t.throws(() => parseExtraVars([`@${join(dir, 'missing.json')}`], {}), { name: 'PlaybookError', message: `cannot read extra vars ${join(dir, 'missing.json')}: ENOENT` });
  t.throws(() => parseExtraVars([`@${join(dir, 'bad.json')}`], {}), { name: 'PlaybookError', message: /^cannot read extra vars .*bad\.json: / });
  t.end();
});

// ---------------------------------------------------------------------------------------------
// Real ansible-playbook runs

t.test('a passing play: ok, changed and skipped, streamed as it runs', async (t) => {
  const events: PlaybookEvent[] = [];
  const r = await runPlaybook({ playbook: join(PLAYBOOKS, 'pass.yml'), inventory: HOSTS, extraVars: {}, onProgress: (e) => events.push(e) });
  t.equal(r.code, 0);
  t.same(shape(events), ['play Pass [host1]', 'Say hello/host1=ok', 'Change something/host1=changed', 'Not this time/host1=skipped', 'recap']);
  t.same(
    events.filter((e) => e.type === 'task').map((e) => e.task),
    ['Say hello', 'Change something', 'Not this time'],
  );
  t.equal(events.find((e) => e.type === 'result')?.message, 'hello from host1', "a debug task's msg");
  t.same([...r.recap], [['host1', counts({ ok: 2, changed: 1, skipped: 1 })]]);
  t.same(r.failures, []);
  t.equal(r.stoppedEarly, false);
  t.equal(r.aborted, false);
  t.ok(events.every((e, i) => i === 0 || e.at >= events[i - 1]!.at), 'times do not go backwards');
  t.ok(r.durationMs >= (events.at(-1)?.at ?? Infinity), 'the run lasts at least until its last event');
  t.match(summaryLine('pass', r), /^pass complete on 1 node in (\d+ min )?\d+(\.\d)? s$/);
});

t.test('extra vars keep their types, are templated as Ansible templates -e, and their file is removed', async (t) => {
  const dir = t.testdir({
    'types.yml': [
      '- name: Types',
      '  hosts: host1',
      '  gather_facts: false',
      '  tasks:',
      '    - name: Show',
      '      ansible.builtin.debug:',
      `        msg: "{{ n + 1 }} {{ names | join('+') }} {{ flag | type_debug }} {{ text }}"`,
    ].join('\n'),
  });
  const before = readdirSync(tmpdir()).filter((f) => f.startsWith('pi-origin-vars-'));
  const events: PlaybookEvent[] = [];
  const r = await runPlaybook({ playbook: join(dir, 'types.yml'), inventory: HOSTS, extraVars: { n: 41, names: ['a', 'b'], flag: true, text: "it's {{ n * 2 }}" }, onProgress: (e) => events.push(e) });
  t.equal(r.code, 0, r.stderr);
  t.equal(events.find((e) => e.type === 'result')?.message, "42 a+b bool it's 82");
  t.same(readdirSync(tmpdir()).filter((f) => f.startsWith('pi-origin-vars-')), before, 'no vars file left behind');
});

t.test('a failing task: its msg, ignored and rescued failures apart', async (t) => {
  const r = await runPlaybook({ playbook: join(PLAYBOOKS, 'fail.yml'), inventory: HOSTS, extraVars: {} });
  t.equal(r.code, 2, 'ansible-playbook exits 2 when a host failed');
  t.same(r.failures, [{ host: 'host1', play: 'Fail', task: 'Check the disk', status: 'failed', message: 'disk full on host1' }]);
  t.same(r.recap.get('host1'), counts({ ok: 2, failed: 1, rescued: 1, ignored: 1 }));
  t.equal(summaryLine('provisioning', r), 'provisioning stopped: host1 failed at Check the disk: disk full on host1');
});

t.test('serial batches stop at the first failure (max_fail_percentage: 0) across three hosts', async (t) => {
  const events: PlaybookEvent[] = [];
  const r = await runPlaybook({ playbook: join(PLAYBOOKS, 'serial.yml'), inventory: HOSTS, extraVars: {}, onProgress: (e) => events.push(e) });
  t.equal(r.code, 2);
  const results = shape(events).filter((s) => s.includes('='));
  t.same(results.slice(0, 3), ['Activate/host1=changed', 'Check health/host1=skipped', 'Report/host1=ok'], 'the canary batch ran to the end');
  t.same(new Set(results.slice(3)), new Set(['Activate/host2=changed', 'Activate/host3=changed', 'Check health/host2=failed', 'Check health/host3=skipped']), 'the second batch stopped after the failed check');
  t.same(
    events.filter((e) => e.type === 'play').map((e) => e.hosts),
    [['host1'], ['host2', 'host3']],
  );
  t.same(r.failures, [{ host: 'host2', play: 'Roll', task: 'Check health', status: 'failed', message: 'health check failed' }]);
  t.same([...r.recap.keys()], ['host1', 'host2', 'host3']);
  t.same(r.recap.get('host2'), counts({ ok: 1, changed: 1, failed: 1 }));
  t.equal(r.stoppedEarly, true);
  t.equal(
    renderSummary(`rollout of ${ID}`, r),
    CANARY_STOPPED_SUMMARY,
  );
});

t.test('events arrive while the playbook runs; aborting stops it', async (t) => {
  const dir = t.testdir({
    'slow.yml': ['- name: Slow', '  hosts: host1', '  gather_facts: false', '  tasks:', '    - name: Quick', '      ansible.builtin.debug:', '        msg: quick', '    - name: Long', '      ansible.builtin.command: sleep 30', '      changed_when: false'].join('\n'),
  });
  const controller = new AbortController();
  const events: PlaybookEvent[] = [];
  const r = await runPlaybook({
    playbook: join(dir, 'slow.yml'),
    inventory: HOSTS,
    extraVars: {},
    signal: controller.signal,
    onProgress: (e) => {
      events.push(e);
      if (e.type === 'host-start' && e.task === 'Long') controller.abort();
    },
  });
  t.equal(r.aborted, true);
  t.not(r.code, 0);
  // SIGINT alone waits for the running task; SIGTERM follows after TERM_AFTER_MS.
  t.ok(r.durationMs < 30_000, `stopped after ${Math.round(r.durationMs)} ms: before the 30 s task could have finished`);
  t.same(shape(events).slice(0, 2), ['play Slow [host1]', 'Quick/host1=ok'], 'the first result was seen before the run ended');
  t.match(summaryLine('provisioning', r), /^provisioning interrupted after (\d+ min )?\d+(\.\d)? s$/);
});

t.test('without ansible-playbook, an error that names the Debian package', async (t) => {
  await t.rejects(runPlaybook({ ansiblePlaybook: '/nonexistent/ansible-playbook', playbook: join(PLAYBOOKS, 'pass.yml'), inventory: HOSTS, extraVars: {} }), {
    name: 'PlaybookError',
    code: 'PI_ORIGIN_NO_ANSIBLE',
    message: '/nonexistent/ansible-playbook not found: install Ansible (Debian package "ansible": apt install ansible)',
  });
  await t.rejects(runPlaybook({ playbook: join(PLAYBOOKS, 'pass.yml'), inventory: HOSTS, extraVars: {}, env: { PATH: '/nonexistent' } }), new PlaybookError('ansible-playbook not found on PATH: install Ansible (Debian package "ansible": apt install ansible)', 'PI_ORIGIN_NO_ANSIBLE'));
});

t.test("ansible-playbook's own errors: stderr, the exit code, no recap", async (t) => {
  const events: PlaybookEvent[] = [];
  const r = await runPlaybook({ playbook: join(PLAYBOOKS, 'missing.yml'), inventory: HOSTS, extraVars: {}, onProgress: (e) => events.push(e) });
  t.equal(r.code, 1);
  t.equal(r.recap.size, 0);
  t.match(r.stderr, /ERROR! the playbook: .*missing\.yml could not be found/);
  t.ok(events.some((e) => e.type === 'stderr' && /could not be found/.test(e.line)), 'stderr lines are events');
  t.equal(summaryLine('rollback', r), 'rollback stopped: ansible-playbook exited with code 1');
});

// ---------------------------------------------------------------------------------------------
// The CLI (dist/)

const fixtureEnv = { PI_ORIGIN_ANSIBLE_DIR: PLAYBOOKS };
/** Generous: each run starts Node (and often ansible-playbook) on a machine busy with other tests. */
const CLI_MS = 90_000;

/** Runs the CLI for each argument list, `width` at a time, results in order. */
async function runEach(argLists: readonly (readonly string[])[], env: Record<string, string>, width = 4): Promise<Result[]> {
  const results: Result[] = [];
  for (let i = 0; i < argLists.length; i += width) results.push(...(await Promise.all(argLists.slice(i, i + width).map((args) => runCli(args, env, CLI_MS)))));
  return results;
}
const unstamp = (text: string): string => text.replace(/^\[ *\d+\.\ds\] /gm, '');

function releaseFixture(t: Test): { dir: string; release: string } {
  const manifest = (id: string): string => JSON.stringify({ format: 1, id, created: '2025-07-01T12:00:00.000Z', files: [], redirects: [] });
  const dir = t.testdir({ releases: { [ID]: { 'manifest.json': manifest(ID) }, '0123456789ab': { 'manifest.json': manifest(ID) }, empty: {}, 'bad-manifest': { 'manifest.json': '{"format": 1}' } } });
  symlinkSync(ID, join(dir, 'releases', 'current'));
  return { dir, release: join(dir, 'releases', ID) };
}

t.test('cluster rollout, for real against the fixture playbook: a failing node stops the rollout', async (t) => {
  const { dir } = releaseFixture(t);
  // Through the `current` symlink: the playbook gets the real path and reads the manifest from it.
  const r = await runCli(['cluster', 'rollout', join(dir, 'releases', 'current'), '-i', HOSTS, '--batch', '1', '-e', 'fail_on=host2'], fixtureEnv, CLI_MS);
  t.equal(r.code, 1, r.stderr);
  t.equal(r.stderr, '');
  t.equal(
    unstamp(r.stdout),
    [
      'PLAY Roll out · host1',
      `Roll out: Activate release ${ID} · host1 changed`,
      'Roll out: Check health · host1 skipped',
      'PLAY Roll out · host2',
      `Roll out: Activate release ${ID} · host2 changed`,
      'Roll out: Check health · host2 FAILED: host2 answers 503',
      'Roll out: no hosts left to run on; the run stops',
      '',
      'NODE   OK  CHANGED  FAILED  UNREACHABLE',
      'host1   1        1       0            0',
      'host2   1        1       1            0',
      '',
      `rollout of ${ID} stopped: host2 failed at Check health: host2 answers 503`,
      '',
    ].join('\n'),
  );
  t.match(r.stdout, /^\[ {3}\d\.\ds\] PLAY Roll out · host1$/m, 'progress lines carry the time since the start');
  t.notOk(r.stdout.includes('\x1b'), 'no escape codes when stdout is not a terminal');
});

t.test('cluster rollout complete; rollback, register, deregister and provision pass their variables', async (t) => {
  const { release } = releaseFixture(t);
  const [rollout, rollback, previous, register, deregister, provision, checked] = (await runEach(
    [
      ['cluster', 'rollout', release, '--inventory', HOSTS, '--batch', '50%'],
      ['cluster', 'rollback', '-i', HOSTS, '--to', '0123456789ab'],
      ['cluster', 'rollback', '-i', HOSTS],
      ['cluster', 'register', 'host4', '-i', HOSTS],
      ['cluster', 'deregister', 'host1', '-i', HOSTS],
      ['cluster', 'provision', '-i', HOSTS, '-e', 'origin_node_artifact=/tmp/pi-origin.tar'],
      ['cluster', 'provision', '-i', HOSTS, '--check', '--diff', '--limit', 'host2'],
    ],
    fixtureEnv,
    2,
  )) as [Result, Result, Result, Result, Result, Result, Result];
  t.equal(rollout.code, 0, rollout.stderr);
  t.match(rollout.stdout, new RegExp(`\\nhost3   1        1       0            0\\n\\nrollout of ${ID} complete on 3 nodes in (\\d+ min )?\\d+(\\.\\d)? s\\n$`));
  t.same(
    unstamp(rollout.stdout)
      .split('\n')
      .filter((l) => l.startsWith('PLAY')),
    ['PLAY Roll out · host1', 'PLAY Roll out · host2', 'PLAY Roll out · host3'],
    '--batch 50% of the remaining three is one host per batch',
  );
  t.equal(rollback.code, 0, rollback.stderr);
  t.match(rollback.stdout, /Roll back: Return · host1 ok: back to 0123456789ab\n/);
  t.match(rollback.stdout, /\nrollback to 0123456789ab complete on 3 nodes in /);
  t.match(previous.stdout, /Return · host1 ok: back to the previous release\n/);
  t.match(previous.stdout, /\nrollback complete on 3 nodes in /);
  t.match(previous.stdout, /^the ssh switch cannot reach host1: ansible_connection is "local", not ssh; running ansible\/rollback.yml$/m, 'hosts only Ansible reaches: the playbook, and the reason');
  // One parallel switch: as many Ansible workers as origins (ansible.cfg says 10).
  t.match(previous.stdout, /Roll back: Forks · host1 ok: forks 3\n/, 'rollback runs with forks = the number of origins');
  t.equal(register.code, 0, register.stderr);
  t.match(register.stdout, /^\[ *\d+\.\ds\] Register: Register host4 · host4 ok: register host4$/m, 'a node outside the origins group');
  t.match(register.stdout, /\nregistration of host4 complete on 1 node in /);
  t.match(deregister.stdout, /\nderegistration of host1 complete on 1 node in /);
  t.match(provision.stdout, /Provision: Install · host1 ok: artifact \/tmp\/pi-origin\.tar\n/);
  t.match(provision.stdout, /\nprovisioning complete on 3 nodes in /);
  // ansible-playbook itself reports the modes it was started in: --check and --diff reached it.
  t.match(provision.stdout, /Provision: Modes · host1 ok: check False diff False\n/, 'no --check, no --diff: a normal run');
  t.equal(checked.code, 0, checked.stderr);
  t.match(checked.stdout, /Provision: Modes · host2 ok: check True diff True\n/, '--check --diff: passed through to ansible-playbook');
  t.match(checked.stdout, /\nprovisioning in check mode complete on 1 node in /, 'the summary says it was a check');
});

t.test('cluster playbook commands: usage errors exit 2, input errors exit 1, one line each', async (t) => {
  const { dir, release } = releaseFixture(t);
  const releases = join(dir, 'releases');
  const see = (c: string): string => ` (see pi-origin cluster ${c} --help)\n`;
  const cases: [string[], number, string][] = [
    [['cluster', 'rollout', release], 2, `pi-origin cluster rollout: --inventory FILE is required${see('rollout')}`],
    [['cluster', 'rollout', '-i', HOSTS], 2, `pi-origin cluster rollout: expected RELEASE_DIR (got 0 arguments)${see('rollout')}`],
    [['cluster', 'rollout', release, 'extra', '-i', HOSTS], 2, `pi-origin cluster rollout: expected RELEASE_DIR (got 2 arguments)${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '--batch', '0'], 2, `pi-origin cluster rollout: --batch must be a positive integer or a percentage from 1% to 100% (got "0")${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '--batch', '150%'], 2, `pi-origin cluster rollout: --batch must be a positive integer or a percentage from 1% to 100% (got "150%")${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '--batch', '1', '--batch', '2'], 2, `pi-origin cluster rollout: --batch given twice${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '-e'], 2, `pi-origin cluster rollout: -e (--extra-vars) needs a value${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '-e', 'nonsense'], 2, `pi-origin cluster rollout: --extra-vars takes KEY=VALUE or @FILE.json, KEY a variable name (got "nonsense")${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '-e', `origin_release_src=/elsewhere`], 2, `pi-origin cluster rollout: --extra-vars cannot set origin_release_src: give RELEASE_DIR instead${see('rollout')}`],
    [['cluster', 'rollout', release, '-i', HOSTS, '-e', 'origin_rollout_batch=3'], 2, `pi-origin cluster rollout: --extra-vars cannot set origin_rollout_batch: give --batch instead${see('rollout')}`],
    [['cluster', 'rollback', '-i', HOSTS, '--to', 'latest'], 2, `pi-origin cluster rollback: --to must be a release id, 12 lower-case hex digits (got "latest")${see('rollback')}`],
    [['cluster', 'rollback', '-i', HOSTS, '--to', ID.toUpperCase()], 2, `pi-origin cluster rollback: --to must be a release id, 12 lower-case hex digits (got "${ID.toUpperCase()}")${see('rollback')}`],
    [['cluster', 'rollback', '-i', HOSTS, 'extra'], 2, `pi-origin cluster rollback: unexpected argument "extra"${see('rollback')}`],
    [['cluster', 'register', '-i', HOSTS], 2, `pi-origin cluster register: expected NODE (got 0 arguments)${see('register')}`],
    [['cluster', 'register', 'host4'], 2, `pi-origin cluster register: --inventory FILE is required${see('register')}`],
    [['cluster', 'deregister', 'host1', '-i', HOSTS, '-e', 'origin_node=host2'], 2, `pi-origin cluster deregister: --extra-vars cannot set origin_node: give NODE instead${see('deregister')}`],
    [['cluster', 'provision'], 2, `pi-origin cluster provision: --inventory FILE is required${see('provision')}`],
    [['cluster', 'provision', '-i', HOSTS, '--batch', '1'], 2, `pi-origin cluster provision: unknown option --batch${see('provision')}`],
    // Inputs that are well-formed but wrong: exit 1, before Ansible runs.
    [['cluster', 'register', 'host9', '-i', HOSTS], 1, `pi-origin: error: ${HOSTS}: no host "host9" (hosts: host1, host2, host3, host4)\n`],
    [['cluster', 'rollout', join(releases, 'nope'), '-i', HOSTS], 1, `pi-origin: error: release directory ${join(releases, 'nope')}: ENOENT\n`],
    [['cluster', 'rollout', join(releases, ID, 'manifest.json'), '-i', HOSTS], 1, `pi-origin: error: release directory ${join(releases, ID, 'manifest.json')}: ENOTDIR\n`],
    [['cluster', 'rollout', join(releases, 'empty'), '-i', HOSTS], 1, `pi-origin: error: ${join(releases, 'empty')} has no manifest.json: not a release directory (pi-origin release build makes them)\n`],
    [['cluster', 'rollout', join(releases, '0123456789ab'), '-i', HOSTS], 1, `pi-origin: error: ${join(releases, '0123456789ab')}: the manifest's id ${ID} is not the directory's name (a release directory is named after its id)\n`],
    [['cluster', 'rollout', join(releases, 'bad-manifest'), '-i', HOSTS], 1, `pi-origin: error: ${join(releases, 'bad-manifest', 'manifest.json')}: id must be 12 hex digits (got undefined)\n`],
    [['cluster', 'rollout', release, '-i', join(dir, 'missing.ini')], 1, `pi-origin: error: cannot read inventory ${join(dir, 'missing.ini')}: ENOENT\n`],
    [['cluster', 'rollout', release, '-i', HOSTS, '-e', `@${join(dir, 'missing.json')}`], 1, `pi-origin: error: cannot read extra vars ${join(dir, 'missing.json')}: ENOENT\n`],
  ];
  const results = await runEach(
    cases.map(([args]) => args),
    fixtureEnv,
  );
  cases.forEach(([args, code, stderr], i) => {
    const r = results[i]!;
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.equal(r.stderr, stderr, `${args.join(' ')}: message`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  });

  const noPlaybook = await runCli(['cluster', 'provision', '-i', HOSTS], { PI_ORIGIN_ANSIBLE_DIR: dir }, CLI_MS);
  t.equal(noPlaybook.code, 1);
  t.equal(noPlaybook.stderr, `pi-origin: error: playbook ${join(dir, 'provision.yml')} does not exist\n`);
  const noAnsible = await runCli(['cluster', 'provision', '-i', HOSTS], { ...fixtureEnv, PATH: '/nonexistent' }, CLI_MS);
  t.equal(noAnsible.code, 1);
  t.equal(noAnsible.stderr, 'pi-origin: error: ansible-playbook not found on PATH: install Ansible (Debian package "ansible": apt install ansible)\n');
});

t.test('--help for each playbook command', async (t) => {
  const expect: Record<string, string[]> = {
    rollout: ['Usage: pi-origin cluster rollout RELEASE_DIR --inventory FILE [--batch N|N%] [--limit HOSTS] [--purge-credentials FILE] [-e KEY=VALUE|@FILE.json ...]', '--limit HOSTS', 'ansible/rollout.yml', 'origin_release_src', 'origin_rollout_batch', '-i, --inventory FILE', '--batch N|N%', '-e, --extra-vars'],
    rollback: ['Usage: pi-origin cluster rollback --inventory FILE [--to ID] [--playbook] [-e KEY=VALUE|@FILE.json ...]', 'ansible/rollback.yml', 'origin_rollback_to', '--to ID', '--playbook', 'one ssh per node', '-i, --inventory FILE'],
    register: ['Usage: pi-origin cluster register NODE --inventory FILE [-e KEY=VALUE|@FILE.json ...]', 'ansible/register.yml', 'origin_node=NODE', 'origins group', '-i, --inventory FILE'],
    deregister: ['Usage: pi-origin cluster deregister NODE --inventory FILE [-e KEY=VALUE|@FILE.json ...]', 'ansible/deregister.yml', 'origin_node=NODE', '-i, --inventory FILE'],
    provision: ['Usage: pi-origin cluster provision --inventory FILE [--limit HOSTS] [--check] [--diff] [-e KEY=VALUE|@FILE.json ...]', '--limit HOSTS', '--check', '--diff', 'ansible/provision.yml', 'origin_node_artifact', '-i, --inventory FILE'],
  };
  const names = Object.keys(expect);
  const [group, ...helps] = await runEach([['cluster', '--help'], ...names.map((n) => ['cluster', n, '--help'])], {});
  for (const n of names) t.match(group!.stdout, new RegExp(`^ {2}${n} +\\S`, 'm'), `cluster --help lists ${n}`);
  names.forEach((n, i) => {
    const r = helps[i]!;
    t.equal(r.code, 0, `${n} --help exits 0`);
    t.equal(r.stderr, '');
    t.ok(r.stdout.startsWith(expect[n]![0]! + '\n\n'), `${n} --help starts with its usage`);
    for (const s of [...expect[n]!, 'Exit 0', 'Debian package ansible', 'ANSIBLE_CONFIG']) t.ok(r.stdout.includes(s), `${n} --help mentions ${s}`);
    t.notOk(r.stdout.includes('PI_ORIGIN_ANSIBLE_DIR'), `${n} --help keeps the test hook to itself`);
    t.ok(r.stdout.split('\n').slice(1).every((line) => line.length <= 100), `${n} --help lines after the usage fit 100 columns`);
  });
});
