/**
 * How to reach an inventory host with plain `ssh`, the way Ansible's ssh connection does: the
 * same address, port, user, key and extra ssh arguments, taken from the host's merged variables
 * (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
 * ansible_ssh_common_args, ansible_ssh_extra_args), then from the environment Ansible reads
 * (ANSIBLE_REMOTE_USER, ANSIBLE_REMOTE_PORT, ANSIBLE_PRIVATE_KEY_FILE, ANSIBLE_SSH_COMMON_ARGS,
 * ANSIBLE_SSH_EXTRA_ARGS). Host keys are always checked (ssh's own known_hosts, BatchMode: an
 * unknown or changed key refuses the connection); ansible.cfg's ssh_args (ControlMaster) are
 * not used, each connection is its own.
 *
 * A host Ansible would reach some other way (another connection plugin, a password, become) has
 * no target here: {@link sshTarget} says why, and the caller runs the playbook instead.
 */
import { hostPort } from './address.js';
import { shellWords, type InventoryHost } from './inventory.js';

export interface SshTarget {
  readonly host: string;
  /** `ssh` and its arguments up to and including the destination; the remote command follows. */
  readonly argv: readonly string[];
  /** `root@[fd00::11]:22` as a person reads it. */
  readonly display: string;
}

export type SshTargetResult = { readonly ok: true; readonly target: SshTarget } | { readonly ok: false; readonly reason: string };

/** Seconds ssh waits for the TCP connection (Ansible's default `timeout`). */
export const SSH_CONNECT_TIMEOUT = 10;

const CONNECTIONS = new Set(['ssh', 'smart']);
const PASSWORD_VARS = ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password'];
const BECOME_VARS = ['ansible_become', 'ansible_become_user', 'ansible_become_method'];

const isSet = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

/** Ansible's boolean reading of an inventory value (INI gives strings, YAML booleans). */
export function ansibleBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return typeof v === 'string' && /^(y|yes|on|1|true|t)$/i.test(v.trim());
}

function stringVar(host: InventoryHost, name: string, env: NodeJS.ProcessEnv, envName?: string): string | undefined {
  const v = host.vars[name];
  if (isSet(v)) return String(v);
  const e = envName === undefined ? undefined : env[envName];
  return e === undefined || e === '' ? undefined : e;
}

/** The ssh command line for `host`, or why the host is not reached with plain ssh. */
export function sshTarget(host: InventoryHost, env: NodeJS.ProcessEnv = process.env): SshTargetResult {
  const no = (reason: string): SshTargetResult => ({ ok: false, reason: `${host.name}: ${reason}` });
  const connection = host.vars.ansible_connection;
  if (isSet(connection) && !CONNECTIONS.has(String(connection))) return no(`ansible_connection is ${JSON.stringify(connection)}, not ssh`);
  for (const name of PASSWORD_VARS) if (isSet(host.vars[name])) return no(`${name} is set (plain ssh here logs in with keys only)`);
  for (const name of BECOME_VARS) if (name === 'ansible_become' ? ansibleBool(host.vars[name]) : isSet(host.vars[name])) return no(`${name} is set (the switch runs as the ssh user)`);
  if (ansibleBool(env.ANSIBLE_BECOME)) return no('ANSIBLE_BECOME is set (the switch runs as the ssh user)');

  const user = stringVar(host, 'ansible_user', env, 'ANSIBLE_REMOTE_USER');
  const port = stringVar(host, 'ansible_port', env, 'ANSIBLE_REMOTE_PORT');
  const key = stringVar(host, 'ansible_ssh_private_key_file', env, 'ANSIBLE_PRIVATE_KEY_FILE');
  const common = stringVar(host, 'ansible_ssh_common_args', env, 'ANSIBLE_SSH_COMMON_ARGS');
  const extra = stringVar(host, 'ansible_ssh_extra_args', env, 'ANSIBLE_SSH_EXTRA_ARGS');
  for (const [name, value] of [
    ['ansible_user', user],
    ['ansible_port', port],
    ['ansible_ssh_private_key_file', key],
    ['ansible_ssh_common_args', common],
    ['ansible_ssh_extra_args', extra],
  ] as const)
    if (value?.includes('{{') === true) return no(`${name} is a template (${value}); only Ansible can resolve it`);
  if (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) return no(`ansible_port must be an integer from 1 to 65535 (got ${JSON.stringify(port)})`);
  if (user !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) return no(`ansible_user ${JSON.stringify(user)} is not a plain user name`);

  let words: string[];
  try {
    const split = (text: string | undefined): string[] =>
      text === undefined
        ? []
        : shellWords(text, (m) => {
            throw new Error(m);
          });
    words = [...split(common), ...split(extra)];
  } catch (e) {
    return no(`its ssh arguments do not parse: ${(e as Error).message}`);
  }
  // ssh takes the first value it is given for an option: these come first, as in Ansible.
  const argv = [
    'ssh',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${SSH_CONNECT_TIMEOUT}`,
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    ...(port === undefined ? [] : ['-o', `Port=${port}`]),
    ...(key === undefined ? [] : ['-o', `IdentityFile=${key}`]),
    ...(user === undefined ? [] : ['-o', `User=${user}`]),
    ...words,
    '--',
    host.address.text,
  ];
  const display = `${user === undefined ? '' : `${user}@`}${hostPort(host.address, port === undefined ? 22 : Number(port))}`;
  return { ok: true, target: { host: host.name, argv, display } };
}

/** `text` as one word for a POSIX shell (ssh hands the remote command to the user's shell). */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
