/**
 * `pi-origin cluster dns`: the record-set rules and both renderings as units (TypeScript
 * sources, fixed clock), then end to end through the built CLI against real origin servers run
 * from dist/ on global addresses in a private network namespace (a loopback node is refused),
 * one of them stopped, one on a unique-local address.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { chooseRelease, dnsName, originRecordSet, recordSetJson, recordWarnings, renderZone, resolveDnsOptions, unreachableReason } from '../cluster/dns.js';
import type { NodeProbe, NodeStatus } from '../cluster/node-probe.js';
import { summarise } from '../cluster/status.js';
import { loadSite } from '../index/load-site.js';
import { nodeProbe, nodeStatus } from './helpers/node-status.js';
import { runCli, type Result } from './helpers/cli.js';
import { spawnOrigin } from './helpers/origin-process.js';

const R1 = 'aaaaaaaaaaaa';
const R2 = 'bbbbbbbbbbbb';
const NOW = new Date('2026-11-27T02:40:00.123Z');

const up = (name: string, address: string, s: NodeStatus): NodeProbe => nodeProbe(name, s, address, 8080);
const down = (name: string, address: string, error: string): NodeProbe => nodeProbe(name, error, address, 8080);

t.test('three of four nodes: records sorted by address as numbers, the DOWN node in a comment', (t) => {
  const report = summarise([
    up('node1', '2a01:4f8:c0c::11', nodeStatus(R1)),
    up('node2', '2a01:4f8:c0c::9', nodeStatus(R1)),
    up('node3', '2a01:4f8:c0c::1:0', nodeStatus(R1)),
    down('node4', '2a01:4f8:c0c::14', 'refused'),
  ]);
  const set = originRecordSet(report, { name: 'origin.example.org', now: NOW });
  t.equal(
    renderZone(set),
    [
      '; pi-origin cluster dns: origin.example.org AAAA from 3 of 4 nodes (2026-11-27T02:40:00Z)',
      `; release ${R1}`,
      '; CDN origin: http port 8080 (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)',
      '; skipped node4 2a01:4f8:c0c::14: DOWN (refused)',
      'origin.example.org. 60 IN AAAA 2a01:4f8:c0c::9',
      'origin.example.org. 60 IN AAAA 2a01:4f8:c0c::11',
      'origin.example.org. 60 IN AAAA 2a01:4f8:c0c::1:0',
      '',
    ].join('\n'),
  );
  t.same(recordSetJson(set), {
    name: 'origin.example.org',
    ttl: 60,
    release: R1,
    generated: '2026-11-27T02:40:00Z',
    nodes: 4,
    records: [
      { node: 'node2', address: '2a01:4f8:c0c::9', port: 8080, tlsPort: null },
      { node: 'node1', address: '2a01:4f8:c0c::11', port: 8080, tlsPort: null },
      { node: 'node3', address: '2a01:4f8:c0c::1:0', port: 8080, tlsPort: null },
    ],
    skipped: [{ node: 'node4', address: '2a01:4f8:c0c::14', reason: 'DOWN (refused)' }],
    cdn: { scheme: 'http', port: 8080 },
  });
  t.equal(JSON.stringify(recordSetJson(set)), JSON.stringify(set), 'the JSON document is the record set, key order included');
  t.end();
});

t.test('origin TLS: the CDN is told https and the TLS port when every node has it, and warned when nodes differ', (t) => {
  const tls = (p: NodeProbe, tlsPort: number): NodeProbe => ({ ...p, tlsPort });
  const all = originRecordSet(summarise([tls(up('node1', 'fd00::11', nodeStatus(R1)), 443), tls(up('node2', 'fd00::12', nodeStatus(R1)), 443)]), { name: 'origin.example.org', now: NOW });
  t.same(all.cdn, { scheme: 'https', port: 443 });
  t.same(all.records.map((r) => r.tlsPort), [443, 443]);
  t.equal(renderZone(all).split('\n')[2], '; CDN origin: https port 443 (origin TLS on every node; plain http on port 8080)');
  t.same((recordSetJson(all) as { cdn: unknown }).cdn, { scheme: 'https', port: 443 }, 'the JSON names it too');

  const mixed = originRecordSet(summarise([tls(up('node1', 'fd00::11', nodeStatus(R1)), 443), up('node2', 'fd00::12', nodeStatus(R1))]), { name: 'origin.example.org', now: NOW });
  t.equal(mixed.cdn, null, 'no single scheme and port');
  t.equal(renderZone(mixed).split('\n')[2], '; CDN origin: the nodes differ (node1 https 443, node2 http 8080): one name needs one scheme and port, give every node the same');
  t.equal(mixed.records.length, 2, 'both nodes still published: the port is the operator\'s to fix');
  t.end();
});

t.test('every reason a node is left out, in inventory order; the majority release wins', (t) => {
  const report = summarise([
    up('v4', '192.0.2.10', nodeStatus(R1)),
    up('named', 'pi5.lan', nodeStatus(R1)),
    up('scoped', '2a01:4f8:c0c:1::7%eth0', nodeStatus(R1)),
    up('drain', '2a01:4f8:c0c:1::3', nodeStatus(R1, { health: 'draining' })),
    up('broken', '2a01:4f8:c0c:1::4', nodeStatus(null, { health: 'invalid-root' })),
    down('late', '2a01:4f8:c0c:1::5', 'HTTP 404 (not in --admin-allow?)'),
    up('old', '2a01:4f8:c0c:1::6', nodeStatus(R2)),
    up('a', '2a01:4f8:c0c:1::2', nodeStatus(R1)),
    up('b', '2a01:4f8:c0c:1::1', nodeStatus(R1)),
    up('twin', '2a01:4f8:c0c:1::2', nodeStatus(R1)),
  ]);
  const set = originRecordSet(report, { name: 'Origin.Example.ORG.', ttl: 300, now: NOW });
  t.equal(
    renderZone(set),
    [
      '; pi-origin cluster dns: origin.example.org AAAA from 2 of 10 nodes (2026-11-27T02:40:00Z)',
      `; release ${R1}`,
      '; CDN origin: http port 8080 (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)',
      '; skipped v4 192.0.2.10: IPv4 address (AAAA records are IPv6 only)',
      '; skipped named pi5.lan: host name, not an IPv6 address (set ansible_host to the IPv6 literal)',
      '; skipped scoped 2a01:4f8:c0c:1::7%eth0: scoped address (a %zone cannot go in DNS)',
      '; skipped drain 2a01:4f8:c0c:1::3: health draining',
      '; skipped broken 2a01:4f8:c0c:1::4: health invalid-root',
      '; skipped late 2a01:4f8:c0c:1::5: DOWN (HTTP 404 (not in --admin-allow?))',
      `; skipped old 2a01:4f8:c0c:1::6: release ${R2}, not ${R1}`,
      '; skipped twin 2a01:4f8:c0c:1::2: same address as a',
      'origin.example.org. 300 IN AAAA 2a01:4f8:c0c:1::1',
      'origin.example.org. 300 IN AAAA 2a01:4f8:c0c:1::2',
      '',
    ].join('\n'),
  );

  const pinned = originRecordSet(report, { name: 'origin.example.org', release: R2, now: NOW });
  t.same(pinned.records, [{ node: 'old', address: '2a01:4f8:c0c:1::6', port: 8080, tlsPort: null }], '--release picks the minority on purpose');
  t.equal(pinned.release, R2);
  t.same(
    pinned.skipped.filter((s) => s.reason.startsWith('release')).map((s) => [s.node, s.reason]),
    [
      ['a', `release ${R1}, not ${R2}`],
      ['b', `release ${R1}, not ${R2}`],
      ['twin', `release ${R1}, not ${R2}`],
    ],
    'a node on the other release is not reported as a duplicate',
  );
  t.end();
});

t.test('a tie between releases is refused, not guessed; no node at all gives comments only', (t) => {
  const report = summarise([up('n1', '2a01:4f8:c0c:1::1', nodeStatus(R2)), up('n2', '2a01:4f8:c0c:1::2', nodeStatus(R1)), down('n3', '2a01:4f8:c0c:1::3', 'timeout')]);
  const set = originRecordSet(report, { name: 'origin.example.org', now: NOW });
  t.same(set.records, []);
  t.equal(set.release, null);
  t.equal(
    renderZone(set),
    [
      '; pi-origin cluster dns: origin.example.org AAAA from 0 of 3 nodes (2026-11-27T02:40:00Z)',
      `; skipped n1 2a01:4f8:c0c:1::1: release ${R2} ties with ${R1} (pick one with --release)`,
      `; skipped n2 2a01:4f8:c0c:1::2: release ${R1} ties with ${R2} (pick one with --release)`,
      '; skipped n3 2a01:4f8:c0c:1::3: DOWN (timeout)',
      '',
    ].join('\n'),
  );
  t.same(chooseRelease([R2, R1, R1]), { release: R1, tied: [] });
  t.same(chooseRelease([R2, R1]), { release: undefined, tied: [R1, R2] });
  t.same(chooseRelease([]), { release: undefined, tied: [] });

  const none = originRecordSet(summarise([down('only', '2a01:4f8:c0c:1::1', 'refused')]), { name: 'origin.example.org', now: NOW });
  t.equal(renderZone(none), '; pi-origin cluster dns: origin.example.org AAAA from 0 of 1 node (2026-11-27T02:40:00Z)\n; skipped only 2a01:4f8:c0c:1::1: DOWN (refused)\n');
  t.end();
});

t.test('an address no CDN can reach is refused, naming every such node; a unique-local one is published with a warning', (t) => {
  const cases: [string, string | undefined][] = [
    ['::', 'unspecified address'],
    ['::1', 'loopback address'],
    ['0:0:0:0:0:0:0:1', 'loopback address'],
    ['::ffff:c000:201', 'IPv4-mapped address'],
    ['fe80::1', 'link-local address'],
    ['fe80::5%eth0', 'link-local address'],
    ['febf:ffff::1', 'link-local address'],
    ['ff02::1', 'multicast address'],
    ['ff0e::fb', 'multicast address'],
    ['2001:db8::1', 'documentation address, 2001:db8::/32'],
    ['2001:db8:ffff::1', 'documentation address, 2001:db8::/32'],
    ['3fff::1', 'documentation address, 3fff::/20'],
    ['3fff:fff:ffff::1', 'documentation address, 3fff::/20'],
    // Outside 2000::/3 and not unique-local: site-local, IPv4-compatible, NAT64, discard, unallocated.
    ['fec0::1', 'not a global unicast address (outside 2000::/3)'],
    ['::c000:201', 'not a global unicast address (outside 2000::/3)'],
    ['64:ff9b::c000:201', 'not a global unicast address (outside 2000::/3)'],
    ['100::1', 'not a global unicast address (outside 2000::/3)'],
    ['4000::1', 'not a global unicast address (outside 2000::/3)'],
    // Publishable: global unicast, just outside the documentation prefixes, and unique-local (a warning).
    ['2a01:4f8:c0c::11', undefined],
    ['2001:db9::1', undefined],
    ['2001:db7:ffff::1', undefined],
    ['3fff:1000::1', undefined],
    ['2000::1', undefined],
    ['3fff:ffff::1', undefined],
    ['fd00:cafe::11', undefined],
    ['fc00::1', undefined],
    // Not IPv6: skipped with a reason of their own, not refused.
    ['192.0.2.1', undefined],
    ['pi5.lan', undefined],
  ];
  for (const [address, reason] of cases) t.equal(unreachableReason(address), reason, `${address}: ${reason ?? 'publishable'}`);

  const mistaken = summarise([up('n1', '2a01:4f8:c0c::11', nodeStatus(R1)), down('lo', '::1', 'refused'), up('doc', '2001:db8::5', nodeStatus(R1)), up('ll', 'fe80::5%eth0', nodeStatus(R1))]);
  t.throws(() => originRecordSet(mistaken, { name: 'origin.example.org', now: NOW }), {
    name: 'DnsAddressError',
    code: 'PI_ORIGIN_DNS_ADDRESS',
    message:
      "cannot publish lo ::1 (loopback address), doc 2001:db8::5 (documentation address, 2001:db8::/32), ll fe80::5%eth0 (link-local address): a CDN cannot reach them; set ansible_host to each node's global IPv6 address",
  }, 'refused even when the node is down: the answer does not depend on which nodes are up');
  t.throws(() => originRecordSet(summarise([up('solo', '::1', nodeStatus(R1))]), { name: 'origin.example.org', now: NOW }), {
    message: "cannot publish solo ::1 (loopback address): a CDN cannot reach it; set ansible_host to the node's global IPv6 address",
  });

  const mixed = originRecordSet(summarise([up('ula', 'fd00:cafe::11', nodeStatus(R1)), up('global', '2a01:4f8:c0c::12', nodeStatus(R1))]), { name: 'origin.example.org', now: NOW });
  t.same(mixed.records.map((r) => r.address), ['2a01:4f8:c0c::12', 'fd00:cafe::11'], 'the unique-local address is still published');
  t.same(recordWarnings(mixed), ['origin.example.org AAAA fd00:cafe::11 (ula) is a unique-local address (fc00::/7): only resolvers and CDNs inside your network can reach it']);
  t.end();
});

t.test('a line break in a node name or error cannot start a record', (t) => {
  const set = originRecordSet(summarise([down('evil\norigin.example.org. 60 IN AAAA 2001:db8::bad', '2a01:4f8:c0c:1::1', 'x\r\ny')]), { name: 'origin.example.org', now: NOW });
  const zone = renderZone(set);
  t.equal(zone.split('\n').filter((l) => l !== '' && !l.startsWith(';')).length, 0, 'only comments');
  t.equal(zone.split('\n')[1], '; skipped evil origin.example.org. 60 IN AAAA 2001:db8::bad 2a01:4f8:c0c:1::1: DOWN (x y)');
  t.end();
});

t.test('option validation names the option and the value', (t) => {
  t.equal(dnsName('origin.example.org'), 'origin.example.org');
  t.equal(dnsName('ORIGIN.example.org.'), 'origin.example.org', 'trailing dot accepted, case folded');
  t.equal(dnsName('xn--bcher-kva.example'), 'xn--bcher-kva.example', 'IDNA A-labels are plain labels');
  t.equal(dnsName(`${'a'.repeat(63)}.org`), `${'a'.repeat(63)}.org`);
  const labels = (last: number): string => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(last)}.org`;
  const long = labels(57);
  t.equal(long.length, 253);
  t.equal(dnsName(long), long, '253 characters is the limit');
  t.equal(dnsName(long + '.'), long, 'the trailing dot is not counted');
  for (const bad of ['', '.', 'origin', `${'a'.repeat(64)}.org`, labels(58), '-origin.example.org', 'origin-.example.org', 'ori_gin.example.org', 'origin..example.org', 'origin.example.org..', '192.0.2.1', '2a01:4f8:c0c:1::1', 'origin.example.org/', 'ori gin.example.org'])
    t.equal(dnsName(bad), undefined, `${JSON.stringify(bad)} is refused`);

  const name = 'must be a DNS name of two or more labels of 1-63 letters, digits and hyphens (no leading or trailing hyphen), at most 253 characters';
  t.throws(() => resolveDnsOptions({ name: 'origin_1.example.org' }), { name: 'DnsOptionError', code: 'PI_ORIGIN_DNS_OPTION', option: 'name', message: `name option ${name} (got "origin_1.example.org")` });
  const ttl = 'must be an integer number of seconds from 1 to 2147483647';
  for (const bad of [0, -1, 1.5, 2147483648, NaN])
    t.throws(() => resolveDnsOptions({ name: 'o.example', ttl: bad }), { name: 'DnsOptionError', option: 'ttl', message: `ttl option ${ttl} (got ${bad})` });
  t.equal(resolveDnsOptions({ name: 'o.example', ttl: 2147483647 }).ttl, 2147483647);
  t.equal(resolveDnsOptions({ name: 'o.example', ttl: 1 }).ttl, 1);
  t.equal(resolveDnsOptions({ name: 'o.example' }).ttl, 60, 'default TTL');
  t.throws(() => resolveDnsOptions({ name: 'o.example', release: 'AAAAAAAAAAAA' }), { name: 'DnsOptionError', option: 'release', message: 'release option must be a release id (12 lower-case hex digits) (got "AAAAAAAAAAAA")' });
  t.throws(() => resolveDnsOptions({ name: 'o.example', now: new Date('soon') }), { name: 'DnsOptionError', option: 'now' });
  t.ok(Object.isFrozen(resolveDnsOptions({ name: 'o.example' })));
  t.end();
});

/** Global (2000::/3) addresses for the end-to-end nodes, on `lo` of a private network namespace. */
const NET = '2a01:4f8:c0c::';
const ULA = 'fd00:cafe::16';

/**
 * A network namespace of our own whose `lo` carries `addresses`; resolves with the argv prefix
 * that runs a command in it. The holder process is killed at teardown and the namespace with it.
 * Needs root (the rig and hardening tests do too).
 */
async function privateNet(t: Test, addresses: readonly string[]): Promise<string[]> {
  const setup = ['ip link set lo up', ...addresses.map((a) => `ip -6 addr add ${a}/128 dev lo nodad`), 'echo ready', 'exec sleep infinity'].join(' && ');
  const holder = spawn('unshare', ['--net', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void holder.kill('SIGKILL'));
  let stderr = '';
  holder.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    holder.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('ready') && resolve());
    holder.on('exit', (code) => reject(new Error(`the namespace holder exited (${code}): ${stderr.trim()}`)));
  });
  return ['nsenter', `--net=/proc/${holder.pid}/ns/net`, '--'];
}

t.test('end to end: origins on global addresses in a network namespace, one on another release, one stopped, one unique-local', async (t) => {
  const dir = t.testdir({
    a: { 'index.html': '<h1>one</h1>\n' },
    b: { 'index.html': '<h1>one</h1>\n' },
    c: { 'index.html': '<h1>two</h1>\n' },
    u: { 'index.html': '<h1>one</h1>\n' },
  });
  const same = (await loadSite(join(dir, 'a'))).index.releaseId;
  const other = (await loadSite(join(dir, 'c'))).index.releaseId;
  t.equal((await loadSite(join(dir, 'b'))).index.releaseId, same);
  t.not(other, same);
  const ns = await privateNet(t, [`${NET}11`, `${NET}12`, `${NET}13`, `${NET}14`, ULA]);
  // Each node on its own address at the role's default port 8080; nothing listens on ::14 (node4 is stopped).
  const listen = (address: string, d: string, name: string): Promise<unknown> =>
    spawnOrigin(t, join(dir, d), ['--listen', `[${address}]:8080`, '--node-name', name, '--workers', '1', '--admin-allow', `${NET}/64`, '--admin-allow', `${ULA}/128`], ns);
  await Promise.all([listen(`${NET}11`, 'a', 'pi1'), listen(`${NET}12`, 'b', 'pi2'), listen(`${NET}13`, 'c', 'pi3'), listen(ULA, 'u', 'pi6')]);
  const inventory = join(dir, 'hosts');
  writeFileSync(
    inventory,
    [
      '[origins]',
      `node1 ansible_host=${NET}11`,
      `node2 ansible_host=2a01:04f8:0c0c:0:0:0:0:0011`,
      `node3 ansible_host=${NET}13`,
      `node4 ansible_host=${NET}14`,
      'node5 ansible_host=127.0.0.1',
      `node6 ansible_host=${ULA}`,
      `node7 ansible_host=${NET}12`,
      '[stopped]',
      `node4 ansible_host=${NET}14`,
      '[local]',
      `node8 ansible_host=${NET}11`,
      'node9 ansible_host=::1',
    ].join('\n') + '\n',
  );
  const dns = (args: readonly string[]): Promise<Result> => runCli(['cluster', 'dns', ...args], {}, 90_000, ns);
  const warning = `pi-origin: warning: origin.example.org AAAA ${ULA} (node6) is a unique-local address (fc00::/7): only resolvers and CDNs inside your network can reach it\n`;
  const skipped = [
    `; skipped node2 ${NET}11: same address as node1`,
    `; skipped node3 ${NET}13: release ${other}, not ${same}`,
    `; skipped node4 ${NET}14: DOWN (refused)`,
    '; skipped node5 127.0.0.1: IPv4 address (AAAA records are IPv6 only)',
  ];

  const before = Math.floor(Date.now() / 1000) * 1000;
  const r = await dns(['-i', inventory, '--name', 'origin.example.org', '--ttl', '300']);
  const after = Date.now();
  t.equal(r.code, 0, 'exit 0: records');
  t.equal(r.stderr, warning, 'the unique-local record is printed, with a warning on stderr');
  const stamp = /^; pi-origin cluster dns: origin\.example\.org AAAA from 3 of 7 nodes \((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)\n/.exec(r.stdout)?.[1] ?? '';
  t.ok(Date.parse(stamp) >= before && Date.parse(stamp) <= after, `stamped with the time of the run (${stamp})`);
  t.equal(
    r.stdout,
    [`; pi-origin cluster dns: origin.example.org AAAA from 3 of 7 nodes (${stamp})`, `; release ${same}`, '; CDN origin: http port 8080 (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)', ...skipped, `origin.example.org. 300 IN AAAA ${NET}11`, `origin.example.org. 300 IN AAAA ${NET}12`, `origin.example.org. 300 IN AAAA ${ULA}`, ''].join('\n'),
  );

  const j = await dns(['--inventory', inventory, '--name', 'origin.example.org.', '--json']);
  t.equal(j.code, 0);
  t.equal(j.stderr, warning);
  const doc = JSON.parse(j.stdout) as { generated: string };
  t.same(doc, {
    name: 'origin.example.org',
    ttl: 60,
    release: same,
    generated: doc.generated,
    nodes: 7,
    records: [
      { node: 'node1', address: `${NET}11`, port: 8080, tlsPort: null },
      { node: 'node7', address: `${NET}12`, port: 8080, tlsPort: null },
      { node: 'node6', address: ULA, port: 8080, tlsPort: null },
    ],
    skipped: [
      { node: 'node2', address: `${NET}11`, reason: 'same address as node1' },
      { node: 'node3', address: `${NET}13`, reason: `release ${other}, not ${same}` },
      { node: 'node4', address: `${NET}14`, reason: 'DOWN (refused)' },
      { node: 'node5', address: '127.0.0.1', reason: 'IPv4 address (AAAA records are IPv6 only)' },
    ],
    cdn: { scheme: 'http', port: 8080 },
  });
  t.match(doc.generated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const pinned = await dns(['-i', inventory, '--name', 'origin.example.org', '--release', other]);
  t.equal(pinned.code, 0);
  t.equal(pinned.stderr, '', 'no warning: the unique-local node is not published');
  t.match(pinned.stdout, new RegExp(`\\n; release ${other}\\n(?:;[^\\n]*\\n)+origin\\.example\\.org\\. 60 IN AAAA ${NET}13\\n$`));
  t.match(pinned.stdout, `; skipped node1 ${NET}11: release ${same}, not ${other}\n`);

  // Nothing to publish: the reasons go to stderr, stdout stays empty, exit 1.
  const none = await dns(['-i', inventory, '--group', 'stopped', '--name', 'origin.example.org']);
  t.equal(none.code, 1);
  t.equal(none.stdout, '');
  const lines = none.stderr.split('\n');
  t.match(lines[0], /^; pi-origin cluster dns: origin\.example\.org AAAA from 0 of 1 node \(\S+Z\)$/);
  t.same(lines.slice(1), [`; skipped node4 ${NET}14: DOWN (refused)`, 'pi-origin: error: no node to publish as origin.example.org AAAA: every node was left out (reasons above)', '']);
  const noneJson = await dns(['-i', inventory, '--group', 'stopped', '--name', 'origin.example.org', '--json']);
  t.equal(noneJson.code, 1);
  t.same((JSON.parse(noneJson.stdout) as { records: unknown[] }).records, []);
  t.equal(noneJson.stderr, 'pi-origin: error: no node to publish as origin.example.org AAAA: every node was left out (see "skipped")\n');

  // A loopback node is refused whole, though node8 beside it is up and healthy: no AAAA ::1 ever.
  const local = await dns(['-i', inventory, '--group', 'local', '--name', 'origin.example.org']);
  t.equal(local.code, 1);
  t.equal(local.stdout, '');
  t.equal(local.stderr, "pi-origin: error: cannot publish node9 ::1 (loopback address): a CDN cannot reach it; set ansible_host to the node's global IPv6 address\n");
});

t.test('an inventory naming an address no CDN can reach is refused before any node is asked', async (t) => {
  const dir = t.testdir({
    hosts: ['[origins]', 'node1 ansible_host=::1', 'node2 ansible_host=2a01:4f8:c0c::12', 'node3 ansible_host=fe80::3%eth0', 'node4 ansible_host=2001:db8::4', ''].join('\n'),
  });
  for (const json of [[], ['--json']]) {
    const r = await runCli(['cluster', 'dns', '-i', join(dir, 'hosts'), '--name', 'origin.example.org', ...json]);
    t.equal(r.code, 1, `${json.join(' ')}: exit 1`);
    t.equal(r.stdout, '', 'nothing on stdout');
    t.equal(
      r.stderr,
      "pi-origin: error: cannot publish node1 ::1 (loopback address), node3 fe80::3%eth0 (link-local address), node4 2001:db8::4 (documentation address, 2001:db8::/32): a CDN cannot reach them; set ansible_host to each node's global IPv6 address\n",
    );
  }
});

t.test('usage errors exit 2 before any node is asked, inventory errors exit 1, one line each', async (t) => {
  const dir = t.testdir({ good: '[origins]\nnode1 ansible_host=2a01:4f8:c0c::11\n' });
  const good = join(dir, 'good');
  const name = 'must be a DNS name of two or more labels of 1-63 letters, digits and hyphens (no leading or trailing hyphen), at most 253 characters';
  const ttl = 'must be an integer number of seconds from 1 to 2147483647';
  const help = '(see pi-origin cluster dns --help)';
  const cases: [string[], number, string][] = [
    [['cluster', 'dns', '--name', 'origin.example.org'], 2, `pi-origin cluster dns: --inventory FILE is required ${help}\n`],
    [['cluster', 'dns', '-i', good], 2, `pi-origin cluster dns: --name FQDN is required ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin'], 2, `pi-origin cluster dns: --name ${name} (got "origin") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', '-origin.example.org'], 2, `pi-origin cluster dns: --name ${name} (got "-origin.example.org") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', 'soon'], 2, `pi-origin cluster dns: --ttl ${ttl} (got "soon") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '0'], 2, `pi-origin cluster dns: --ttl ${ttl} (got "0") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '2147483648'], 2, `pi-origin cluster dns: --ttl ${ttl} (got "2147483648") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '1.5'], 2, `pi-origin cluster dns: --ttl ${ttl} (got "1.5") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--release', 'latest'], 2, `pi-origin cluster dns: --release must be a release id (12 lower-case hex digits) (got "latest") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--timeout', 'soon'], 2, `pi-origin cluster dns: --timeout must be a duration from 1ms to 5m, like 500ms or 2s (got "soon") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl'], 2, `pi-origin cluster dns: --ttl needs a value ${help}\n`],
    [['cluster', 'dns', '-i', join(dir, 'missing'), '--name', 'origin.example.org'], 1, `pi-origin: error: cannot read inventory ${join(dir, 'missing')}: ENOENT\n`],
  ];
  // One at a time: twelve Node starts at once on a loaded 2-core machine can pass the per-run timeout.
  const results: Result[] = [];
  for (const [args] of cases) results.push(await runCli(args));
  cases.forEach(([args, code, stderr], i) => {
    const r = results[i]!;
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.equal(r.stderr, stderr, `${args.join(' ')}: message`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  });
});

t.test('help: listed under cluster, every option explained', async (t) => {
  const cluster = await runCli(['cluster', '--help']);
  t.match(cluster.stdout, /^ {2}dns +print the origin hostname's AAAA records/m);
  const help = await runCli(['cluster', 'dns', '--help']);
  t.equal(help.code, 0);
  t.equal(help.stderr, '');
  t.match(help.stdout, /^Usage: pi-origin cluster dns --inventory FILE --name FQDN \[--ttl 60\] /);
  for (const option of ['-i, --inventory', '--name', '--ttl', '--release', '--group', '--timeout', '--json', 'Exit 0', 'AAAA'])
    t.ok(help.stdout.includes(option), `dns --help mentions ${option}`);
});
