/**
 * A manifest edited by whoever can write a release directory, with its id recomputed so the
 * release is self-consistent (the review's response-splitting attack): `release verify` and
 * `activate` refuse it naming the file and field, and a server given it refuses the root instead
 * of joining its values into response heads.
 */
import { mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { activateRelease, buildRelease, verifyRelease } from '../release/release.js';
import { releaseIdFor, withCacheTags, withoutCacheTags } from '../content/release-id.js';
import type { Manifest, ManifestFile } from '../release/manifest.js';
import { runCli } from './helpers/cli.js';
import { parseResponses, rawExchange, request, startServer } from './helpers/server.js';

type Edit = (m: { created: string; files: ManifestFile[]; redirects: Manifest['redirects'][number][] }) => void;

const SPLIT = 'a\r\nSet-Cookie: pwned=1\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nX-Injected: 1\r\n\r\n';

/** The attacks of the review, and what `release verify` says about each (after `<manifest>: `). */
const ATTACKS: readonly { name: string; edit: Edit; problem: string; onWire?: true }[] = [
  {
    name: 'a header value with CR/LF',
    onWire: true,
    edit: (m) => Object.assign(file(m, '/index.html').headers, { 'X-Evil': SPLIT }),
    problem: 'files["/index.html"]: headers: header X-Evil has a value with control characters',
  },
  {
    name: 'a type with CR/LF',
    onWire: true,
    edit: (m) => void (file(m, '/a.txt').type = 'text/plain\r\nSet-Cookie: pwned=1'),
    problem: 'files["/a.txt"]: type "text/plain\\r\\nSet-Cookie: pwned=1" is not a media type (type/subtype[; name=value]...)',
  },
  {
    name: 'a framing header',
    onWire: true,
    edit: (m) => Object.assign(file(m, '/a.txt').headers, { 'Transfer-Encoding': 'chunked' }),
    problem: 'files["/a.txt"]: headers: header Transfer-Encoding is set by the server and cannot be configured',
  },
  {
    name: 'a header name that is not a token',
    onWire: true,
    edit: (m) => Object.assign(file(m, '/a.txt').headers, { 'X-A: 1\r\nSet-Cookie': 'pwned=1' }),
    problem: 'files["/a.txt"]: headers: "X-A: 1\\r\\nSet-Cookie" is not a valid header name',
  },
  {
    name: 'a redirect target with NUL, protocol-relative',
    onWire: true,
    edit: (m) => void m.redirects.push({ from: '/go', to: '//evil.example/\u0000x', status: 302 }),
    problem: 'redirects[0]: redirect target "//evil.example/\\u0000x" has whitespace or control characters',
  },
  {
    name: 'a protocol-relative redirect target',
    edit: (m) => void m.redirects.push({ from: '/go', to: '//evil.example/x', status: 302 }),
    problem: 'redirects[0]: redirect target "//evil.example/x" is protocol-relative (another host): write https://host/ for that',
  },
  {
    name: 'a created time with terminal escapes (release list prints it)',
    edit: (m) => void (m.created = '\u001b]0;owned\u0007'),
    problem: 'created must be an ISO 8601 UTC time (got "\\u001b]0;owned\\u0007")',
  },
  {
    name: 'a path with an empty segment',
    edit: (m) => void (file(m, '/sub/b.txt').path = '/sub//b.txt'),
    problem: 'files["/sub//b.txt"]: path has an empty segment (//)',
  },
  {
    name: 'a dotfile path',
    edit: (m) => void (file(m, '/sub/b.txt').path = '/.git/config'),
    problem: 'files["/.git/config"]: path has a dotfile segment .git (only /.well-known/ is served)',
  },
  {
    name: 'a path with a control byte',
    edit: (m) => void (file(m, '/sub/b.txt').path = '/sub/b\r\nx.txt'),
    problem: 'files["/sub/b\\r\\nx.txt"]: path holds a control character',
  },
];

function file(m: { files: ManifestFile[] }, path: string): { -readonly [K in keyof ManifestFile]: ManifestFile[K] } {
  const f = m.files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path} in the manifest`);
  return f;
}

/** Builds the test site (plus `extra`, to get another id) into `dir/releases`. */
async function buildSite(dir: string, extra: Record<string, string> = {}): Promise<{ releases: string; id: string }> {
  const site = join(dir, `site${Object.keys(extra).length}`);
  const releases = join(dir, 'releases');
  mkdirSync(join(site, 'sub'), { recursive: true });
  for (const [name, body] of Object.entries({ 'index.html': '<h1>home</h1>\n', 'a.txt': 'a\n', 'sub/b.txt': 'b\n', ...extra })) writeFileSync(join(site, name), body);
  return { releases, id: (await buildRelease(site, releases)).id };
}

/**
 * Applies `edits` to release `id`'s manifest as an attacker would: the id recomputed the way
 * `release verify` computes it (files' headers without the cache tags, then the redirects), the
 * tags re-pointed at the new id and the directory renamed to it. Returns the new id.
 */
function forge(releases: string, id: string, edits: readonly Edit[]): string {
  const manifest = JSON.parse(readFileSync(join(releases, id, 'manifest.json'), 'utf8')) as Manifest;
  const m = { created: manifest.created, files: manifest.files.map((f) => ({ ...f, headers: withoutCacheTags(f.headers, id), variants: { ...f.variants } })), redirects: [...manifest.redirects] };
  for (const edit of edits) edit(m);
  const forged = releaseIdFor(m.files, m.redirects);
  const files = m.files.map((f) => ({ ...f, headers: withCacheTags(f.headers, forged) }));
  writeFileSync(join(releases, id, 'manifest.json'), JSON.stringify({ ...manifest, id: forged, created: m.created, files, redirects: m.redirects }));
  renameSync(join(releases, id), join(releases, forged));
  return forged;
}

t.test('the forger recomputes the id exactly as verify does', async (t) => {
  const { releases, id } = await buildSite(t.testdir());
  const same = forge(releases, id, [(m) => Object.assign(file(m, '/a.txt').headers, { 'X-Fine': 'yes' })]);
  t.not(same, id);
  t.same(await verifyRelease(join(releases, same)), [], 'a valid edit with the id recomputed verifies: only the rules can refuse an attack');
});

for (const attack of ATTACKS) {
  t.test(`release verify and activate refuse ${attack.name}`, async (t) => {
    const { releases, id } = await buildSite(t.testdir());
    const forged = forge(releases, id, [attack.edit]);
    const manifest = join(releases, forged, 'manifest.json');
    t.same(await verifyRelease(join(releases, forged)), [`manifest: ${manifest}: ${attack.problem}`]);
    await t.rejects(activateRelease(releases, forged), { name: 'ReleaseError', code: 'PI_ORIGIN_RELEASE_INVALID', problems: [`manifest: ${manifest}: ${attack.problem}`] });
  });
}

t.test('the CLI: verify exits 1 naming the file and field, activate leaves current alone', async (t) => {
  const { releases, id } = await buildSite(t.testdir());
  await activateRelease(releases, id);
  const hostile = forge(releases, (await buildSite(t.testdirName, { 'c.txt': 'c\n' })).id, [(ATTACKS[0] as (typeof ATTACKS)[number]).edit]);
  const v = await runCli(['release', 'verify', join(releases, hostile)]);
  t.equal(v.code, 1);
  t.equal(v.stdout, `manifest: ${join(releases, hostile, 'manifest.json')}: ${ATTACKS[0]?.problem}\n`, 'the problem, the hostile value never written raw');
  const a = await runCli(['release', 'activate', releases, hostile]);
  t.equal(a.code, 1);
  t.match(a.stderr, `release ${hostile} does not verify (1 problem); current unchanged`);
  t.equal(readlinkSync(join(releases, 'current')), id);
});

/** Every attack on what goes into a response head, at once: the server must not send any of it. */
const ALL: readonly Edit[] = ATTACKS.filter((a) => a.onWire === true).map((a) => a.edit);

t.test('a server refuses a hostile release at start, naming the manifest', async (t) => {
  const { releases, id } = await buildSite(t.testdir());
  const hostile = forge(releases, id, ALL);
  await t.rejects(startServer(t, join(releases, hostile)), {
    name: 'StartError',
    code: 'PI_ORIGIN_BAD_ROOT',
    // The first problem in file order: /a.txt's type.
    message: `cannot serve ${join(releases, hostile)}: ${join(releases, hostile, 'manifest.json')}: ${ATTACKS[1]?.problem}`,
  });
});

t.test('current re-pointed at a hostile release by hand: invalid-root, and no split response', async (t) => {
  const { releases, id } = await buildSite(t.testdir());
  await activateRelease(releases, id);
  const { node, port } = await startServer(t, join(releases, 'current'));
  const hostile = forge(releases, (await buildSite(t.testdirName, { 'c.txt': 'c\n' })).id, ALL);
  // What a push that skipped `release verify` and `activate` would do.
  symlinkSync(hostile, join(releases, 'current.new'));
  renameSync(join(releases, 'current.new'), join(releases, 'current'));
  await node.reindex();

  const health = await request(port, '/_origin/health');
  t.equal(health.status, 503);
  t.equal(health.body.toString(), 'no valid content root\n');
  for (const path of ['/index.html', '/a.txt', '/c.txt', '/go']) {
    const data = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`);
    const responses = parseResponses(data);
    t.equal(responses.length, 1, `${path}: one response`);
    t.notMatch(data.toString('latin1'), /pwned|X-Injected|Transfer-Encoding|evil\.example/i, `${path}: nothing from the hostile manifest`);
    t.equal(responses[0]?.headers['x-origin-release'], id, `${path}: answered from the last valid release`);
  }
});
