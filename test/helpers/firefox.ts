/**
 * For the dashboard's Firefox test: Debian's firefox-esr, headless, driven over its own Marionette
 * protocol (TCP on 127.0.0.1, each message `LENGTH:JSON`), so that no WebDriver package or
 * geckodriver is needed. Marionette picks a free port (`marionette.port` 0) and writes it to the
 * profile's MarionetteActivePort file. The profile turns off everything that would reach the
 * network by itself, and sends any request that does leave loopback to a closed port.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
export const NO_FIREFOX = existsSync(FIREFOX) ? false : `${FIREFOX} not found: install Debian's firefox-esr (apt-get install firefox-esr) or set FIREFOX_PATH`;

/** Nothing but the test's own loopback traffic: no updates, telemetry, remote settings, prefetch. */
const PREFS: Record<string, string | number | boolean> = {
  'marionette.port': 0,
  'app.update.disabledForTesting': true,
  'app.normandy.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.newtabpage.enabled': false,
  'browser.region.network.url': '',
  'browser.search.update': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.server': 'http://[::1]:9/',
  'services.settings.server': 'http://[::1]:9/',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'geo.provider.network.url': '',
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.http.speculative-parallel-limit': 0,
  'network.prefetch-next': false,
  // Everything that is not loopback goes to the discard port, where nothing listens.
  'network.proxy.type': 1,
  'network.proxy.http': '::1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '::1',
  'network.proxy.ssl_port': 9,
  'network.proxy.allow_hijacking_localhost': false,
  // The page's console messages and script errors go to stdout (`console.error: …`,
  // `JavaScript error: URL, line N: …`), where the test reads them.
  'devtools.console.stdout.content': true,
};

export interface Firefox {
  /** Sends a Marionette command; resolves with its result, rejects with its error. */
  command(name: string, params?: Record<string, unknown>): Promise<unknown>;
  /** Navigates and waits for the load event. */
  navigate(url: string): Promise<void>;
  /** Runs `script` (a function body) in the page and resolves with what it returns. */
  run<T>(script: string): Promise<T>;
  stdout(): string;
  close(): void;
}

/** Starts firefox-esr headless with a fresh profile; `close` kills its process group and removes the profile. */
export async function launchFirefox(): Promise<Firefox> {
  const dir = mkdtempSync(join(tmpdir(), 'pid-firefox-'));
  writeFileSync(join(dir, 'user.js'), Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
  // Detached: Firefox starts content processes; the group is killed at close.
  const child = spawn(FIREFOX, ['--headless', '--marionette', '--no-remote', '-profile', dir, 'about:blank'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: dir, MOZ_CRASHREPORTER_DISABLE: '1' },
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  let exited = false;
  child.on('exit', () => (exited = true));
  const close = (): void => {
    socket?.destroy();
    if (!exited && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let socket: Socket | undefined;
  try {
    const portFile = join(dir, 'MarionetteActivePort');
    const port = await waitFor(
      `Firefox's Marionette port (${out})`,
      () => {
        if (exited) throw new Error(`firefox-esr exited: ${out}`);
        return existsSync(portFile) ? Number(readFileSync(portFile, 'utf8').trim()) || undefined : undefined;
      },
      30_000,
    );
    const s = connect({ host: '127.0.0.1', port });
    socket = s;
    const m = marionette(s);
    await m.ready;
    await m.command('WebDriver:NewSession', { capabilities: { alwaysMatch: { pageLoadStrategy: 'normal' } } });
    return {
      command: m.command,
      navigate: async (url) => void (await m.command('WebDriver:Navigate', { url })),
      run: async <T>(script: string) => ((await m.command('WebDriver:ExecuteScript', { script, args: [] })) as { value: T }).value,
      stdout: () => out,
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

/** The wire format: `LENGTH:JSON`; commands `[0, id, name, params]`, answers `[1, id, error, result]`. */
function marionette(socket: Socket): { ready: Promise<void>; command: (name: string, params?: Record<string, unknown>) => Promise<unknown> } {
  let buffer = Buffer.alloc(0);
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let greeted: () => void = () => undefined;
  let failed: (e: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    greeted = resolve;
    failed = reject;
  });
  const fail = (e: Error): void => {
    failed(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('Marionette connection closed')));
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const colon = buffer.indexOf(':');
      if (colon < 0) return;
      const length = Number(buffer.subarray(0, colon).toString('latin1'));
      if (buffer.length < colon + 1 + length) return;
      const message: unknown = JSON.parse(buffer.subarray(colon + 1, colon + 1 + length).toString('utf8'));
      buffer = buffer.subarray(colon + 1 + length);
      if (!Array.isArray(message)) {
        greeted(); // {"applicationType":"gecko","marionetteProtocol":3}
        continue;
      }
      const [, id, error, result] = message as [number, number, { error: string; message: string } | null, unknown];
      const p = pending.get(id);
      pending.delete(id);
      if (error !== null) p?.reject(new Error(`Marionette: ${error.error}: ${error.message}`));
      else p?.resolve(result);
    }
  });
  return {
    ready,
    command: (name, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        const body = Buffer.from(JSON.stringify([0, id, name, params]), 'utf8');
        socket.write(`${body.length}:`);
        socket.write(body);
      }),
  };
}
