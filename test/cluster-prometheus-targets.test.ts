/**
 * `pi-origin cluster prometheus-targets`: file_sd JSON from an inventory, run through the built
 * CLI. Targets are `[RFC 5952]:port` for IPv6 whatever the inventory's spelling, labels name the
 * node and group, the proxies' exporters come from dualstack_proxy_metrics_port, and the output
 * file is replaced by rename (a file_sd reader never sees half of it).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from './helpers/cli.js';

const INVENTORY = [
  '[origins]',
  'pi1 ansible_host=FD00:CAFE:0:0:0:0:0:11 origin_node_port=8081',
  'pi2 ansible_host=192.0.2.5',
  'pi3.lan',
  '[proxies]',
  'px1 ansible_host=2001:db8:0::2',
  'px2 ansible_host=2001:db8::3 dualstack_proxy_metrics_port=0',
  'px3 ansible_host=2001:db8::4 dualstack_proxy_metrics_port=9101',
  '',
].join('\n');

t.test('origin nodes: bracketed RFC 5952 IPv6, origin_node_port, node and group labels', async (t) => {
  const dir = t.testdir({ 'hosts.ini': INVENTORY });
  const r = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'hosts.ini')]);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), [
    { targets: ['[fd00:cafe::11]:8081'], labels: { node: 'pi1', group: 'origins' } },
    { targets: ['192.0.2.5:8080'], labels: { node: 'pi2', group: 'origins' } },
    { targets: ['pi3.lan:8080'], labels: { node: 'pi3.lan', group: 'origins' } },
  ]);
  t.equal(r.stderr, '');
});

t.test('--haproxy: the proxies group on dualstack_proxy_metrics_port (8405; 0 leaves the proxy out)', async (t) => {
  const dir = t.testdir({ 'hosts.ini': INVENTORY });
  const r = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'hosts.ini'), '--haproxy']);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), [
    { targets: ['[2001:db8::2]:8405'], labels: { node: 'px1', group: 'proxies' } },
    { targets: ['[2001:db8::4]:9101'], labels: { node: 'px3', group: 'proxies' } },
  ]);
});

t.test('-o replaces the file by rename and leaves no temporary file', async (t) => {
  const dir = t.testdir({ 'hosts.ini': INVENTORY, sd: { 'origins.json': '[]\n' } });
  const out = join(dir, 'sd/origins.json');
  const before = statSync(out).ino;
  const r = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'hosts.ini'), '-o', out, '--group', 'origins']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '', 'nothing on stdout when writing a file');
  t.equal((JSON.parse(readFileSync(out, 'utf8')) as unknown[]).length, 3);
  t.not(statSync(out).ino, before, 'a new file renamed into place, not the old one rewritten');
  t.same(readdirSync(join(dir, 'sd')), ['origins.json']);
});

t.test('errors name the option, file, host and value; usage errors exit 2', async (t) => {
  const dir = t.testdir({ 'hosts.ini': INVENTORY, 'bad.ini': '[proxies]\npx1 ansible_host=2001:db8::2 dualstack_proxy_metrics_port=http\n' });
  const noInventory = await runCli(['cluster', 'prometheus-targets']);
  t.equal(noInventory.code, 2);
  t.match(noInventory.stderr, /--inventory FILE is required.*--help/);
  const badPort = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'bad.ini'), '--haproxy']);
  t.equal(badPort.code, 1);
  t.match(badPort.stderr, /bad\.ini.*px1.*dualstack_proxy_metrics_port.*"http"/);
  t.notMatch(badPort.stderr, /\n\s+at /, 'no stack trace');
  const noGroup = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'hosts.ini'), '--group', 'edge']);
  t.equal(noGroup.code, 1);
  t.match(noGroup.stderr, /no group "edge"/);
  const noDir = await runCli(['cluster', 'prometheus-targets', '-i', join(dir, 'hosts.ini'), '-o', join(dir, 'missing/targets.json')]);
  t.equal(noDir.code, 1);
  t.match(noDir.stderr, /^pi-origin: error: --output: cannot write .*missing\/targets\.json: ENOENT\n$/);
});

t.test('--help shows an example', async (t) => {
  const r = await runCli(['cluster', 'prometheus-targets', '--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /Examples:\n {2}pi-origin cluster prometheus-targets -i inventory\.ini -o /);
});
