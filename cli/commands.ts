/**
 * The command tree of `pi-origin`: every command's name and where its descriptor lives. One
 * table for dispatch, `pi-origin --help` and the shell completion (cli/completion.ts), so none
 * of them can drift from the commands.
 */
import type { Command } from './subcommands.js';

/**
 * Each descriptor module is loaded only when needed: a node has the production dependencies
 * only, and `serve` must not pull in the gate's load generator or the bench's peers.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  serve: async () => (await import('./serve.js')).SERVE,
  release: async () => (await import('./release.js')).RELEASE,
  cluster: async () => (await import('./cluster.js')).CLUSTER,
  gate: async () => (await import('./gate.js')).GATE,
  soak: async () => (await import('./soak.js')).SOAK,
  plan: async () => (await import('./plan.js')).PLAN,
  downloads: async () => (await import('./downloads.js')).DOWNLOADS,
  bench: async () => (await import('./bench.js')).BENCH,
  version: async () => (await import('./version.js')).VERSION,
  completion: async () => (await import('./completion.js')).COMPLETION,
};

/** Every command's descriptor, in COMMANDS order. */
export async function commandTree(): Promise<[string, Command][]> {
  return Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => [name, await load()] as [string, Command]));
}
