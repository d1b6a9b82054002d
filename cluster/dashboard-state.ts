/**
 * The dashboard's `/api/state` document: what cluster/dashboard.ts computes after each poll and
 * the page script (cluster/dashboard-client/page.ts) renders. Types only, so the page compiles
 * against the same shape without importing any Node code.
 */

/** A node's own health, or `down` when it did not answer its status. */
export type RowHealth = 'ok' | 'draining' | 'invalid-root' | 'down';

/** A backend server's state as HAProxy's `show stat` names it (transitions such as `UP 1/2` folded in). */
export type ProxyState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOLB' | 'NO CHECK' | 'OTHER';

export interface ProxyServer {
  readonly backend: string;
  readonly server: string;
  readonly state: ProxyState;
  /** The status column as HAProxy wrote it: `UP`, `DOWN 1/2`, `MAINT (via origins/node1)`, ... */
  readonly status: string;
  /** Last health check (`L7OK`, `L4CON`, ...), empty when checks are off. */
  readonly check: string;
  /** Current sessions. */
  readonly sessions: number;
  /** Seconds since the last UP/DOWN transition, or null when HAProxy does not say. */
  readonly lastChangeSeconds: number | null;
}

export interface ProxyView {
  /** `socket /run/haproxy/admin.sock` or the stats URL. */
  readonly source: string;
  /** Why the last read failed; the servers are then from the last read that worked (or none). */
  readonly error: string | null;
  readonly servers: readonly ProxyServer[];
}

/** Display strings made on the server, so the page and the tests see one formatting. */
export interface RowText {
  readonly uptime: string;
  readonly requests: string;
  readonly bytes: string;
  readonly errors: string;
  readonly cache: string;
}

export interface NodeRow {
  readonly name: string;
  /** RFC 5952 for IPv6 (the inventory's spelling normalised), dotted quad, or host name. */
  readonly address: string;
  readonly port: number;
  readonly up: boolean;
  readonly health: RowHealth;
  readonly release: string | null;
  /** False when the node serves another release than the majority, or there is no majority. */
  readonly releaseAgrees: boolean;
  readonly uptimeSeconds: number | null;
  /** Rates over the last poll interval: null until the node has answered two polls. */
  readonly requestsPerSecond: number | null;
  readonly bytesPerSecond: number | null;
  /** 5xx responses per second. */
  readonly errorsPerSecond: number | null;
  readonly cacheBytes: number | null;
  /** Body-cache hits / (hits + misses) over the interval; null when nothing was looked up. */
  readonly cacheHitRatio: number | null;
  readonly connections: number | null;
  /** Down: why (the last error). Up: a problem with the metrics, if any. */
  readonly error: string | null;
  /** When the node last answered (ISO 8601), null if never. */
  readonly lastSeen: string | null;
  /** This node's server at HAProxy (same name), when a proxy is configured and lists it. */
  readonly proxy: ProxyServer | null;
  readonly text: RowText;
}

export interface HistoryPoint {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly requestsPerSecond: number;
  readonly bitsPerSecond: number;
}

export interface ClusterView {
  readonly up: number;
  readonly total: number;
  readonly requestsPerSecond: number;
  readonly bitsPerSecond: number;
  /** The release most nodes that answered serve, or null (none, or a tie). */
  readonly release: { readonly id: string; readonly nodes: number } | null;
  /** Release id → names of the nodes serving it. */
  readonly releases: Readonly<Record<string, readonly string[]>>;
  /** One line, as `pi-origin cluster status` prints it. */
  readonly summary: string;
  readonly history: readonly HistoryPoint[];
  readonly historySeconds: number;
}

export interface ReportLink {
  readonly kind: 'gate' | 'bench';
  /** The file name: `gate-latest.html`, `gate-2026-05-01T10-00-00-000Z.html`, `bench-report.html`. */
  readonly name: string;
  readonly href: string;
  /** The report's data (`.json` next to it), when present. */
  readonly jsonHref: string | null;
  /** Last modified, ISO 8601. */
  readonly modified: string;
}

export interface DashboardState {
  /** When this state was computed (ISO 8601). */
  readonly generated: string;
  readonly intervalMs: number;
  readonly inventory: { readonly file: string; readonly group: string };
  readonly nodes: readonly NodeRow[];
  readonly cluster: ClusterView;
  /** Null when no HAProxy source is configured. */
  readonly proxy: ProxyView | null;
  readonly reports: readonly ReportLink[];
  /** The directories searched for reports. */
  readonly reportDirs: readonly string[];
}
