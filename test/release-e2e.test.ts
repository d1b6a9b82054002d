/**
 * End to end: two releases of the demo site, the server on `current`, release 2 activated while
 * a load generator runs, then rolled back. Zero failed requests; every body matches the
 * manifest of the release named in its X-Origin-Release header; once the node reports the new
 * release, no response comes from the old one.
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import type { Manifest } from '../dist/release/manifest.js';
import { activateRelease, buildRelease, rollbackRelease } from '../dist/release/release.js';
import { request, startServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';

interface Sample {
  readonly started: number;
  readonly path: string;
  readonly status: number;
  readonly release: string;
  readonly encoding: string;
  readonly sha256: string;
  readonly error?: string;
}

function fetchOnce(agent: Agent, port: number, path: string, br: boolean): Promise<Sample> {
  const started = Date.now();
  return new Promise((resolve) => {
    const req = httpRequest({ host: '::1', port, path, agent, headers: br ? { 'Accept-Encoding': 'br' } : {} }, (res) => {
      const h = createHash('sha256');
      res.on('data', (c: Buffer) => h.update(c));
      res.on('end', () =>
        resolve({ started, path, status: res.statusCode ?? 0, release: String(res.headers['x-origin-release']), encoding: String(res.headers['content-encoding'] ?? 'identity'), sha256: h.digest('hex') }),
      );
      res.on('error', (e) => resolve({ started, path, status: 0, release: '', encoding: '', sha256: '', error: e.message }));
    });
    req.on('error', (e) => resolve({ started, path, status: 0, release: '', encoding: '', sha256: '', error: e.message }));
    req.end();
  });
}


t.test('activate and roll back under load', async (t) => {
  const base = t.testdir({ releases: {} });
  const site = join(base, 'site');
  cpSync(new URL('../demo/site', import.meta.url), site, { recursive: true });
  const releases = join(base, 'releases');
  const r1 = await buildRelease(site, releases);
  writeFileSync(join(site, 'index.html'), readFileSync(join(site, 'index.html'), 'utf8').replace('</body>', '<p>Release two.</p></body>'));
  writeFileSync(join(site, 'robots.txt'), 'User-agent: *\nDisallow: /two/\n');
  const r2 = await buildRelease(site, releases);
  t.not(r1.id, r2.id, 'two different releases');
  const manifests = new Map<string, Manifest>([[r1.id, r1.manifest], [r2.id, r2.manifest]]);
  const expected = (release: string, path: string, encoding: string): string | undefined => {
    const file = manifests.get(release)?.files.find((f) => f.path === (path.endsWith('/') ? path + 'index.html' : path));
    return encoding === 'identity' ? file?.sha256 : file?.variants[encoding as 'br' | 'gzip']?.sha256;
  };

  await activateRelease(releases, r1.id);
  const { port } = await startServer(t, join(releases, 'current'), { watch: true, workers: '2' });
  const paths = ['/', '/index.html', '/robots.txt', '/assets/site.5d41402a.css', '/images/board.png', '/docs/'];

  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  t.teardown(() => agent.destroy());
  const samples: Sample[] = [];
  let running = true;
  const loops = Array.from({ length: 16 }, async (_, i) => {
    for (let n = 0; running; n++) samples.push(await fetchOnce(agent, port, paths[(i + n) % paths.length] as string, (i + n) % 3 === 0));
  });
  const healthIs = (id: string) => async (): Promise<number | undefined> => ((await request(port, '/_origin/health')).body.toString() === `ok ${id}\n` ? Date.now() : undefined);

  // Allow the index message a moment to reach every worker after one reported the swap.
  const settle = 100;
  // Each phase lasts until 100 requests sent in it were answered (not a fixed time, which on a
  // busy machine can hold none, and the checks below would pass on nothing).
  const answeredSince = (at: number): Promise<true> => waitFor(`100 answers after ${at}`, () => (samples.filter((s) => s.started > at).length >= 100 ? true : undefined), 60_000);
  await answeredSince(0);
  await activateRelease(releases, r2.id);
  const sawR2 = await waitFor('release 2 in health', healthIs(r2.id), 10000);
  await answeredSince(sawR2 + settle);
  const rollbackAt = Date.now();
  await rollbackRelease(releases);
  const sawR1 = await waitFor('release 1 in health', healthIs(r1.id), 10000);
  await answeredSince(sawR1 + settle);
  running = false;
  await Promise.all(loops);

  t.ok(samples.length > 200, `load ran (${samples.length} requests)`);
  const failed = samples.filter((s) => s.status !== 200);
  t.same(failed.slice(0, 5), [], 'zero failed requests');
  const mismatched = samples.filter((s) => s.status === 200 && s.sha256 !== expected(s.release, s.path, s.encoding));
  t.same(mismatched.slice(0, 5), [], 'every body matches the manifest of the release in its header');
  const oldAfterSwitch = samples.filter((s) => s.started > sawR2 + settle && s.started < rollbackAt && s.release !== r2.id);
  t.same(oldAfterSwitch.slice(0, 5), [], 'after the switch, no response from the old release');
  const newAfterRollback = samples.filter((s) => s.started > sawR1 + settle && s.release !== r1.id);
  t.same(newAfterRollback.slice(0, 5), [], 'after the rollback, only the first release');
  t.ok(samples.some((s) => s.release === r2.id), 'release 2 was served');
});
