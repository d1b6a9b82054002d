/**
 * The front benchmark's pure parts (load-tests/bench/front.ts): the HAProxy configuration it
 * runs is one HAProxy accepts, with Mozilla's intermediate TLS settings on the TLS bind and
 * PROXY v2 to the node, and the HTTPS/HTTP ratios pair runs of the same file and connection mode.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { frontConfig, frontRatios, MOZILLA_INTERMEDIATE, type FrontRun } from '../load-tests/bench/front.js';

const hasHaproxy = spawnSync('sh', ['-c', 'command -v haproxy'], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0;

t.test('the HAProxy configuration: Mozilla intermediate on the TLS bind, PROXY v2 to the node', { skip: hasHaproxy ? false : 'haproxy is not installed' }, (t) => {
  const dir = t.testdir({});
  const key = join(dir, 'k.pem');
  const cert = join(dir, 'c.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=front.bench'], { stdio: 'ignore' });
  const pem = join(dir, 'front.pem');
  writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  const cfg = frontConfig({ httpPort: 18001, httpsPort: 18002, nodePort: 18003, pem });
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  const check = spawnSync('/usr/sbin/haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
  t.equal(check.status, 0, `haproxy -c accepts it ${check.stderr}`);
  t.match(cfg, `ssl-default-bind-options ${MOZILLA_INTERMEDIATE.options}\n`);
  t.match(cfg, /no-tlsv10 no-tlsv11/, 'TLS 1.2 and 1.3 only');
  t.match(cfg, `    bind [::1]:18002 ssl crt ${pem} alpn h2,http/1.1\n`);
  t.match(cfg, '    server node1 [::1]:18003 send-proxy-v2\n', 'the hop the dualstack_proxy role makes');
  t.match(cfg, '    nbthread 1\n', 'one thread: HAProxy CPU time is one core');
  t.end();
});

t.test('ratios: HTTPS over HTTP of the same file and connection mode', (t) => {
  const run = (file: string, connection: FrontRun['connection'], scheme: FrontRun['scheme'], reqPerSec: number, reqPerHaproxyCore: number): FrontRun => ({ file, connection, scheme, requests: reqPerSec * 10, reqPerSec, mbytesPerSec: 0, errors: 0, haproxyCpuPct: 50, reqPerHaproxyCore, nodeCpuPct: 10 });
  const ratios = frontRatios([
    run('1 KB', 'keep-alive', 'http', 1000, 20_000),
    run('1 KB', 'keep-alive', 'https', 500, 10_000),
    run('1 KB', 'new connection', 'https', 100, 1000),
    run('200 KB', 'new connection', 'http', 300, 3000),
    run('200 KB', 'new connection', 'https', 150, 750),
  ]);
  t.same(ratios, [
    { file: '1 KB', connection: 'keep-alive', reqPerSec: 0.5, reqPerHaproxyCore: 0.5 },
    { file: '200 KB', connection: 'new connection', reqPerSec: 0.5, reqPerHaproxyCore: 0.25 },
  ], 'a pair with one side missing gives no ratio');
  t.end();
});
