/**
 * The dashboard page's script, inlined into the page by cluster/dashboard-page.ts (its hash is
 * the only script the page's CSP allows). Plain DOM, no framework: every `interval` it fetches
 * `/api/state` and updates the page in place. Text goes in through textContent only, and a cell
 * is written only when its text changes, so an address being selected for copying stays selected
 * across refreshes.
 */
import type { DashboardState, HistoryPoint, NodeRow, ProxyServer, ReportLink } from '../dashboard-state.js';

const SVG = 'http://www.w3.org/2000/svg';
const interval = Number(document.body.dataset.interval) || 2000;

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: no #${id}`);
  return el;
}

function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (className !== '') el.className = className;
  if (text !== '') el.textContent = text;
  return el;
}

// ---------------------------------------------------------------------------------------------
// Nodes: one row per node, created once and updated in place

interface RowCells {
  readonly tr: HTMLTableRowElement;
  readonly health: HTMLElement;
  readonly note: HTMLElement;
  readonly release: HTMLElement;
  readonly badge: HTMLElement;
  readonly uptime: HTMLElement;
  readonly requests: HTMLElement;
  readonly bytes: HTMLElement;
  readonly errors: HTMLElement;
  readonly cache: HTMLElement;
  readonly proxy: HTMLElement;
}

const rows = new Map<string, RowCells>();

/** A `<td>` with the column name for the phone layout (shown by CSS before the value). */
function cell(tr: HTMLTableRowElement, label: string, className = ''): HTMLTableCellElement {
  const td = element('td', className);
  td.dataset.label = label;
  tr.append(td);
  return td;
}

function createRow(n: NodeRow): RowCells {
  const tr = element('tr');
  tr.dataset.node = n.name;
  cell(tr, 'node', 'name').append(element('span', 'node-name', n.name));
  const where = cell(tr, 'address', 'where');
  // The address alone in its own element: selecting it (one click, user-select: all) copies exactly it.
  where.append(element('span', 'addr', n.address), element('span', 'port', ` port ${n.port}`));
  const healthCell = cell(tr, 'health', 'health');
  const health = element('span', 'state');
  const note = element('span', 'note');
  healthCell.append(health, note);
  const releaseCell = cell(tr, 'release', 'release');
  const release = element('code', 'release-id');
  const badge = element('span', 'badge', 'differs from majority');
  releaseCell.append(release, badge);
  const cells: RowCells = {
    tr,
    health,
    note,
    release,
    badge,
    uptime: cell(tr, 'uptime', 'num uptime'),
    requests: cell(tr, 'req/s', 'num requests'),
    bytes: cell(tr, 'bytes/s', 'num bytes'),
    errors: cell(tr, 'errors/s', 'num errors'),
    cache: cell(tr, 'cache', 'cache'),
    proxy: cell(tr, 'HAProxy', 'proxy-col'),
  };
  byId('node-rows').append(tr);
  rows.set(n.name, cells);
  return cells;
}

function renderRow(n: NodeRow, majority: string | null): void {
  const c = rows.get(n.name) ?? createRow(n);
  const odd = n.up && !n.releaseAgrees;
  c.tr.classList.toggle('down', !n.up);
  c.tr.classList.toggle('unhealthy', n.up && n.health !== 'ok');
  c.tr.classList.toggle('odd-release', odd);
  setText(c.health, n.up ? n.health : 'DOWN');
  const seen = n.lastSeen === null ? 'never answered' : `last seen ${new Date(n.lastSeen).toLocaleTimeString()}`;
  setText(c.note, n.error === null ? '' : n.up ? n.error : `${n.error} · ${seen}`);
  setText(c.release, n.up ? (n.release ?? 'none') : '–');
  c.badge.hidden = !odd;
  setText(c.badge, majority === null ? 'no majority release' : 'differs from majority');
  setText(c.uptime, n.text.uptime);
  setText(c.requests, n.text.requests);
  setText(c.bytes, n.text.bytes);
  setText(c.errors, n.text.errors);
  c.errors.classList.toggle('bad', (n.errorsPerSecond ?? 0) > 0);
  setText(c.cache, n.text.cache);
  setText(c.proxy, n.proxy === null ? '–' : n.proxy.status);
  c.proxy.className = `proxy-col${n.proxy === null ? '' : ` proxy-${n.proxy.state.replace(' ', '-')}`}`;
}

function renderNodes(state: DashboardState): void {
  const names = new Set(state.nodes.map((n) => n.name));
  for (const [name, c] of rows) {
    if (names.has(name)) continue;
    c.tr.remove();
    rows.delete(name);
  }
  for (const n of state.nodes) renderRow(n, state.cluster.release?.id ?? null);
  byId('node-table').classList.toggle('no-proxy', state.proxy === null);
}

// ---------------------------------------------------------------------------------------------
// The cluster: figures and two charts

function renderCluster(state: DashboardState): void {
  const c = state.cluster;
  setText(byId('summary'), c.summary);
  byId('summary').classList.toggle('alarm', c.up < c.total || Object.keys(c.releases).length > 1 || state.nodes.some((n) => n.up && n.health !== 'ok'));
  setText(byId('c-rps'), figure(c.requestsPerSecond));
  setText(byId('c-mbps'), figure(c.bitsPerSecond / 1e6));
  setText(byId('c-up'), `${c.up} / ${c.total}`);
  setText(byId('c-release'), c.release?.id ?? 'no majority');
  setText(byId('c-release-nodes'), c.release === null ? `${Object.keys(c.releases).length} releases` : `on ${c.release.nodes} of ${c.total} nodes`);
  const now = Date.parse(state.generated);
  drawChart(byId('chart-requests'), c.history, (p) => p.requestsPerSecond, now, c.historySeconds);
  drawChart(byId('chart-bits'), c.history, (p) => p.bitsPerSecond / 1e6, now, c.historySeconds);
}

/** One decimal below 100, grouped integers above. */
function figure(n: number): string {
  return n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

const CHART = { width: 600, height: 170, left: 76, right: 590, top: 8, bottom: 146 } as const;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string | number>>, text = ''): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== '') el.textContent = text;
  return el;
}

/** 0 .. a round maximum in 1-2-5 steps, about four intervals. */
function ticks(max: number): number[] {
  const top = max > 0 ? max : 1;
  const raw = top / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = 0; v < top + step - 1e-9; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

function tickLabel(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** `−10 min`, `−90 s`: a point in the past, for the time axis. */
function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s % 60 === 0 ? `−${s / 60} min` : `−${s} s`;
}

/**
 * A line over the time there is data for (at least a minute, at most `seconds`), newest at the
 * right, so the first minutes after start are not a sliver at the edge. Redrawn whole each time.
 */
function drawChart(el: HTMLElement, history: readonly HistoryPoint[], value: (p: HistoryPoint) => number, now: number, seconds: number): void {
  const oldest = history[0]?.t ?? now;
  const span = Math.min(seconds * 1000, Math.max(60_000, Math.ceil((now - oldest) / 60_000) * 60_000));
  const from = now - span;
  const shown = history.filter((p) => p.t >= from);
  const ys = ticks(Math.max(0, ...shown.map(value)));
  const top = ys[ys.length - 1] ?? 1;
  const x = (t: number): number => CHART.left + ((t - from) / span) * (CHART.right - CHART.left);
  const y = (v: number): number => CHART.bottom - (v / top) * (CHART.bottom - CHART.top);
  const parts: SVGElement[] = [];
  for (const v of ys) {
    parts.push(svg('line', { class: 'grid', x1: CHART.left, x2: CHART.right, y1: y(v), y2: y(v) }));
    parts.push(svg('text', { x: CHART.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, tickLabel(v)));
  }
  const axis: [number, string, string][] = [
    [span, ago(span), 'start'],
    [span / 2, ago(span / 2), 'middle'],
    [0, 'now', 'end'],
  ];
  for (const [back, label, anchor] of axis) parts.push(svg('text', { x: x(now - back), y: CHART.bottom + 18, 'text-anchor': anchor }, label));
  const points = shown.map((p) => [x(p.t), y(value(p))] as const);
  const first = points[0];
  const last = points[points.length - 1];
  if (first !== undefined && last !== undefined && points.length >= 2) {
    const line = points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    parts.push(svg('polygon', { class: 'area', points: `${first[0].toFixed(1)},${CHART.bottom} ${line} ${last[0].toFixed(1)},${CHART.bottom}` }));
    parts.push(svg('polyline', { class: 'line', points: line }));
  } else {
    parts.push(svg('text', { class: 'collecting', x: (CHART.left + CHART.right) / 2, y: (CHART.top + CHART.bottom) / 2, 'text-anchor': 'middle' }, 'collecting…'));
  }
  el.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------------------------
// HAProxy and reports

/** `45 s`, `12 min`, `3 h`, `2 d`: how long a server has been in its state. */
function since(seconds: number | null): string {
  if (seconds === null) return '–';
  const steps: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min'],
  ];
  const [size, unit] = steps.find(([s]) => seconds >= s) ?? [1, 's'];
  return `${Math.floor(seconds / size)} ${unit}`;
}

function renderProxy(state: DashboardState): void {
  const section = byId('proxy');
  section.hidden = state.proxy === null;
  if (state.proxy === null) return;
  setText(byId('proxy-source'), `from ${state.proxy.source}`);
  const error = byId('proxy-error');
  error.hidden = state.proxy.error === null;
  setText(error, state.proxy.error === null ? '' : `cannot read HAProxy: ${state.proxy.error}${state.proxy.servers.length > 0 ? ' (showing the last answer)' : ''}`);
  const body = byId('proxy-rows');
  const key = JSON.stringify(state.proxy.servers);
  if (body.dataset.key === key) return;
  body.dataset.key = key;
  body.replaceChildren(...state.proxy.servers.map(proxyRow));
}

function proxyRow(s: ProxyServer): HTMLTableRowElement {
  const tr = element('tr');
  tr.dataset.server = `${s.backend}/${s.server}`;
  const add = (label: string, text: string, className = ''): void => {
    const td = element('td', className, text);
    td.dataset.label = label;
    tr.append(td);
  };
  add('backend', s.backend);
  add('server', s.server, 'name');
  add('state', s.status, `proxy-${s.state.replace(' ', '-')}`);
  add('check', s.check || '–');
  add('sessions', String(s.sessions), 'num');
  add('since', since(s.lastChangeSeconds), 'num');
  return tr;
}

function renderReports(state: DashboardState): void {
  const list = byId('report-list');
  const key = JSON.stringify(state.reports);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...state.reports.map(reportItem));
  const none = byId('no-reports');
  none.hidden = state.reports.length > 0;
  setText(none, `No gate or bench report yet in ${state.reportDirs.join(', ') || '(no directory)'}.`);
}

function reportItem(r: ReportLink): HTMLLIElement {
  const li = element('li');
  const a = element('a', 'report', r.name);
  a.href = r.href;
  li.append(element('span', `kind kind-${r.kind}`, r.kind), ' ', a, element('span', 'muted', ` ${new Date(r.modified).toLocaleString()}`));
  if (r.jsonHref !== null) {
    const json = element('a', 'json', 'JSON');
    json.href = r.jsonHref;
    li.append(' · ', json);
  }
  return li;
}

// ---------------------------------------------------------------------------------------------
// The refresh loop

function render(state: DashboardState): void {
  renderCluster(state);
  renderNodes(state);
  renderProxy(state);
  renderReports(state);
  document.body.classList.remove('stale');
  setText(byId('freshness'), `updated ${new Date(state.generated).toLocaleTimeString()} · every ${interval / 1000} s · ${state.inventory.file} (${state.inventory.group})`);
}

async function refresh(): Promise<void> {
  try {
    const res = await fetch('/api/state', { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    render((await res.json()) as DashboardState);
  } catch (e) {
    // The figures on screen are from the last answer: say so rather than blank them.
    document.body.classList.add('stale');
    setText(byId('freshness'), `the dashboard is not answering (${e instanceof Error ? e.message : String(e)}); figures are from the last answer`);
  } finally {
    setTimeout(() => void refresh(), interval);
  }
}

void refresh();
