/**
 * The inventory as the cluster commands read it agrees with Ansible's: group_vars/ and
 * host_vars/ (files and directories, next to the inventory and next to the playbooks) merged in
 * Ansible's order, read through `ansible-inventory` where it is installed and by the own reader
 * where it is not. Both readers are run on the same files and must give the same hosts,
 * addresses, ports and variables.
 */
import { join } from 'node:path';
import t from 'tap';
import { loadInventoryModel, readInventory, type Inventory } from '../cluster/inventory.js';
import { which } from '../load-tests/bench/util.js';

const ABSENT = '/nonexistent/ansible-inventory';
const HAVE_ANSIBLE = which('ansible-inventory') !== undefined;

const INI = `[all:vars]
origin_node_port=8081

[origins:children]
edge
core

[edge]
node1 ansible_host=fd00::1
node2

[edge:vars]
origin_node_port=8500
tier=edge-inventory

[core]
node3 ansible_host=fd00::3 origin_node_port=7000
`;

/** Files around the inventory, each a precedence rule of Ansible's. */
const TREE = {
  inv: {
    'hosts.ini': INI,
    group_vars: {
      // group_vars/all beats every group's vars in the inventory file ([edge:vars] too).
      'all.yml': 'origin_node_port: 9000\nsite: inventory-dir\n',
      // A directory: its files in name order, the later one winning.
      edge: { 'a.yml': 'tier: edge-a\ncolour: blue\n', 'b.yaml': 'tier: edge-b\n', '.hidden.yml': 'tier: hidden\n' },
      // group_vars/core beats group_vars/all, but the host's own line beats both.
      core: 'origin_node_port: 9100\ntier: core\n',
    },
    host_vars: { 'node2.yml': 'ansible_host: "fd00::2"\n', 'node3.json': '{"colour": "green"}\n' },
  },
  // The playbooks' directory: its group_vars come after all of the inventory directory's, so
  // its origins.yml beats the inventory's group_vars/edge, a deeper group.
  play: { group_vars: { 'all.yml': 'site: playbook-dir\n', 'origins.yml': 'colour: red\n' } },
};

function summary(inv: Inventory): Record<string, unknown> {
  return Object.fromEntries(inv.hosts.map((h) => [h.name, { address: h.address.text, port: h.port, vars: h.vars }]));
}

const WANT = {
  node1: { address: 'fd00::1', port: 9000, vars: { ansible_host: 'fd00::1', origin_node_port: 9000, tier: 'edge-b', colour: 'red', site: 'playbook-dir' } },
  node2: { address: 'fd00::2', port: 9000, vars: { ansible_host: 'fd00::2', origin_node_port: 9000, tier: 'edge-b', colour: 'red', site: 'playbook-dir' } },
  node3: { address: 'fd00::3', port: 7000, vars: { ansible_host: 'fd00::3', origin_node_port: 7000, tier: 'core', colour: 'green', site: 'playbook-dir' } },
};

t.test('the own reader merges group_vars and host_vars as Ansible does', (t) => {
  const dir = t.testdir(TREE);
  const own = readInventory(join(dir, 'inv/hosts.ini'), 'origins', { playbookDir: join(dir, 'play'), ansibleInventory: ABSENT });
  t.equal(own.reader, 'own', 'ansible-inventory absent: the own reader');
  t.same(summary(own), WANT);
  t.end();
});

t.test('ansible-inventory and the own reader agree', { skip: HAVE_ANSIBLE ? false : 'ansible-inventory is not installed' }, (t) => {
  const dir = t.testdir(TREE);
  const ansible = readInventory(join(dir, 'inv/hosts.ini'), 'origins', { playbookDir: join(dir, 'play') });
  const own = readInventory(join(dir, 'inv/hosts.ini'), 'origins', { playbookDir: join(dir, 'play'), ansibleInventory: ABSENT });
  t.equal(ansible.reader, 'ansible-inventory');
  t.same(summary(ansible), summary(own), 'same hosts, addresses, ports and variables');
  t.same(summary(ansible), WANT);
  t.same(
    ansible.hosts.map((h) => h.name),
    own.hosts.map((h) => h.name),
    'in the same order',
  );
  t.end();
});

t.test('a bad value in a vars file is reported at its file and line, by either reader', (t) => {
  const dir = t.testdir({ 'hosts.ini': '[origins]\nnode1\nnode2 ansible_host=fd00::2\n', host_vars: { 'node1.yml': '# the node\nansible_host: "[fd00::1]"\n' }, group_vars: { 'origins.yml': 'origin_node_port: "80a"\n' } });
  const inv = join(dir, 'hosts.ini');
  const address = { name: 'InventoryError', message: `${join(dir, 'host_vars/node1.yml')}:2: host node1: ansible_host "[fd00::1]" is not an IPv6 or IPv4 literal or a host name (write IPv6 literals without brackets)` };
  t.throws(() => readInventory(inv, 'origins', { playbookDir: dir, ansibleInventory: ABSENT }), address, 'own reader');
  if (HAVE_ANSIBLE) t.throws(() => readInventory(inv, 'origins', { playbookDir: dir }), address, 'ansible-inventory');
  const broken = t.testdir({ 'hosts.ini': '[origins]\nnode1 ansible_host=fd00::1\n', group_vars: { 'origins.yml': 'origin_node_port: [\n' } });
  t.throws(() => loadInventoryModel(join(broken, 'hosts.ini'), { playbookDir: broken, ansibleInventory: ABSENT }), { name: 'InventoryError', message: new RegExp(`^${join(broken, 'group_vars/origins.yml')}:\\d+: invalid YAML: `) });
  t.end();
});

t.test('an inventory Ansible cannot parse fails with a message, not an empty cluster', { skip: HAVE_ANSIBLE ? false : 'ansible-inventory is not installed' }, (t) => {
  const dir = t.testdir({ 'hosts.ini': '[origins]\nnode1 ansible_host=fd00::1\n[origins:vars]\nnot a key value\n' });
  t.throws(() => readInventory(join(dir, 'hosts.ini'), 'origins', { playbookDir: dir }), { name: 'InventoryError', message: `${join(dir, 'hosts.ini')}:4: expected key=value in [origins:vars], got "not a key value"` });
  t.end();
});
