/**
 * Skew protection on a real socket (built dist/): browser-like clients load a page, wait, then
 * load the page's stylesheet and script, while `current` switches to a new release. With skew
 * protection every asset request is answered 200 with the bytes of the release the HTML came
 * from; with `skew.releases: 0` (what pi-origin did before) the same client gets 404s.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { BuildResult } from '../dist/release/release.js';
import { activateRelease, buildRelease } from '../dist/release/release.js';
import { request, startServer } from './helpers/server.js';
import { writeSkewSite } from './helpers/skew-site.js';
import { waitFor } from './helpers/wait.js';

interface PageLoad {
  /** The release that served the HTML. */
  readonly page: string;
  /** Each asset: path, status, and whether its bytes are those of the page's release. */
  readonly assets: { readonly path: string; readonly status: number; readonly sameBytes: boolean }[];
  /** The page was loaded before the switch and its assets after the node served the new release. */
  readonly straddled: boolean;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** GET /, then (after `pause`) every stylesheet and script it names, as a browser does. */
async function loadPage(port: number, releases: ReadonlyMap<string, BuildResult>, pause: () => Promise<void>, switched: () => boolean): Promise<PageLoad> {
  const html = await request(port, '/');
  const page = html.headers['x-origin-release'] as string;
  const before = !switched();
  const paths = [...html.body.toString('utf8').matchAll(/(?:href|src)=(\/assets\/[^\s>]+)/g)].map((m) => m[1] as string);
  await pause();
  const straddled = before && switched();
  const own = releases.get(page)?.manifest.files;
  const assets = await Promise.all(
    paths.map(async (path) => {
      const r = await request(port, path);
      return { path, status: r.status, sameBytes: sha256(r.body) === own?.find((f) => f.path === path)?.sha256 };
    }),
  );
  return { page, assets, straddled };
}

/**
 * Two releases, the server on `current` (the first), four clients loading pages in a loop with a
 * pause between HTML and assets, and one client that loads the page, waits for the switch to be
 * served, then loads the assets (so at least one load straddles the switch, however slow the
 * machine). Returns every load.
 */
async function switchUnderLoad(t: Test, skewReleases: number): Promise<{ loads: PageLoad[]; r1: BuildResult; r2: BuildResult }> {
  const base = t.testdir();
  const site = join(base, 'site');
  const releases = join(base, 'releases');
  writeSkewSite(site, 1);
  const r1 = await buildRelease(site, releases, { skew: { releases: skewReleases } });
  await activateRelease(releases, r1.id);
  writeSkewSite(site, 2);
  const r2 = await buildRelease(site, releases, { skew: { releases: skewReleases } });
  const byId = new Map([[r1.id, r1], [r2.id, r2]]);
  const { port } = await startServer(t, join(releases, 'current'), { watch: true });

  let served2 = false;
  const switched = (): boolean => served2;
  const loads: PageLoad[] = [];
  let running = true;
  const browsers = Array.from({ length: 4 }, async () => {
    while (running) loads.push(await loadPage(port, byId, () => delay(20), switched));
  });
  const straddling = loadPage(port, byId, async () => {
    await activateRelease(releases, r2.id);
    await waitFor('the node to serve release 2', async () => ((await request(port, '/_origin/health')).body.toString() === `ok ${r2.id}\n` ? true : undefined), 20_000);
    served2 = true;
  }, switched);
  loads.push(await straddling);
  // Keep loading until 20 pages whose HTML came from the new release were loaded completely.
  await waitFor('20 page loads of release 2', () => (loads.filter((l) => l.page === r2.id).length >= 20 ? true : undefined), 30_000);
  running = false;
  await Promise.all(browsers);
  return { loads, r1, r2 };
}

t.test('with skew protection, a switch under page loads fails none', async (t) => {
  const { loads, r1 } = await switchUnderLoad(t, 2);
  const failed = loads.flatMap((l) => l.assets.filter((a) => a.status !== 200 || !a.sameBytes).map((a) => `${l.page} ${a.path} ${a.status}`));
  t.same(failed, [], '0 failed asset requests: each 200 with the bytes of its page\'s release');
  // A load whose HTML came after the node switched but before the test saw it (its health poll)
  // is not one of them: only old HTML with its assets fetched after the switch counts.
  const straddled = loads.filter((l) => l.straddled && l.page === r1.id);
  t.ok(straddled.length >= 1, `${straddled.length} loads of old HTML straddled the switch`);
  t.ok(straddled.every((l) => l.assets.length === 2), 'old HTML, both assets loaded after the switch');
  t.ok(loads.every((l) => l.assets.length === 2), 'every page names a stylesheet and a script');
});

t.test('without it (skew.releases 0), the same switch loses the old assets', async (t) => {
  const { loads, r1 } = await switchUnderLoad(t, 0);
  const straddled = loads.filter((l) => l.straddled);
  t.ok(straddled.length >= 1);
  t.same(
    straddled[0]?.assets.map((a) => [a.path, a.status]),
    [['/assets/site.10d0e0f0.css', 404], ['/assets/app.10a0b0c0.js', 404]],
    'the page of the old release finds neither its stylesheet nor its script',
  );
  t.equal(straddled[0]?.page, r1.id);
});
