/**
 * The Prometheus text exposition format (version 0.0.4) as far as reading a node's
 * `/_origin/metrics` needs it: one sample per line, `name{label="value",...} value [timestamp]`,
 * `#` lines ignored. The server's own writer is server/exposition.ts; this side only reads HTTP.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,|$)/;
/** Lower-cased: Prometheus reads values with Go's ParseFloat, which takes any case (prom-client writes `Nan`). */
const SPECIAL: Readonly<Record<string, number>> = { nan: Number.NaN, '+inf': Infinity, inf: Infinity, '-inf': -Infinity };

/** Every sample in `text`, or a message naming the first line that is not one. */
export function parsePrometheusText(text: string): Sample[] | string {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    const labels = m === null ? undefined : parseLabels(m[2] ?? '');
    const value = m === null ? Number.NaN : sampleValue(m[3] as string);
    if (m === null || labels === undefined || (Number.isNaN(value) && m[3]?.toLowerCase() !== 'nan')) return `invalid metrics (line ${i + 1})`;
    samples.push({ name: m[1] as string, labels, value });
  }
  return samples;
}

function sampleValue(text: string): number {
  return SPECIAL[text.toLowerCase()] ?? (/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(text) ? Number(text) : Number.NaN);
}

/** `a="1",b="x\"y"` → `{ a: '1', b: 'x"y' }`; undefined when malformed. */
function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.trim() !== '') {
    const m = LABEL.exec(rest);
    if (m === null) return undefined;
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(m[0].length);
    if (m[3] === '' && rest.trim() !== '') return undefined;
  }
  return labels;
}

/** The sum of every sample of `name` whose labels include `match`; undefined when there is none. */
export function sumOf(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  let total: number | undefined;
  for (const s of samples) {
    if (s.name !== name || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}
