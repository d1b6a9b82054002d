/**
 * Loads uWebSockets.js and refuses its silent fallback. The npm package catches a failing
 * native binary (other Node ABI, musl, old glibc) and swaps in a slow pure-JS implementation
 * with a console warning; an origin must not run like that, so we load the binary ourselves
 * first and stop with one clear message when it cannot load.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export class NativeUwsError extends Error {
  override readonly name = 'NativeUwsError';
  readonly code = 'PI_ORIGIN_UWS_NATIVE';
}

export type Uws = typeof UWS;

let loaded: Uws | undefined;

/** The native uWS module; throws NativeUwsError naming the platform, Node version and fix. */
export function loadUws(env: NodeJS.ProcessEnv = process.env): Uws {
  if (loaded !== undefined) return loaded;
  const platform = `${process.platform}-${process.arch}, Node ${process.version} (ABI ${process.versions.modules})`;
  if (env['UWS_USE_FALLBACK'] !== undefined && env['UWS_USE_FALLBACK'] !== '' && env['UWS_USE_FALLBACK'] !== '0' && env['UWS_USE_FALLBACK'].toLowerCase() !== 'false') {
    throw new NativeUwsError(`UWS_USE_FALLBACK is set: refusing uWebSockets.js's slow pure-JS fallback on ${platform}. Unset UWS_USE_FALLBACK.`);
  }
  const pkgDir = dirname(require.resolve('uWebSockets.js/package.json'));
  const binary = join(pkgDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  if (!existsSync(binary)) {
    throw new NativeUwsError(`uWebSockets.js has no native binary for ${platform}. Use Node 20 (ABI 115) on linux x64/arm64/armhf with glibc >= 2.36 (Debian 12 / Raspberry Pi OS Bookworm).`);
  }
  try {
    require(binary);
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0] ?? '';
    throw new NativeUwsError(`uWebSockets.js's native binary does not load on ${platform}: ${reason}. Use Node 20 on glibc >= 2.36 (Debian 12 / Raspberry Pi OS Bookworm); musl (Alpine) is not supported.`);
  }
  const uws = require('uWebSockets.js') as Uws;
  if (!/\[native code\]/.test(Function.prototype.toString.call(uws.App))) {
    throw new NativeUwsError(`uWebSockets.js loaded its pure-JS fallback on ${platform}; refusing to serve with it.`);
  }
  loaded = uws;
  return uws;
}
