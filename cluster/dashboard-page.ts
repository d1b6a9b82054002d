/**
 * The dashboard's one page: a self-contained HTML document (inline CSS, the inline script built
 * from cluster/dashboard-client/page.ts, charts drawn as inline SVG by that script) that loads
 * nothing but `/api/state` from the dashboard itself. The Content-Security-Policy allows exactly
 * that: the one script and the one style sheet by their SHA-256, fetches and the favicon from the
 * same origin, and nothing else; no CDN, so it works on a controller with no Internet access.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The built page script, next to this module in dist/. */
const SCRIPT_URL = new URL('./dashboard-client/page.js', import.meta.url);

const MONO = 'ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace';

const CSS = `
:root{color-scheme:light;--fg:#1a1a1a;--muted:#5f6368;--line:#d0d4d9;--accent:#0072b2;--ok:#0b6b2f;--bad:#a50e0e;--bad-bg:#fde7e7;--warn:#8a5300;--warn-bg:#fff4d6;--odd:#6b2fa0;--odd-bg:#f1e6fb}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0 auto;max-width:1280px;padding:12px 16px 40px;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.3em 0 .4em}
code,.addr{font-family:${MONO}}
.summary{font-weight:600;margin:.2em 0;overflow-wrap:anywhere}.summary.alarm{color:var(--bad)}
.freshness{color:var(--muted);font-size:13px;margin:.2em 0;overflow-wrap:anywhere}body.stale .freshness{color:var(--bad);font-weight:700}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}
.tile{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:0}
.tile .label,.tile .sub{color:var(--muted);font-size:13px}.tile .value{font-size:1.6em;font-weight:700;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.tile code{font-size:.75em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:8px 24px;margin-top:12px}
figure{margin:0;min-width:0}figcaption{color:var(--muted);font-size:13px}
svg.chart{display:block;width:100%;height:auto;font:12px system-ui,sans-serif}
svg .grid{stroke:#e6e8eb}svg text{fill:var(--muted)}svg .line{fill:none;stroke:var(--accent);stroke-width:2}svg .area{fill:var(--accent);fill-opacity:.12}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--muted);white-space:nowrap;font-size:13px;color:var(--muted);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.addr{user-select:all;-webkit-user-select:all;overflow-wrap:anywhere}
.port,.muted{color:var(--muted)}.port{font-size:12px;white-space:nowrap}
.name{font-weight:600}.state{font-weight:600}.note{display:block;color:var(--bad);font-size:12px;overflow-wrap:anywhere}
tr.down{background:var(--bad-bg)}tr.down .state{color:var(--bad)}
tr.unhealthy{background:var(--warn-bg)}tr.unhealthy .state{color:var(--warn)}
tr.odd-release td.name{box-shadow:inset 4px 0 var(--odd)}tr.odd-release td.release{background:var(--odd-bg)}
.badge{display:inline-block;margin-left:6px;padding:0 6px;border-radius:3px;background:var(--odd);color:#fff;font-size:12px;font-weight:700}
.bad{color:var(--bad);font-weight:700}
table.no-proxy .proxy-col{display:none}
.proxy-UP{color:var(--ok)}.proxy-DOWN{color:var(--bad);font-weight:700}.proxy-DRAIN,.proxy-NOLB{color:var(--warn);font-weight:700}.proxy-MAINT{color:var(--muted);font-weight:700}
#proxy-error{color:var(--bad)}
#report-list{padding-left:1.2em}#report-list li{margin:2px 0;overflow-wrap:anywhere}
.kind{display:inline-block;min-width:3.5em;font-size:12px;text-transform:uppercase;color:var(--muted)}
@media (max-width:760px){
body{padding:8px;font-size:14px}
svg.chart{font-size:18px}
.cards thead{display:none}
.cards,.cards tbody{display:block}
.cards tr{display:block;border:1px solid var(--line);border-radius:6px;margin:0 0 8px;padding:4px 0}
.cards td{display:block;position:relative;border:0;padding:2px 10px 2px 7.5em;text-align:left;white-space:normal}
.cards td::before{content:attr(data-label);position:absolute;left:10px;width:6.5em;color:var(--muted);font-size:13px;font-weight:400}
table.no-proxy td.proxy-col{display:none}
}
`;

interface Page {
  readonly html: string;
  /** The Content-Security-Policy header value; the same policy is in a meta tag for saved copies. */
  readonly csp: string;
}

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The built script, read once; a clear error when the package was not built. */
function pageScript(): string {
  try {
    return readFileSync(SCRIPT_URL, 'utf8').trim();
  } catch (e) {
    throw new Error(`the dashboard page script ${SCRIPT_URL.pathname} is missing (run npm run build): ${(e as Error).message}`);
  }
}

/**
 * The page for a dashboard that polls every `intervalMs`. Built once at start: the script and the
 * style sheet never change while the process runs, and neither do their hashes.
 */
export function dashboardPage(intervalMs: number): Page {
  const script = pageScript();
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(CSS)}`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html =
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    // frame-ancestors is ignored in a meta tag (the header carries it); the rest applies to saved copies too.
    `<meta http-equiv="Content-Security-Policy" content="${csp.replace("; frame-ancestors 'none'", '')}">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    // Phones must not turn addresses or numbers into links: an address is copied as written.
    '<meta name="format-detection" content="telephone=no,date=no,address=no,email=no">' +
    '<meta name="referrer" content="no-referrer"><link rel="icon" href="/favicon.svg" type="image/svg+xml">' +
    `<title>pi-origin cluster</title><style>${CSS}</style></head>\n` +
    `<body data-interval="${intervalMs}">` +
    '<header><h1>pi-origin cluster</h1><p id="summary" class="summary">Waiting for the first answer…</p><p id="freshness" class="freshness" role="status"></p></header>\n<main>' +
    '<section id="cluster"><h2>Cluster</h2><div class="tiles">' +
    tile('requests/s', '<span id="c-rps">–</span>') +
    tile('Mbit/s', '<span id="c-mbps">–</span>') +
    tile('nodes up', '<span id="c-up">–</span>') +
    tile('release', '<code id="c-release">–</code>', '<div class="sub" id="c-release-nodes"></div>') +
    '</div><div class="charts">' +
    chart('chart-requests', 'requests', 'Requests per second, whole cluster') +
    chart('chart-bits', 'bits', 'Mbit/s sent, whole cluster (bodies)') +
    '</div></section>\n' +
    '<section id="nodes"><h2>Nodes</h2><table class="nodes cards no-proxy" id="node-table"><thead><tr>' +
    '<th>node</th><th>address</th><th>health</th><th>release</th><th class="num">uptime</th><th class="num">req/s</th>' +
    '<th class="num">bytes/s</th><th class="num" title="5xx responses per second">errors/s</th><th>cache</th><th class="proxy-col">HAProxy</th>' +
    '</tr></thead><tbody id="node-rows"></tbody></table></section>\n' +
    '<section id="proxy" hidden><h2>HAProxy</h2><p class="muted" id="proxy-source"></p><p id="proxy-error" hidden></p><table class="proxy cards"><thead><tr>' +
    '<th>backend</th><th>server</th><th>state</th><th>check</th><th class="num">sessions</th><th class="num">since</th>' +
    '</tr></thead><tbody id="proxy-rows"></tbody></table></section>\n' +
    '<section id="reports"><h2>Gate and bench reports</h2><ul id="report-list"></ul><p id="no-reports" class="muted" hidden></p></section>\n' +
    '</main><noscript><p>This page needs JavaScript to refresh; <a href="/api/state">/api/state</a> has the same figures as JSON.</p></noscript>' +
    `<script type="module">${script}</script></body></html>\n`;
  return { html, csp };
}

function tile(label: string, value: string, extra = ''): string {
  return `<div class="tile"><div class="label">${label}</div><div class="value">${value}</div>${extra}</div>`;
}

function chart(id: string, name: string, caption: string): string {
  return `<figure><figcaption>${caption}</figcaption><svg class="chart" id="${id}" data-chart="${name}" viewBox="0 0 600 170" role="img" aria-label="${caption}"></svg></figure>`;
}
