// The roles' documentation and interfaces, read from their files (no hosts): each role's README
// lists every default as defaults/main.yml sets it, origin_release declares every entry point
// the playbooks include, its fallbacks equal origin_node's defaults, and no playbook reads a
// role's internal (`__`) variables.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';

const ANSIBLE = new URL('../ansible/', import.meta.url);
const roles = readdirSync(new URL('roles/', ANSIBLE), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
const read = (path: string): string => readFileSync(new URL(path, ANSIBLE), 'utf8');
const defaultsText = (role: string): string => read(`roles/${role}/defaults/main.yml`);
const defaults = (role: string): Record<string, unknown> => parse(defaultsText(role)) as Record<string, unknown>;
const playbooks = readdirSync(ANSIBLE).filter((f) => f.endsWith('.yml'));

t.test('every role has a README with the sections of a Galaxy role and every default as set', (t) => {
  t.ok(roles.length >= 3, `roles found: ${roles.join(', ')}`);
  for (const role of roles) {
    const readme = read(`roles/${role}/README.md`);
    for (const section of ['## Requirements', '## Role Variables', '## Dependencies', '## Example Playbook', '## License']) t.ok(readme.includes(`\n${section}\n`), `${role}/README.md has ${section}`);
    // The first line of each top-level key as written (a multi-line value shows its first line).
    const lines = defaultsText(role).split('\n').filter((l) => /^[a-z][a-z0-9_]*:/.test(l));
    t.equal(lines.length, Object.keys(defaults(role)).length, `${role}: every default found`);
    for (const line of lines) t.ok(readme.includes(`\n${line}\n`), `${role}/README.md shows ${line}`);
  }
  t.end();
});

t.test('origin_release declares each of its task files as an entry point, and the playbooks include no other', (t) => {
  const specs = parse(read('roles/origin_release/meta/argument_specs.yml')) as { argument_specs: Record<string, { options?: Record<string, unknown> }> };
  const declared = Object.keys(specs.argument_specs).sort();
  const taskFiles = readdirSync(new URL('roles/origin_release/tasks/', ANSIBLE)).map((f) => f.replace(/\.yml$/, '')).sort();
  t.same(declared, taskFiles, 'one argument spec per tasks file');
  const included = new Set<string>();
  for (const file of [...playbooks, ...taskFiles.map((f) => `roles/origin_release/tasks/${f}.yml`)]) {
    for (const m of read(file).matchAll(/name: origin_release\n\s+tasks_from: ([\w-]+)/g)) included.add(m[1] as string);
  }
  t.ok(included.size >= 7, `entry points included: ${[...included].join(', ')}`);
  for (const entry of included) t.ok(declared.includes(entry), `${entry} is declared`);
  const role = defaults('origin_release');
  for (const [entry, spec] of Object.entries(specs.argument_specs)) for (const name of Object.keys(spec.options ?? {})) t.ok(name in role, `${entry}: ${name} has a default`);
  t.end();
});

t.test("origin_release follows origin_node's variables and falls back to the same defaults", (t) => {
  const node = defaults('origin_node');
  const release = defaults('origin_release');
  const followed = Object.entries(release).flatMap(([name, value]) => {
    const m = typeof value === 'string' ? /^\{\{ (origin_node_\w+) \| default\((.+)\) \}\}$/.exec(value) : null;
    return m === null ? [] : [{ name, from: m[1] as string, fallback: parse(m[2] as string) as unknown }];
  });
  t.same(followed.map((f) => f.name).sort(), ['origin_release_app_dir', 'origin_release_node_binary', 'origin_release_port', 'origin_release_releases_dir']);
  for (const f of followed) t.equal(f.fallback, node[f.from], `${f.name}: ${f.from}'s default`);
  t.end();
});

t.test("no playbook reads a role's internal variables", (t) => {
  for (const file of playbooks) {
    const internals = [...read(file).matchAll(/__(?:origin_node|origin_release|dualstack_proxy)_\w+/g)].map((m) => m[0]);
    t.same(internals, [], file);
  }
  t.end();
});
