/**
 * `npm run bench:fleet`'s argument checking and its reading of a rollout's progress lines into
 * phases (test/fleet/, on sources; the benchmark itself is never part of npm test).
 */
import t from 'tap';
import { parseFleetArgs } from './fleet/options.js';
import { batches, phaseSeconds } from './fleet/phases.js';
import { changedFileCount } from './fleet/release.js';

t.test('defaults: 24 nodes, 1 GB, one file per MB, 1% changed, 25% batches, forks = nodes', (t) => {
  const o = parseFleetArgs([]);
  t.same({ ...o }, { nodes: 24, sizeBytes: 1e9, files: 1000, changed: 0.01, batch: '25%', forks: 24, rate: 20, out: 'load-tests/out', name: 'fleet-24', prefix: 'flt', subnet: 'fd00:f1ee' });
  const small = parseFleetArgs(['--nodes', '3', '--size', '100MB', '--changed', '0.05', '--batch', '2', '--forks', '5']);
  t.same({ nodes: small?.nodes, sizeBytes: small?.sizeBytes, files: small?.files, changed: small?.changed, batch: small?.batch, forks: small?.forks }, { nodes: 3, sizeBytes: 1e8, files: 100, changed: 0.05, batch: 2, forks: 5 });
  t.equal(parseFleetArgs(['--help']), undefined, '--help: no options, the caller prints the help');
  t.equal(changedFileCount(1000, 0.01), 10);
  t.equal(changedFileCount(20, 0.001), 1, 'at least one file changes');
  t.end();
});

t.test('every bad value is refused with the option named', (t) => {
  const bad: [string[], string][] = [
    [['--nodes', '0'], '--nodes must be an integer from 1 to 99 (got "0")'],
    [['--nodes', '100'], '--nodes must be an integer from 1 to 99 (got "100")'],
    [['--size', '10'], '--size must be a size from 1MB to 64GB like 100MB or 1GB (got "10")'],
    [['--changed', '0%'], '--changed must be a share above 0 and at most 1, like 1% or 0.01 (got "0%")'],
    [['--changed', '2'], '--changed must be a share above 0 and at most 1, like 1% or 0.01 (got "2")'],
    [['--batch', '0'], '--batch must be a positive integer or a percentage from 1% to 100% (got "0")'],
    [['--rate', 'fast'], '--rate must be an integer from 1 to 10000 (got "fast")'],
    [['--name', '../x'], '--name must be a plain file name (got "../x")'],
    [['--nodes'], '--nodes needs a value'],
    [['--bogus'], 'unknown option --bogus'],
  ];
  for (const [args, message] of bad) t.throws(() => parseFleetArgs(args), { name: 'UsageError', message }, args.join(' '));
  t.throws(() => parseFleetArgs(['--prefix', 'Flt']), { name: 'UsageError', message: /^--prefix\/--subnet: .*prefix.*: Flt$/ });
  t.end();
});

// What `pi-origin cluster rollout` prints (cluster/progress.ts), cut down: two pushes, the canary
// and one batch.
const OUTPUT = `[   1.0s] PLAY Check the release on the controller · localhost
[   1.5s] Check the release on the controller: Check that a release directory is named · localhost ok
[   2.0s] PLAY Push the release to every node · node1, node2
[   4.0s] Push the release to every node: Read the node's release pointers · node1 ok
[   9.0s] Push the release to every node: Copy the release into staging, hard-linking unchanged files · node1 changed
[  10.0s] Push the release to every node: Copy the release into staging, hard-linking unchanged files · node2 changed
[  13.0s] Push the release to every node: Verify the copy on the node · node2 ok
[  13.5s] PLAY Canary · node1
[  14.5s] Canary: Activate release 0123456789ab · node1 changed
[  16.5s] Canary: Wait for every node to report release 0123456789ab · node1 -> localhost ok
[  19.5s] Canary: Run the canary gate against node1 · node1 -> localhost ok
[  20.0s] PLAY Activate in batches · node2
[  21.0s] Activate in batches: Activate release 0123456789ab · node2 changed
[  23.0s] Activate in batches: Wait for every node to report release 0123456789ab · node2 -> localhost ok

NODE   OK CHANGED
rollout of 0123456789ab complete on 2 nodes in 23.4 s
`;

t.test('phases: the time before each stamped line goes to its task\'s phase, and they add up', (t) => {
  const p = phaseSeconds(OUTPUT);
  // other: 1.0 + 0.5 (check) + 0.5 (PLAY push) + 0.5 (PLAY canary) + 0.5 (PLAY batches) = 3.0;
  // push: 2.0 (pointers) + 5.0 + 1.0 (copies) = 8.0; verify 3.0; activate 1.0 + 1.0; confirm 2.0 + 2.0; gate 3.0.
  t.same(p, { push: 8, verify: 3, activate: 2, confirm: 4, gate: 3, other: 3 });
  t.equal(Object.values(p).reduce((a, b) => a + b, 0), 23, 'the phases add up to the last stamp');
  t.same(batches(OUTPUT), [{ hosts: 1, seconds: 3 }], 'one batch of one host, from its PLAY line to the last stamp');
  t.end();
});
