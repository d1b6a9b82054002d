/** `pi-origin version` (also `-v`, `--version`): what this build is, from common/build-info.ts. */
import { buildInfo } from '../common/build-info.js';
import type { Subcommand } from './subcommands.js';

export const VERSION: Subcommand = {
  summary: 'print the version, the uWebSockets.js build, Node.js and the CPU architecture',
  usage: 'pi-origin version [--json]   (also: pi-origin -v, pi-origin --version)',
  help: [
    'Prints one line: pi-origin VERSION (uWebSockets.js UWS, Node.js NODE, ARCH). The same',
    'values are the labels of the pi_origin_build_info metric.',
    '',
    'Options:',
    '  --json   print {version, uws, node, arch} as JSON',
  ].join('\n'),
  examples: ['pi-origin version', 'pi-origin --version', 'pi-origin version --json'],
  flags: { json: 'boolean' },
  run: (_positional, flags) => {
    const b = buildInfo();
    process.stdout.write(flags.has('json') ? JSON.stringify(b) + '\n' : `pi-origin ${b.version} (uWebSockets.js ${b.uws}, Node.js ${b.node}, ${b.arch})\n`);
    return Promise.resolve(0);
  },
};
