/**
 * The HTML report in a real browser: Debian's chromium driven by playwright-core opens the
 * written file offline and must draw every chart, make no request besides the document and
 * log no error. Screenshots are kept under .tap/fixtures/ (git-ignored) for a human to look at.
 * Skipped when chromium is not installed (CI: `apt-get install chromium`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { CHART_IDS, type ChartId } from '../load-tests/report/html.js';
import type { Report } from '../load-tests/report/model.js';
import { writeReport } from '../load-tests/report/write.js';
import { benchReport, gateReport } from './helpers/report-fixture.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`;

let browser: Browser | undefined;
t.before(async () => {
  // Tests run as root in CI containers, where Chromium refuses to start with its sandbox.
  if (!skip) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
t.teardown(() => browser?.close());

/** The DOM as far as the page functions below use it: the tests compile without lib.dom. */
interface DomBox {
  left: number;
  right: number;
  width: number;
  height: number;
}
interface DomNode {
  textContent: string | null;
  getBBox(): DomBox;
  getBoundingClientRect(): DomBox;
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): ArrayLike<DomNode>;
}
interface DomWindow {
  document: DomNode;
  getComputedStyle(el: DomNode): { color: string };
}

interface Opened {
  page: Page;
  dir: string;
  /** Every request other than the document itself (all of them are aborted). */
  requests: string[];
  consoleErrors: string[];
  pageErrors: string[];
}

/** Load a file:// URL in a fresh context with every other request counted and refused. */
async function open(file: string, viewport = { width: 1024, height: 768 }): Promise<Omit<Opened, 'dir'>> {
  if (!browser) throw new Error('browser not started');
  const url = pathToFileURL(file).href;
  const page = await (await browser.newContext({ viewport })).newPage();
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (req) => {
    if (req.url() !== url) requests.push(req.url());
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.route('**/*', (route) => (route.request().url() === url ? route.continue() : route.abort('blockedbyclient')));
  await page.goto(url, { waitUntil: 'load' });
  return { page, requests, consoleErrors, pageErrors };
}

/** Write the report into a kept test dir and open it. */
async function openReport(t: Test, report: Report, basename: string): Promise<Opened> {
  t.saveFixture = true;
  const dir = t.testdir();
  const { html } = writeReport(report, dir, basename);
  return { ...(await open(html)), dir };
}

/** The shapes a chart draws and whether they have a real size on screen. */
async function drawn(page: Page, id: ChartId): Promise<{ shapes: number; sized: number; title: string }> {
  return page.locator(`svg[data-chart="${id}"]`).evaluate((el) => {
    const svg = el as unknown as DomNode;
    const shapes = Array.from(svg.querySelectorAll('rect, path, polyline, circle'));
    const sized = shapes.filter((s) => {
      const b = s.getBBox();
      return b.width > 0 || b.height > 0;
    }).length;
    return { shapes: shapes.length, sized, title: svg.querySelector(':scope > title')?.textContent ?? '' };
  });
}

async function assertCharts(t: Test, page: Page, present: readonly ChartId[]): Promise<void> {
  for (const id of CHART_IDS) {
    const svg = page.locator(`svg[data-chart="${id}"]`);
    if (!present.includes(id)) {
      t.equal(await svg.count(), 0, `${id}: no chart`);
      t.ok(await page.locator(`[data-no-data="${id}"]`).isVisible(), `${id}: the no-data note is shown instead`);
      continue;
    }
    t.ok(await svg.isVisible(), `${id}: visible`);
    const box = await svg.boundingBox();
    t.ok(box && box.width > 300 && box.height > 50, `${id}: laid out (${box?.width}×${box?.height})`);
    const d = await drawn(page, id);
    t.ok(d.shapes > 0, `${id}: draws ${d.shapes} shapes`);
    t.equal(d.sized, d.shapes, `${id}: every shape has a size (no NaN geometry)`);
    t.ok(d.title.length > 5, `${id}: accessible title "${d.title}"`);
  }
}

function assertClean(t: Test, o: Omit<Opened, 'dir' | 'page'>): void {
  t.same(o.requests, [], 'no request besides the document');
  t.same(o.consoleErrors, [], 'no console error or warning');
  t.same(o.pageErrors, [], 'no page error');
}

t.test('gate report: three charts, no ratios, FAIL shown for the failing checks', { skip }, async (t) => {
  const report = gateReport();
  const o = await openReport(t, report, 'gate');
  assertClean(t, o);
  await assertCharts(t, o.page, ['latency-percentiles', 'latency-over-time', 'rate-over-time']);

  const failRow = o.page.locator('table.verdicts tr', { hasText: 'p99 73.2 ms > 50 ms' });
  t.equal((await failRow.locator('td.verdict').textContent())?.trim(), '✗ FAIL');
  t.equal((await o.page.locator('table.verdicts tr', { hasText: 'p99 6.40 ms' }).locator('td.verdict').textContent())?.trim(), '✓ PASS');
  const colours = await o.page.evaluate(() => {
    const win = globalThis as unknown as DomWindow;
    return ['td.verdict.fail', 'td.verdict.pass'].map((sel) => {
      const cell = win.document.querySelector(sel);
      return cell ? win.getComputedStyle(cell).color : 'missing';
    });
  });
  t.not(colours[0], colours[1], `pass and fail differ in colour too (${colours.join(' vs ')})`);
  t.match(await o.page.locator('.banner').textContent(), /FAILED \(2 of 8 checks failed\)/);
  t.match(await o.page.locator('header pre').textContent(), report.command, 'the exact command, quotes and < included');
  t.match(await o.page.locator('ul.notes').textContent(), 'SLO: p99 < 50 ms & no errors');
  t.equal(await o.page.locator('script').count(), 0);

  await o.page.screenshot({ path: join(o.dir, 'gate.png'), fullPage: true });
  t.comment(`screenshot: ${join(o.dir, 'gate.png')}`);
});

t.test('bench report: ratio bars proportional, 1.0 line where a 1.0 bar would end', { skip }, async (t) => {
  const report = benchReport();
  const o = await openReport(t, report, 'bench');
  assertClean(t, o);
  await assertCharts(t, o.page, ['latency-percentiles', 'rate-over-time', 'ratios']);

  const bars = await o.page.locator('svg[data-chart="ratios"] rect.bar').evaluateAll((els) =>
    els.map((e) => {
      const r = (e as unknown as DomNode).getBoundingClientRect();
      return { left: r.left, width: r.width };
    }),
  );
  t.equal(bars.length, report.ratios.length, 'a bar per ratio');
  const perUnit = bars.map((b, i) => b.width / (report.ratios[i]?.ratio ?? Number.NaN));
  const scale = perUnit[0] ?? 0;
  t.ok(scale > 100, `1.0 is ${scale.toFixed(1)} px wide`);
  perUnit.forEach((k, i) => t.ok(Math.abs(k - scale) / scale < 0.01, `${report.ratios[i]?.label}: width ∝ ratio (${k.toFixed(2)} px per 1.0)`));
  t.ok(bars.every((b) => Math.abs(b.left - (bars[0]?.left ?? 0)) < 0.5), 'bars share their origin');
  const ref = await o.page.locator('svg[data-chart="ratios"] line.ref').boundingBox();
  const refX = (ref?.x ?? 0) + (ref?.width ?? 0) / 2;
  t.ok(Math.abs(refX - ((bars[0]?.left ?? 0) + scale)) < 1.5, `1.0 line at ${refX.toFixed(1)} px`);

  await o.page.screenshot({ path: join(o.dir, 'bench.png'), fullPage: true });
  // A phone: the charts scale down to the viewport instead of overflowing it.
  const phone = await open(join(o.dir, 'bench.html'), { width: 390, height: 844 });
  const widest = await phone.page.evaluate(() => {
    const svgs = Array.from((globalThis as unknown as DomWindow).document.querySelectorAll('svg[data-chart]'));
    return Math.max(...svgs.map((s) => s.getBoundingClientRect().right));
  });
  t.ok(widest <= 390, `charts fit a 390 px screen (right edge ${widest.toFixed(0)} px)`);
  await phone.page.screenshot({ path: join(o.dir, 'bench-phone.png'), fullPage: true });
  t.comment(`screenshots: ${o.dir}`);
});

t.test('the request counting catches a page that loads something', { skip }, async (t) => {
  // Guards the guard: without this, a broken route or listener would pass every test above.
  t.saveFixture = false;
  const file = join(t.testdir(), 'leaky.html');
  writeFileSync(file, '<!doctype html><title>leaky</title><img src="https://cdn.example.invalid/x.png" alt="">');
  const o = await open(file);
  t.same(o.requests, ['https://cdn.example.invalid/x.png'], 'counted');
  t.ok(readFileSync(file, 'utf8').includes('<img'));
});
