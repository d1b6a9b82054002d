/**
 * What the packed package needs at run time. `npm install -g --omit=dev` installs `dependencies`
 * only, so every bare import in a .js file the tarball ships must be one of them or a Node.js
 * builtin; the peer benchmark's sirv and @fastify/static servers are the exception, declared in
 * PEER_PACKAGES and checked before the bench starts them. What a node runs (`serve` and its
 * workers) must need nothing the artifact leaves out (CONTROLLER_ONLY).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import ts from 'typescript';
import { CONTROLLER_ONLY } from '../cluster/artifact.js';
import { PEER_PACKAGES, PEER_SCRIPTS } from '../load-tests/bench/servers.js';
import { REPO } from './helpers/ansible.js';

const DIST = join(REPO, 'dist');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const DEPENDENCIES = Object.keys(pkg.dependencies);

/** `sirv/x` → sirv, `@fastify/static/y` → @fastify/static. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

const isBuiltin = (specifier: string): boolean => specifier.startsWith('node:') || builtinModules.includes(specifier);

/**
 * A module's imports: static and dynamic `import`, `require()` (through createRequire), and the
 * scripts it starts or loads by URL (`new URL('./worker.js', import.meta.url)`).
 */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName);
  for (const m of text.matchAll(/new URL\('(\.{1,2}\/[^']*\.js)', import\.meta\.url\)/g)) found.push(m[1] as string);
  return found;
}

/** Every module reachable from `entry` (relative to dist/), and the bare imports among them with their importers. */
function reachable(entry: string): { files: Set<string>; bare: Map<string, string[]> } {
  const files = new Set<string>();
  const bare = new Map<string, string[]>();
  const visit = (file: string): void => {
    const rel = relative(DIST, file);
    if (files.has(rel)) return;
    files.add(rel);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (!isBuiltin(spec)) bare.set(packageName(spec), [...(bare.get(packageName(spec)) ?? []), rel]);
    }
  };
  visit(join(DIST, entry));
  return { files, bare };
}

/** The .js files `npm pack` puts in the tarball, relative to dist/. */
function packedScripts(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`);
  const [packed] = JSON.parse(r.stdout) as [{ files: { path: string }[] }];
  return packed.files.map((f) => f.path).filter((p) => p.startsWith('dist/') && p.endsWith('.js')).map((p) => p.slice('dist/'.length));
}

const PEER_FILES = new Map(Object.entries(PEER_PACKAGES).map(([id, packages]) => [`load-tests/bench/${PEER_SCRIPTS[id as keyof typeof PEER_SCRIPTS] ?? ''}`, packages ?? []]));

t.test('every bare import of a shipped script is a dependency or a builtin', (t) => {
  const scripts = packedScripts();
  t.ok(scripts.includes('cli/main.js') && scripts.includes('load-tests/gate/run-load.js'), 'the CLI and the gate are packed');
  const wrong: string[] = [];
  for (const rel of scripts) {
    const allowed = PEER_FILES.get(rel) ?? [];
    for (const spec of importsOf(join(DIST, rel)))
      if (!spec.startsWith('.') && !isBuiltin(spec) && !DEPENDENCIES.includes(packageName(spec)) && !allowed.includes(packageName(spec))) wrong.push(`${rel}: ${spec}`);
  }
  t.same(wrong, [], 'imports outside "dependencies"');
  t.end();
});

t.test('the CLI loads no peer script: the dev-only packages stay behind the bench preflight', (t) => {
  const { files, bare } = reachable('cli/main.js');
  t.ok(files.has('load-tests/gate/run-load.js') && files.has('server/worker.js'), 'the walk follows dynamic imports and workers');
  t.same([...PEER_FILES.keys()].filter((f) => files.has(f)), [], 'no peer script is imported');
  t.same([...bare.keys()].filter((name) => !DEPENDENCIES.includes(name)).sort(), [], 'everything the CLI imports is a dependency');
  t.end();
});

t.test('what a node runs needs nothing the artifact leaves out', (t) => {
  const { files, bare } = reachable('cli/serve.js');
  t.ok(files.has('server/worker.js'), 'the workers are part of serve');
  t.ok(bare.has('uWebSockets.js'), 'the walk sees require()');
  t.same([...bare.keys()].filter((name) => CONTROLLER_ONLY.includes(name) || !DEPENDENCIES.includes(name)), [], 'serve imports only what the artifact ships');
  t.ok(reachable('cli/gate.js').bare.has('autocannon'), 'the gate (controller only) is what needs autocannon');
  t.end();
});
