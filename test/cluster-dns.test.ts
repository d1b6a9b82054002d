/**
 * `pi-origin cluster dns`: the record-set rules and both renderings as units (TypeScript
 * sources, fixed clock), then end to end against real origin servers on [::1] run from dist/,
 * one of them stopped, through the built CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chooseRelease, dnsName, originRecordSet, recordSetJson, renderZone, resolveDnsOptions } from '../cluster/dns.js';
import { summarise, type NodeProbe, type NodeStatus } from '../cluster/status.js';
import { run } from './helpers/cli.js';
import { startServer } from './helpers/server.js';

const R1 = 'aaaaaaaaaaaa';
const R2 = 'bbbbbbbbbbbb';
const NOW = new Date('2026-11-27T02:40:00.123Z');

function status(release: string | null, extra: Partial<NodeStatus> = {}): NodeStatus {
  return { node: 'n', version: '0.1.0', release, health: 'ok', files: 1, contentBytes: 1, cacheBytes: 0, uptimeSeconds: 90, workers: 1, requests: 7, bytesOut: 0, connections: 0, ...extra };
}
function base(name: string, address: string): { name: string; address: string; port: number; endpoint: string; url: string } {
  const host = address.includes(':') ? `[${address}]` : address;
  return { name, address, port: 8080, endpoint: `${host}:8080`, url: `http://${host}:8080/_origin/status` };
}
function up(name: string, address: string, s: NodeStatus): NodeProbe {
  return { ...base(name, address), up: true, status: s };
}
function down(name: string, address: string, error: string): NodeProbe {
  return { ...base(name, address), up: false, error };
}

t.test('three of four nodes: records sorted by address as numbers, the DOWN node in a comment', (t) => {
  const report = summarise([
    up('node1', 'fd00:cafe::11', status(R1)),
    up('node2', 'fd00:cafe::9', status(R1)),
    up('node3', 'fd00:cafe::1:0', status(R1)),
    down('node4', 'fd00:cafe::14', 'refused'),
  ]);
  const set = originRecordSet(report, { name: 'origin.example.org', now: NOW });
  t.equal(
    renderZone(set),
    [
      '; pi-origin cluster dns: origin.example.org AAAA from 3 of 4 nodes (2026-11-27T02:40:00Z)',
      `; release ${R1}`,
      '; CDN origin: http port 8080 (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)',
      '; skipped node4 fd00:cafe::14: DOWN (refused)',
      'origin.example.org. 60 IN AAAA fd00:cafe::9',
      'origin.example.org. 60 IN AAAA fd00:cafe::11',
      'origin.example.org. 60 IN AAAA fd00:cafe::1:0',
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
      { node: 'node2', address: 'fd00:cafe::9', port: 8080, tlsPort: null },
      { node: 'node1', address: 'fd00:cafe::11', port: 8080, tlsPort: null },
      { node: 'node3', address: 'fd00:cafe::1:0', port: 8080, tlsPort: null },
    ],
    skipped: [{ node: 'node4', address: 'fd00:cafe::14', reason: 'DOWN (refused)' }],
    cdn: { scheme: 'http', port: 8080 },
  });
  t.equal(JSON.stringify(recordSetJson(set)), JSON.stringify(set), 'the JSON document is the record set, key order included');
  t.end();
});

t.test('origin TLS: the CDN is told https and the TLS port when every node has it, and warned when nodes differ', (t) => {
  const tls = (p: NodeProbe, tlsPort: number): NodeProbe => ({ ...p, tlsPort });
  const all = originRecordSet(summarise([tls(up('node1', 'fd00::11', status(R1)), 443), tls(up('node2', 'fd00::12', status(R1)), 443)]), { name: 'origin.example.org', now: NOW });
  t.same(all.cdn, { scheme: 'https', port: 443 });
  t.same(all.records.map((r) => r.tlsPort), [443, 443]);
  t.equal(renderZone(all).split('\n')[2], '; CDN origin: https port 443 (origin TLS on every node; plain http on port 8080)');
  t.same((recordSetJson(all) as { cdn: unknown }).cdn, { scheme: 'https', port: 443 }, 'the JSON names it too');

  const mixed = originRecordSet(summarise([tls(up('node1', 'fd00::11', status(R1)), 443), up('node2', 'fd00::12', status(R1))]), { name: 'origin.example.org', now: NOW });
  t.equal(mixed.cdn, null, 'no single scheme and port');
  t.equal(renderZone(mixed).split('\n')[2], '; CDN origin: the nodes differ (node1 https 443, node2 http 8080): one name needs one scheme and port, give every node the same');
  t.equal(mixed.records.length, 2, 'both nodes still published: the port is the operator\'s to fix');
  t.end();
});

t.test('every reason a node is left out, in inventory order; the majority release wins', (t) => {
  const report = summarise([
    up('v4', '192.0.2.10', status(R1)),
    up('named', 'pi5.lan', status(R1)),
    up('scoped', 'fe80::5%eth0', status(R1)),
    up('drain', 'fd00::3', status(R1, { health: 'draining' })),
    up('broken', 'fd00::4', status(null, { health: 'invalid-root' })),
    down('late', 'fd00::5', 'HTTP 404 (not in --admin-allow?)'),
    up('old', 'fd00::6', status(R2)),
    up('a', 'fd00::2', status(R1)),
    up('b', 'fd00::1', status(R1)),
    up('twin', 'fd00::2', status(R1)),
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
      '; skipped scoped fe80::5%eth0: scoped address (a %zone cannot go in DNS)',
      '; skipped drain fd00::3: health draining',
      '; skipped broken fd00::4: health invalid-root',
      '; skipped late fd00::5: DOWN (HTTP 404 (not in --admin-allow?))',
      `; skipped old fd00::6: release ${R2}, not ${R1}`,
      '; skipped twin fd00::2: same address as a',
      'origin.example.org. 300 IN AAAA fd00::1',
      'origin.example.org. 300 IN AAAA fd00::2',
      '',
    ].join('\n'),
  );

  const pinned = originRecordSet(report, { name: 'origin.example.org', release: R2, now: NOW });
  t.same(pinned.records, [{ node: 'old', address: 'fd00::6', port: 8080, tlsPort: null }], '--release picks the minority on purpose');
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
  const report = summarise([up('n1', 'fd00::1', status(R2)), up('n2', 'fd00::2', status(R1)), down('n3', 'fd00::3', 'timeout')]);
  const set = originRecordSet(report, { name: 'origin.example.org', now: NOW });
  t.same(set.records, []);
  t.equal(set.release, null);
  t.equal(
    renderZone(set),
    [
      '; pi-origin cluster dns: origin.example.org AAAA from 0 of 3 nodes (2026-11-27T02:40:00Z)',
      `; skipped n1 fd00::1: release ${R2} ties with ${R1} (pick one with --release)`,
      `; skipped n2 fd00::2: release ${R1} ties with ${R2} (pick one with --release)`,
      '; skipped n3 fd00::3: DOWN (timeout)',
      '',
    ].join('\n'),
  );
  t.same(chooseRelease([R2, R1, R1]), { release: R1, tied: [] });
  t.same(chooseRelease([R2, R1]), { release: undefined, tied: [R1, R2] });
  t.same(chooseRelease([]), { release: undefined, tied: [] });

  const none = originRecordSet(summarise([down('only', 'fd00::1', 'refused')]), { name: 'origin.example.org', now: NOW });
  t.equal(renderZone(none), '; pi-origin cluster dns: origin.example.org AAAA from 0 of 1 node (2026-11-27T02:40:00Z)\n; skipped only fd00::1: DOWN (refused)\n');
  t.end();
});

t.test('a line break in a node name or error cannot start a record', (t) => {
  const set = originRecordSet(summarise([down('evil\norigin.example.org. 60 IN AAAA 2001:db8::bad', 'fd00::1', 'x\r\ny')]), { name: 'origin.example.org', now: NOW });
  const zone = renderZone(set);
  t.equal(zone.split('\n').filter((l) => l !== '' && !l.startsWith(';')).length, 0, 'only comments');
  t.equal(zone.split('\n')[1], '; skipped evil origin.example.org. 60 IN AAAA 2001:db8::bad fd00::1: DOWN (x y)');
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
  for (const bad of ['', '.', 'origin', `${'a'.repeat(64)}.org`, labels(58), '-origin.example.org', 'origin-.example.org', 'ori_gin.example.org', 'origin..example.org', 'origin.example.org..', '192.0.2.1', 'fd00::1', 'origin.example.org/', 'ori gin.example.org'])
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

t.test('end to end: four origins on [::1], one on another release, one stopped', async (t) => {
  const dir = t.testdir({
    a: { 'index.html': '<h1>one</h1>\n' },
    b: { 'index.html': '<h1>one</h1>\n' },
    c: { 'index.html': '<h1>two</h1>\n' },
    d: { 'index.html': '<h1>one</h1>\n' },
  });
  const [n1, n2, n3, n4] = await Promise.all(['a', 'b', 'c', 'd'].map((d, i) => startServer(t, join(dir, d), { nodeName: `pi${i + 1}` })));
  if (n1 === undefined || n2 === undefined || n3 === undefined || n4 === undefined) throw new Error('four servers');
  const same = n1.node.releaseId();
  const other = n3.node.releaseId();
  t.equal(n2.node.releaseId(), same);
  t.not(other, same);
  await n4.node.close();
  const inventory = join(dir, 'hosts');
  writeFileSync(
    inventory,
    [
      '[origins]',
      `node1 ansible_host=::1 origin_node_port=${n1.port}`,
      `node2 ansible_host=0:0:0:0:0:0:0:1 origin_node_port=${n2.port}`,
      `node3 ansible_host=::1 origin_node_port=${n3.port}`,
      `node4 ansible_host=::1 origin_node_port=${n4.port}`,
      `node5 ansible_host=127.0.0.1 origin_node_port=${n1.port}`,
      '[stopped]',
      `node4 ansible_host=::1 origin_node_port=${n4.port}`,
    ].join('\n') + '\n',
  );
  const skipped = [
    '; skipped node2 ::1: same address as node1',
    `; skipped node3 ::1: release ${other}, not ${same}`,
    '; skipped node4 ::1: DOWN (refused)',
    '; skipped node5 127.0.0.1: IPv4 address (AAAA records are IPv6 only)',
  ];

  const before = Math.floor(Date.now() / 1000) * 1000;
  const r = await run(['cluster', 'dns', '-i', inventory, '--name', 'origin.example.org', '--ttl', '300']);
  const after = Date.now();
  t.equal(r.code, 0, 'exit 0: one record');
  t.equal(r.stderr, '');
  const stamp = /^; pi-origin cluster dns: origin\.example\.org AAAA from 1 of 5 nodes \((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)\n/.exec(r.stdout)?.[1] ?? '';
  t.ok(Date.parse(stamp) >= before && Date.parse(stamp) <= after, `stamped with the time of the run (${stamp})`);
  t.equal(r.stdout, [`; pi-origin cluster dns: origin.example.org AAAA from 1 of 5 nodes (${stamp})`, `; release ${same}`, `; CDN origin: http port ${n1.port} (no origin TLS in the inventory: set origin_node_tls_cert_src for https on 443)`, ...skipped, 'origin.example.org. 300 IN AAAA ::1', ''].join('\n'));

  const j = await run(['cluster', 'dns', '--inventory', inventory, '--name', 'origin.example.org.', '--json']);
  t.equal(j.code, 0);
  t.equal(j.stderr, '');
  const doc = JSON.parse(j.stdout) as { generated: string };
  t.same(doc, {
    name: 'origin.example.org',
    ttl: 60,
    release: same,
    generated: doc.generated,
    nodes: 5,
    records: [{ node: 'node1', address: '::1', port: n1.port, tlsPort: null }],
    skipped: [
      { node: 'node2', address: '::1', reason: 'same address as node1' },
      { node: 'node3', address: '::1', reason: `release ${other}, not ${same}` },
      { node: 'node4', address: '::1', reason: 'DOWN (refused)' },
      { node: 'node5', address: '127.0.0.1', reason: 'IPv4 address (AAAA records are IPv6 only)' },
    ],
    cdn: { scheme: 'http', port: n1.port },
  });
  t.match(doc.generated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const pinned = await run(['cluster', 'dns', '-i', inventory, '--name', 'origin.example.org', '--release', other]);
  t.equal(pinned.code, 0);
  t.match(pinned.stdout, new RegExp(`\\n; release ${other}\\n(?:;[^\\n]*\\n)+origin\\.example\\.org\\. 60 IN AAAA ::1\\n$`));
  t.match(pinned.stdout, `; skipped node1 ::1: release ${same}, not ${other}\n`);

  // Nothing to publish: the reasons go to stderr, stdout stays empty, exit 1.
  const none = await run(['cluster', 'dns', '-i', inventory, '--group', 'stopped', '--name', 'origin.example.org']);
  t.equal(none.code, 1);
  t.equal(none.stdout, '');
  const lines = none.stderr.split('\n');
  t.match(lines[0], /^; pi-origin cluster dns: origin\.example\.org AAAA from 0 of 1 node \(\S+Z\)$/);
  t.same(lines.slice(1), ['; skipped node4 ::1: DOWN (refused)', 'pi-origin: error: no node to publish as origin.example.org AAAA: every node was left out (reasons above)', '']);
  const noneJson = await run(['cluster', 'dns', '-i', inventory, '--group', 'stopped', '--name', 'origin.example.org', '--json']);
  t.equal(noneJson.code, 1);
  t.same((JSON.parse(noneJson.stdout) as { records: unknown[] }).records, []);
  t.equal(noneJson.stderr, 'pi-origin: error: no node to publish as origin.example.org AAAA: every node was left out (see "skipped")\n');
});

t.test('usage errors exit 2 before any node is asked, inventory errors exit 1, one line each', async (t) => {
  const dir = t.testdir({ good: '[origins]\nnode1 ansible_host=::1\n' });
  const good = join(dir, 'good');
  const name = 'must be a DNS name of two or more labels of 1-63 letters, digits and hyphens (no leading or trailing hyphen), at most 253 characters';
  const ttl = 'must be an integer number of seconds from 1 to 2147483647';
  const help = "(see 'pi-origin cluster dns --help')";
  const cases: [string[], number, string][] = [
    [['cluster', 'dns', '--name', 'origin.example.org'], 2, `pi-origin: error: dns: --inventory FILE is required ${help}\n`],
    [['cluster', 'dns', '-i', good], 2, `pi-origin: error: dns: --name FQDN is required ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin'], 2, `pi-origin: error: dns: --name ${name} (got "origin") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', '-origin.example.org'], 2, `pi-origin: error: dns: --name ${name} (got "-origin.example.org") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', 'soon'], 2, `pi-origin: error: dns: --ttl ${ttl} (got "soon") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '0'], 2, `pi-origin: error: dns: --ttl ${ttl} (got "0") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '2147483648'], 2, `pi-origin: error: dns: --ttl ${ttl} (got "2147483648") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl', '1.5'], 2, `pi-origin: error: dns: --ttl ${ttl} (got "1.5") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--release', 'latest'], 2, `pi-origin: error: dns: --release must be a release id (12 lower-case hex digits) (got "latest") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--timeout', 'soon'], 2, `pi-origin: error: dns: --timeout must be a duration from 1ms to 5m, like 500ms or 2s (got "soon") ${help}\n`],
    [['cluster', 'dns', '-i', good, '--name', 'origin.example.org', '--ttl'], 2, `pi-origin: error: dns: --ttl needs a value ${help}\n`],
    [['cluster', 'dns', '-i', join(dir, 'missing'), '--name', 'origin.example.org'], 1, `pi-origin: error: cannot read inventory ${join(dir, 'missing')}: ENOENT\n`],
  ];
  const results = await Promise.all(cases.map(([args]) => run(args)));
  cases.forEach(([args, code, stderr], i) => {
    const r = results[i]!;
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.equal(r.stderr, stderr, `${args.join(' ')}: message`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
  });
});

t.test('help: listed under cluster, every option explained', async (t) => {
  const cluster = await run(['cluster', '--help']);
  t.match(cluster.stdout, /^ {2}dns +print the origin hostname's AAAA records/m);
  const help = await run(['cluster', 'dns', '--help']);
  t.equal(help.code, 0);
  t.equal(help.stderr, '');
  t.match(help.stdout, /^Usage: pi-origin cluster dns --inventory FILE --name FQDN \[--ttl 60\] /);
  for (const option of ['-i, --inventory', '--name', '--ttl', '--release', '--group', '--timeout', '--json', 'Exit 0', 'AAAA'])
    t.ok(help.stdout.includes(option), `dns --help mentions ${option}`);
});
