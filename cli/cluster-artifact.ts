/**
 * `pi-origin cluster artifact`: the app tarball the origin_node role pushes to every node
 * (cluster/artifact.ts).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactError, ARCHES, parseArch, planArtifact, writeArtifact } from '../cluster/artifact.js';
import { fail, UsageError, type Subcommand } from './subcommands.js';

/** The package root: dist/cli/ is two levels below it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEFAULT_ARCH = 'arm64';

export const ARTIFACT: Subcommand = {
  summary: 'pack the built app for the nodes (origin_node_artifact)',
  usage: `pi-origin cluster artifact --out FILE [--arch ${DEFAULT_ARCH}|armhf|x64] [--json]`,
  help: [
    'Writes the tar the origin_node role installs on every node: package.json, dist/ and the',
    'production dependencies, with only the uWebSockets.js binary for linux-ARCH and Node 20',
    '(one uWS binary, not the 125 MB of every platform; the summary line says its size). Nodes',
    'never run npm. Build first (npm ci && npm run build).',
    'FILE ending in .gz or .tgz is gzipped. Point origin_node_artifact at FILE.',
    '',
    'Options:',
    '  --out FILE     where to write the tar (required)',
    `  --arch ARCH    the nodes' CPU: arm64 (Raspberry Pi OS 64-bit, default), armhf (32-bit) or x64`,
    '  --json         print {out, bytes, files, packages, arch, binary} as JSON',
  ].join('\n'),
  examples: ['pi-origin cluster artifact --out pi-origin-arm64.tgz', 'pi-origin cluster artifact --out pi-origin-armhf.tgz --arch armhf --json'],
  flags: { out: 'value', arch: 'value', json: 'boolean' },
  run: artifact,
};

function artifact(_positional: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const out = flags.get('out');
  if (typeof out !== 'string') throw new UsageError('--out FILE is required');
  const archText = (flags.get('arch') as string | undefined) ?? DEFAULT_ARCH;
  const arch = parseArch(archText);
  if (arch === undefined) throw new UsageError(`--arch must be arm64, armhf or x64 (got ${JSON.stringify(archText)}; uWebSockets.js ships linux ${ARCHES.join(', ')})`);
  try {
    const r = writeArtifact(planArtifact(PACKAGE_ROOT, arch), resolve(out));
    const binary = r.binary.split('/').pop() ?? '';
    process.stdout.write(
      flags.has('json')
        ? JSON.stringify({ out: r.out, bytes: r.bytes, files: r.files, packages: r.packages, arch, binary }) + '\n'
        : `wrote ${r.out}: ${(r.bytes / 1e6).toFixed(1)} MB, ${r.files} files, ${r.packages} production packages, linux-${arch} (${binary})\n`,
    );
    return Promise.resolve(0);
  } catch (e) {
    if (e instanceof ArtifactError) return Promise.resolve(fail(e.message, 1));
    throw e;
  }
}
