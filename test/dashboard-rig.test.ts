/**
 * The dashboard against nodes in the namespace rig (test/rig/netns.ts): two IPv6-only hosts at
 * fd00:cafe:0:d::11 and ::12, each running the built origin server on its own address, reached
 * from the controller (the root namespace) over the rig's bridge. The page in chromium lists both
 * with their addresses in RFC 5952 form and their release, and marks a killed node DOWN.
 * Needs root (CI runs as root); skipped without chromium.
 */
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import t from 'tap';
import { MAIN } from './helpers/cli.js';
import { CHROMIUM, NO_CHROMIUM, openPage, readRows, startDashboard } from './helpers/dashboard.js';
import { writeInventory } from './helpers/inventory.js';
import { until, waitFor } from './helpers/wait.js';
import { createRig } from './rig/netns.js';

const PREFIX = 'pid';
const SUBNET = 'fd00:cafe:0:d';
const PORT = 8080;
const INTERVAL_MS = 500;

t.test('two rig nodes on fd00:cafe:0:d::/64: listed by address and release, one killed', { skip: NO_CHROMIUM }, async (t) => {
  t.saveFixture = true;
  const dir = t.testdir({ site: { 'index.html': '<h1>rig</h1>\n', 'notes.txt': 'launch\n' }, reports: {} });
  const rig = await createRig({ nodes: 2, prefix: PREFIX, subnet: SUBNET });
  t.teardown(() => rig.destroy());

  // Each node serves the same tree on its own address; the controller reaches it from the
  // bridge address (the rig's gateway), which is what --admin-allow must name.
  const servers = rig.nodes.map((n) =>
    rig.spawn(n, [process.execPath, MAIN, 'serve', join(dir, 'site'), '--listen', `[${n.address}]:${PORT}`, '--workers', '1', '--no-watch', '--node-name', n.name, '--admin-allow', `${rig.gateway}/128`], { stdio: 'ignore' }),
  );
  const health = new Map<string, string>();
  for (const n of rig.nodes) {
    health.set(
      n.name,
      await waitFor(`${n.name}'s origin server`, async () => {
        try {
          const res = await fetch(`http://[${n.address}]:${PORT}/_origin/health`, { signal: AbortSignal.timeout(1000) });
          return res.status === 200 ? await res.text() : undefined;
        } catch {
          return undefined;
        }
      }, 15_000),
    );
  }
  const release = /^ok ([0-9a-f]{12})\n$/.exec(health.get('node1') ?? '')?.[1];
  t.ok(release !== undefined, `node1 serves a release (${health.get('node1')})`);
  t.equal(health.get('node2'), health.get('node1'), 'both nodes serve it');

  const inventory = writeInventory(join(dir, 'hosts.ini'), [
    // node1 spelled out in full: the page shows the RFC 5952 form.
    ['node1', `${SUBNET}:0:0:0:11`, PORT],
    ['node2', rig.node(2).address, PORT],
  ]);
  const dash = await startDashboard(t, ['-i', inventory, '--interval', `${INTERVAL_MS}ms`, '--reports', join(dir, 'reports')]);

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const o = await openPage(browser, dash.url);
  await o.page.waitForSelector('#node-rows tr[data-node="node2"]');

  await t.test('the page lists both nodes by their RFC 5952 address, with the one release', async (t) => {
    t.same(
      (await readRows(o.page)).map((r) => [r.name, r.address, r.port, r.health, r.release, r.classes.includes('odd-release')]),
      [
        ['node1', 'fd00:cafe:0:d::11', `port ${PORT}`, 'ok', release, false],
        ['node2', 'fd00:cafe:0:d::12', `port ${PORT}`, 'ok', release, false],
      ],
      'both nodes with their addresses (RFC 5952) and the one release',
    );
    t.equal(await o.page.locator('#c-release-nodes').textContent(), 'on 2 of 2 nodes');
  });

  await t.test('a killed node is shown DOWN with its last error, and the summary counts it out', async (t) => {
    const killedAt = Date.now();
    servers[1]?.kill('SIGKILL');
    await o.page.waitForSelector('tr[data-node="node2"].down', { timeout: 10_000 });
    const downMs = Date.now() - killedAt;
    // Usually two refreshes of INTERVAL_MS; how long on a busy machine is the machine's, so the
    // time is a record and the wait above is the bound.
    t.comment(`node2 shown DOWN ${downMs} ms after it was killed (refresh every ${INTERVAL_MS} ms)`);
    // A poll in flight at the kill may see `connection reset`; the next one is refused.
    const note = async (): Promise<string | undefined> => (await readRows(o.page)).find((r) => r.name === 'node2')?.note;
    t.ok(await until(async () => /^refused · last seen \d/.test((await note()) ?? ''), 5000), `with the last error and when it last answered (${await note()})`);
    t.equal(await o.page.locator('#summary').textContent(), `1/2 up; release ${release ?? '?'} on node1`);
    await o.page.screenshot({ path: join(dir, 'dashboard-rig.png'), fullPage: true });
    t.comment(`screenshot: ${join(dir, 'dashboard-rig.png')}`);
    t.same([...o.foreign, ...o.consoleErrors, ...o.pageErrors], [], 'no foreign request, console or script error');
  });

  const exit = await dash.stop();
  t.equal(exit.code, 0, 'SIGTERM: exit 0');
});
