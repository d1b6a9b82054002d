/**
 * Test helpers for the Ansible tests: run a command with a clean environment, read PLAY RECAP,
 * GET over HTTP, and pack the built app as the artifact the origin_node role installs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Called with each chunk of stdout as it arrives. */
  onStdout?: (text: string) => void;
}

/** Runs argv to completion (SIGKILL after the timeout); never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO, env: opts.env ?? { PATH: SAFE_PATH, HOME: '/root', LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      opts.onStdout?.(s);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * The environment ansible-playbook runs with in tests: the repo's ansible.cfg, no colour, and no
 * SSH ControlMaster (a master would outlive the rig) unless `controlDir` is given: then masters
 * live there for 15 s idle, and {@link closeMasters} ends them before the rig goes.
 */
export function ansibleEnv(extra: NodeJS.ProcessEnv = {}, controlDir?: string): NodeJS.ProcessEnv {
  const ssh = controlDir === undefined ? { ANSIBLE_SSH_ARGS: '' } : { ANSIBLE_SSH_ARGS: '-o ControlMaster=auto -o ControlPersist=15s', ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir };
  return { PATH: SAFE_PATH, HOME: '/root', LANG: 'C.UTF-8', ANSIBLE_CONFIG: join(REPO, 'ansible/ansible.cfg'), ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ...ssh, ...extra };
}

/** Asks every SSH master with a socket in `controlDir` to exit. */
export function closeMasters(controlDir: string): void {
  let sockets: string[];
  try {
    sockets = readdirSync(controlDir);
  } catch {
    return;
  }
  for (const s of sockets) spawnSync('ssh', ['-o', `ControlPath=${join(controlDir, s)}`, '-O', 'exit', 'master'], { stdio: 'ignore', timeout: 5000 });
}

/** PLAY RECAP lines: host -> { ok, changed, failed, unreachable, ... }. */
export function recap(out: string): Map<string, Record<string, number>> {
  const hosts = new Map<string, Record<string, number>>();
  const tail = out.slice(out.lastIndexOf('PLAY RECAP'));
  for (const line of tail.split('\n').slice(1)) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (m === null) continue;
    const counts: Record<string, number> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)=(\d+)/g)) counts[k as string] = Number(v);
    hosts.set(m[1] as string, counts);
  }
  return hosts;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One GET without keep-alive; rejects on connection errors and after `timeoutMs`. */
export function httpGet(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** `STATUS BODY` of one GET (trimmed), or the connection error's message: a server's health at a glance. */
export async function healthLine(url: string): Promise<string> {
  try {
    const r = await httpGet(url);
    return `${r.status} ${r.body.toString().trim()}`;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Retries httpGet until it answers (any status) or the deadline passes. */
export async function waitHttp(url: string, deadlineMs: number): Promise<HttpAnswer> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await httpGet(url);
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The artifact the origin_node role installs, for this machine's CPU, made by `pi-origin cluster artifact`. */
export async function buildArtifact(path: string): Promise<Run> {
  return run(process.execPath, [join(REPO, 'dist/cli/main.js'), 'cluster', 'artifact', '--out', path, '--arch', process.arch], { env: process.env });
}
