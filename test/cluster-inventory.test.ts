/**
 * Unit tests for the Ansible inventory reader (INI and YAML, variable precedence, children,
 * comments, host patterns, errors with file:line) and the node address formatter. Imported
 * from the TypeScript sources.
 */
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { formatIPv6, parseIPv6 } from '../common/address.js';
import { hostPort, nodeUrl, parseNodeAddress } from '../cluster/address.js';
import { detectFormat, parseIniInventory, parseYamlInventory, pythonValue, readInventory, resolveGroup, type InventoryHost } from '../cluster/inventory.js';

const F = 'hosts.ini';
const Y = 'hosts.yml';

/** name → [address, port] for compact assertions. */
function endpoints(hosts: readonly InventoryHost[]): Record<string, [string, number]> {
  return Object.fromEntries(hosts.map((h) => [h.name, [h.address.text, h.port]]));
}

t.test('address: RFC 5952 canonical form', (t) => {
  const cases: [string, string][] = [
    ['fd00:cafe:0:0::11', 'fd00:cafe::11'],
    ['FD00:CAFE:0000:0000:0000:0000:0000:0011', 'fd00:cafe::11'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:0:0:1:0:0', '2001:db8::1:0:0'], // the longer run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['::ffff:192.0.2.1', '192.0.2.1'], // IPv4-mapped as IPv4
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ['fe80::0001%eth0', 'fe80::1%eth0'],
  ];
  for (const [input, want] of cases) t.equal(parseNodeAddress(input)?.text, want, input);
  t.equal(parseNodeAddress('::ffff:192.0.2.1')?.kind, 'ipv4');
  t.equal(parseNodeAddress('fd00::1')?.kind, 'ipv6');
  t.equal(formatIPv6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
  t.throws(() => formatIPv6([1, 2, 3]), { name: 'RangeError' });
  t.end();
});

t.test('address: what is and is not a literal or host name', (t) => {
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', ':1:2:3:4:5:6:7', '12345::1', 'g::1', '1.2.3.4::', '::1.2.3', '[::1]', 'fe80::1%', 'fe80::1%a b'])
    t.equal(parseIPv6(bad.replace(/%.*/, '')) === undefined || parseNodeAddress(bad) === undefined, true, `${bad} is not an IPv6 literal`);
  for (const bad of ['[fd00::1]', '256.1.1.1', '01.2.3.4', '1.2.3', 'pi_1', '-pi', 'pi-', 'a..b', '', 'x'.repeat(64) + '.lan', '{{ ip }}'])
    t.equal(parseNodeAddress(bad), undefined, `${JSON.stringify(bad)} is refused`);
  t.same(parseNodeAddress('192.0.2.10'), { kind: 'ipv4', text: '192.0.2.10' });
  t.same(parseNodeAddress('Pi1.LAN.'), { kind: 'hostname', text: 'pi1.lan.' });
  t.same(parseNodeAddress('node1'), { kind: 'hostname', text: 'node1' });
  t.end();
});

t.test('address: formatter agrees with the WHATWG URL serialiser, parser round-trips', (t) => {
  let x = 0x12345678;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xffff;
  const wrong: string[] = [];
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    // Mostly zero groups, so runs of zeros of every length and position occur.
    const groups = Array.from({ length: 8 }, () => (rnd() % 3 === 0 ? rnd() : 0));
    const text = formatIPv6(groups);
    if (!text.includes(':')) continue; // IPv4-mapped: printed as IPv4 on purpose
    checked++;
    const reference = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1);
    if (text !== reference || !isIPv6(text) || parseIPv6(text)?.join() !== groups.join()) wrong.push(`${groups.join()} -> ${text} (URL: ${reference})`);
  }
  t.ok(checked > 1900, `${checked} addresses checked`);
  t.same(wrong, [], 'every address formats as URL does and parses back to its groups');
  t.end();
});

t.test('address: URLs and endpoints bracket IPv6', (t) => {
  const v6 = parseNodeAddress('fd00:cafe::11')!;
  t.equal(nodeUrl(v6, 8080, '/_origin/status'), 'http://[fd00:cafe::11]:8080/_origin/status');
  t.equal(hostPort(v6, 8080), '[fd00:cafe::11]:8080');
  t.equal(nodeUrl(parseNodeAddress('fe80::1%eth0')!, 80, '/'), 'http://[fe80::1%25eth0]:80/');
  t.equal(nodeUrl(parseNodeAddress('192.0.2.1')!, 80, '/x'), 'http://192.0.2.1:80/x');
  t.equal(hostPort(parseNodeAddress('pi1.lan')!, 81), 'pi1.lan:81');
  t.end();
});

t.test('INI: groups, host vars, group vars, all:vars, children and precedence', (t) => {
  const text = [
    '# the cluster',
    '; semicolon comments too',
    '[all:vars]',
    'origin_node_port=9000',
    'ansible_user=root',
    'site=all',
    '',
    '[origins]',
    'node1 ansible_host=fd00:cafe:0:0::11 origin_node_port=8080 # a comment',
    'node2 ansible_host=fd00:cafe::12',
    "node3 ansible_host='fd00:cafe::13' note=\"two words\"",
    '',
    '[origins:vars]',
    'origin_node_port=8081',
    'site=origins',
    '',
    '[edge]',
    'edge1 ansible_host=192.0.2.7',
    '',
    '[cluster:children]',
    'origins  # inline comment',
    'edge',
    '',
    '[cluster:vars]',
    'origin_node_port=7000',
    'site=cluster',
    'region=eu',
  ].join('\n');
  const model = parseIniInventory(text, F);
  const origins = resolveGroup(model, 'origins');
  t.same(endpoints(origins), { node1: ['fd00:cafe::11', 8080], node2: ['fd00:cafe::12', 8081], node3: ['fd00:cafe::13', 8081] }, 'host var beats group var; group var beats parent and all');
  const node2 = origins[1]!;
  t.same(node2.vars, { origin_node_port: 8081, ansible_user: 'root', site: 'origins', region: 'eu', ansible_host: 'fd00:cafe::12' }, 'all < parent < group < host');
  t.equal(origins[2]!.vars.note, 'two words', 'quoted host values');
  t.same(endpoints(resolveGroup(model, 'cluster')), { node1: ['fd00:cafe::11', 8080], node2: ['fd00:cafe::12', 8081], node3: ['fd00:cafe::13', 8081], edge1: ['192.0.2.7', 7000] }, 'a parent group holds its children’s hosts, in order');
  t.same(resolveGroup(model, 'all').map((h) => h.name), ['node1', 'node2', 'node3', 'edge1']);
  t.end();
});

t.test('INI: a host in two groups, children declared later, ungrouped hosts, priority', (t) => {
  const text = [
    'loose ansible_host=::1',
    '[b]',
    'pi ansible_host=fd00::1',
    '[a]',
    'pi origin_node_port=1 ansible_user=pi',
    '[a:vars]',
    'origin_node_port=81',
    'v=a',
    '[b:vars]',
    'origin_node_port=82',
    'v=b',
    '[top:children]',
    'later',
    '[later]',
    'pi',
    '[later:vars]',
    'v=later',
    'ansible_group_priority=0',
  ].join('\n');
  const model = parseIniInventory(text, F);
  const pi = resolveGroup(model, 'top')[0]!;
  t.equal(pi.address.text, 'fd00::1', 'host vars from both lines are merged');
  t.equal(pi.port, 1, 'host vars beat every group');
  t.equal(pi.vars.v, 'later', 'deeper group (top > later) beats a and b despite a lower priority');
  t.equal(pi.vars.ansible_user, 'pi');
  const model2 = parseIniInventory('[a]\nh\n[b]\nh\n[a:vars]\nv=a\n[b:vars]\nv=b\n', F);
  t.equal(resolveGroup(model2, 'a')[0]!.vars.v, 'b', 'same depth: by name, later wins');
  const model3 = parseIniInventory('[a]\nh\n[b]\nh\n[a:vars]\nv=a\nansible_group_priority=5\n[b:vars]\nv=b\n', F);
  t.equal(resolveGroup(model3, 'b')[0]!.vars.v, 'a', 'same depth: higher ansible_group_priority wins');
  t.same(resolveGroup(model, 'ungrouped').map((h) => h.name), ['loose']);
  t.end();
});

t.test('INI: host patterns', (t) => {
  const model = parseIniInventory(
    ['[origins]', 'pi[01:03] origin_node_port=8080', 'fd00:cafe::99', '[fd00:cafe::98]:2222', 'web.lan:2200', 'n[a:b]', 'x[1:5:2]'].join('\n'),
    F,
  );
  const hosts = resolveGroup(model, 'origins');
  t.same(
    hosts.map((h) => h.name),
    ['pi01', 'pi02', 'pi03', 'fd00:cafe::99', 'fd00:cafe::98', 'web.lan', 'na', 'nb', 'x1', 'x3', 'x5'],
  );
  t.equal(hosts[0]!.port, 8080);
  t.equal(hosts[3]!.address.text, 'fd00:cafe::99', 'a bare IPv6 literal is its own address');
  t.equal(hosts[4]!.vars.ansible_port, 2222, '[v6]:port is the SSH port');
  t.equal(hosts[4]!.port, 8080, 'not the origin port');
  t.equal(hosts[5]!.vars.ansible_port, 2200);
  t.end();
});

t.test('INI: values are typed as Ansible types them', (t) => {
  t.equal(pythonValue('8080'), 8080);
  t.equal(pythonValue('-3'), -3);
  t.equal(pythonValue('1.5'), 1.5);
  t.equal(pythonValue('8080 # comment'), 8080);
  t.equal(pythonValue('0800'), '0800', 'no leading zeros in Python');
  t.equal(pythonValue('True'), true);
  t.equal(pythonValue('true'), 'true', 'only Python spellings');
  t.equal(pythonValue('None'), null);
  t.equal(pythonValue("'03#pa33'"), '03#pa33');
  t.equal(pythonValue('"a\\"b"'), 'a"b');
  t.equal(pythonValue('fd00::1'), 'fd00::1');
  t.equal(pythonValue('value # not a comment'), 'value # not a comment');
  t.end();
});

t.test('INI: origin TLS: the TLS port only when a certificate is given, 443 by default', (t) => {
  const text = [
    '[origins]',
    'node1 ansible_host=fd00::11 origin_node_tls_cert_src=certs/origin.pem',
    'node2 ansible_host=fd00::12 origin_node_tls_cert_src=certs/origin.pem origin_node_tls_port=8443',
    'node3 ansible_host=fd00::13 origin_node_tls_port=8443',
    "node4 ansible_host=fd00::14 origin_node_tls_cert_src=''",
  ].join('\n');
  const hosts = resolveGroup(parseIniInventory(text, F), 'origins');
  t.same(hosts.map((h) => [h.name, h.tlsPort]), [['node1', 443], ['node2', 8443], ['node3', undefined], ['node4', undefined]], 'a port without a certificate, or an empty certificate path, is no TLS');
  t.end();
});

t.test('INI: errors name file and line', (t) => {
  const cases: [string, RegExp | string][] = [
    ['[origins]\nnode1 ansible_host=fd00::zz', `${F}:2: host node1: ansible_host "fd00::zz" is not an IPv6 or IPv4 literal or a host name`],
    ['[origins]\nnode1 ansible_host=[fd00::1]', `${F}:2: host node1: ansible_host "[fd00::1]" is not an IPv6 or IPv4 literal or a host name (write IPv6 literals without brackets)`],
    ['[origins]\nnode1 ansible_host="{{ ip }}"', /^hosts\.ini:2: .*\(templated values are not supported here\)$/],
    ['[origins]\nnode_1', `${F}:2: host name "node_1" (no ansible_host) is not an IPv6 or IPv4 literal or a host name`],
    ['[origins]\nnode1\n[origins:vars]\norigin_node_port=99999', `${F}:4: host node1: origin_node_port must be an integer from 1 to 65535 (got 99999)`],
    ['[origins]\nnode1 origin_node_port=http', `${F}:2: host node1: origin_node_port must be an integer from 1 to 65535 (got "http")`],
    ['[origins]\nnode1 origin_node_tls_cert_src=o.pem origin_node_tls_port=https', `${F}:2: host node1: origin_node_tls_port must be an integer from 1 to 65535 (got "https")`],
    ['\n[origins]\nnode1 ansible_host', `${F}:3: expected key=value after the host name, got "ansible_host"`],
    ['[origins]\nnode1 a="unterminated', /^hosts\.ini:2: unterminated " quote/],
    ['[origins:weird]\nnode1', `${F}:1: section [origins:weird] has unknown type "weird" (expected hosts, children or vars)`],
    ['[origins]\n[bad group]', `${F}:2: invalid section header "[bad group]" (expected [group], [group:vars] or [group:children], without spaces)`],
    ['[origins]\nn\n[origins:vars]\nnovalue', `${F}:4: expected key=value in [origins:vars], got "novalue"`],
    ['[origins]\nn\n[x:vars]\na=1', `${F}:3: section [x:vars] is for undefined group "x"`],
    ['[origins]\nn\n[c:children]\norigins\nmissing', `${F}:5: section [c:children] names undefined group "missing"`],
    ['[origins]\nhost:', `${F}:2: host pattern "host:" ends in ":" (reserved for a port)`],
    ['[origins]\nhost:99999', `${F}:2: port 99999 is out of range 1-65535`],
    ['[a:children]\nb\n[b:children]\na\n[a]\n[b]\nh', /^hosts\.ini:\d+: group "[ab]" is its own ancestor$/],
  ];
  for (const [text, message] of cases) t.throws(() => resolveGroup(parseIniInventory(text, F), text.includes('[a:children]') ? 'a' : 'origins'), { name: 'InventoryError', code: 'PI_ORIGIN_INVENTORY', message }, JSON.stringify(text));
  t.throws(() => resolveGroup(parseIniInventory('[web]\nh', F), 'origins'), { message: `${F}: no group "origins" (groups: web)` });
  t.throws(() => resolveGroup(parseIniInventory('[origins]\n[c:children]\norigins', F), 'origins'), { message: `${F}: group "origins" has no hosts` });
  t.end();
});

t.test('YAML: the standard shape, precedence and children', (t) => {
  const text = [
    'all:',
    '  vars:',
    '    origin_node_port: 9000',
    '    ansible_user: root',
    '  children:',
    '    cluster:',
    '      vars: { origin_node_port: 7000, region: eu }',
    '      children:',
    '        origins:',
    '          hosts:',
    '            node1: { ansible_host: "fd00:cafe:0:0::11", origin_node_port: 8080 }',
    '            node2:',
    '              ansible_host: fd00:cafe::12',
    '            node3:',
    '          vars:',
    '            origin_node_port: 8081',
    '        edge:',
    '          hosts:',
    '            "[fd00::99]:2222":',
    '    other:',
    '      hosts:',
    '        node3: { ansible_host: "::1" }',
  ].join('\n');
  const model = parseYamlInventory(text, Y);
  const origins = resolveGroup(model, 'origins');
  t.same(endpoints(origins), { node1: ['fd00:cafe::11', 8080], node2: ['fd00:cafe::12', 8081], node3: ['::1', 8081] });
  t.same(origins[1]!.vars, { origin_node_port: 8081, ansible_user: 'root', region: 'eu', ansible_host: 'fd00:cafe::12' });
  t.same(endpoints(resolveGroup(model, 'cluster')), { node1: ['fd00:cafe::11', 8080], node2: ['fd00:cafe::12', 8081], node3: ['::1', 8081], 'fd00::99': ['fd00::99', 7000] });
  t.equal(resolveGroup(model, 'edge')[0]!.vars.ansible_port, 2222);
  t.end();
});

t.test('YAML: errors name file and line', (t) => {
  const cases: [string, RegExp | string][] = [
    ['all:\n  children:\n    origins:\n      hosts:\n        node1:\n          ansible_host: not_valid', `${Y}:6: host node1: ansible_host "not_valid" is not an IPv6 or IPv4 literal or a host name`],
    ['all:\n  children:\n    origins:\n      hosts:\n        node1:\n          ansible_host: 12', `${Y}:6: host node1: ansible_host 12 must be a string (quote it)`],
    ['all:\n  children:\n    origins:\n      hostz:\n        node1:', `${Y}:4: group "origins" has unknown key "hostz" (expected hosts, children or vars)`],
    ['all:\n  children:\n    origins:\n      hosts: [node1]', `${Y}:4: hosts of group "origins" must be a mapping`],
    ['all:\n  children:\n    origins:\n      hosts:\n        node1: { origin_node_port: 0 }', `${Y}:5: host node1: origin_node_port must be an integer from 1 to 65535 (got 0)`],
    ['all:\n  children: [\n    origins', /^hosts\.yml:\d+: invalid YAML: /],
    ['- origins', `${Y}:1: a YAML inventory is a mapping of group names (usually just "all")`],
  ];
  for (const [text, message] of cases) t.throws(() => resolveGroup(parseYamlInventory(text, Y), 'origins'), { name: 'InventoryError', message }, JSON.stringify(text));
  t.end();
});

t.test('readInventory: format by extension or content, unreadable files', (t) => {
  const ini = '[origins]\nnode1 ansible_host=::1 origin_node_port=8080\n';
  const yml = 'all:\n  children:\n    origins:\n      hosts:\n        node1: { ansible_host: "::1", origin_node_port: 8080 }\n';
  const dir = t.testdir({ 'hosts': ini, 'hosts.ini': ini, 'hosts.yml': yml, 'inventory': yml, 'inv.yaml': yml, 'doc': '---\n' + yml });
  for (const name of ['hosts', 'hosts.ini', 'hosts.yml', 'inventory', 'inv.yaml', 'doc']) {
    const inv = readInventory(join(dir, name));
    t.equal(inv.format, name === 'hosts' || name === 'hosts.ini' ? 'ini' : 'yaml', `${name} format`);
    t.same(endpoints(inv.hosts), { node1: ['::1', 8080] }, `${name} hosts`);
    t.equal(inv.group, 'origins');
  }
  t.equal(detectFormat('x', '# comment\n\n[origins]\n'), 'ini');
  t.equal(detectFormat('x', 'node1 ansible_host=::1\n'), 'ini');
  t.equal(detectFormat('x', '{"all": {}}'), 'yaml');
  t.throws(() => readInventory(join(dir, 'missing')), { name: 'InventoryError', message: `cannot read inventory ${join(dir, 'missing')}: ENOENT` });
  t.end();
});
