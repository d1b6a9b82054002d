/**
 * The shape of the tree (docs/architecture.md): the import directions between folders, and
 * values that several folders or the Ansible roles must agree on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

/** The import rules: docs/architecture.md's table of folders, `| \`folder/\` | holds | may import |`. */
function documentedRules(): Map<string, Set<string>> {
  const rules = new Map<string, Set<string>>();
  for (const line of readFileSync('docs/architecture.md', 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const folder = /^`([a-z-]+)\/`$/.exec(cells[1] ?? '')?.[1];
    if (folder === undefined || cells.length !== 5) continue;
    rules.set(folder, new Set([...(cells[3] as string).matchAll(/`([a-z-]+)\/`/g)].map((m) => m[1] as string)));
  }
  return rules;
}

/** Every relative module specifier of a TypeScript file: static imports, re-exports and dynamic imports. */
function specifiers(source: string): string[] {
  const found = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm);
  return [...found].map((m) => m[1] as string);
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(folder, f));
}

/** The top folder a relative import from `file` lands in. */
function folderOf(file: string, specifier: string): string {
  return relative('.', resolve(dirname(file), specifier)).split(sep)[0] as string;
}

t.test('specifiers: static, re-export, side-effect and dynamic imports are all seen', (t) => {
  const text = [
    "import { a } from '../common/a.js';",
    "import type { B } from './b.js';",
    "export { c } from '../content/c.js';",
    "import './side.js';",
    "const m = await import('../load-tests/soak/soak.js');",
    "import { spawn } from 'node:child_process';",
  ].join('\n');
  t.same(specifiers(text), ['../common/a.js', './b.js', '../content/c.js', './side.js', '../load-tests/soak/soak.js']);
  t.end();
});

t.test('imports follow the directions docs/architecture.md allows', (t) => {
  const rules = documentedRules();
  t.ok(rules.size >= 10, `the table names ${rules.size} folders`);
  const sourceFolders = readdirSync('.', { withFileTypes: true })
    .filter((e) => e.isDirectory() && !['node_modules', 'dist', 'test', 'docs', 'ansible', 'coverage', '.tap', '.git', 'scratch'].includes(e.name) && !e.name.startsWith('.'))
    .filter((e) => sourceFiles(e.name).length > 0)
    .map((e) => e.name);
  t.same(sourceFolders.filter((f) => !rules.has(f)), [], 'every folder with TypeScript sources has a row in the table');
  const wrong: string[] = [];
  let checked = 0;
  for (const [folder, allowed] of rules) {
    for (const file of sourceFiles(folder)) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        checked++;
        const target = folderOf(file, spec);
        if (target !== folder && !allowed.has(target)) wrong.push(`${file} imports ${spec} (${folder}/ may not import ${target}/)`);
      }
    }
  }
  t.ok(checked > 200, `${checked} imports checked`);
  t.same(wrong, [], 'no import against the documented direction');
  t.end();
});
