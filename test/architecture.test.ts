/**
 * The shape of the tree (docs/architecture.md): values that several folders or the Ansible
 * roles must agree on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { DEFAULT_PORT } from '../common/port.js';

t.test('the default port: one constant in code, the same number wherever the roles spell it', (t) => {
  const defaults = parse(readFileSync('ansible/roles/origin_node/defaults/main.yml', 'utf8')) as Record<string, unknown>;
  t.equal(defaults.origin_node_port, DEFAULT_PORT, 'origin_node_port in the role defaults');
  const specs = parse(readFileSync('ansible/roles/origin_node/meta/argument_specs.yml', 'utf8')) as {
    argument_specs: Record<string, { options: Record<string, { default?: unknown }> }>;
  };
  for (const [entry, spec] of Object.entries(specs.argument_specs)) {
    const port = spec.options.origin_node_port;
    if (port !== undefined) t.equal(port.default, DEFAULT_PORT, `origin_node_port in argument_specs (${entry})`);
  }
  const fallbacks: string[] = [];
  for (const file of readdirSync('ansible', { recursive: true, encoding: 'utf8' }).map((f) => join('ansible', f))) {
    if (!/\.(ya?ml|j2)$/.test(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/origin_node_port\s*\|\s*default\((\d+)\)/g)) {
      fallbacks.push(file);
      t.equal(Number(m[1]), DEFAULT_PORT, `${file}: origin_node_port | default(${m[1]})`);
    }
  }
  t.ok(fallbacks.length >= 3, `the playbooks and roles fall back to the port in ${fallbacks.length} places`);
  t.end();
});
