/**
 * The shared shape of a command group (`pi-origin release ...`, `pi-origin cluster ...`): a table
 * of subcommands, one argument parser, one place that turns errors into a line and an exit code.
 */

/** `list`: a value option that may be repeated (`-e a=1 -e b=2`), in order. */
export type FlagKind = 'value' | 'boolean' | 'list';

export interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly flags: Readonly<Record<string, FlagKind>>;
  /** Short spellings: `-i` for `--inventory`, as ansible-playbook has it. */
  readonly short?: Readonly<Record<string, string>>;
  /** Names of the required positional arguments. */
  readonly positional?: readonly string[];
  /** Positional arguments that may follow the required ones. */
  readonly optional?: readonly string[];
  /** `lists` holds the values of `list` options (absent when not given). */
  run(positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>): Promise<number>;
}

/** Bad arguments: printed with a pointer to the subcommand's --help, exit 2. */
export class UsageError extends Error {}

export function fail(message: string, code: number): number {
  process.stderr.write(`pi-origin: error: ${message}\n`);
  return code;
}

/**
 * Runs `pi-origin GROUP <name> ...`. `onError` maps the group's own error types to an exit code
 * (printing them); anything it does not claim is a bug and propagates.
 */
export async function runGroup(group: string, table: Readonly<Record<string, Subcommand>>, args: readonly string[], onError: (e: unknown) => number | undefined): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(groupUsage(group, table) + '\n');
    return name === undefined ? 2 : 0;
  }
  const sub = table[name];
  if (sub === undefined) return fail(`unknown ${group} command "${name}" (expected ${Object.keys(table).join(', ')}; see 'pi-origin ${group} --help')`, 2);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: ${sub.usage}\n\n${sub.help}\n`);
    return 0;
  }
  try {
    const { positional, flags, lists } = parseArgs(rest, sub);
    return await sub.run(positional, flags, lists);
  } catch (e) {
    if (e instanceof UsageError) return fail(`${name}: ${e.message} (see 'pi-origin ${group} ${name} --help')`, 2);
    const code = onError(e);
    if (code === undefined) throw e;
    return code;
  }
}

function groupUsage(group: string, table: Readonly<Record<string, Subcommand>>): string {
  const width = Math.max(9, ...Object.keys(table).map((name) => name.length + 1));
  const lines = Object.entries(table).map(([name, s]) => `  ${name.padEnd(width)} ${s.summary}`);
  return [`Usage: pi-origin ${group} <command> [options]`, '', 'Commands:', ...lines, '', `Run 'pi-origin ${group} <command> --help' for a command's arguments and options.`].join('\n');
}

export function parseArgs(args: readonly string[], sub: Subcommand): { positional: string[]; flags: Map<string, string | true>; lists: Map<string, string[]> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const lists = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = arg.slice(2, eq === -1 ? undefined : eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg) && sub.short?.[arg.slice(1)] !== undefined) {
      name = sub.short[arg.slice(1)] as string;
    } else if (arg.startsWith('-') && arg !== '-') {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
      continue;
    }
    const kind = sub.flags[name];
    if (kind === undefined) throw new UsageError(`unknown option --${name}`);
    if (flags.has(name)) throw new UsageError(`--${name} given twice`);
    if (kind === 'list') {
      const value = inline ?? args[++i];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      lists.set(name, [...(lists.get(name) ?? []), value]);
    } else if (kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      const value = inline ?? args[++i];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    }
  }
  const required = sub.positional ?? [];
  const optional = sub.optional ?? [];
  if (required.length === 0 && optional.length === 0 && positional.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
  if (positional.length < required.length || positional.length > required.length + optional.length)
    throw new UsageError(`expected ${[...required, ...optional.map((o) => `[${o}]`)].join(' ')} (got ${positional.length} argument${positional.length === 1 ? '' : 's'})`);
  return { positional, flags, lists };
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
