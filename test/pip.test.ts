/**
 * The demo's PEP 503 package index (demo/packages.ts) served by a real origin and
 * consumed by a real pip. Only the local server on [::1] is used: pip's configuration files
 * and PIP_* / proxy environment variables are shut out, so no other index (and no network)
 * can answer. A missing pip fails the test with instructions; it is never skipped.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { devNull } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { buildDemoWheels, normalizeName, writePackageIndex, type DemoWheel } from '../demo/packages.js';
import { request, startServer } from './helpers/server.js';
import { sha256 } from './helpers/hash.js';

const HTML = 'text/html; charset=utf-8';

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

/** First interpreter whose `-m pip` works: $PI_ORIGIN_PYTHON if set, else python3 on PATH, else /usr/bin/python3. */
async function findPip(): Promise<{ python: string; version: string } | { tried: string[] }> {
  const fromEnv = process.env.PI_ORIGIN_PYTHON;
  const candidates = fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : ['python3', '/usr/bin/python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    const r = await run(python, ['-m', 'pip', '--version'], pipEnv(), 30_000);
    if (r.code === 0 && /^pip \d/.test(r.stdout)) return { python, version: r.stdout.trim() };
    tried.push(`${python} -m pip --version: exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').pop() ?? ''}`);
  }
  return { tried };
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

  // The build hooked the generator in: the demo root holds the same bytes (built by another process).
  for (const w of a) {
    t.ok(readFileSync(join('dist', 'demo-site', 'packages', w.filename)).equals(w.data), `dist/demo-site/packages/${w.filename} matches`);
  }
  t.end();
});

t.test('index over plain HTTP', async (t) => {
  const root = t.testdir({});
  const { wheels } = writePackageIndex(root);
  const { port } = await startServer(t, root);

  const top = await request(port, '/simple/');
  t.equal(top.status, 200);
  t.equal(top.headers['content-type'], HTML);
  const topHtml = top.body.toString();
  t.match(topHtml, /^<!DOCTYPE html>\n/i);
  t.match(topHtml, '<meta name="pypi:repository-version" content="1.0">');
  t.same(
    [...topHtml.matchAll(/<a href="([^"]*)">/g)].map((m) => new URL(m[1] as string, 'http://x/simple/').pathname),
    ['/simple/gpiozero-demo/', '/simple/pi-origin-demo/'],
  );

  const page = await request(port, '/simple/pi-origin-demo/');
  t.equal(page.status, 200);
  t.equal(page.headers['content-type'], HTML);
  const html = page.body.toString();
  t.match(html, '<meta name="pypi:repository-version" content="1.0">');
  const links = [...html.matchAll(/<a href="([^"#]+)#sha256=([0-9a-f]{64})" data-requires-python="([^"]*)">([^<]+)<\/a>/g)];
  t.same(
    links.map((m) => m[4]),
    ['pi_origin_demo-1.0.0-py3-none-any.whl', 'pi_origin_demo-1.1.0-py3-none-any.whl'],
  );
  for (const [, href, hash, requires, text] of links) {
    t.equal(requires, '&gt;=3.7', 'data-requires-python is HTML-escaped');
    const path = new URL(href as string, 'http://x/simple/pi-origin-demo/').pathname;
    t.equal(path, `/packages/${text}`);
    const file = await request(port, path);
    t.equal(file.status, 200, path);
    t.equal(sha256(file.body), hash, `${path}: #sha256= fragment matches the served bytes`);
    t.ok(file.body.equals(wheels.find((w) => w.filename === text)?.data ?? Buffer.alloc(0)), `${path}: generated bytes`);
  }

  const redirect = await request(port, '/simple/pi-origin-demo');
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.location, '/simple/pi-origin-demo/');
});

t.test('a real pip downloads and installs from the index', async (t) => {
  const found = await findPip();
  if (!('python' in found)) {
    t.fail(
      'no working pip for this test (needed: `python3 -m pip`; on Debian/Ubuntu: apt-get install python3-pip, ' +
        'or set PI_ORIGIN_PYTHON to an interpreter that has pip)\n  ' +
        found.tried.join('\n  '),
    );
    return;
  }
  t.comment(`using ${found.python}: ${found.version}`);

  const root = t.testdir({ site: {}, dl1: {}, dl2: {}, target: {} });
  const { wheels } = writePackageIndex(join(root, 'site'));
  const { port } = await startServer(t, join(root, 'site'));
  const index = `http://[::1]:${port}/simple/`;
  const env = pipEnv();
  const common = ['--no-cache-dir', '--disable-pip-version-check', '--no-input', '--progress-bar', 'off', '--timeout', '15', '--retries', '0', '--index-url', index];

  const pip = async (what: string, args: string[]): Promise<Run> => {
    const r = await run(found.python, ['-m', 'pip', ...args], env);
    t.equal(r.code, 0, `${what}: exit 0`, { stdout: r.stdout, stderr: r.stderr });
    // ::1 is one of pip's secure origins: no --trusted-host, and no warning about it.
    t.notMatch(r.stderr, /not a trusted or secure host|trusted-host/i, `${what}: no trusted-host complaint`);
    return r;
  };

  await pip('download pi-origin-demo==1.1.0', ['download', '--no-deps', ...common, '-d', join(root, 'dl1'), 'pi-origin-demo==1.1.0']);
  const want = wheelOf(wheels, 'pi-origin-demo', '1.1.0');
  t.same(readdirSync(join(root, 'dl1')), [want.filename]);
  t.ok(readFileSync(join(root, 'dl1', want.filename)).equals(want.data), 'downloaded bytes equal the generated wheel');

  await pip('download gpiozero-demo', ['download', '--no-deps', ...common, '-d', join(root, 'dl2'), 'gpiozero-demo']);
  const only = wheelOf(wheels, 'gpiozero-demo', '0.1.0');
  t.same(readdirSync(join(root, 'dl2')), [only.filename], 'the only version is picked');
  t.ok(readFileSync(join(root, 'dl2', only.filename)).equals(only.data));

  // The wheel is installable, not just downloadable (and the older version is still selectable).
  const target = join(root, 'target');
  await pip('install pi-origin-demo==1.0.0', ['install', '--no-deps', '--no-compile', ...common, '--target', target, 'pi-origin-demo==1.0.0']);
  const hello = await run(found.python, ['-c', 'import pi_origin_demo as m; print(m.__version__, m.hello())'], pipEnv({ PYTHONPATH: target }));
  t.equal(hello.code, 0, 'installed package imports', { stderr: hello.stderr });
  t.equal(hello.stdout, '1.0.0 hello from pi-origin-demo 1.0.0\n');
});
