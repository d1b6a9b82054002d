/**
 * The releases of a releases directory as a build's skew window needs them (release/skew.ts),
 * without reading every manifest whole: a release directory of a million-file site holds several
 * 350 MB manifests, and the window needs of each only its head (`created`, to order them) and, of
 * the few releases the window considers, the HTML pages (how long their HTML may be cached) and
 * the assets it could carry. Those are read one line at a time, the others never leave the file.
 *
 * The releases in the order a build takes them: the one `current` names first, then the others
 * newest first. A release whose manifest turns out not to read when the window needs it is
 * refused by name rather than skipped, by full and incremental builds alike: skipping it would
 * make the release depend on which releases happen to read.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isFingerprinted } from '../content/header-rules.js';
import { ReleaseError } from '../content/release-error.js';
import { isReleaseId } from '../content/release-id.js';
import { newestFirst, readPointer, type ReleaseEntry } from './dir.js';
import { ManifestError, MANIFEST_NAME, type Manifest, type ManifestFile } from './manifest.js';
import { EntryReader, hasNoVariants, ManifestLines, readManifestHead, type EntryLine, type ManifestHead } from './manifest-text.js';
import { isSkewAsset, type SkewAssets } from './skew.js';

/** A file a skew window may need: an HTML page (its cache lifetime) or an asset it could carry. */
export function windowRelevant(e: EntryLine, reader: EntryReader, assets: SkewAssets): ManifestFile | undefined {
  const html = e.typeJson.startsWith('"text/html');
  if (!html && !/immutable/i.test(e.headersJson) && !isFingerprinted(e.path)) return undefined;
  const f = toFile(e, reader);
  return html || isSkewAsset(f, assets) ? f : undefined;
}

function toFile(e: EntryLine, reader: EntryReader): ManifestFile {
  return {
    path: JSON.parse(e.pathJson) as string,
    size: e.size,
    sha256: e.sha256,
    type: JSON.parse(e.typeJson) as string,
    mtime: e.mtime,
    headers: reader.headers(e.headersJson),
    variants: hasNoVariants(e) ? {} : reader.variants(e),
  };
}

/** A manifest whose `files` are only the ones a skew window may need, read when first asked for. */
class WindowManifest implements Manifest {
  readonly format: Manifest['format'];
  readonly id: string;
  readonly created: string;
  readonly redirects = [];
  private loaded: readonly ManifestFile[] | undefined;

  constructor(
    head: ManifestHead,
    private readonly file: string,
    private readonly assets: SkewAssets,
    known: readonly ManifestFile[] | undefined,
  ) {
    this.format = head.format;
    this.id = head.id;
    this.created = head.created;
    this.loaded = known;
  }

  get files(): readonly ManifestFile[] {
    this.loaded ??= this.read();
    return this.loaded;
  }

  private read(): ManifestFile[] {
    const lines = ManifestLines.open(this.file);
    const reader = new EntryReader(this.file);
    const out: ManifestFile[] = [];
    try {
      if (lines === undefined) throw new ManifestError(`${this.file} is missing`);
      lines.head();
      for (let json = lines.next(); json !== undefined; json = lines.next()) {
        const f = windowRelevant(reader.entry(json), reader, this.assets);
        if (f !== undefined) out.push(f);
      }
      lines.rest();
    } catch (e) {
      if (e instanceof ManifestError) throw new ReleaseError(`release ${this.id}, in the skew window, does not read (${e.message}): remove it, or build with --skew-releases 0`, 'PI_ORIGIN_RELEASE_INVALID');
      throw e;
    } finally {
      lines?.close();
    }
    return out;
  }
}

/**
 * Every release of `releasesDir` but `except`, the one `current` names first, then newest first
 * by `created`; each manifest's head read now, its relevant files when the window asks.
 * `known`: files already gathered for a release (the parent, read by the build anyway).
 */
export function windowCandidates(releasesDir: string, except: string, assets: SkewAssets, known?: { id: string; files: readonly ManifestFile[] }): ReleaseEntry[] {
  const all: ReleaseEntry[] = [];
  for (const e of readdirSync(releasesDir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || !e.isDirectory() || !isReleaseId(e.name) || e.name === except) continue;
    const dir = join(releasesDir, e.name);
    const head = readManifestHead(join(dir, MANIFEST_NAME));
    if (head?.id !== e.name) continue;
    all.push({ id: e.name, dir, manifest: new WindowManifest(head, join(dir, MANIFEST_NAME), assets, known?.id === e.name ? known.files : undefined) });
  }
  all.sort(newestFirst);
  let current: string | undefined;
  try {
    current = readPointer(releasesDir, 'current');
  } catch {
    current = undefined;
  }
  const live = all.find((r) => r.id === current);
  return live === undefined ? all : [live, ...all.filter((r) => r !== live)];
}
