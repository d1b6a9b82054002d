#!/usr/bin/env node
/**
 * `pi-origin`: one CLI, a small command module per subcommand (cli/commands.ts). Errors a person
 * can act on are printed as one line and exit non-zero (2 for usage); a stack trace means a bug.
 */
import { commandTree, COMMANDS } from './commands.js';
import { isGroup, runGroup, runSubcommand } from './subcommands.js';

async function usage(): Promise<string> {
  const names = (await commandTree()).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return [
    'Usage: pi-origin <command> [options]',
    '',
    'Commands:',
    ...names,
    '',
    'Examples:',
    '  pi-origin serve /srv/origin/releases/current --listen [::]:8080',
    '  pi-origin release build site/ --out /srv/origin/releases',
    '  pi-origin cluster status -i inventory.ini',
    '',
    "Run 'pi-origin <command> --help' for a command's options and examples; 'pi-origin --version' for the build.",
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await usage()) + '\n');
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name === '--version' || name === '-v' ? 'version' : name];
  if (load === undefined) {
    process.stderr.write(`pi-origin: unknown command ${JSON.stringify(name)} (expected ${Object.keys(COMMANDS).join(', ')}; see pi-origin --help)\n`);
    return 2;
  }
  const command = await load();
  return isGroup(command) ? runGroup(name, command, rest) : runSubcommand(name === '-v' || name === '--version' ? 'version' : name, command, rest);
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
