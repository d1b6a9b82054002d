#!/usr/bin/env node
/**
 * `pi-origin`: one CLI, a small command module per subcommand. Errors a person can act on are
 * printed as one line and exit non-zero; a stack trace means a bug.
 */

interface Command {
  readonly summary: string;
  run(args: readonly string[]): Promise<number>;
}

// Each command module is loaded only when it runs: a node has the production dependencies
// only, and `serve` must not pull in the gate's autocannon or the bench's peers.
const COMMANDS: Readonly<Record<string, Command>> = {
  serve: { summary: 'serve a content root over HTTP (the origin node)', run: async (a) => (await import('./serve.js')).serveCommand(a) },
  release: { summary: 'build, verify, activate, roll back and prune content releases', run: async (a) => (await import('./release.js')).releaseCommand(a) },
  cluster: { summary: 'operate the nodes listed in an Ansible inventory', run: async (a) => (await import('./cluster.js')).clusterCommand(a) },
  gate: { summary: 'the release gate: scenarios at a fixed rate against their SLOs', run: async (a) => (await import('./gate.js')).gateCommand(a) },
  soak: { summary: 'a steady rate for a long time: fails when server memory or descriptors grow', run: async (a) => (await import('./soak.js')).soakCommand(a) },
  plan: { summary: 'how many Pis a launch needs, and which limit binds', run: async (a) => (await import('./plan.js')).planCommand(a) },
  bench: { summary: 'benchmark this server against raw uWS, nginx, node:http, sirv and @fastify/static', run: async (a) => (await import('./bench.js')).benchCommand(a) },
};

function usage(): string {
  const names = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return ['Usage: pi-origin <command> [options]', '', 'Commands:', ...names, '', "Run 'pi-origin <command> --help' for a command's options."].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { packageVersion } = await import('../server/origin.js');
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`pi-origin: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`pi-origin: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
