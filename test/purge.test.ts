/**
 * Purge after rollout (issue 16.4) against a local server that implements the two purge endpoints
 * as their API references document them (the real APIs cannot be reached from here):
 *
 * - Cloudflare "Purge Cached Content", https://developers.cloudflare.com/api/resources/cache/methods/purge/
 *   POST /client/v4/zones/{zone_id}/purge_cache, `Authorization: Bearer <token>`, JSON body
 *   `{"tags": [...]}` or `{"prefixes": [...]}`; answers `{"success": true, "errors": [],
 *   "messages": [], "result": {"id": "<purge id>"}}`, or `success: false` with
 *   `errors: [{"code", "message"}]` and a 4xx.
 * - Fastly "Purge by surrogate key tag", https://www.fastly.com/documentation/reference/api/purging/#purge-tag
 *   POST /service/{service_id}/purge/{surrogate_key}, `Fastly-Key: <token>`, `Fastly-Soft-Purge: 1`
 *   for a soft purge; answers `{"status": "ok", "id": "<purge id>"}`, or an error document
 *   `{"msg": "...", "detail": "..."}` with a 4xx.
 *
 * Also: the CLI purges the release the canary served once the rollout succeeded (and not after a
 * failed one), a purge failure leaves exit 0, and no token appears in any output.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { purgeRelease, purgeTargets, type PurgeTarget } from '../cluster/purge.js';
import { activateRelease, buildRelease } from '../release/release.js';
import { runCli } from './helpers/cli.js';
import { run } from './helpers/ansible.js';
import { freePort } from './helpers/cluster.js';
import { startServer } from './helpers/server.js';

const CF_TOKEN = 'cf-Secret-Token-0123456789abcdef';
const FASTLY_TOKEN = 'fastly-Secret-Key-fedcba9876543210';
const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';
const SERVICE = 'SU1Z0isxPaozGVKXdv0eY';
const OLD = 'aaaaaaaaaaaa';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** The two documented endpoints; `fail` makes each answer its documented error, echoing the token as some APIs do. */
async function fakeApis(t: Test, fail = false): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const json = (status: number, doc: unknown): void => void res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(doc));
      const cf = /^\/client\/v4\/zones\/([0-9a-f]{32})\/purge_cache$/.exec(req.url ?? '');
      if (req.method === 'POST' && cf !== null) {
        const auth = req.headers.authorization ?? '';
        if (fail || auth !== `Bearer ${CF_TOKEN}`) return json(403, { success: false, errors: [{ code: 10000, message: `Authentication error for ${auth}` }], messages: [], result: null });
        return json(200, { success: true, errors: [], messages: [], result: { id: 'cf-purge-1' } });
      }
      const fastly = /^\/service\/([A-Za-z0-9]+)\/purge\/([^/]+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && fastly !== null) {
        if (fail || req.headers['fastly-key'] !== FASTLY_TOKEN) return json(401, { msg: 'Provided credentials are missing or invalid', detail: `key ${String(req.headers['fastly-key'])}` });
        return json(200, { status: 'ok', id: '108-1391560174-974124' });
      }
      json(404, { msg: 'Record not found' });
    });
  });
  server.listen(0, '::1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  return { base: `http://[::1]:${(server.address() as AddressInfo).port}`, seen };
}

const env = (base: string): NodeJS.ProcessEnv => ({
  PI_ORIGIN_CLOUDFLARE_ZONE: ZONE,
  PI_ORIGIN_CLOUDFLARE_TOKEN: CF_TOKEN,
  PI_ORIGIN_CLOUDFLARE_API: base,
  PI_ORIGIN_FASTLY_SERVICE: SERVICE,
  PI_ORIGIN_FASTLY_TOKEN: FASTLY_TOKEN,
  PI_ORIGIN_FASTLY_API: base,
});

t.test('the previous release is purged in the documented request formats', async (t) => {
  const { base, seen } = await fakeApis(t);
  const outcomes = await purgeRelease(purgeTargets(env(base)), OLD);
  t.same(outcomes, [
    { cdn: 'cloudflare', ok: true, detail: `purged release-${OLD} (purge id cf-purge-1)` },
    { cdn: 'fastly', ok: true, detail: `soft-purged release-${OLD} (purge id 108-1391560174-974124)` },
  ]);
  const [cf, fastly] = seen;
  t.equal(cf?.method, 'POST');
  t.equal(cf?.url, `/client/v4/zones/${ZONE}/purge_cache`);
  t.equal(cf?.headers['content-type'], 'application/json');
  t.same(JSON.parse(cf?.body ?? ''), { tags: [`release-${OLD}`] }, 'Cloudflare: purge by Cache-Tag');
  t.equal(fastly?.method, 'POST');
  t.equal(fastly?.url, `/service/${SERVICE}/purge/release-${OLD}`);
  t.equal(fastly?.headers['fastly-soft-purge'], '1', 'Fastly: a soft purge');
  t.equal(fastly?.body, '');

  seen.length = 0;
  const [prefixes] = await purgeRelease(purgeTargets({ ...env(base), PI_ORIGIN_FASTLY_SERVICE: '', PI_ORIGIN_FASTLY_TOKEN: '', PI_ORIGIN_CLOUDFLARE_PREFIXES: 'www.example.org/assets/, www.example.org/docs/' }), OLD);
  t.same(JSON.parse(seen[0]?.body ?? ''), { prefixes: ['www.example.org/assets/', 'www.example.org/docs/'] }, 'Cloudflare: purge by prefix where configured');
  t.same(prefixes, { cdn: 'cloudflare', ok: true, detail: 'purged prefixes www.example.org/assets/, www.example.org/docs/ (purge id cf-purge-1)' });
});

t.test('a refused purge is reported with the API error, never with the token', async (t) => {
  const { base } = await fakeApis(t, true);
  const outcomes = await purgeRelease(purgeTargets(env(base)), OLD);
  t.same(outcomes, [
    { cdn: 'cloudflare', ok: false, detail: 'HTTP 403: 10000 Authentication error for Bearer [redacted]' },
    { cdn: 'fastly', ok: false, detail: 'HTTP 401: Provided credentials are missing or invalid: key [redacted]' },
  ]);
  const down: PurgeTarget = { cdn: 'fastly', service: SERVICE, token: FASTLY_TOKEN, api: `http://[::1]:${await freePort()}` };
  t.same(await purgeRelease([down], OLD), [{ cdn: 'fastly', ok: false, detail: 'request failed: ECONNREFUSED' }], 'an API that cannot be reached');
});

t.test('purge settings: checked, naming the setting, never quoting a token', async (t) => {
  t.same(purgeTargets({}), [], 'nothing configured: no purge');
  t.throws(() => purgeTargets({ PI_ORIGIN_FASTLY_TOKEN: FASTLY_TOKEN }), { name: 'PurgeConfigError', message: 'PI_ORIGIN_FASTLY_SERVICE (fastly_service) is needed with the other settings of its CDN' });
  t.throws(() => purgeTargets({ PI_ORIGIN_CLOUDFLARE_ZONE: '../x', PI_ORIGIN_CLOUDFLARE_TOKEN: CF_TOKEN }), { message: 'PI_ORIGIN_CLOUDFLARE_ZONE (cloudflare_zone): "../x" is not an id (letters, digits, _ and -)' });
  t.throws(() => purgeTargets({ PI_ORIGIN_CLOUDFLARE_ZONE: ZONE, PI_ORIGIN_CLOUDFLARE_TOKEN: `${CF_TOKEN}\n` }), { message: 'PI_ORIGIN_CLOUDFLARE_TOKEN (cloudflare_token) must be printable ASCII without spaces' });
  t.throws(() => purgeTargets({ ...env('ftp://x'), PI_ORIGIN_FASTLY_SERVICE: '' }), { message: 'PI_ORIGIN_CLOUDFLARE_API: "ftp://x" is not a base URL like https://api.cloudflare.com' });

  const dir = t.testdir({ 'bad.json': `{"fastly_token": "${FASTLY_TOKEN}",}`, 'unknown.json': '{"fastly_key": "x"}' });
  const bad = ((): unknown => {
    try {
      return purgeTargets({}, join(dir, 'bad.json'));
    } catch (e) {
      return e;
    }
  })() as Error;
  t.equal(bad.message, `--purge-credentials: ${join(dir, 'bad.json')} is not valid JSON`);
  t.notOk(bad.message.includes(FASTLY_TOKEN));
  t.throws(() => purgeTargets({}, join(dir, 'unknown.json')), { message: /^--purge-credentials: unknown key "fastly_key"/ });

  // An Ansible Vault file, encrypted and decrypted by ansible-vault itself.
  writeFileSync(join(dir, 'pass'), 'vault-pass\n');
  writeFileSync(join(dir, 'cdn.json'), JSON.stringify({ fastly_service: SERVICE, fastly_token: FASTLY_TOKEN }));
  const enc = await run('ansible-vault', ['encrypt', '--vault-password-file', join(dir, 'pass'), join(dir, 'cdn.json')]);
  t.equal(enc.code, 0, enc.stderr);
  const vaultEnv = { PATH: process.env.PATH, ANSIBLE_VAULT_PASSWORD_FILE: join(dir, 'pass') };
  t.same(purgeTargets(vaultEnv, join(dir, 'cdn.json')), [{ cdn: 'fastly', service: SERVICE, token: FASTLY_TOKEN, api: 'https://api.fastly.com' }], 'a vaulted file is read');
  t.throws(() => purgeTargets({ PATH: process.env.PATH }, join(dir, 'cdn.json')), { message: new RegExp(`^--purge-credentials: ansible-vault cannot decrypt ${join(dir, 'cdn.json').replaceAll('/', '\\/')}: `) }, 'no vault password');
});

const PLAYBOOKS = fileURLToPath(new URL('./fixtures/playbooks', import.meta.url));

t.test('cluster rollout purges the release the canary served, after success only, tokens never printed', async (t) => {
  const base = t.testdir({ old: { 'index.html': 'old\n' }, new: { 'index.html': 'new\n' } });
  const releases = join(base, 'releases');
  const old = (await buildRelease(join(base, 'old'), releases)).manifest.id;
  const next = (await buildRelease(join(base, 'new'), releases)).manifest.id;
  await activateRelease(releases, old);
  const canary = await startServer(t, join(releases, 'current'));
  const inventory = join(base, 'hosts.ini');
  writeFileSync(inventory, `[origins]\ncanary ansible_connection=local ansible_host=::1 origin_node_port=${canary.port}\n`);
  const cli = (api: string, extra: Record<string, string>, args: string[] = []): ReturnType<typeof runCli> =>
    runCli(['cluster', 'rollout', join(releases, next), '-i', inventory, ...args], { PI_ORIGIN_ANSIBLE_DIR: PLAYBOOKS, ...(env(api) as Record<string, string>), ...extra }, 90_000);
  // Three rollouts at once (the fixture playbook changes nothing), each with its own API server.
  const [a, b, c] = await Promise.all([fakeApis(t), fakeApis(t), fakeApis(t)]);
  const [ok, failed, refused] = await Promise.all([cli(a.base, {}), cli(b.base, {}, ['-e', 'fail_on=canary']), cli(c.base, { PI_ORIGIN_FASTLY_TOKEN: 'wrong-Token-0123' })]);

  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, `purge cloudflare: purged release-${old} (purge id cf-purge-1)\npurge fastly: soft-purged release-${old}`);
  t.same(a.seen.map((s) => s.url), [`/client/v4/zones/${ZONE}/purge_cache`, `/service/${SERVICE}/purge/release-${old}`]);

  t.equal(failed.code, 1, 'the rollout failed');
  t.same(b.seen, [], 'nothing is purged after a failed rollout');

  t.equal(refused.code, 0, 'a failed purge does not fail the rollout');
  t.match(refused.stderr, `purge fastly FAILED: HTTP 401: Provided credentials are missing or invalid: key [redacted]; release ${next} stays rolled out`);
  for (const r of [ok, failed, refused]) for (const token of [CF_TOKEN, FASTLY_TOKEN, 'wrong-Token-0123']) t.notOk(r.stdout.includes(token) || r.stderr.includes(token), `no token in the output`);

  const badConfig = await cli(a.base, { PI_ORIGIN_FASTLY_SERVICE: '' });
  t.equal(badConfig.code, 1);
  t.equal(badConfig.stderr, 'pi-origin: error: PI_ORIGIN_FASTLY_SERVICE (fastly_service) is needed with the other settings of its CDN\n', 'checked before anything rolls out');
});
