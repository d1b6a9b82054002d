/**
 * Where gate, soak and bench reports go unless --out says otherwise, and where the dashboard
 * looks for them. In a source checkout: load-tests/out/, next to the recorded results. In an
 * installed package (npm install -g puts it in a node_modules directory): the package directory
 * belongs to whoever installed it (root, for a global install) and the next install replaces
 * it, so reports go to the user's state directory, $XDG_STATE_HOME/pi-origin/reports
 * (~/.local/state/pi-origin/reports).
 */
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { packageRoot } from './package-root.js';

/** True when `root` is a package npm installed (it sits in a node_modules directory). */
export function isInstalledPackage(root: string = packageRoot()): boolean {
  return basename(dirname(root)) === 'node_modules';
}

/** The default report directory for the package at `root`. */
export function reportsDir(root: string = packageRoot(), env: NodeJS.ProcessEnv = process.env): string {
  if (!isInstalledPackage(root)) return join(root, 'load-tests', 'out');
  // The XDG spec: a relative XDG_STATE_HOME is invalid and ignored.
  const state = env.XDG_STATE_HOME !== undefined && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'pi-origin', 'reports');
}
