/**
 * Unit tests for configuration: flag and env parsing, the JSON file, precedence, validation
 * messages and --help. Imported from the TypeScript sources.
 */
import { join, resolve } from 'node:path';
import t from 'tap';
import { parseBytes } from '../common/units.js';
import {
  ConfigError,
  envName,
  OPTIONS,
  shownDefault,
  parseEnv,
  parseFlags,
  readConfigFile,
  resolveOptions,
  serveHelp,
  type RawOptions,
  type ServeOptions,
} from '../server/config.js';

const ROOT = '/srv/site';

function resolveFlags(flags: RawOptions, env: RawOptions = {}): ServeOptions {
  return resolveOptions({ flags, env, positionalRoot: ROOT, defaultRoot: ROOT });
}

function fromArgv(...argv: string[]): ServeOptions {
  const { raw, positional } = parseFlags(argv);
  return resolveOptions({ flags: raw, positionalRoot: positional[0] ?? ROOT, defaultRoot: ROOT });
}

t.test('parseFlags', (t) => {
  const cases: [string[], RawOptions, string[]][] = [
    [[], {}, []],
    [['--workers', '2'], { workers: '2' }, []],
    [['--workers=2'], { workers: '2' }, []],
    [['site', '--workers', '2'], { workers: '2' }, ['site']],
    [['--workers', '2', 'site'], { workers: '2' }, ['site']],
    [['--listen', '[::1]:80', '--listen=127.0.0.1:81'], { listen: ['[::1]:80', '127.0.0.1:81'] }, []],
    [['--listen=[::]:8080'], { listen: ['[::]:8080'] }, []],
    [['--no-watch'], { watch: false }, []],
    [['--watch'], { watch: true }, []],
    [['--watch', '--no-watch'], { watch: false }, []],
    [['--ipv6-only'], { ipv6Only: true }, []],
    [['--no-ipv6-only'], { ipv6Only: false }, []],
    [['--cache-control', '/assets/*=public, max-age=31536000, immutable'], { cacheControl: ['/assets/*=public, max-age=31536000, immutable'] }, []],
    [['--cache-control=/a=b=c'], { cacheControl: ['/a=b=c'] }, []],
    [['--node-name', 'pi-1', '--node-name', 'pi-2'], { nodeName: 'pi-2' }, []],
    [['--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '2001:db8::/32'], { trustedProxy: ['10.0.0.0/8', '2001:db8::/32'] }, []],
  ];
  for (const [argv, raw, positional] of cases) t.same(parseFlags(argv), { raw, positional }, argv.join(' ') || '(none)');
  t.end();
});

t.test('parseFlags errors name the flag', (t) => {
  t.throws(() => parseFlags(['--bogus']), { name: 'ConfigError', message: /unknown option --bogus\b/ });
  t.throws(() => parseFlags(['--bogus=1']), { name: 'ConfigError', message: /unknown option --bogus\b/ });
  t.throws(() => parseFlags(['--no-workers']), { name: 'ConfigError', message: /unknown option --no-workers\b/ });
  t.throws(() => parseFlags(['--no-bogus']), { name: 'ConfigError', message: /--no-bogus/ });
  t.throws(() => parseFlags(['--Workers', '2']), { name: 'ConfigError', message: /--Workers/ });
  t.throws(() => parseFlags(['--workers']), { name: 'ConfigError', message: /^--workers needs a value$/ });
  t.throws(() => parseFlags(['site', '--listen']), { name: 'ConfigError', message: /^--listen needs a value$/ });
  t.throws(() => parseFlags(['--node-name=']), { name: 'ConfigError', message: /^--node-name needs a value$/ });
  t.throws(() => parseFlags(['--ipv6-only=false']), { name: 'ConfigError', message: /^--ipv6-only takes no value \(got "false"\); use --no-ipv6-only$/ });
  const e = (() => {
    try {
      parseFlags(['--bogus']);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  t.ok(e instanceof ConfigError);
  t.equal((e as ConfigError).code, 'PI_ORIGIN_INVALID_OPTION');
  t.end();
});

t.test('defaults', (t) => {
  const o = resolveFlags({});
  t.equal(o.root, resolve(ROOT));
  t.same(o.listen, [{ host: '::', port: 8080, family: 6 }]);
  t.equal(o.ipv6Only, false);
  t.ok(Number.isInteger(o.workers) && o.workers >= 1);
  t.equal(o.cacheSize, 1024 ** 3);
  t.equal(o.cacheMaxFile, 16 * 1024 ** 2);
  t.same(o.trustedProxy, []);
  t.same(o.adminAllow.map((c) => c.text), ['::1/128', '127.0.0.0/8']);
  t.equal(o.accessLog, 'off');
  t.equal(o.logFormat, 'combined');
  t.same(o.headers, []);
  t.equal(o.watch, true);
  t.equal(o.drainTimeout, 10);
  t.equal(o.tls, undefined);
  t.ok(Object.isFrozen(o));
  t.end();
});

t.test('valid values are resolved', (t) => {
  const o = fromArgv(
    'site',
    '--listen', '[2001:db8::1]:80',
    '--listen', '127.0.0.1:8080',
    '--listen', '[::ffff:127.0.0.1]:81',
    '--workers=4',
    '--cache-size', '512MiB',
    '--cache-max-file', '1MiB',
    '--trusted-proxy', '10.0.0.0/8',
    '--admin-allow', '2001:db8::/32',
    '--access-log', 'stdout',
    '--log-format', 'json',
    '--cache-control', '/assets/*=public, max-age=31536000, immutable',
    '--cache-control', '*.html=no-cache',
    '--no-watch',
    '--drain-timeout', '2.5',
    '--node-name', 'pi-7',
  );
  t.equal(o.root, resolve('site'));
  t.same(o.listen, [
    { host: '2001:db8::1', port: 80, family: 6 },
    { host: '127.0.0.1', port: 8080, family: 4 },
    { host: '::ffff:127.0.0.1', port: 81, family: 6 },
  ]);
  t.equal(o.workers, 4);
  t.equal(o.cacheSize, 512 * 1024 ** 2);
  t.equal(o.cacheMaxFile, 1024 ** 2);
  t.same(o.trustedProxy.map((c) => c.text), ['10.0.0.0/8']);
  t.same(o.adminAllow.map((c) => c.text), ['2001:db8::/32']);
  t.equal(o.accessLog, 'stdout');
  t.equal(o.logFormat, 'json');
  t.same(o.headers, [
    { pattern: '/assets/*', headers: { 'Cache-Control': 'public, max-age=31536000, immutable' } },
    { pattern: '*.html', headers: { 'Cache-Control': 'no-cache' } },
  ]);
  t.equal(o.watch, false);
  t.equal(o.drainTimeout, 2.5);
  t.equal(o.nodeName, 'pi-7');
  t.equal(fromArgv('--access-log', 'logs/access.log').accessLog, resolve('logs/access.log'));
  t.equal(fromArgv('--workers', '256').workers, 256);
  t.equal(fromArgv('--listen', '[::1]:0').listen[0]?.port, 0);
  t.equal(fromArgv('--listen', '[::1]:65535').listen[0]?.port, 65535);
  t.equal(fromArgv('--ipv6-only', '--listen', '[::]:80').ipv6Only, true);
  t.end();
});

t.test('validation errors name the option and the bad value', (t) => {
  const cases: [string[], RegExp][] = [
    [['--workers', '0'], /--workers .*"0"/],
    [['--workers', 'abc'], /--workers .*"abc"/],
    [['--workers', '2.5'], /--workers .*"2\.5"/],
    [['--workers', '257'], /--workers .*"257"/],
    [['--workers', '-1'], /--workers .*"-1"/],
    [['--listen', '::1:80'], /--listen: "::1:80"/],
    [['--listen', '[::1]:99999'], /--listen: "\[::1\]:99999"/],
    [['--listen', '[::1]:65536'], /--listen: "\[::1\]:65536"/],
    [['--listen', '[::1]'], /--listen: "\[::1\]"/],
    [['--listen', 'localhost:80'], /--listen: "localhost:80"/],
    [['--listen', '[fe80::1%eth0]:80'], /--listen: .*fe80::1%eth0/],
    [['--listen', '[bogus]:80'], /--listen: "bogus" in "\[bogus\]:80"/],
    [['--listen', '999.1.1.1:80'], /--listen: .*999\.1\.1\.1/],
    [['--ipv6-only', '--listen', '127.0.0.1:80'], /--listen: "127\.0\.0\.1:80" is IPv4 but --ipv6-only/],
    [['--ipv6-only', '--tls-listen', '127.0.0.1:443'], /--tls-listen: "127\.0\.0\.1:443" is IPv4 but --ipv6-only/],
    [['--ipv6-only=maybe'], /--ipv6-only .*"maybe"/],
    [['--trusted-proxy', '10.0.0.0/33'], /--trusted-proxy: "10\.0\.0\.0\/33"/],
    [['--trusted-proxy', 'proxy.example'], /--trusted-proxy: "proxy\.example"/],
    [['--admin-allow', '2001:db8::/129'], /--admin-allow: "2001:db8::\/129"/],
    // Both were read as ::/32 (admin for every IPv4 client; every IPv4 peer a trusted proxy).
    [['--admin-allow', '[127.0.0.1]/32'], /^--admin-allow: "\[127\.0\.0\.1\]\/32" is not an address prefix .*: brackets are for IPv6 only \(write 127\.0\.0\.1\/32\)$/],
    [['--trusted-proxy', '[10.0.0.1]'], /^--trusted-proxy: "\[10\.0\.0\.1\]" .*brackets are for IPv6 only/],
    [['--admin-allow', '::ffff:127.0.0.0/8'], /^--admin-allow: "::ffff:127\.0\.0\.0\/8" .*IPv4-mapped prefix shorter than \/96/],
    [['--cache-size', '1MiB', '--cache-max-file', '2MiB'], /--cache-max-file \(2097152\) must not exceed --cache-size \(1048576\)/],
    [['--cache-size', 'lots'], /--cache-size .*"lots"/],
    [['--cache-max-file', '-1'], /--cache-max-file .*"-1"/],
    [['--cache-control', 'public'], /--cache-control: "public"/],
    [['--cache-control', '=public'], /--cache-control: "=public"/],
    [['--cache-control', 'assets/*=public'], /--cache-control: pattern "assets\/\*"/],
    [['--cache-control', '/a=public\r\nX-Evil: 1'], /--cache-control: header Cache-Control has a value with control characters/],
    [['--cache-control', '/a=public\nX-Evil: 1'], /--cache-control: header Cache-Control .*control characters/],
    [['--cache-control', '/a=pub\x00lic'], /--cache-control: header Cache-Control .*control characters/],
    [['--log-format', 'xml'], /--log-format .*"xml"/],
    [['--drain-timeout', '-1'], /--drain-timeout .*"-1"/],
    [['--drain-timeout', '3601'], /--drain-timeout .*"3601"/],
    [['--drain-timeout', 'soon'], /--drain-timeout .*"soon"/],
    [['--tls-listen', '[::]:443'], /--tls-listen needs --tls-cert and --tls-key/],
    [['--tls-listen', '[::]:443', '--tls-cert', 'c.pem'], /--tls-listen needs --tls-cert and --tls-key/],
    [['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], /need --tls-listen/],
    [['--sni', 'a.example=c.pem,k.pem'], /need --tls-listen/],
    [['--tls-listen', '[::]:443', '--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'], /--tls-cert: cannot read \/nonexistent\/c\.pem: ENOENT/],
    [['--tls-listen', '[::]:443', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--sni', 'nonsense'], /--sni: "nonsense" is not HOST=CERT,KEY/],
  ];
  for (const [argv, message] of cases) t.throws(() => fromArgv(...argv), { name: 'ConfigError', message }, argv.join(' '));
  t.end();
});

t.test('header rules: CR/LF and reserved names are refused', (t) => {
  const rule = (headers: Record<string, string>, pattern = '/*'): RawOptions => ({ headers: [{ pattern, headers }] });
  const ok = resolveFlags(rule({ 'Surrogate-Key': 'site', 'Cache-Control': 'no-cache' }));
  t.same(ok.headers, [{ pattern: '/*', headers: { 'Surrogate-Key': 'site', 'Cache-Control': 'no-cache' } }]);
  const cases: [RawOptions, RegExp][] = [
    [rule({ 'Content-Length': '5' }), /headers: header Content-Length is set by the server/],
    [rule({ 'content-type': 'text/evil' }), /header content-type is set by the server/],
    [rule({ ETag: '"x"' }), /header ETag is set by the server/],
    [rule({ Vary: '*' }), /header Vary is set by the server/],
    [rule({ 'Transfer-Encoding': 'chunked' }), /header Transfer-Encoding is set by the server/],
    [rule({ 'X-A': 'a\r\nSet-Cookie: x=1' }), /headers: header X-A has a value with control characters/],
    [rule({ 'X-A': 'a\nb' }), /header X-A has a value with control characters/],
    [rule({ 'X-A': 'a\rb' }), /header X-A has a value with control characters/],
    [rule({ 'Bad Name': 'x' }), /"Bad Name" is not a valid header name/],
    [rule({ 'X-A\r\nX-B': 'x' }), /is not a valid header name/],
    [rule({ '': 'x' }), /"" is not a valid header name/],
    [rule({ 'X-A': 'x' }, 'relative'), /pattern "relative" must start with \/ or \*/],
    [{ headers: 'nope' }, /headers must be a list/],
    [{ headers: [{ pattern: '/x' }] }, /headers: .* is not \{"pattern"/],
    [{ headers: [{ pattern: '/x', headers: { 'X-A': 5 } }] }, /headers: .* is not \{"pattern"/],
    [{ headers: [null] }, /headers: null is not/],
  ];
  for (const [raw, message] of cases) t.throws(() => resolveFlags(raw), { name: 'ConfigError', message }, JSON.stringify(raw));
  t.end();
});

t.test('a missing root is an error', (t) => {
  t.throws(() => resolveOptions({ flags: {}, defaultRoot: '' }), { name: 'ConfigError', message: /ROOT/ });
  t.end();
});

t.test('parseEnv', (t) => {
  const cases: [NodeJS.ProcessEnv, RawOptions][] = [
    [{}, {}],
    [{ PI_ORIGIN_WORKERS: '3' }, { workers: '3' }],
    [{ PI_ORIGIN_WORKERS: '' }, {}],
    [{ PI_ORIGIN_ROOT: '/srv/x' }, { root: '/srv/x' }],
    [{ PI_ORIGIN_LISTEN: '[::1]:80, 127.0.0.1:81,' }, { listen: ['[::1]:80', '127.0.0.1:81'] }],
    [{ PI_ORIGIN_CACHE_MAX_FILE: '1MiB', PI_ORIGIN_IPV6_ONLY: 'yes' }, { cacheMaxFile: '1MiB', ipv6Only: 'yes' }],
    [{ PI_ORIGIN_SNI: 'a.example=a.pem,a.key; b.example=b.pem,b.key' }, { sni: ['a.example=a.pem,a.key', 'b.example=b.pem,b.key'] }],
    [{ PI_ORIGIN_CACHE_CONTROL: '/a/*=no-cache' }, { cacheControl: ['/a/*=no-cache'] }],
    [{ PI_ORIGIN_CACHE_CONTROL: '/a/*=public, max-age=60; *.html=no-cache' }, { cacheControl: ['/a/*=public, max-age=60', '*.html=no-cache'] }],
    [{ PI_ORIGIN_NOT_AN_OPTION: 'x', HOME: '/root', workers: '9' }, {}],
  ];
  for (const [env, expected] of cases) t.same(parseEnv(env), expected, JSON.stringify(env));
  t.end();
});

t.test('envName', (t) => {
  const cases: [string, string][] = [
    ['workers', 'PI_ORIGIN_WORKERS'],
    ['cacheMaxFile', 'PI_ORIGIN_CACHE_MAX_FILE'],
    ['ipv6Only', 'PI_ORIGIN_IPV6_ONLY'],
    ['tlsListen', 'PI_ORIGIN_TLS_LISTEN'],
    ['root', 'PI_ORIGIN_ROOT'],
  ];
  for (const [key, expected] of cases) t.equal(envName(key), expected, key);
  t.end();
});

t.test('precedence: flags > env > JSON file > defaults', (t) => {
  const dir = t.testdir({
    'origin.json': JSON.stringify({ workers: 4, nodeName: 'from-file', cacheSize: '64MiB', logFormat: 'json', root: '/srv/file', listen: ['[::1]:9000'] }),
  });
  const file = join(dir, 'origin.json');
  const env = parseEnv({ PI_ORIGIN_WORKERS: '3', PI_ORIGIN_NODE_NAME: 'from-env', PI_ORIGIN_CONFIG: file });
  const all = resolveOptions({ flags: parseFlags(['--workers', '2']).raw, env, defaultRoot: ROOT });
  t.equal(all.workers, 2, 'flag beats env and file');
  t.equal(all.nodeName, 'from-env', 'env beats file');
  t.equal(all.cacheSize, 64 * 1024 ** 2, 'file beats default');
  t.equal(all.logFormat, 'json');
  t.equal(all.root, resolve('/srv/file'), 'root from the file');
  t.same(all.listen, [{ host: '::1', port: 9000, family: 6 }]);
  t.equal(all.cacheMaxFile, 16 * 1024 ** 2, 'default when no source sets it');

  const envOnly = resolveOptions({ flags: {}, env, defaultRoot: ROOT });
  t.equal(envOnly.workers, 3, 'env beats file');

  const fileOnly = resolveOptions({ flags: parseFlags(['--config', file]).raw, env: {}, defaultRoot: ROOT });
  t.equal(fileOnly.workers, 4);
  t.equal(fileOnly.nodeName, 'from-file');

  const positional = resolveOptions({ flags: parseFlags([`--config=${file}`]).raw, positionalRoot: '/srv/flag', env: parseEnv({ PI_ORIGIN_ROOT: '/srv/env' }), defaultRoot: ROOT });
  t.equal(positional.root, resolve('/srv/flag'), 'positional ROOT beats env and file');
  const envRoot = resolveOptions({ flags: parseFlags([`--config=${file}`]).raw, env: parseEnv({ PI_ORIGIN_ROOT: '/srv/env' }), defaultRoot: ROOT });
  t.equal(envRoot.root, resolve('/srv/env'), 'env root beats file root');

  // --no-watch on the command line beats watch=true elsewhere.
  const dir2 = t.testdir({ 'w.json': JSON.stringify({ watch: true, ipv6Only: true }) });
  const w = resolveOptions({ flags: parseFlags(['--no-watch', '--config', join(dir2, 'w.json'), '--listen', '[::1]:1']).raw, env: parseEnv({ PI_ORIGIN_WATCH: 'on' }), positionalRoot: ROOT, defaultRoot: ROOT });
  t.equal(w.watch, false);
  t.equal(w.ipv6Only, true);
  t.end();
});

t.test('JSON config file errors name the file', (t) => {
  const dir = t.testdir({
    'unknown.json': JSON.stringify({ workers: 2, bogus: 1 }),
    'invalid.json': '{ "workers": 2, }',
    'array.json': '[1, 2]',
    'null.json': 'null',
    'bad-value.json': JSON.stringify({ workers: 'many' }),
    'headers.json': JSON.stringify({ headers: [{ pattern: '/*', headers: { 'Content-Length': '1' } }] }),
  });
  const at = (name: string): string => join(dir, name);
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  t.throws(() => readConfigFile(at('unknown.json')), { name: 'ConfigError', message: new RegExp(`unknown key "bogus" in ${esc(at('unknown.json'))}`) });
  t.throws(() => readConfigFile(at('invalid.json')), { name: 'ConfigError', message: new RegExp(`${esc(at('invalid.json'))} is not valid JSON`) });
  t.throws(() => readConfigFile(at('array.json')), { name: 'ConfigError', message: new RegExp(`${esc(at('array.json'))} must hold a JSON object`) });
  t.throws(() => readConfigFile(at('null.json')), { name: 'ConfigError', message: new RegExp(`${esc(at('null.json'))} must hold a JSON object`) });
  t.throws(() => readConfigFile(at('missing.json')), { name: 'ConfigError', message: new RegExp(`cannot read ${esc(at('missing.json'))}: ENOENT`) });
  t.throws(() => resolveFlags({ config: at('unknown.json') }), { name: 'ConfigError', message: /unknown key "bogus"/ });
  t.throws(() => resolveFlags({ config: at('invalid.json') }), { name: 'ConfigError', message: /invalid\.json is not valid JSON/ });
  t.throws(() => resolveFlags({}, { config: at('invalid.json') }), { name: 'ConfigError', message: /invalid\.json is not valid JSON/ });
  t.throws(() => resolveFlags({ config: at('bad-value.json') }), { name: 'ConfigError', message: /--workers .*"many"/ });
  t.throws(() => resolveFlags({ config: at('headers.json') }), { name: 'ConfigError', message: /header Content-Length is set by the server/ });
  t.end();
});

t.test('parseBytes', (t) => {
  const cases: [string, number | undefined][] = [
    ['1GiB', 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['64k', 64 * 1024],
    ['64K', 64 * 1024],
    ['64KiB', 64 * 1024],
    ['64kb', 64000],
    ['1.5MB', 1_500_000],
    ['1.5k', 1536],
    ['2g', 2 * 1024 ** 3],
    ['1GB', 1e9],
    ['10', 10],
    ['10b', 10],
    ['0', 0],
    [' 16 MiB ', 16 * 1024 ** 2],
    ['', undefined],
    ['MiB', undefined],
    ['-1', undefined],
    ['1e3', undefined],
    ['1XB', undefined],
    ['1 T', undefined],
    ['1..5k', undefined],
    ['.5k', undefined],
    ['0x10', undefined],
  ];
  for (const [text, expected] of cases) t.equal(parseBytes(text), expected, JSON.stringify(text));
  t.end();
});

t.test('serveHelp mentions every flag and every env name', (t) => {
  const help = serveHelp('/opt/demo');
  t.match(help, /^Serve a static content root/, 'the text after the usage line (cli/serve.ts adds that and the examples)');
  t.match(help, '/opt/demo');
  t.match(help, 'PI_ORIGIN_ROOT');
  for (const o of OPTIONS) {
    t.ok(help.includes(o.flag), `flag ${o.flag}`);
    t.ok(help.includes(envName(o.key)), `env ${envName(o.key)}`);
    if (o.kind === 'bool') t.ok(help.includes(`--no-${o.flag.slice(2)}`), `--no-${o.flag.slice(2)}`);
    const shown = shownDefault(o);
    if (shown !== undefined) t.ok(help.replace(/\n {35}/g, ' ').includes(`[default: ${shown.replaceAll('`', '')}]`), `default of ${o.flag}`);
  }
  t.equal(new Set(OPTIONS.map((o) => o.flag)).size, OPTIONS.length, 'flags are unique');
  t.equal(new Set(OPTIONS.map((o) => envName(o.key))).size, OPTIONS.length, 'env names are unique');
  t.end();
});
