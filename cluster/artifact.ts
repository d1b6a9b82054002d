/**
 * The app artifact the origin_node role installs on every node: package.json, the built dist/
 * and the production dependencies a node needs (not the controller's, {@link CONTROLLER_ONLY})
 * from node_modules, as one tar. Nodes never run npm, so the package.json inside (which lists
 * every dependency) installs nothing on a node. Only the
 * uWebSockets.js binary for the nodes' CPU and Node 20 goes in (the package ships 18 of them,
 * 92 MB, plus a 20 MB pure-JS fallback the server refuses to use anyway), so an artifact for a
 * Pi is about a tenth of a copy of node_modules.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';

/** Node's names for the CPUs uWebSockets.js ships linux binaries for. */
export const ARCHES = ['arm64', 'arm', 'x64'] as const;
export type Arch = (typeof ARCHES)[number];
/** Debian's names, accepted too. */
const ALIASES: Readonly<Record<string, Arch>> = { arm64: 'arm64', aarch64: 'arm64', arm: 'arm', armhf: 'arm', x64: 'x64', amd64: 'x64' };
/** Node 20's module ABI: the binary suffix the nodes load. */
export const NODE_ABI = 115;
const UWS = 'uWebSockets.js';
/**
 * Dependencies of the package that only the controller loads: the gate's load generator. A node
 * serves and never runs the gate, so the artifact leaves them out, with whatever only they pull
 * in (test/package-deps.test.ts checks that nothing `serve` loads imports them).
 */
export const CONTROLLER_ONLY: readonly string[] = ['autocannon'];

/** What tsc writes to dist/ besides the scripts. */
const BUILD_ONLY = /\.(d\.ts|map)$/;

export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  readonly code = 'PI_ORIGIN_ARTIFACT';
}

export function parseArch(text: string): Arch | undefined {
  return ALIASES[text.toLowerCase()];
}

export interface ArtifactPlan {
  readonly root: string;
  /** Files and symlinks relative to root, sorted: exactly what goes into the tar. */
  readonly files: readonly string[];
  /** Production packages (node_modules directories), relative to root. */
  readonly packages: readonly string[];
  /** The uWS binary the nodes will load, relative to root. */
  readonly binary: string;
}

/** What goes into the artifact for nodes of `arch`; throws ArtifactError when the tree is not built or installed. */
export function planArtifact(root: string, arch: Arch): ArtifactPlan {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new ArtifactError(`${join(root, 'dist')} is not built: run npm run build first`);
  const packages = productionPackages(root);
  const uws = packages.find((p) => p.endsWith(`node_modules/${UWS}`));
  if (uws === undefined) throw new ArtifactError(`${UWS} is not installed under ${join(root, 'node_modules')}: run npm ci first`);
  const binary = join(uws, 'binaries', `uws_linux_${arch}_${NODE_ABI}.node`);
  if (!existsSync(join(root, binary))) throw new ArtifactError(`${join(root, binary)} is missing: this ${UWS} has no binary for linux-${arch} and Node 20`);
  // The bundled demo site and its releases are for `npm start`, not for nodes; nor are tsc's
  // declarations and source maps (the sources they map to are not shipped).
  const skip = new Set([join(uws, 'binaries'), join(uws, 'dist'), join(uws, 'docs'), join('dist', 'demo-site'), join('dist', 'demo-releases')]);
  const files: string[] = ['package.json', binary];
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const child = join(rel, e.name);
      if (skip.has(child)) continue;
      // Nested node_modules are packages of their own: walked only when they are production ones.
      if (e.isDirectory() && e.name === 'node_modules') continue;
      if (e.isDirectory()) walk(child);
      else if (!(rel.startsWith('dist') && BUILD_ONLY.test(e.name))) files.push(child);
    }
  };
  for (const dir of ['dist', ...packages]) walk(dir);
  return { root, files: files.sort(), packages, binary };
}

/**
 * The production dependencies a node needs, as npm installed them: every package reachable from
 * the root's `dependencies` (and installed `optionalDependencies`) except `leaveOut`, resolved
 * the way Node resolves them (the nearest node_modules up the tree). A package left out at the
 * root still goes in when another one depends on it.
 */
export function productionPackages(root: string, leaveOut: readonly string[] = CONTROLLER_ONLY): string[] {
  const found = new Set<string>();
  const visit = (fromDir: string): void => {
    const pkg = readPackage(fromDir);
    const deps = { ...(pkg.optionalDependencies ?? {}), ...(pkg.dependencies ?? {}) };
    for (const name of Object.keys(deps).sort()) {
      if (fromDir === root && leaveOut.includes(name)) continue;
      const dir = resolvePackage(root, fromDir, name);
      if (dir === undefined) {
        if (pkg.optionalDependencies?.[name] !== undefined && pkg.dependencies?.[name] === undefined) continue;
        throw new ArtifactError(`${name} (a dependency of ${relative(root, fromDir) || 'the package'}) is not installed: run npm ci first`);
      }
      const rel = relative(root, dir);
      if (found.has(rel)) continue;
      found.add(rel);
      visit(dir);
    }
  };
  visit(root);
  return [...found].sort();
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function readPackage(dir: string): PackageJson {
  try {
    return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  } catch (e) {
    throw new ArtifactError(`cannot read ${join(dir, 'package.json')}: ${(e as Error).message}`);
  }
}

function resolvePackage(root: string, fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === dirname(dir) || !dir.startsWith(root)) return undefined;
  }
}

export interface ArtifactResult {
  readonly out: string;
  readonly bytes: number;
  readonly files: number;
  readonly packages: number;
  readonly binary: string;
}

/** Writes the tar (gzip when `out` ends in .gz or .tgz) with the system's tar, owned by root. */
export function writeArtifact(plan: ArtifactPlan, out: string): ArtifactResult {
  const list = join(dirname(out), `.${basename(out)}.files-${process.pid}`);
  try {
    writeFileSync(list, plan.files.map((f) => f + '\0').join(''));
  } catch (e) {
    throw new ArtifactError(`cannot write in ${dirname(out)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const gzip = /\.(t?gz)$/.test(out);
    const tar = spawnSync('tar', ['-c', ...(gzip ? ['-z'] : []), '-f', out, '-C', plan.root, '--owner=0', '--group=0', '--numeric-owner', '--null', '--no-recursion', '-T', list], { encoding: 'utf8' });
    if (tar.error !== undefined) throw new ArtifactError(`cannot run tar: ${tar.error.message}`);
    if (tar.status !== 0) throw new ArtifactError(`tar failed: ${tar.stderr.trim()}`);
  } finally {
    rmSync(list, { force: true });
  }
  return { out, bytes: statSync(out).size, files: plan.files.length, packages: plan.packages.length, binary: plan.binary };
}
