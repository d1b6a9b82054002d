/**
 * The package index `release build --package-index` generates from the demo's wheels
 * (demo/packages.ts, release/package-index.ts), served by a real origin and consumed by a real
 * pip: PEP 691 negotiation on the wire (exact headers per representation), PEP 658/714 metadata,
 * and pip resolving from the `.metadata` files. Only the local server on [::1] is used: pip's
 * configuration files and PIP_* / proxy environment variables are shut out, so no other index
 * (and no network) can answer. A missing pip fails the test with instructions; it is never skipped.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { devNull } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import t from 'tap';
import { buildDemoWheels, normalizeName, PACKAGES_DIR, writeDemoWheels, type DemoWheel } from '../demo/packages.js';
import { buildRelease } from '../release/release.js';
import type { Manifest, ManifestFile } from '../release/manifest.js';
import { SIMPLE_JSON } from '../release/package-index.js';
import { request, startServer, type RawResponse } from './helpers/server.js';
import { etagFor, sha256 } from './helpers/hash.js';

const HTML = 'text/html; charset=utf-8';
/** What pip (22.2 and later) sends for index pages. */
const PIP_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';
const VARY_BOTH = 'Accept, Accept-Encoding';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without a shell; never rejects (a missing binary gives code 127). */
function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeout = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      const code = e === null ? 0 : typeof e.code === 'number' ? e.code : e.code === 'ENOENT' ? 127 : 1;
      resolve({ code, stdout, stderr: e !== null && stderr === '' ? e.message : stderr });
    });
  });
}

/** Environment for pip: no config files, no PIP_* settings, no proxies, never prompts. */
function pipEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^PIP_/i.test(k) || /_proxy$/i.test(k) || /^PYTHON(?:PATH|HOME|STARTUP|USERBASE)$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PIP_CONFIG_FILE: devNull, PIP_NO_INPUT: '1', PYTHONDONTWRITEBYTECODE: '1', ...extra };
}

interface Pip {
  readonly python: string;
  readonly version: string;
  /** [major, minor] of pip. */
  readonly release: readonly [number, number];
}

/**
 * Every interpreter whose `-m pip` works, one per pip version: $PI_ORIGIN_PYTHON if set, else
 * python3 on PATH and /usr/bin/python3 (Debian's pip, the one a Pi has; a pyenv python3 may
 * shadow it with another). The first is the one every step runs with.
 */
async function findPips(): Promise<{ pips: Pip[]; tried: string[] }> {
  const fromEnv = process.env.PI_ORIGIN_PYTHON;
  const candidates = fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  const pips: Pip[] = [];
  for (const python of candidates) {
    const r = await run(python, ['-m', 'pip', '--version'], pipEnv(), 30_000);
    const m = /^pip (\d+)\.(\d+)/.exec(r.stdout);
    if (r.code === 0 && m !== null) {
      if (!pips.some((p) => p.release[0] === Number(m[1]) && p.release[1] === Number(m[2]))) pips.push({ python, version: r.stdout.trim(), release: [Number(m[1]), Number(m[2])] });
    } else tried.push(`${python} -m pip --version: exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`);
  }
  return { pips, tried };
}

/** True when `pip` is at least major.minor. */
function atLeast(pip: Pip, major: number, minor: number): boolean {
  return pip.release[0] > major || (pip.release[0] === major && pip.release[1] >= minor);
}

/** The demo's wheels in `root/site`, and a release of them with the package index in `root/releases`. */
async function buildIndex(root: string): Promise<{ wheels: readonly DemoWheel[]; dir: string; manifest: Manifest }> {
  const { wheels } = writeDemoWheels(join(root, 'site'));
  const built = await buildRelease(join(root, 'site'), join(root, 'releases'), { packageIndex: PACKAGES_DIR });
  return { wheels, dir: built.dir, manifest: built.manifest };
}

function fileOf(manifest: Manifest, path: string): ManifestFile {
  const f = manifest.files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path} in the release`);
  return f;
}

function wheelOf(wheels: readonly DemoWheel[], normalized: string, version: string): DemoWheel {
  const w = wheels.find((x) => x.normalized === normalized && x.version === version);
  if (w === undefined) throw new Error(`no demo wheel ${normalized} ${version}`);
  return w;
}

t.test('generator: deterministic wheels, PEP 503 names', (t) => {
  const a = buildDemoWheels();
  const b = buildDemoWheels();
  t.same(
    a.map((w) => w.filename),
    ['pi_origin_demo-1.0.0-py3-none-any.whl', 'pi_origin_demo-1.1.0-py3-none-any.whl', 'gpiozero_demo-0.1.0-py3-none-any.whl'],
  );
  a.forEach((w, i) => {
    t.ok(w.data.equals((b[i] as DemoWheel).data), `${w.filename}: same bytes on every call`);
    t.equal(w.sha256, sha256(w.data));
    t.equal(w.data.readUInt32LE(0), 0x04034b50, `${w.filename} starts with a zip local header`);
  });
  t.equal(normalizeName('GPIOZero_Demo'), 'gpiozero-demo');
  t.equal(normalizeName('Friendly-Bard...Some_thing'), 'friendly-bard-some-thing');

  // The build hooked the generator in: the demo root holds the same bytes (built by another process),
  // and the release `npm start` serves has the index made from them.
  for (const w of a) {
    t.ok(readFileSync(join('dist', 'demo-site', 'packages', w.filename)).equals(w.data), `dist/demo-site/packages/${w.filename} matches`);
  }
  const served = JSON.parse(readFileSync(join('dist', 'demo-releases', 'current', 'manifest.json'), 'utf8')) as Manifest;
  t.same(served.alternates?.pages, {
    '/simple/gpiozero-demo/index.html': '/simple/gpiozero-demo/index.json',
    '/simple/index.html': '/simple/index.json',
    '/simple/pi-origin-demo/index.html': '/simple/pi-origin-demo/index.json',
  }, 'npm start serves the negotiated index');
  t.end();
});


t.test('PEP 691 over HTTP: one URL, HTML or JSON by Accept, each its own ETag', async (t) => {
  const root = t.testdir({});
  const { manifest, dir } = await buildIndex(root);
  const { port } = await startServer(t, dir);
  for (const url of ['/simple/', '/simple/pi-origin-demo/']) {
    const html = fileOf(manifest, `${url}index.html`);
    const json = fileOf(manifest, `${url}index.json`);
    const get = (headers: Record<string, string>, method = 'GET'): Promise<RawResponse> => request(port, url, { headers, method });
    const head = (r: RawResponse): Record<string, string | undefined> => ({ status: String(r.status), type: r.headers['content-type'], vary: r.headers.vary, etag: r.headers.etag, encoding: r.headers['content-encoding'] });

    const [asPip, asBrowser, none, unacceptable, latest] = await Promise.all([
      get({ Accept: PIP_ACCEPT }),
      get({ Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }),
      get({}),
      get({ Accept: 'application/xml' }),
      get({ Accept: 'application/vnd.pypi.simple.latest+json' }),
    ]);
    const jsonHead = { status: '200', type: SIMPLE_JSON, vary: VARY_BOTH, etag: `"${json.sha256.slice(0, 32)}"`, encoding: undefined };
    const htmlHead = { status: '200', type: HTML, vary: VARY_BOTH, etag: `"${html.sha256.slice(0, 32)}"`, encoding: undefined };
    t.same(head(asPip), jsonHead, `${url}: pip gets JSON`);
    t.equal(sha256(asPip.body), json.sha256, `${url}: the JSON page's bytes`);
    t.same(head(latest), jsonHead, `${url}: latest+json is v1 JSON, and says so`);
    t.same(head(asBrowser), htmlHead, `${url}: a browser gets HTML`);
    t.same(head(none), htmlHead, `${url}: no Accept: HTML, the PEP 503 page`);
    t.same(head(unacceptable), htmlHead, `${url}: nothing acceptable: HTML, not 406`);
    t.equal(sha256(none.body), html.sha256);
    t.not(asPip.headers.etag, none.headers.etag, `${url}: each representation its own strong ETag`);
    t.match(asPip.headers['cache-control'], /max-age=60/, `${url}: JSON cached as briefly as the HTML`);

    // Conditional requests: each ETag validates its own representation only.
    const [jsonMatch, htmlMatch, crossed, headJson] = await Promise.all([
      get({ Accept: PIP_ACCEPT, 'If-None-Match': jsonHead.etag }),
      get({ 'If-None-Match': htmlHead.etag }),
      get({ Accept: PIP_ACCEPT, 'If-None-Match': htmlHead.etag }),
      get({ Accept: PIP_ACCEPT }, 'HEAD'),
    ]);
    t.same({ ...head(jsonMatch), body: jsonMatch.body.length }, { status: '304', type: undefined, vary: VARY_BOTH, etag: jsonHead.etag, encoding: undefined, body: 0 }, `${url}: 304 for the JSON's ETag`);
    t.same(head(htmlMatch), { status: '304', type: undefined, vary: VARY_BOTH, etag: htmlHead.etag, encoding: undefined }, `${url}: 304 for the HTML's ETag`);
    t.same(head(crossed), jsonHead, `${url}: the HTML's ETag does not validate the JSON`);
    t.same({ ...head(headJson), length: headJson.headers['content-length'], body: headJson.body.length }, { ...jsonHead, length: String(json.size), body: 0 }, `${url}: HEAD`);

    // Precompressed variants of each representation (the project page is large enough to have them).
    const [jsonBr, htmlGzip] = await Promise.all([get({ Accept: PIP_ACCEPT, 'Accept-Encoding': 'br' }), get({ 'Accept-Encoding': 'gzip' })]);
    const { br } = json.variants;
    const { gzip } = html.variants;
    if (url === '/simple/pi-origin-demo/') t.ok(br !== undefined && gzip !== undefined, `${url}: both pages have variants`);
    t.same(head(jsonBr), br === undefined ? jsonHead : { ...jsonHead, etag: `"${br.sha256.slice(0, 32)}"`, encoding: 'br' }, `${url}: the JSON's br variant, if any`);
    t.equal(sha256(br === undefined ? jsonBr.body : brotliDecompressSync(jsonBr.body)), json.sha256);
    t.same(head(htmlGzip), gzip === undefined ? htmlHead : { ...htmlHead, etag: `"${gzip.sha256.slice(0, 32)}"`, encoding: 'gzip' }, `${url}: the HTML's gzip variant, if any`);

    // A URL that names a format answers that format, whatever Accept says.
    const [fixedHtml, fixedJson] = await Promise.all([request(port, `${url}index.html`, { headers: { Accept: PIP_ACCEPT } }), request(port, `${url}index.json`, { headers: { Accept: 'text/html' } })]);
    t.same(head(fixedHtml), { ...htmlHead, vary: 'Accept-Encoding' }, `${url}index.html is HTML`);
    t.same(head(fixedJson), { ...jsonHead, vary: 'Accept-Encoding' }, `${url}index.json is JSON`);
  }
  const redirect = await request(port, '/simple/pi-origin-demo');
  t.same([redirect.status, redirect.headers.location], [301, '/simple/pi-origin-demo/']);
});

t.test('the pages: hashes in URLs, requires-python, PEP 658/714 metadata', async (t) => {
  const root = t.testdir({});
  const { wheels, dir } = await buildIndex(root);
  const { port } = await startServer(t, dir);
  const [page, json, top] = await Promise.all([
    request(port, '/simple/pi-origin-demo/', { headers: { Accept: 'text/html' } }),
    request(port, '/simple/pi-origin-demo/', { headers: { Accept: PIP_ACCEPT } }),
    request(port, '/simple/', { headers: { Accept: PIP_ACCEPT } }),
  ]);
  const html = page.body.toString();
  t.match(html, /^<!DOCTYPE html>\n/i);
  t.match(html, '<meta name="pypi:repository-version" content="1.0">');
  const links = [...html.matchAll(/<a href="([^"#]+)#sha256=([0-9a-f]{64})" data-requires-python="([^"]*)" data-dist-info-metadata="sha256=([0-9a-f]{64})" data-core-metadata="sha256=([0-9a-f]{64})">([^<]+)<\/a>/g)];
  t.same(links.map((m) => m[6]), ['pi_origin_demo-1.0.0-py3-none-any.whl', 'pi_origin_demo-1.1.0-py3-none-any.whl']);
  const data = JSON.parse(json.body.toString()) as { meta: Record<string, string>; name: string; files: Record<string, unknown>[] };
  t.same({ meta: data.meta, name: data.name }, { meta: { 'api-version': '1.0' }, name: 'pi-origin-demo' });
  for (const [i, [, href, hash, requires, oldKey, newKey, text]] of links.entries()) {
    const wheel = wheels.find((w) => w.filename === text) as DemoWheel;
    t.equal(requires, '&gt;=3.7', 'data-requires-python is HTML-escaped');
    t.equal(oldKey, newKey, 'PEP 658 and PEP 714 names carry the same hash');
    const path = new URL(href as string, `http://x/simple/pi-origin-demo/`).pathname;
    t.equal(path, `/packages/${text}`);
    const [file, metadata] = await Promise.all([request(port, path), request(port, `${path}.metadata`)]);
    t.equal(sha256(file.body), hash, `${path}: #sha256= fragment matches the served bytes`);
    t.ok(file.body.equals(wheel.data), `${path}: the wheel as generated`);
    t.equal(sha256(metadata.body), newKey, `${path}.metadata: its hash is the one in the page`);
    t.ok(metadata.body.length > 0 && wheel.data.includes(metadata.body), `${path}.metadata: the METADATA stored in the wheel, byte for byte`);
    t.match(metadata.body.toString(), /^Name: pi-origin-demo$/m);
    // JSON: the same facts, and only PEP 714's key (pip 22.3-23.1 fail on `dist-info-metadata` in JSON).
    t.same(data.files[i], { filename: text, url: path, hashes: { sha256: hash }, 'requires-python': '>=3.7', 'core-metadata': { sha256: newKey } }, `${text} in JSON`);
  }
  t.same(JSON.parse(top.body.toString()), { meta: { 'api-version': '1.0' }, projects: [{ name: 'gpiozero-demo' }, { name: 'pi-origin-demo' }] });
  t.equal(etagFor(top.body), top.headers.etag);
});

interface LogLine {
  readonly method: string;
  readonly target: string;
  readonly status: number;
  readonly bytes: number;
  readonly encoding: string | null;
  readonly userAgent: string;
}

t.test('a real pip downloads, installs and resolves from the metadata files', async (t) => {
  const { pips, tried } = await findPips();
  const found = pips[0];
  if (found === undefined) {
    t.fail(
      'no working pip for this test (needed: `python3 -m pip`; on Debian/Ubuntu: apt-get install python3-pip, ' +
        'or set PI_ORIGIN_PYTHON to an interpreter that has pip)\n  ' +
        tried.join('\n  '),
    );
    return;
  }
  for (const p of pips) t.comment(`using ${p.python}: ${p.version}`);

  const root = t.testdir({ dl1: {}, dl2: {}, target: {} });
  const { wheels, dir, manifest } = await buildIndex(root);
  const log = join(root, 'access.log');
  const { node, port } = await startServer(t, dir, { accessLog: log, logFormat: 'json' });
  const index = `http://[::1]:${port}/simple/`;
  const common = ['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', '--timeout', '15', '--retries', '0'];

  /** Runs pip; `tag` goes into its User-Agent, so the node's access log tells the runs apart. */
  const pip = async (what: string, tag: string, args: string[], with_: Pip = found): Promise<Run> => {
    const r = await run(with_.python, ['-m', 'pip', ...args], pipEnv({ PIP_USER_AGENT_USER_DATA: tag }));
    t.equal(r.code, 0, `${what} (pip ${with_.release.join('.')}): exit 0`, { stdout: r.stdout, stderr: r.stderr });
    // ::1 is one of pip's secure origins: no --trusted-host, and no warning about it.
    t.notMatch(r.stderr, /not a trusted or secure host|trusted-host/i, `${what}: no trusted-host complaint`);
    return r;
  };

  await pip('download pi-origin-demo==1.1.0', 'download', ['download', '--no-deps', ...common, '--index-url', index, '-d', join(root, 'dl1'), 'pi-origin-demo==1.1.0']);
  const want = wheelOf(wheels, 'pi-origin-demo', '1.1.0');
  t.same(readdirSync(join(root, 'dl1')), [want.filename]);
  t.ok(readFileSync(join(root, 'dl1', want.filename)).equals(want.data), 'downloaded bytes equal the generated wheel');

  await pip('download gpiozero-demo', 'download', ['download', '--no-deps', ...common, '--index-url', index, '-d', join(root, 'dl2'), 'gpiozero-demo']);
  const only = wheelOf(wheels, 'gpiozero-demo', '0.1.0');
  t.same(readdirSync(join(root, 'dl2')), [only.filename], 'the only version is picked');
  t.ok(readFileSync(join(root, 'dl2', only.filename)).equals(only.data));

  // The wheel is installable, not just downloadable (and the older version is still selectable).
  const target = join(root, 'target');
  await pip('install pi-origin-demo==1.0.0', 'install', ['install', '--no-deps', '--no-compile', ...common, '--index-url', index, '--target', target, 'pi-origin-demo==1.0.0']);
  const hello = await run(found.python, ['-c', 'import pi_origin_demo as m; print(m.__version__, m.hello())'], pipEnv({ PYTHONPATH: target }));
  t.equal(hello.code, 0, 'installed package imports', { stderr: hello.stderr });
  t.equal(hello.stdout, '1.0.0 hello from pi-origin-demo 1.0.0\n');

  // Resolving without installing: from the JSON index (each pip found), and from the HTML page.
  const dryRun = ['install', '--dry-run', '--ignore-installed', '--no-deps', ...common];
  const reports: [string, Pip, string][] = [];
  for (const [i, p] of pips.entries()) {
    const report = join(root, `report-json-${i}.json`);
    await pip('install --dry-run --report (JSON index)', `dry-run-json-${i}`, [...dryRun, '--report', report, '--index-url', index, 'pi-origin-demo==1.1.0'], p);
    reports.push([`dry-run-json-${i}`, p, report]);
  }
  const htmlReport = join(root, 'report-html.json');
  await pip('install --dry-run --report (HTML page)', 'dry-run-html', [...dryRun, '--report', htmlReport, '--no-index', '--find-links', `${index}pi-origin-demo/index.html`, 'pi-origin-demo==1.1.0']);
  reports.push(['dry-run-html', found, htmlReport]);
  await node.close();

  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine);
  const metadataUrl = `/packages/${want.filename}.metadata`;
  for (const [tag, p, report] of reports) {
    const installs = (JSON.parse(readFileSync(report, 'utf8')) as { install: { metadata: Record<string, string>; download_info: { url: string; archive_info: { hash?: string } } }[] }).install;
    t.same(
      installs.map((x) => ({ name: x.metadata.name, version: x.metadata.version, requires: x.metadata.requires_python, url: x.download_info.url, hash: x.download_info.archive_info.hash })),
      [{ name: 'pi-origin-demo', version: '1.1.0', requires: '>=3.7', url: `http://[::1]:${port}/packages/${want.filename}`, hash: `sha256=${want.sha256}` }],
      `${tag}: the report names the wheel, its hash and its metadata`,
    );
    const own = lines.filter((l) => l.userAgent.includes(`"user_data":"${tag}"`));
    const metadataAt = own.findIndex((l) => l.target === metadataUrl);
    const wheelAt = own.findIndex((l) => l.target === `/packages/${want.filename}`);
    // pip reads PEP 658's HTML attribute from 22.3, and PEP 714's JSON key from 23.2; before
    // that it must still work (never meet the JSON key that breaks it) and fetch the wheel.
    const readsMetadata = tag === 'dry-run-html' ? atLeast(p, 22, 3) : atLeast(p, 23, 2);
    if (readsMetadata) {
      t.ok(metadataAt !== -1 && own[metadataAt]?.status === 200, `${tag}: pip ${p.release.join('.')} fetched ${metadataUrl}`, { requests: own.map((l) => `${l.status} ${l.target}`) });
      t.ok(wheelAt === -1 || wheelAt > metadataAt, `${tag}: and resolved from it before any wheel was fetched`);
    } else {
      t.equal(metadataAt, -1, `${tag}: pip ${p.release.join('.')} knows no PEP 714 key: no metadata file, the wheel instead`);
      t.not(wheelAt, -1);
    }
  }

  // Every page pip asked for at the index URL was the JSON representation (told apart by size).
  const jsonSizes = new Map<string, Set<number>>();
  for (const f of manifest.files.filter((x) => x.type === SIMPLE_JSON)) {
    const url = f.path.slice(0, -'index.json'.length);
    jsonSizes.set(url, new Set([f.size, ...Object.values(f.variants).map((v) => v.size)]));
  }
  const pages = lines.filter((l) => jsonSizes.has(l.target));
  t.equal(pages.length, 3 + pips.length, 'one page for each run at the index URL');
  for (const l of pages) t.ok(l.status === 200 && jsonSizes.get(l.target)?.has(l.bytes), `${l.target} for pip (${l.encoding}, ${l.bytes} bytes) was the JSON page`);
});
