/**
 * `pi-origin release <build|verify|activate|rollback|list|prune>`: build immutable releases from
 * a site directory and switch the `current` symlink between them. The work is in
 * release/; this module parses arguments and prints.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  activateRelease, buildIncremental, buildRelease, diffReleases, filesFromText, stageRelease, isReleaseId, listReleases, parseChanges, pruneReleases, ReleaseError, rollbackRelease, verifyRelease, type BuildOptions, type Change, type ReleaseSummary, type VerifySummary, type VerifyTally,
} from '../release/release.js';
import { resolveSkew, type SkewOptions } from '../release/skew.js';
import { trailingSlashProblem, type TrailingSlashPolicy } from '../content/redirects-file.js';
import { packageIndexDirProblem } from '../release/package-index.js';
import { fail, UsageError, type Group, type Subcommand } from './subcommands.js';



const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  build: {
    summary: 'build a release directory from a site',
    usage: 'pi-origin release build SITE_DIR --out RELEASES_DIR [--parent ID|current --changes FILE] [--headers RULES] [--redirects FILE] [--trailing-slash POLICY] [--skew-releases N] [--skew-assets immutable|hashed|both] [--preload] [--package-index DIR] [--json]',
    help: [
      'Scans SITE_DIR, applies the rules file, precompresses text (brotli 11, gzip 9) and writes',
      'RELEASES_DIR/<id>, where <id> (12 hex digits) is derived from the content, headers and',
      'redirects. Files unchanged since the previous release are hard-linked, not copied. If the',
      'release already exists and verifies, nothing is written.',
      '',
      'Incremental: with --parent and --changes the site is not scanned. The release is built from',
      'the parent (a release in RELEASES_DIR) and the change set: only the files it names are read',
      'from SITE_DIR, every other file is the parent\'s (hard-linked, its hash and mtime kept).',
      'The change set is one line per change, an operation, a tab and a path relative to SITE_DIR:',
      '  A<TAB>path  added     M<TAB>path  replaced     D<TAB>path  removed',
      'as `git diff --name-status --no-renames` prints it (or its NUL-separated -z form). It must',
      'name every file that changed: the result is then the release a full build would make',
      '(same id and manifest, but created and parent). Headers, redirects and skew protection are',
      'derived as in a full build; --preload reads every HTML page of the release.',
      '',
      'Skew protection: the fingerprinted, immutable assets of the N releases before this one (and',
      'of older ones whose HTML may still be cached) are hard-linked into it and stay servable.',
      '',
      'Options:',
      '  --out RELEASES_DIR  where releases live (may also be given as a second argument)',
      '  --parent ID|current  build from this release of RELEASES_DIR (needs --changes)',
      '  --changes FILE      the change set since the parent (- reads standard input)',
      '  --headers RULES     rules file (_headers format or JSON); default SITE_DIR/_headers if present',
      '  --redirects FILE    _redirects file (Netlify / Cloudflare Pages format); default',
      '                      SITE_DIR/_redirects if present',
      '  --trailing-slash POLICY  redirect (default: /dir redirects to /dir/), never (/dir and',
      '                      /page serve, /dir/ redirects to /dir) or always (/page/ serves page.html)',
      '  --skew-releases N   earlier releases whose assets stay servable, 0 to 16 (default 2; 0: off)',
      '  --skew-assets KIND  which files are carried: immutable (Cache-Control immutable, default),',
      '                      hashed (a content hash in the name) or both',
      '  --preload           add Link preload headers to HTML pages for their stylesheets and scripts',
      '  --package-index DIR generate a package index at /simple/ from the wheels under SITE_DIR/DIR',
      '                      (. for the whole site): PEP 503 HTML and PEP 691 JSON pages, chosen by',
      "                      Accept, and each wheel's METADATA beside it as <wheel>.metadata (PEP 658)",
      '  --json              print the result as JSON',
    ].join('\n'),
    examples: [
      'pi-origin release build site/ --out /srv/origin/releases',
      'pi-origin release build site/ /srv/origin/releases --headers site/_headers --json',
      'pi-origin release build site/ --out /srv/origin/releases --skew-releases 3 --preload',
      'pi-origin release build site/ --out /srv/origin/releases --redirects site/_redirects --trailing-slash never',
      'pi-origin release build wheelhouse/ --out /srv/origin/releases --package-index packages',
      'pi-origin release build site/ --out /srv/origin/releases --parent current --changes new-wheels.txt',
      'git -C site diff --name-status --no-renames v1 v2 | pi-origin release build site/ --out /srv/origin/releases --parent current --changes -',
    ],
    flags: { out: 'value', parent: 'value', changes: 'value', headers: 'value', redirects: 'value', 'trailing-slash': 'value', 'skew-releases': 'value', 'skew-assets': 'value', preload: 'boolean', 'package-index': 'value', json: 'boolean' },
    positional: ['SITE_DIR'],
    optional: ['RELEASES_DIR'],
    run: build,
  },
  verify: {
    summary: 'check a release directory against its manifest',
    usage: 'pi-origin release verify RELEASE_DIR [--parent RELEASE_DIR] [--json]',
    help: [
      'Hashes every file and variant and compares it with manifest.json; reports missing, extra,',
      'resized and altered files and any symlink. Exit 0 when sound, 1 listing every problem.',
      '',
      'With --parent, a release verified before (the node\'s current one): a file that is a hard',
      'link to the parent\'s file at its path, with the same SHA-256 in both manifests, is not',
      'hashed again; the rest is. A release built or staged from its parent (build --parent,',
      'stage) then costs what changed: per unchanged file its manifest line and two lstat calls',
      '(its own, the parent\'s), no read. Every file is still checked for presence and size.',
      '',
      'Options:',
      '  --parent DIR   a verified release to share bytes with (see above)',
      '  --json         print {dir, ok, id, files, bytes, variants, hashed, shared, problems} as',
      '                 JSON (id and the totals are null when the release does not verify)',
    ].join('\n'),
    examples: [
      'pi-origin release verify /srv/origin/releases/current',
      'pi-origin release verify /srv/origin/releases/0123456789ab --json',
      'pi-origin release verify /srv/origin/releases/.incoming-0123456789ab --parent /srv/origin/releases/current',
    ],
    flags: { json: 'boolean', parent: 'value' },
    positional: ['RELEASE_DIR'],
    run: verify,
  },
  diff: {
    summary: 'what a node holding one release needs to receive another',
    usage: 'pi-origin release diff FROM_DIR TO_DIR --out DIR [--json]',
    help: [
      'Compares two releases and writes what moves TO_DIR onto a node that has FROM_DIR:',
      '  DIR/patch   the new manifest as changes to FROM\'s (for release stage on the node)',
      '  DIR/files   the files and variants the node lacks, one relative path per line',
      '              (rsync --files-from=DIR/files TO_DIR/ node:RELEASES_DIR/.incoming-<id>/)',
      'A file is the node\'s when FROM has the same bytes (SHA-256) at the same path. The rollout',
      'uses it when the controller has the node\'s current release; DIR is written whole under a',
      'temporary name, and kept when it exists already.',
      '',
      'Options:',
      '  --out DIR   where to write patch, files and summary.json (required)',
      '  --json      print {from, to, entries, removed, files, bytes, patchBytes, dir, reused}',
    ].join('\n'),
    examples: ['pi-origin release diff releases/3f1c9a0b27de releases/8b02d4e6f1a7 --out releases/.deltas/3f1c9a0b27de-8b02d4e6f1a7'],
    flags: { out: 'value', json: 'boolean' },
    positional: ['FROM_DIR', 'TO_DIR'],
    run: diff,
  },
  stage: {
    summary: 'stage a release on a node from the release it has and a patch',
    usage: 'pi-origin release stage RELEASES_DIR --patch FILE [--list FILE] [--json]',
    help: [
      'Makes RELEASES_DIR/.incoming-<id> from the release of RELEASES_DIR the patch starts from',
      '(made by release diff): writes the new manifest, refused unless it hashes to what the',
      'patch promises, and hard-links every file and variant the two releases share. The rest',
      '(release diff\'s files list) is then copied in, and the directory verified with',
      'release verify --parent and renamed into place, as the rollout does. A staging directory',
      'left by an earlier attempt is replaced; a release already in place is left alone.',
      '',
      'Options:',
      '  --patch FILE   the patch from release diff (required)',
      '  --list FILE    write the files still to receive there, one relative path per line (the',
      '                 diff\'s files list, found again: for rsync --files-from on the node)',
      '  --json         print {from, to, dir, linked, receive, present} (receive: how many)',
    ].join('\n'),
    examples: ['pi-origin release stage /srv/origin/releases --patch /srv/origin/releases/.incoming-8b02d4e6f1a7.patch'],
    flags: { patch: 'value', list: 'value', json: 'boolean' },
    positional: ['RELEASES_DIR'],
    run: stage,
  },
  activate: {
    summary: 'verify a release and point RELEASES_DIR/current at it',
    usage: 'pi-origin release activate RELEASES_DIR ID [--quick] [--json]',
    help: [
      'Verifies RELEASES_DIR/ID, then re-points RELEASES_DIR/previous at the old current and',
      'RELEASES_DIR/current at ID, each by an atomic rename of a new symlink.',
      '',
      'Options:',
      '  --quick  check that every file is there with its size, without hashing the bytes:',
      '           for a release hashed when it was placed (the rollout verifies each copy',
      '           before it renames it into place). A 1 GB release: milliseconds, not seconds',
      '  --json   print {current, previous} as JSON (previous is null when there was none)',
    ].join('\n'),
    examples: ['pi-origin release activate /srv/origin/releases 0123456789ab', 'pi-origin release activate /srv/origin/releases 0123456789ab --quick --json'],
    flags: { json: 'boolean', quick: 'boolean' },
    positional: ['RELEASES_DIR', 'ID'],
    run: activate,
  },
  rollback: {
    summary: 'swap current and previous',
    usage: 'pi-origin release rollback RELEASES_DIR [--quick] [--json]',
    help: [
      'Verifies the previous release, then points current at it and previous at the old current.',
      '',
      'Options:',
      '  --quick  check that every file of the previous release is there with its size, without',
      '           hashing the bytes (it was verified when it was placed; see activate --quick)',
      '  --json   print {current, previous} as JSON',
    ].join('\n'),
    examples: ['pi-origin release rollback /srv/origin/releases', 'pi-origin release rollback /srv/origin/releases --quick --json'],
    flags: { json: 'boolean', quick: 'boolean' },
    positional: ['RELEASES_DIR'],
    run: rollback,
  },
  list: {
    summary: 'list releases, newest first',
    usage: 'pi-origin release list RELEASES_DIR [--json]',
    help: ['Prints id, created, size, files and which release is current or previous.', '', 'Options:', '  --json   print a JSON array instead of a table'].join('\n'),
    examples: ['pi-origin release list /srv/origin/releases', 'pi-origin release list /srv/origin/releases --json'],
    flags: { json: 'boolean' },
    positional: ['RELEASES_DIR'],
    run: list,
  },
  prune: {
    summary: 'remove old releases, keeping the N newest',
    usage: 'pi-origin release prune RELEASES_DIR --keep N [--dry-run] [--json]',
    help: [
      'Removes releases beyond the N newest (by created); never current or previous.',
      '',
      'Options:',
      '  --keep N    how many of the newest releases to keep (required)',
      '  --dry-run   list what would be removed and remove nothing',
      '  --json      print {removed, dryRun} as JSON (removed: the ids, oldest first)',
    ].join('\n'),
    examples: ['pi-origin release prune /srv/origin/releases --keep 5 --dry-run', 'pi-origin release prune /srv/origin/releases --keep 5'],
    flags: { keep: 'value', 'dry-run': 'boolean', json: 'boolean' },
    positional: ['RELEASES_DIR'],
    run: prune,
  },
};

export const RELEASE: Group = {
  summary: 'build, verify, diff, stage, activate, roll back and prune content releases',
  subcommands: SUBCOMMANDS,
  onError: (e) => {
    if (!(e instanceof ReleaseError)) return undefined;
    if (e.code === 'PI_ORIGIN_RELEASE_USAGE') return new UsageError(e.message);
    const code = fail(e.message, e.code === 'PI_ORIGIN_RELEASE_INTERRUPTED' ? 130 : 1);
    for (const problem of e.problems) process.stderr.write(`  ${problem}\n`);
    return code;
  },
};

/** `\r  1234/100000 files` on a terminal, at most every 100 ms; nothing otherwise. */
function progress(): { onProgress?: (done: number, total: number) => void; end(): void } {
  if (process.stderr.isTTY !== true) return { end: () => undefined };
  let last = 0;
  let shown = false;
  return {
    onProgress(done, total) {
      const now = Date.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      shown = true;
      process.stderr.write(`\r  ${done}/${total} files`);
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

async function build([site, second]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const out = flags.get('out');
  if (out !== undefined && second !== undefined) throw new UsageError('give RELEASES_DIR once: either --out or a second argument');
  const releases = typeof out === 'string' ? out : second;
  if (releases === undefined) throw new UsageError('--out RELEASES_DIR is required');
  const headers = flags.get('headers');
  const skew = skewFlags(flags);
  const redirects = flags.get('redirects');
  const slash = flags.get('trailing-slash');
  const slashProblem = slash === undefined ? undefined : trailingSlashProblem(slash);
  if (slashProblem !== undefined) throw new UsageError(`--trailing-slash ${slashProblem}`);
  const packageIndex = flags.get('package-index');
  const indexProblem = typeof packageIndex === 'string' ? packageIndexDirProblem(packageIndex) : undefined;
  if (indexProblem !== undefined) throw new UsageError(`--package-index ${indexProblem}`);
  const incremental = incrementalFlags(flags);
  // The pages and metadata of an index are generated from every wheel: not from a change set (yet).
  if (incremental !== undefined && typeof packageIndex === 'string') throw new UsageError('--package-index cannot be combined with --parent: build the package index in full');
  const p = progress();
  const options: BuildOptions = {
    ...(typeof headers === 'string' ? { headersFile: headers } : {}),
    ...(typeof redirects === 'string' ? { redirectsFile: redirects } : {}),
    ...(slash === undefined ? {} : { trailingSlash: slash as TrailingSlashPolicy }),
    ...(p.onProgress ? { onProgress: p.onProgress } : {}),
    skew,
    preload: flags.has('preload'),
    ...(typeof packageIndex === 'string' ? { packageIndex } : {}),
  };
  if (incremental !== undefined) {
    try {
      return printIncremental(await buildIncremental(site as string, releases, { ...options, parent: incremental.parent, changes: readChanges(incremental.changes) }), flags.has('json'));
    } finally {
      p.end();
    }
  }
  let result;
  try {
    result = await buildRelease(site as string, releases, options);
  } finally {
    p.end();
  }
  const t = result.totals;
  if (flags.has('json')) {
    const { id, dir, copied, linked, carried, reused } = result;
    process.stdout.write(JSON.stringify({ id, dir, files: t.files, bytes: t.bytes, variants: t.variants, copied, linked, carried, reused, ...(result.packageIndex === undefined ? {} : { packageIndex: result.packageIndex }) }) + '\n');
  } else {
    const index = result.packageIndex === undefined ? '' : `, package index of ${result.packageIndex.wheels} wheels in ${result.packageIndex.projects} projects`;
    if (result.reused) process.stdout.write(`reused release ${result.id}: ${t.files} files (${humanBytes(t.bytes)}), ${t.variants} variants${index}, already built and verified -> ${result.dir}\n`);
    else process.stdout.write(`built release ${result.id}: ${t.files} files (${humanBytes(t.bytes)}), ${t.variants} variants, copied ${result.copied}, linked ${result.linked}${result.carried > 0 ? `, carried ${result.carried} from earlier releases` : ''}${index} -> ${result.dir}\n`);
  }
  return 0;
}

/** `--parent ID|current` with `--changes FILE`: both or neither. */
function incrementalFlags(flags: ReadonlyMap<string, string | true>): { parent: string; changes: string } | undefined {
  const parent = flags.get('parent');
  const changes = flags.get('changes');
  if (parent === undefined && changes === undefined) return undefined;
  if (typeof parent !== 'string') throw new UsageError('--changes needs --parent ID|current (the release the changes are relative to)');
  if (typeof changes !== 'string') throw new UsageError('--parent needs --changes FILE (what changed in the site since that release)');
  if (parent !== 'current' && !isReleaseId(parent)) throw new UsageError(`--parent must be a release id (12 hex digits) or current (got ${JSON.stringify(parent)})`);
  return { parent, changes };
}

/** The change set from FILE, or standard input for `-`. */
function readChanges(file: string): Change[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new ReleaseError(`cannot read --changes ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'PI_ORIGIN_RELEASE_CHANGES');
  }
  return parseChanges(text, file === '-' ? 'standard input' : file);
}

function printIncremental(r: Awaited<ReturnType<typeof buildIncremental>>, json: boolean): number {
  const { id, dir, parent, copied, linked, carried, reused, added, replaced, removed, ignored } = r;
  const { files, bytes, variants } = r.totals;
  if (json) process.stdout.write(JSON.stringify({ id, dir, parent, files, bytes, variants, copied, linked, carried, reused, added, replaced, removed, ignored }) + '\n');
  else {
    const changes = `added ${added}, replaced ${replaced}, removed ${removed}${ignored > 0 ? `, ignored ${ignored} (never published)` : ''}`;
    const what = reused ? 'reused release' : 'built release';
    const work = reused ? 'already built and verified' : `copied ${copied}, linked ${linked}${carried > 0 ? `, carried ${carried} from earlier releases` : ''}`;
    process.stdout.write(`${what} ${id} from ${parent}: ${files} files (${humanBytes(bytes)}), ${variants} variants; ${changes}; ${work} -> ${dir}\n`);
  }
  return 0;
}

/** `--skew-releases N` and `--skew-assets KIND`, checked before anything is read; errors name the flag. */
function skewFlags(flags: ReadonlyMap<string, string | true>): SkewOptions {
  const releases = flags.get('skew-releases');
  const assets = flags.get('skew-assets');
  return resolveSkew(
    { ...(typeof releases === 'string' ? { releases: /^\d+$/.test(releases) ? Number(releases) : releases } : {}), ...(typeof assets === 'string' ? { assets } : {}) },
    { releases: '--skew-releases', assets: '--skew-assets' },
  );
}

async function verify([dir]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const parent = flags.get('parent');
  const tally: VerifyTally = { hashed: 0, shared: 0 };
  const summary: Partial<VerifySummary> = {};
  const p = progress();
  let problems: string[];
  try {
    problems = await verifyRelease(dir as string, { tally, summary, ...(typeof parent === 'string' ? { parent } : {}), ...(p.onProgress ? { onProgress: p.onProgress } : {}) });
  } finally {
    p.end();
  }
  const t = problems.length === 0 ? (summary as VerifySummary) : undefined;
  if (flags.has('json'))
    process.stdout.write(JSON.stringify({ dir, ok: problems.length === 0, id: t?.id ?? null, files: t?.files ?? null, bytes: t?.bytes ?? null, variants: t?.variants ?? null, hashed: tally.hashed, shared: tally.shared, problems }) + '\n');
  if (problems.length > 0) {
    if (!flags.has('json')) for (const problem of problems) process.stdout.write(problem + '\n');
    return fail(`${dir as string}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, 1);
  }
  const sharedNote = typeof parent === 'string' ? `; ${tally.hashed} hashed, ${tally.shared} shared with ${parent} by hard link` : '';
  if (!flags.has('json') && t !== undefined) process.stdout.write(`release ${t.id} verified: ${t.files} files (${humanBytes(t.bytes)}), ${t.variants} variants${sharedNote}\n`);
  return 0;
}

async function diff([from, to]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const out = flags.get('out');
  if (typeof out !== 'string') throw new UsageError('--out DIR is required');
  const r = await diffReleases(from as string, to as string, out);
  if (flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
  else
    process.stdout.write(
      `${r.reused ? 'reused diff' : 'diff'} ${r.from} -> ${r.to}: ${r.entries} entries new or changed, ${r.removed} removed; ${r.files} files to send (${humanBytes(r.bytes)}), patch ${humanBytes(r.patchBytes)} -> ${r.dir}\n`,
    );
  return 0;
}

async function stage([releases]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const patch = flags.get('patch');
  if (typeof patch !== 'string') throw new UsageError('--patch FILE is required');
  const list = flags.get('list');
  const r = await stageRelease(releases as string, patch);
  if (typeof list === 'string') {
    try {
      writeFileSync(list, filesFromText(r.receive), { mode: 0o644 });
    } catch (e) {
      throw new ReleaseError(`cannot write --list ${list}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'PI_ORIGIN_RELEASE_IO');
    }
  }
  const { from, to, dir, linked, present } = r;
  if (flags.has('json')) process.stdout.write(JSON.stringify({ from, to, dir, linked, receive: r.receive.length, present }) + '\n');
  else if (present) process.stdout.write(`release ${to} is in place already: nothing to stage\n`);
  else process.stdout.write(`staged ${to} from ${from}: ${linked} files linked, ${r.receive.length} to receive -> ${dir}\n`);
  return 0;
}

/** activate and rollback: the pointers after the switch, as a line or JSON. */
function switched(verb: string, r: { current: string; previous: string | undefined }, json: boolean): number {
  process.stdout.write(json ? JSON.stringify({ current: r.current, previous: r.previous ?? null }) + '\n' : `${verb} ${r.current} (previous: ${r.previous ?? 'none'})\n`);
  return 0;
}

async function activate([releases, id]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  if (!isReleaseId(id as string)) throw new UsageError(`ID must be 12 hex digits, as printed by build (got ${JSON.stringify(id)})`);
  return switched('activated', await activateRelease(releases as string, id as string, { hash: !flags.has('quick') }), flags.has('json'));
}

async function rollback([releases]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  return switched('rolled back to', await rollbackRelease(releases as string, { hash: !flags.has('quick') }), flags.has('json'));
}

async function list([releases]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const all = await listReleases(releases as string);
  process.stdout.write(flags.has('json') ? JSON.stringify(all, null, 2) + '\n' : table(all));
  return 0;
}

async function prune([releases]: readonly string[], flags: ReadonlyMap<string, string | true>): Promise<number> {
  const keepText = flags.get('keep');
  if (typeof keepText !== 'string') throw new UsageError('--keep N is required');
  if (!/^\d+$/.test(keepText)) throw new UsageError(`--keep must be a non-negative integer (got ${JSON.stringify(keepText)})`);
  const dryRun = flags.has('dry-run');
  const removed = await pruneReleases(releases as string, Number(keepText), { dryRun });
  if (flags.has('json')) process.stdout.write(JSON.stringify({ removed, dryRun }) + '\n');
  else for (const id of removed) process.stdout.write(`${dryRun ? 'would remove' : 'removed'} ${id}\n`);
  if (!flags.has('json') && removed.length === 0) process.stdout.write('nothing to remove\n');
  return 0;
}

export function table(releases: readonly ReleaseSummary[]): string {
  if (releases.length === 0) return 'no releases\n';
  const rows = [['ID', 'CREATED', 'SIZE', 'FILES', ''], ...releases.map((r) => [r.id, r.created, humanBytes(r.bytes), String(r.files), r.current ? 'current' : r.previous ? 'previous' : ''])];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => (row[c] as string).length)));
  const right = new Set([2, 3]);
  return rows.map((row) => row.map((cell, c) => (c === 4 ? cell : right.has(c) ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number))).join('  ').trimEnd()).join('\n') + '\n';
}

/** 1000-based, one decimal: `512 B`, `1.5 kB`, `12.3 MB`. */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = n / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit] as string}`;
}
