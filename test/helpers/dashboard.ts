/**
 * For the dashboard's browser tests: start `pi-origin cluster dashboard` (the built CLI) and open
 * its page in Debian's chromium through playwright-core, counting every request that leaves the
 * dashboard's origin and every console message, and read the node rows back from the DOM.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Test } from 'tap';
import { listeningPort, start, type Result } from './cli.js';
import { writeInventory } from './inventory.js';
import { startServer } from './server.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const NO_CHROMIUM = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`;

export interface RunningDashboard {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, then the exit. */
  stop(): Promise<Result>;
  stdout(): string;
  stderr(): string;
}

/** Starts the dashboard on [::1] (port 0) with `args`; killed at teardown if the test did not stop it. */
export async function startDashboard(t: Test, args: readonly string[]): Promise<RunningDashboard> {
  const p = start(['cluster', 'dashboard', '--listen', '[::1]:0', ...args]);
  let done = false;
  void p.result.then(() => (done = true));
  t.teardown(() => {
    if (!done) p.child.kill('SIGKILL');
  });
  const port = await listeningPort(p);
  if (typeof port !== 'number') throw new Error(`the dashboard exited (${port.code ?? port.signal}): ${port.stderr}`);
  return {
    url: `http://[::1]:${port}/`,
    port,
    pid: p.child.pid as number,
    stop: () => {
      p.child.kill('SIGTERM');
      return p.result;
    },
    stdout: p.stdout,
    stderr: p.stderr,
  };
}

export interface ThreeOrigins {
  readonly n1: { readonly port: number };
  readonly n2: { readonly port: number };
  readonly n3: { readonly port: number };
  /** The release of node1 and node2 (dirs a and b hold the same bytes). */
  readonly same: string;
  /** node3's release (dir c). */
  readonly other: string;
  /** hosts.ini in `dir`, group origins, node2's address spelled out in full. */
  readonly inventory: string;
  /** Stops node2 at once (SIGKILL), as a node dies. */
  readonly killNode2: () => void;
}

/**
 * What both browsers must show for {@link startThreeOrigins}' cluster, per row: name, address,
 * port, health and release, in inventory order.
 */
export function threeOriginRows(o: Pick<ThreeOrigins, 'n1' | 'n2' | 'n3' | 'same' | 'other'>): string[][] {
  return [
    ['node1', '::1', `port ${o.n1.port}`, 'ok', o.same],
    ['node2', '::1', `port ${o.n2.port}`, 'ok', o.same],
    ['node3', '::1', `port ${o.n3.port}`, 'ok', o.other],
  ];
}

/**
 * The browser tests' cluster: origins on [::1] serving `dir`/a, b and c. node2 is a process of
 * its own, so that it can be killed; node1 and node3 run in the test.
 */
export async function startThreeOrigins(t: Test, dir: string): Promise<ThreeOrigins> {
  const [n1, n3] = await Promise.all(['a', 'c'].map((d) => startServer(t, join(dir, d))));
  if (n1 === undefined || n3 === undefined) throw new Error('two servers');
  const server2 = start(['serve', join(dir, 'b'), '--listen', '[::1]:0', '--workers', '1']);
  t.teardown(() => void server2.child.kill('SIGKILL'));
  const n2port = await listeningPort(server2);
  if (typeof n2port !== 'number') throw new Error(`node2 did not start: ${n2port.stderr}`);
  const inventory = writeInventory(join(dir, 'hosts.ini'), [
    ['node1', '::1', n1.port],
    // Spelled out in full: the page must show it in RFC 5952 form.
    ['node2', '0:0:0:0:0:0:0:1', n2port],
    ['node3', '::1', n3.port],
  ]);
  return {
    n1,
    n2: { port: n2port },
    n3,
    same: n1.node.releaseId(),
    other: n3.node.releaseId(),
    inventory,
    killNode2: () => void server2.child.kill('SIGKILL'),
  };
}

export interface OpenedPage {
  readonly page: Page;
  /** Requests to anywhere but the dashboard itself (each one aborted). */
  readonly foreign: string[];
  /** Console errors and warnings (CSP violations are reported there). */
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  /** How many /api/state answers the page has received. */
  stateAnswers(): number;
}

export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<OpenedPage> {
  const origin = new URL(url).origin;
  const page = await (await browser.newContext({ viewport })).newPage();
  const foreign: string[] = [];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  let answers = 0;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('response', (r) => {
    if (r.url() === `${origin}/api/state`) answers++;
  });
  await page.route('**/*', (route) => (new URL(route.request().url()).origin === origin ? route.continue() : (foreign.push(route.request().url()), route.abort('blockedbyclient'))));
  await page.goto(url, { waitUntil: 'load' });
  return { page, foreign, consoleErrors, pageErrors, stateAnswers: () => answers };
}

/** The DOM as far as the page functions below use it: the tests compile without lib.dom. */
interface El {
  textContent: string | null;
  hidden: boolean;
  className: string;
  dataset: Record<string, string | undefined>;
  classList: { contains(c: string): boolean };
  querySelector(s: string): El | null;
  querySelectorAll(s: string): ArrayLike<El>;
  getBoundingClientRect(): { left: number; right: number; width: number };
}
interface Win {
  document: El & { documentElement: { scrollWidth: number; clientWidth: number }; body: { scrollWidth: number } };
  getComputedStyle(el: El): { userSelect: string; fontFamily: string; backgroundColor: string; display: string };
  innerWidth: number;
}

export interface RowView {
  readonly name: string;
  readonly address: string;
  readonly port: string;
  readonly health: string;
  readonly note: string;
  readonly release: string;
  readonly classes: string;
  readonly badgeShown: boolean;
  readonly requests: string;
  readonly proxy: string;
}

/** Every node row as the page shows it, in page order. */
export function readRows(page: Page): Promise<RowView[]> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as Win).document;
    const text = (tr: El, sel: string): string => tr.querySelector(sel)?.textContent ?? '';
    return Array.from(doc.querySelectorAll('#node-rows tr')).map((tr) => ({
      name: tr.dataset.node ?? '',
      address: text(tr, '.addr'),
      port: text(tr, '.port').trim(),
      health: text(tr, '.state'),
      note: text(tr, '.note'),
      release: text(tr, '.release-id'),
      classes: tr.className,
      badgeShown: tr.querySelector('.badge')?.hidden === false,
      requests: text(tr, 'td.requests'),
      proxy: text(tr, 'td.proxy-col'),
    }));
  });
}

/** The widest thing on the page against the viewport: nothing may scroll sideways. */
export function horizontalOverflow(page: Page): Promise<{ viewport: number; scrollWidth: number; widest: number; widestWhat: string }> {
  return page.evaluate(() => {
    const win = globalThis as unknown as Win;
    let widest = 0;
    let widestWhat = '';
    for (const el of Array.from(win.document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > widest && win.getComputedStyle(el).display !== 'none') {
        widest = r.right;
        widestWhat = `${(el as unknown as { tagName: string }).tagName}.${el.className}`;
      }
    }
    return { viewport: win.innerWidth, scrollWidth: Math.max(win.document.documentElement.scrollWidth, win.document.body.scrollWidth), widest, widestWhat };
  });
}

/** The address cell's styles: copyable as a whole, in a monospace face. */
export function addressStyle(page: Page, node: string): Promise<{ userSelect: string; fontFamily: string }> {
  return page.locator(`tr[data-node="${node}"] .addr`).evaluate((el: unknown) => {
    const s = (globalThis as unknown as Win).getComputedStyle(el as El);
    return { userSelect: s.userSelect, fontFamily: s.fontFamily };
  });
}

export function backgroundOf(page: Page, selector: string): Promise<string> {
  return page.locator(selector).evaluate((el: unknown) => (globalThis as unknown as Win).getComputedStyle(el as El).backgroundColor);
}
