/**
 * The inventory as Ansible itself resolves it: `ansible-inventory -i FILE --list`, run with the
 * playbooks' ansible.cfg and playbook directory, so group_vars/, host_vars/, inventory plugins
 * and variable precedence are exactly what the playbooks see. It costs about a second: the
 * cluster commands read the inventory once per command, never per poll.
 */
import { spawnSync } from 'node:child_process';

/** What `--list` prints, checked: groups (direct hosts and child groups) and every host's merged variables. */
export interface AnsibleListing {
  readonly groups: ReadonlyMap<string, { readonly hosts: readonly string[]; readonly children: readonly string[] }>;
  readonly hostvars: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

export type ListingResult = { readonly ok: true; readonly listing: AnsibleListing } | { readonly ok: false; readonly error: string } | { readonly ok: 'absent' };

/** Enough for ansible-inventory on a slow controller; a run past it is a hung one. */
const TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 64 << 20;

/**
 * Runs `command -i path --list --playbook-dir playbookDir` with `env`. `absent` when the command
 * is not installed (the caller falls back to its own reader); `error` with Ansible's own words
 * when it ran and failed (an inventory Ansible cannot parse fails here too: unparsed sources
 * are errors, not warnings).
 */
export function runAnsibleInventory(path: string, playbookDir: string, env: NodeJS.ProcessEnv, command = 'ansible-inventory'): ListingResult {
  const r = spawnSync(command, ['-i', path, '--list', '--playbook-dir', playbookDir], {
    env: { ...env, ANSIBLE_INVENTORY_UNPARSED_FAILED: 'True', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: MAX_OUTPUT,
  });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: 'absent' };
  if (r.error !== undefined) return { ok: false, error: `${command}: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, error: ansibleErrors(r.stderr) || `${command} exited with ${r.status ?? r.signal ?? '?'}` };
  const listing = parseListing(r.stdout);
  return typeof listing === 'string' ? { ok: false, error: `${command} --list: ${listing}` } : { ok: true, listing };
}

/** Ansible's ERROR and WARNING lines (what a person needs), without the rest of its stderr. */
function ansibleErrors(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(ERROR|\[WARNING\])/.test(l))
    .join('; ');
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `--list` JSON, or why it is not one. */
export function parseListing(text: string): AnsibleListing | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return 'output is not JSON';
  }
  if (!isObject(data)) return 'output is not an object';
  const meta = data._meta;
  const rawHostvars = isObject(meta) ? meta.hostvars : {};
  if (!isObject(rawHostvars)) return '_meta.hostvars is not an object';
  const hostvars = new Map<string, Record<string, unknown>>();
  for (const [host, vars] of Object.entries(rawHostvars)) {
    if (!isObject(vars)) return `_meta.hostvars.${host} is not an object`;
    hostvars.set(host, vars);
  }
  const groups = new Map<string, { hosts: string[]; children: string[] }>();
  for (const [name, g] of Object.entries(data)) {
    if (name === '_meta') continue;
    if (!isObject(g)) return `group ${name} is not an object`;
    const hosts = g.hosts ?? [];
    const children = g.children ?? [];
    if (!isStrings(hosts) || !isStrings(children)) return `group ${name}: hosts and children must be lists of names`;
    groups.set(name, { hosts, children });
  }
  return { groups, hostvars };
}
