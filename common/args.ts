/**
 * The one argument parser of every `pi-origin` command (and of the bench script it spawns):
 * Node's `util.parseArgs` splits the words into options and positionals, and this module checks
 * them against a command's table, so every command refuses the same mistakes with the same
 * words. Errors are {@link UsageError}s naming the option; the caller adds the command and the
 * pointer to its --help.
 */
import { parseArgs as nodeParseArgs } from 'node:util';

/** `value` takes one argument; `boolean` none; `list` a value that may be repeated (`-e a=1 -e b=2`), in order. */
export type FlagKind = 'value' | 'boolean' | 'list';

/** What a command accepts: its options (long names without `--`), short spellings, positionals. */
export interface ArgSpec {
  readonly flags: Readonly<Record<string, FlagKind>>;
  /** Short spellings: `-i` for `--inventory`, as ansible-playbook has it. */
  readonly short?: Readonly<Record<string, string>>;
  /** Names of the required positional arguments. */
  readonly positional?: readonly string[];
  /** Positional arguments that may follow the required ones. */
  readonly optional?: readonly string[];
  /** A repeated option replaces the earlier one instead of being refused (serve: flags layered like its config). */
  readonly lastWins?: boolean;
}

/** Bad arguments: printed as one line with a pointer to the command's --help, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface ArgOption {
  /** The long name, without `--`. */
  readonly name: string;
  /** The value; `true` for a boolean. */
  readonly value: string | true;
}

export interface ScannedArgs {
  readonly positional: string[];
  /** Every option as given, in order (a repeated one more than once). */
  readonly options: ArgOption[];
}

/**
 * The options and positionals of `args`, each option checked: a known name, a value where one
 * is needed (not empty, not the next option), none where none is taken. Repetition and the
 * number of positionals are left to the caller ({@link parseArgs} refuses both).
 */
export function scanArgs(args: readonly string[], spec: ArgSpec): ScannedArgs {
  const short = spec.short ?? {};
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, kind] of Object.entries(spec.flags)) options[name] = { type: kind === 'boolean' ? 'boolean' : 'string' };
  // util.parseArgs names a short option's token after the long one it stands for.
  for (const [letter, name] of Object.entries(short)) options[name] = { type: spec.flags[name] === 'boolean' ? 'boolean' : 'string', short: letter };
  const { tokens } = nodeParseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const positional: string[] = [];
  const scanned: ArgOption[] = [];
  for (const token of tokens) {
    if (token.kind === 'positional') positional.push(token.value);
    if (token.kind !== 'option') continue;
    const kind = spec.flags[token.name];
    const shown = token.rawName.startsWith('--') ? token.rawName : `${token.rawName} (--${token.name})`;
    if (kind === undefined || (token.rawName.length === 2 && !token.rawName.startsWith('--') && short[token.rawName.slice(1)] === undefined)) throw new UsageError(`unknown option ${token.rawName}`);
    if (kind === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${shown} takes no value (got ${JSON.stringify(token.value)})${spec.flags[`no-${token.name}`] === 'boolean' ? `; use --no-${token.name}` : ''}`);
      scanned.push({ name: token.name, value: true });
      continue;
    }
    // `--out --json`: the next option is not a value (write `--out=--json` if it is one).
    if (token.value === undefined || token.value === '' || (token.inlineValue === false && token.value.startsWith('--'))) throw new UsageError(`${shown} needs a value`);
    scanned.push({ name: token.name, value: token.value });
  }
  return { positional, options: scanned };
}

export interface ParsedArgs {
  readonly positional: string[];
  /** `value` and `boolean` options; each may be given once. */
  readonly flags: Map<string, string | true>;
  /** The values of `list` options (absent when not given). */
  readonly lists: Map<string, string[]>;
  /** Every option as given, in order. */
  readonly options: ArgOption[];
}

/** {@link scanArgs}, then: each non-list option at most once, and as many positionals as `spec` names. */
export function parseArgs(args: readonly string[], spec: ArgSpec): ParsedArgs {
  const { positional, options } = scanArgs(args, spec);
  const flags = new Map<string, string | true>();
  const lists = new Map<string, string[]>();
  for (const { name, value } of options) {
    if (spec.flags[name] === 'list') lists.set(name, [...(lists.get(name) ?? []), value as string]);
    else if (flags.has(name) && spec.lastWins !== true) throw new UsageError(`--${name} given twice`);
    else flags.set(name, value);
  }
  const required = spec.positional ?? [];
  const optional = spec.optional ?? [];
  if (required.length === 0 && optional.length === 0 && positional.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
  if (positional.length < required.length || positional.length > required.length + optional.length)
    throw new UsageError(`expected ${[...required, ...optional.map((o) => `[${o}]`)].join(' ')} (got ${positional.length} argument${positional.length === 1 ? '' : 's'})`);
  return { positional, flags, lists, options };
}
