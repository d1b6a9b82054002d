/**
 * What this build is: the package version, the uWebSockets.js package it runs on, Node.js and
 * the CPU. One source for `pi-origin version` and the `pi_origin_build_info` metric.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';

export interface BuildInfo {
  /** pi-origin's version from its package.json. */
  readonly version: string;
  /** The uWebSockets.js package's version (the build the native binary comes from). */
  readonly uws: string;
  /** Node.js, without the leading v. */
  readonly node: string;
  /** Node's name for the CPU: x64, arm64, arm. */
  readonly arch: string;
}

const require = createRequire(import.meta.url);

function versionIn(file: string): string {
  try {
    const v = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached !== undefined) return cached;
  let uwsPackage: string;
  try {
    uwsPackage = require.resolve('uWebSockets.js/package.json');
  } catch {
    uwsPackage = '';
  }
  cached = {
    version: versionIn(join(packageRoot(), 'package.json')),
    uws: uwsPackage === '' ? 'missing' : versionIn(uwsPackage),
    node: process.versions.node,
    arch: process.arch,
  };
  return cached;
}
