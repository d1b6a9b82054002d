/**
 * Accept negotiation (RFC 9110 §12.5.1) between the media types of one resource: a page and its
 * alternate (a PEP 691 index page as HTML and as JSON). Pure and uWS-free.
 *
 * A {@link MediaChooser} is made when a release loads, once per distinct list of types, and
 * shared by every page that has that list; per request it is one `Map.get` on the raw header.
 * What a header chooses is memoised in a small bounded map: clients send a handful of distinct
 * Accept values (pip's, a browser's, curl's), and one sending many only resets the memo.
 *
 * When nothing acceptable is asked for, the first type (the page) is chosen, never a 406: a
 * PEP 503 client from before PEP 691 keeps working whatever Accept it sends, and the response's
 * Content-Type says what it got, which a PEP 691 client checks (docs/architecture.md).
 */
import { essenceOf } from '../content/servable.js';

/** One media range of an Accept header: lower-cased `type/subtype` (`*` for a wildcard) and its q. */
export interface MediaRange {
  readonly type: string;
  readonly subtype: string;
  readonly q: number;
}

const MEMO_MAX = 256;
const Q_PARAM = /^\s*q\s*=\s*(\S*)\s*$/i;
/** RFC 9110 §12.4.2 qvalue: `0`, `0.5`, `0.001`, `1`, `1.000`. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The media ranges of an Accept header, in order. Entries without a `/` are dropped; parameters
 * other than q are ignored (a range with parameters is taken for the bare range); a q that is not
 * an RFC 9110 qvalue counts as 0 (not acceptable). An empty header is `*\/*` (RFC 9110 §12.5.1).
 */
export function parseAccept(header: string): MediaRange[] {
  if (header.trim() === '') return [{ type: '*', subtype: '*', q: 1 }];
  const out: MediaRange[] = [];
  for (const item of header.split(',')) {
    const [range = '', ...params] = item.split(';');
    const slash = range.indexOf('/');
    if (slash === -1) continue;
    const type = range.slice(0, slash).trim().toLowerCase();
    const subtype = range.slice(slash + 1).trim().toLowerCase();
    if (type === '' || subtype === '' || (type === '*' && subtype !== '*')) continue;
    // The first q parameter counts; what follows it is accept-ext (RFC 9110 §12.5.1).
    const q = params.map((p) => Q_PARAM.exec(p)?.[1]).find((v) => v !== undefined);
    out.push({ type, subtype, q: q === undefined ? 1 : QVALUE.test(q) ? Number(q) : 0 });
  }
  return out;
}

/**
 * The q a list of ranges gives a representation known by `names` (its type and the aliases of
 * it): that of the most specific range matching any of them (`type/subtype`, then `type/*`,
 * then `*\/*`; the highest q among equally specific ones), or 0. So `text/html;q=0` refuses the
 * HTML page even though `*\/*` would match one of its other names.
 */
export function qualityOf(ranges: readonly MediaRange[], names: readonly string[]): number {
  let specificity = -1;
  let q = 0;
  for (const name of names) {
    const slash = name.indexOf('/');
    const type = name.slice(0, slash);
    const subtype = name.slice(slash + 1);
    for (const r of ranges) {
      const s = r.type === type ? (r.subtype === subtype ? 2 : r.subtype === '*' ? 1 : -1) : r.type === '*' ? 0 : -1;
      if (s < 0 || s < specificity) continue;
      q = s > specificity ? r.q : Math.max(q, r.q);
      specificity = s;
    }
  }
  return q;
}

export class MediaChooser {
  /** Per type (same order as given), its essence and the aliases that name it. */
  private readonly names: readonly (readonly string[])[];
  private readonly memo = new Map<string, number>();

  /**
   * `types`: the Content-Types of the representations, the default first. `aliases`: other
   * names a client may use for one of them (`application/vnd.pypi.simple.v1+html` for
   * `text/html`, as PEP 691 defines it); an alias naming none of the types is ignored.
   */
  constructor(types: readonly string[], aliases: Readonly<Record<string, string>> = {}) {
    const essences = types.map(essenceOf);
    this.names = essences.map((e) => [e, ...Object.keys(aliases).filter((alias) => aliases[alias] === e)]);
  }

  /** The index (into the types given) of the representation `accept` prefers; 0 on a tie or when none is acceptable. */
  choose(accept: string): number {
    let choice = this.memo.get(accept);
    if (choice === undefined) {
      choice = this.compute(parseAccept(accept));
      if (this.memo.size >= MEMO_MAX) this.memo.clear();
      this.memo.set(accept, choice);
    }
    return choice;
  }

  private compute(ranges: readonly MediaRange[]): number {
    let best = 0;
    let bestQ = 0;
    this.names.forEach((names, i) => {
      const q = qualityOf(ranges, names);
      if (q > bestQ) {
        best = i;
        bestQ = q;
      }
    });
    return best;
  }
}
