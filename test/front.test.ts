/**
 * The dual-stack front (ansible/proxy.yml, the dualstack_proxy role) with a real HAProxy and a
 * real origin on [::1]: what the internet can reach through it, and what it cannot.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { freePort, haproxyCommand, parseShowStat, SHOW_STAT } from './helpers/cluster.js';
import { prepareFront } from './helpers/front.js';
import { monitoringMetricNames } from './helpers/promql.js';
import { parseResponses, rawExchange, startServer } from './helpers/server.js';
import { until } from './helpers/wait.js';

const HAS_TOOLS = ['ansible-playbook', 'haproxy', 'socat'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0);
const SKIP = process.getuid?.() !== 0 ? 'needs root (HAProxy drops to the haproxy account)' : !HAS_TOOLS ? 'needs ansible, haproxy and socat (Debian packages)' : false;

t.test('front: /_origin/* is denied from outside, health checks still reach the node, the HTTP/1.0 hop is private', { skip: SKIP }, async (t) => {
  const site = t.testdir({ 'index.html': '<h1>launch</h1>\n', _origin: { status: 'content status\n' } });
  // As origin_node configures a node behind the proxy: the proxy is trusted and admin.
  const origin = await startServer(t, site, { trustedProxy: ['::1/128'], adminAllow: ['::1/128'] });
  const metricsPort = await freePort();
  const front = await prepareFront(t, [origin.port], { dualstack_proxy_metrics_port: metricsPort, dualstack_proxy_metrics_bind_ipv6: ['::1'] });
  const applied = await front.apply();
  t.equal(applied.code, 0, `proxy.yml applied in ${applied.ms} ms`, { stdout: applied.stdout.slice(-4000) });
  t.ok(await until(() => parseShowStat(haproxyCommand(front.socket, SHOW_STAT)).get('node1')?.status === 'UP', 15_000), "HAProxy's health checks (GET /_origin/health with PROXY v2) reach the node: UP");

  const exchange = async (host: string, head: string): Promise<{ status: number; body: string }> => {
    const [r] = parseResponses(await rawExchange(front.httpPort, head, host));
    return { status: r?.status ?? 0, body: r?.body.toString() ?? '' };
  };
  for (const host of ['127.0.0.1', '::1']) {
    for (const path of ['/_origin/status', '/_origin/health', '/_origin/metrics?x=1']) {
      for (const version of ['1.1', '1.0']) {
        const r = await exchange(host, `GET ${path} HTTP/${version}\r\nHost: www.test\r\nConnection: close\r\n\r\n`);
        t.equal(r.status, 404, `${host} HTTP/${version} ${path}: 404 at the front`);
        t.notMatch(r.body, /"node"|ok [0-9a-f]{12}|pi_origin_|content status/, `${host} HTTP/${version} ${path}: neither the node's answer nor the content file`);
      }
    }
    t.same(await exchange(host, 'GET /index.html HTTP/1.1\r\nHost: www.test\r\nConnection: close\r\n\r\n'), { status: 200, body: '<h1>launch</h1>\n' }, `${host}: content passes`);
    t.same(await exchange(host, 'GET /index.html HTTP/1.0\r\nHost: www.test\r\n\r\n'), { status: 200, body: '<h1>launch</h1>\n' }, `${host}: HTTP/1.0 passes (through the hop)`);
  }

  // HAProxy's own exporter on its own port: the backend's state as Prometheus reads it.
  const scrape = await fetch(`http://[::1]:${metricsPort}/metrics`);
  t.equal(scrape.status, 200, "HAProxy's exporter answers /metrics");
  t.match(scrape.headers.get('content-type'), /^text\/plain; version=0\.0\.4/, 'in the Prometheus text format');
  const exposition = await scrape.text();
  t.match(exposition, /^haproxy_backend_active_servers\{proxy="origins"\} 1$/m, 'the origins backend with its one node up, the series HAProxyBackendNoServerUp reads');
  for (const name of monitoringMetricNames().filter((n) => n.startsWith('haproxy_'))) t.match(exposition, new RegExp(`^${name}\\{`, 'm'), `${name}, which monitoring/ reads, is one HAProxy exposes`);
  t.equal((await fetch(`http://[::1]:${metricsPort}/stats`)).status, 404, 'nothing else on that port');
  t.equal((await exchange('::1', 'GET /metrics HTTP/1.1\r\nHost: www.test\r\nConnection: close\r\n\r\n')).status, 404, 'and no exporter on the public port (the origin has no /metrics)');

  // The hop believes the PROXY header it reads: only HAProxy's account may connect to it.
  const hop = join('/var/lib/haproxy/pi-origin-hop', `http11-${front.httpPort}.sock`);
  const dir = statSync(join(hop, '..'));
  const sock = statSync(hop);
  const haproxyUid = Number(spawnSync('id', ['-u', 'haproxy'], { encoding: 'utf8' }).stdout.trim());
  t.same({ dirMode: dir.mode & 0o777, dirUid: dir.uid, sockMode: sock.mode & 0o777, sockUid: sock.uid, isSocket: sock.isSocket() }, { dirMode: 0o700, dirUid: haproxyUid, sockMode: 0o600, sockUid: haproxyUid, isSocket: true }, 'the hop: a socket of mode 600 owned by haproxy, in a directory of mode 700');
  // A reload (-sf) binds the hop again while the old process still holds it.
  const reloaded = await front.apply({ dualstack_proxy_timeout_client: '31s' });
  t.equal(reloaded.code, 0, 'a changed setting reloads HAProxy', { stdout: reloaded.stdout.slice(-4000) });
  t.same(await exchange('127.0.0.1', 'GET /index.html HTTP/1.0\r\n\r\n'), { status: 200, body: '<h1>launch</h1>\n' }, 'HTTP/1.0 through the hop after the reload');
  const asNobody = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'socat', '-u', 'OPEN:/dev/null', `UNIX-CONNECT:${hop}`], { encoding: 'utf8', timeout: 5000 });
  t.not(asNobody.status, 0, 'another local user cannot connect to the hop (so cannot forge a PROXY header on it)');
});
