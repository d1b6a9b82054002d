/**
 * The shape of every command: a leaf (`pi-origin gate`, `pi-origin release build`) is a
 * {@link Subcommand}, a group (`pi-origin release`, `pi-origin cluster`) a table of them. One
 * argument parser (common/args.ts), one help layout, one place that turns errors into a line
 * and an exit code: 2 for usage, with a pointer to the command's --help.
 */
import { parseArgs, UsageError, type ArgOption, type ArgSpec, type FlagKind } from '../common/args.js';

export { parseArgs, UsageError, type ArgOption, type FlagKind };

export interface Subcommand extends ArgSpec {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  /** Command lines for the help's `Examples:` block, each shown as typed. */
  readonly examples?: readonly string[];
  /** `lists` holds the values of `list` options (absent when not given); `ordered` every option as given. */
  run(positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>, ordered: readonly ArgOption[]): Promise<number>;
}

/** `pi-origin GROUP <name> ...`: `onError` maps the group's own error types to an exit code (printing them). */
export interface Group {
  readonly summary: string;
  readonly subcommands: Readonly<Record<string, Subcommand>>;
  readonly onError?: ErrorMapper;
}

/** Maps a command's own error types to an exit code (printing them), or to a UsageError; undefined: a bug, it propagates. */
export type ErrorMapper = (e: unknown) => number | UsageError | undefined;

export type Command = Subcommand | Group;

export function isGroup(c: Command): c is Group {
  return 'subcommands' in c;
}

/** A failure that is not a usage error: `pi-origin: error: MESSAGE`, exit `code`. */
export function fail(message: string, code: number): number {
  process.stderr.write(`pi-origin: error: ${message}\n`);
  return code;
}

/** A usage error of `pi-origin PATH`: one line naming the problem and the help to read, exit 2. */
export function usageError(path: string, message: string): number {
  process.stderr.write(`pi-origin ${path}: ${message} (see pi-origin ${path} --help)\n`);
  return 2;
}

const wantsHelp = (args: readonly string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

/** `Usage:`, the text, `Examples:`. */
export function helpText(sub: Subcommand): string {
  const examples = sub.examples === undefined || sub.examples.length === 0 ? [] : ['', 'Examples:', ...sub.examples.map((e) => `  ${e}`)];
  return [`Usage: ${sub.usage}`, '', sub.help, ...examples].join('\n');
}

/** Runs `pi-origin PATH ARGS...` for a leaf command; errors other than UsageError propagate unless `onError` claims them. */
export async function runSubcommand(path: string, sub: Subcommand, args: readonly string[], onError: ErrorMapper = () => undefined): Promise<number> {
  if (wantsHelp(args)) {
    process.stdout.write(helpText(sub) + '\n');
    return 0;
  }
  try {
    const { positional, flags, lists, options } = parseArgs(args, sub);
    return await sub.run(positional, flags, lists, options);
  } catch (e) {
    const mapped = e instanceof UsageError ? e : onError(e);
    if (mapped === undefined) throw e;
    return mapped instanceof UsageError ? usageError(path, mapped.message) : mapped;
  }
}

/** Runs `pi-origin GROUP <name> ...`. */
export function runGroup(group: string, command: Group, args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(groupUsage(group, command.subcommands) + '\n');
    return Promise.resolve(name === undefined ? 2 : 0);
  }
  const sub = command.subcommands[name];
  if (sub === undefined) {
    process.stderr.write(`pi-origin ${group}: unknown command ${JSON.stringify(name)} (expected ${Object.keys(command.subcommands).join(', ')}; see pi-origin ${group} --help)\n`);
    return Promise.resolve(2);
  }
  return runSubcommand(`${group} ${name}`, sub, rest, command.onError);
}

function groupUsage(group: string, table: Readonly<Record<string, Subcommand>>): string {
  const width = Math.max(9, ...Object.keys(table).map((name) => name.length + 1));
  const lines = Object.entries(table).map(([name, s]) => `  ${name.padEnd(width)} ${s.summary}`);
  return [`Usage: pi-origin ${group} <command> [options]`, '', 'Commands:', ...lines, '', `Run 'pi-origin ${group} <command> --help' for a command's arguments, options and examples.`].join('\n');
}

/**
 * A load test's modules, imported only for a run that happens (--help and usage errors stay
 * quick); where the load generator is not installed (a node's artifact has no autocannon),
 * undefined after one line saying what is missing.
 */
export async function loadTestModules<T>(command: string, load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    fail(`${command} needs its load generator (autocannon), which is not installed here: run it from a controller with the full package (${(e as Error).message.split('\n')[0] ?? ''})`, 1);
    return undefined;
  }
}

/** Parsed options back as arguments: `--name`, `--name value`, or `--name=-value` (a value the parser would read as an option). */
export function argsOf(ordered: readonly ArgOption[]): string[] {
  return ordered.flatMap((o) => (o.value === true ? [`--${o.name}`] : o.value.startsWith('-') ? [`--${o.name}=${o.value}`] : [`--${o.name}`, o.value]));
}

/** The command line as a report records it: `pi-origin PATH --name=value ...`, from the parsed options. */
export function commandLine(path: string, ordered: readonly ArgOption[]): string {
  return ['pi-origin', path, ...argsOf(ordered)].join(' ');
}

/** `--target http://[2001:db8::11]/` -> `http://[2001:db8::11]`: load tests send absolute paths. */
export function targetOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--target must be a URL such as http://[2001:db8::11]/ (got ${JSON.stringify(text)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--target must be http or https (got ${url.protocol})`);
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw new UsageError(`--target must be an origin with no path, query or user (got ${text})`);
  return url.origin;
}
