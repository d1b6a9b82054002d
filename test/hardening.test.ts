/**
 * The deployment's hardening, checked on the files the roles render: the systemd unit runs the
 * server unprivileged with only the bind capability, the nftables ruleset admits no IPv4 and
 * only the allowed prefixes, and HAProxy drops root with a private runtime API socket. The
 * origin_node role refuses IPv4 or empty firewall prefixes with a message naming the variable.
 *
 * No rig and no SSH: ansible-playbook runs against localhost (connection local) with a small
 * playbook that includes the role's input checks (tasks_from: validate, which also loads its
 * defaults and vars) and templates the role's own .j2 files into a test directory.
 * `nft -c` and `haproxy -c` run when the tools are here (nft -c needs root).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseFlags, resolveOptions } from '../dist/server/config.js';
import { ansibleEnv, REPO, run, type Run } from './helpers/ansible.js';

const ROLES = join(REPO, 'ansible/roles');
/** RFC 4890 for a host: errors from anywhere, echo rate-limited, ND only on-link (hop limit 255), MLD from link-local. */
const ICMPV6_ACCEPTS = [
  'icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept',
  'icmpv6 type echo-request limit rate 20/second burst 50 packets accept',
  'icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } ip6 hoplimit 255 accept',
  'icmpv6 type { mld-listener-query, mld-listener-report, mld2-listener-report } ip6 saddr fe80::/10 accept',
];
const HTTP_ALLOW = ['2001:db8:10::2/128', '2001:db8:ff::/64'];
const SSH_ALLOW = ['2001:db8:ff::/64'];

const dir = t.testdir({
  'inventory.ini': [
    'localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3',
    '[origins]',
    'pi1 ansible_host=2001:db8:10::11 origin_node_port=80',
    'pi2 ansible_host=2001:db8:10::12 origin_node_port=80',
    '[proxies]',
    'front ansible_host=2001:db8:10::2',
    '',
  ].join('\n'),
  'render.yml': `---
- name: Render the origin_node templates after the role's input checks
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the inputs as the role does (loads its defaults and vars)
      ansible.builtin.include_role:
        name: origin_node
        tasks_from: validate
        public: true
    - name: Render the unit and the ruleset
      ansible.builtin.template:
        src: "${ROLES}/origin_node/templates/{{ item }}.j2"
        dest: "{{ out }}/{{ item }}"
        mode: "0644"
      loop: [pi-origin.service, pi-origin.nft, logrotate]

- name: Render haproxy.cfg
  hosts: localhost
  gather_facts: false
  vars_files:
    - ${ROLES}/dualstack_proxy/defaults/main.yml
    - ${ROLES}/dualstack_proxy/vars/main.yml
  tasks:
    - name: Render the HAProxy configuration
      ansible.builtin.template:
        src: "${ROLES}/dualstack_proxy/templates/haproxy.cfg.j2"
        dest: "{{ out }}/haproxy.cfg"
        mode: "0644"
`,
  good: {},
  v4: {},
  nossh: {},
  tlshalf: {},
  tls: {},
  moved: {},
  nometrics: {},
  logs: {},
  badlog: {},
  derived: {},
  badproxy: {},
});

const baseVars = {
  origin_node_artifact: 'unused-here',
  origin_node_port: 80,
  origin_node_http_allow: HTTP_ALLOW,
  origin_node_ssh_allow: SSH_ALLOW,
  origin_node_trusted_proxies: ['2001:db8:10::2/128'],
  origin_node_admin_allow: ['::1/128', '2001:db8:10::2/128'],
};

/** Renders into `dir/<name>` with the base vars plus `extra` (passed as extra vars, so they win). */
function render(name: string, extra: Record<string, unknown> = {}): Promise<Run> {
  const out = join(dir, name);
  const vars = join(dir, `${name}.json`);
  writeFileSync(vars, JSON.stringify({ ...baseVars, ...extra, out }));
  return run('ansible-playbook', ['-i', join(dir, 'inventory.ini'), join(dir, 'render.yml'), '-e', `@${vars}`], {
    env: ansibleEnv({ ANSIBLE_ROLES_PATH: ROLES }),
    // A guard against a hang: ten renders at once on a shared 2-core machine.
    timeoutMs: 240_000,
  });
}

const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0;
const isRoot = process.getuid?.() === 0;

/** Lines of one `chain NAME { ... }` block, trimmed, without blanks and comments. */
function chain(ruleset: string, name: string): string[] {
  // The chain ends at the first line that is only `}` (anonymous sets `{ a, b }` sit inside rules).
  const m = new RegExp(`\\n\\s*chain ${name} \\{\\n([\\s\\S]*?)\\n\\s*\\}\\n`).exec(ruleset);
  if (m === null) throw new Error(`no chain ${name} in:\n${ruleset}`);
  return (m[1] as string).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** The elements of `set NAME`, as written. */
function setElements(ruleset: string, name: string): { type: string; elements: string[] } {
  const m = new RegExp(`set ${name} \\{\\s*type (\\S+)[^}]*?elements = \\{ ([^}]*) \\}`).exec(ruleset);
  if (m === null) throw new Error(`no set ${name} in:\n${ruleset}`);
  return { type: m[1] as string, elements: (m[2] as string).split(',').map((e) => e.trim()) };
}

/** `Key=value` lines of the unit (every occurrence, in order). */
function unitValues(unit: string, key: string): string[] {
  return unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
}

t.test('rendered deployment files', { skip: hasAnsible ? false : 'ansible-playbook is not installed (Debian: apt install ansible)' }, async (t) => {
  const [good, v4, nossh, tlshalf, tls, moved, nometrics, logs, badlog, derived, badproxy] = await Promise.all([
    render('good'),
    render('v4', { origin_node_http_allow: ['2001:db8:10::2/128', '10.0.0.0/8'] }),
    render('nossh', { origin_node_ssh_allow: [] }),
    render('tlshalf', { origin_node_tls_cert_src: 'certs/origin.pem' }),
    render('tls', { dualstack_proxy_tls_names: ['example.org', 'www.example.org'], dualstack_proxy_hsts_max_age: 63072000, dualstack_proxy_hsts_include_subdomains: true }),
    render('moved', { origin_node_releases_dir: '/data/origin/releases', origin_node_run_dir: '/data/origin/run', origin_node_log_dir: '/data/origin/log/' }),
    render('nometrics', { dualstack_proxy_metrics_port: 0 }),
    render('logs', { origin_node_access_log: 'access.log', origin_node_access_log_format: 'json' }),
    render('badlog', { origin_node_access_log: '../../etc/motd' }),
    // Left out (JSON drops undefined): the role's defaults derive them from the proxies group.
    render('derived', { origin_node_trusted_proxies: undefined, origin_node_admin_allow: undefined }),
    render('badproxy', { origin_node_trusted_proxies: ['front.example/128'] }),
  ]);
  t.equal(good.code, 0, `rendered in ${good.ms} ms\n${good.stdout}${good.stderr}`);
  const unit = readFileSync(join(dir, 'good/pi-origin.service'), 'utf8');
  const nft = readFileSync(join(dir, 'good/pi-origin.nft'), 'utf8');
  const haproxy = readFileSync(join(dir, 'good/haproxy.cfg'), 'utf8');

  t.test('systemd unit: unprivileged, only the bind capability', (t) => {
    t.same(unitValues(unit, 'User'), ['pi-origin'], 'one User=, the service account');
    t.same(unitValues(unit, 'Group'), ['pi-origin']);
    t.notMatch(unit, /^(User|Group)=(root|0)\s*$/m, 'never root');
    t.same(unitValues(unit, 'NoNewPrivileges'), ['yes']);
    t.same(unitValues(unit, 'CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE'], 'bounding set: bind only');
    t.same(unitValues(unit, 'AmbientCapabilities'), ['CAP_NET_BIND_SERVICE'], 'ambient: bind only');
    t.same(unitValues(unit, 'ProtectSystem'), ['strict']);
    t.same(unitValues(unit, 'ProtectHome'), ['yes']);
    t.same(unitValues(unit, 'PrivateTmp'), ['yes']);
    t.same(unitValues(unit, 'ReadWritePaths'), ['/srv/origin/run'], 'the only writable paths: the run directory');
    t.same(unitValues(unit, 'LogsDirectory'), ['pi-origin'], 'and the log directory, made by systemd for the service user');
    t.same(unitValues(unit, 'RestrictAddressFamilies'), ['AF_INET6 AF_UNIX'], 'no IPv4 sockets at all on an IPv6-only node');
    t.same(unitValues(unit, 'SystemCallFilter'), ['@system-service']);
    t.same(unitValues(unit, 'SystemCallErrorNumber'), ['EPERM'], 'a filtered call fails, it does not kill the server');
    for (const key of ['RestrictNamespaces', 'RestrictSUIDSGID', 'LockPersonality', 'ProtectKernelLogs', 'ProtectClock', 'ProtectHostname']) t.same(unitValues(unit, key), ['yes'], key);
    const exec = unitValues(unit, 'ExecStart')[0] ?? '';
    t.match(exec, / --listen \[::\]:80 /, 'port 80, which needs the capability');
    t.match(exec, / --ipv6-only( |$)/, 'the server refuses IPv4 too');
    t.match(exec, / --trusted-proxy 2001:db8:10::2\/128 /);
    t.match(exec, / --admin-allow ::1\/128 --admin-allow 2001:db8:10::2\/128( |$)/);
    t.notMatch(unit, /sudo|setuid|PermissionsStartOnly|\+\//, 'no privileged ExecStart prefixes');
    t.end();
  });

  t.test('the unit may write where the variables put the run and log directories', (t) => {
    t.equal(moved.code, 0, moved.stdout + moved.stderr);
    const movedUnit = readFileSync(join(dir, 'moved/pi-origin.service'), 'utf8');
    t.same(unitValues(movedUnit, 'ReadWritePaths'), ['/data/origin/run /data/origin/log/'], 'no hard-coded /srv/origin (226/NAMESPACE when it does not exist)');
    t.same(unitValues(movedUnit, 'LogsDirectory'), [], 'a log directory outside /var/log is not a LogsDirectory=');
    t.end();
  });

  t.test('logs: systemctl reload reopens them, the access log is set from the role and rotated', (t) => {
    t.same(unitValues(unit, 'ExecReload'), ['/bin/kill -HUP $MAINPID'], 'reload sends SIGHUP to the server, which reopens its access log (test/health.test.ts)');
    t.notMatch(unitValues(unit, 'ExecStart')[0] ?? '', /--access-log/, 'no access log by default');
    t.equal(logs.code, 0, logs.stdout + logs.stderr);
    const logsUnit = readFileSync(join(dir, 'logs/pi-origin.service'), 'utf8');
    const argv = (unitValues(logsUnit, 'ExecStart')[0] ?? '').split(' ');
    const o = resolveOptions({ flags: parseFlags(argv.slice(3)).raw, positionalRoot: dir, defaultRoot: dir });
    t.same([o.accessLog, o.logFormat], ['/var/log/pi-origin/access.log', 'json'], 'origin_node_access_log: access.log is the file in the log directory, in the chosen format');
    t.same(unitValues(logsUnit, 'LogsDirectory'), ['pi-origin'], 'which systemd makes writable under ProtectSystem=strict');
    const rotate = readFileSync(join(dir, 'logs/logrotate'), 'utf8');
    t.match(rotate, /^\/var\/log\/pi-origin\/access\.log \{\n/m, 'logrotate rotates that file');
    t.match(rotate, /\n {4}postrotate\n {8}systemctl reload pi-origin\.service\n {4}endscript\n/, 'and has the server reopen it');
    t.not(badlog.code, 0, 'a path for origin_node_access_log is refused');
    t.match(badlog.stdout, /origin_node_access_log must be off, stdout or a file name in origin_node_log_dir \(\/var\/log\/pi-origin\), e\.g\. access\.log \(got \\?"\.\.\/\.\.\/etc\/motd\\?"\)/, 'naming the variable and the value');
    t.same(readdirSync(join(dir, 'badlog')), [], 'before anything is rendered');
    t.end();
  });

  t.test('trusted proxies and admin prefixes default to the proxies group', (t) => {
    t.equal(derived.code, 0, derived.stdout + derived.stderr);
    const argv = (unitValues(readFileSync(join(dir, 'derived/pi-origin.service'), 'utf8'), 'ExecStart')[0] ?? '').split(' ');
    const o = resolveOptions({ flags: parseFlags(argv.slice(3)).raw, positionalRoot: dir, defaultRoot: dir });
    t.same(o.trustedProxy.map((c) => c.text), ['2001:db8:10::2/128'], "the proxy's ansible_host as /128 is trusted");
    t.same(o.adminAllow.map((c) => c.text), ['::1/128', '2001:db8:10::2/128'], 'the node itself and the proxy (its health checks) read /_origin/*');
    t.not(badproxy.code, 0, 'a prefix that is no IP address is refused');
    t.match(badproxy.stdout, /origin_node_trusted_proxies must be a list of IP prefixes, got \[\\?"front\.example\/128\\?"\]/, 'naming the variable and the value');
    t.same(readdirSync(join(dir, 'badproxy')), [], 'before anything is rendered');
    t.end();
  });

  t.test("the unit's ExecStart is a command line the server accepts", (t) => {
    // The role joins argv with spaces; none of the test's values holds one.
    const argv = (unitValues(unit, 'ExecStart')[0] ?? '').split(' ');
    t.same(argv.slice(0, 3), ['/usr/bin/node', '/opt/pi-origin/current/dist/cli/main.js', 'serve']);
    const { raw, positional } = parseFlags(argv.slice(3));
    t.same(positional, ['/srv/origin/releases/current']);
    const o = resolveOptions({ flags: raw, positionalRoot: dir, defaultRoot: dir });
    t.equal(o.ipv6Only, true);
    t.same(o.listen.map((l) => [l.host, l.port]), [['::', 80]]);
    t.same(o.trustedProxy.map((c) => c.text), ['2001:db8:10::2/128']);
    t.same(o.adminAllow.map((c) => c.text), ['::1/128', '2001:db8:10::2/128'], 'only the configured admin prefixes, not the built-in loopback default');
    t.end();
  });

  t.test('nftables: IPv4 dropped, HTTP and SSH only from their sets', (t) => {
    const input = chain(nft, 'input');
    t.equal(input[0], 'type filter hook input priority filter; policy drop;', 'input policy drop');
    t.equal(chain(nft, 'forward')[0], 'type filter hook forward priority filter; policy drop;', 'forward policy drop');
    const v4drop = input.indexOf('meta nfproto ipv4 drop');
    t.ok(v4drop > 0, 'IPv4 is dropped in input');
    t.same(input.slice(1, v4drop), ['iif "lo" accept'], 'the only accept before the IPv4 drop is loopback');
    t.same(
      input.filter((l) => l.endsWith(' accept')),
      [
        'iif "lo" accept',
        'ct state established,related accept',
        ...ICMPV6_ACCEPTS,
        // DHCPv6 replies to the client port, from a server or relay on the link (RFC 8415).
        'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
        'tcp dport 80 ip6 saddr @http_allow accept',
        'tcp dport 22 ip6 saddr @ssh_allow accept',
      ],
      'every accept in input, exactly: nothing else opens a port',
    );
    t.ok(input.indexOf(ICMPV6_ACCEPTS[0] as string) > v4drop, 'ICMPv6 accepted only after the IPv4 drop');
    t.notOk(input.some((l) => /meta l4proto (ipv6-icmp|icmpv6) accept/.test(l)), 'not every ICMPv6 type (RFC 4890)');
    const output = chain(nft, 'output');
    t.ok(output.indexOf('meta nfproto ipv4 drop') > 0, 'IPv4 dropped in output too');
    t.same(setElements(nft, 'http_allow'), { type: 'ipv6_addr', elements: HTTP_ALLOW }, 'http_allow holds the configured IPv6 prefixes');
    t.same(setElements(nft, 'ssh_allow'), { type: 'ipv6_addr', elements: SSH_ALLOW }, 'ssh_allow holds the jump-host prefixes');
    t.notMatch(nft, /\bip (saddr|daddr)\b/, 'no rule matches IPv4 addresses');
    t.notMatch(nft, /\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/, 'no IPv4 literal anywhere');
    t.end();
  });

  t.test('nft -c accepts the ruleset', { skip: !has('nft') ? 'nft is not installed' : !isRoot ? 'nft -c needs root (netlink); run as root to check' : false }, async (t) => {
    const r = await run('nft', ['-c', '-f', join(dir, 'good/pi-origin.nft')]);
    t.equal(r.code, 0, r.stderr);
  });

  t.test('on the wire: the ruleset in a namespace admits only what it says', { skip: !isRoot ? 'needs root (network namespaces)' : !has('nft') || !has('ip') ? 'needs nft and ip (Debian: nftables, iproute2)' : false }, async (t) => {
    const verdict = await probeFirewall(t, join(dir, 'good/pi-origin.nft'));
    t.same(
      verdict,
      {
        http_from_allowed: true,
        http_from_other: false,
        ssh_from_allowed: true,
        ssh_from_other: false,
        other_port_from_allowed: false,
        http_over_ipv4: false,
        echo6: true,
      },
      'HTTP only from http_allow, SSH from ssh_allow, no other port, nothing over IPv4; ND and echo work',
    );
  });

  t.test('the role refuses an IPv4 prefix in an nftables set', (t) => {
    t.not(v4.code, 0, 'the play fails');
    t.match(v4.stdout, /origin_node_http_allow must be a non-empty list of IPv6 prefixes \(the nftables ruleset drops IPv4\), got \[[^\]]*10\.0\.0\.0\/8/, 'naming the variable and the value');
    // The files, not Ansible's progress text, say whether anything was rendered.
    t.same(readdirSync(join(dir, 'v4')), [], 'before anything is rendered');
    t.end();
  });

  t.test('the role refuses an empty ssh_allow (it would lock the controller out)', (t) => {
    t.not(nossh.code, 0, 'the play fails');
    t.match(nossh.stdout, /origin_node_ssh_allow must be a non-empty list of IPv6 prefixes.*got \[\]/);
    t.same(readdirSync(join(dir, 'nossh')), [], 'before anything is rendered');
    t.end();
  });

  t.test('the role refuses an origin TLS certificate without its key', (t) => {
    t.not(tlshalf.code, 0, 'the play fails');
    t.match(tlshalf.stdout, /origin_node_tls_cert_src and origin_node_tls_key_src must be given together \(got cert \\?"certs\/origin\.pem\\?", key \\?"\\?"\)/, 'naming both variables and the values');
    t.notMatch(tlshalf.stdout, /TASK \[Render the unit and the ruleset\]/);
    t.end();
  });

  t.test('HAProxy drops root; the runtime API socket is private', (t) => {
    const global = /^global\n((?:[ \t]+.*\n)*)/m.exec(haproxy)?.[1]?.split('\n').map((l) => l.trim()) ?? [];
    t.ok(global.includes('user haproxy'), 'user haproxy');
    t.ok(global.includes('group haproxy'), 'group haproxy');
    t.ok(global.includes('chroot /var/lib/haproxy'), 'chroot');
    t.same(global.filter((l) => l.startsWith('stats socket ')), ['stats socket /run/haproxy/admin.sock mode 600 level admin'], 'one admin socket, mode 600');
    t.notMatch(haproxy, /stats (enable|uri)/, 'no stats page over HTTP');
    t.match(haproxy, /^ {4}server pi1 \[2001:db8:10::11\]:80 .*send-proxy-v2 check-send-proxy$/m, 'PROXY v2 to the nodes, health checks included');
    t.match(haproxy, /^ {4}use_backend origins_http10 if \{ req\.ver 1\.0 \}$/m, 'HTTP/1.0 requests take the HTTP/2 hop (uWS 20.30 never answers HTTP/1.0)');
    // The hop trusts the PROXY header it reads: only HAProxy's account may open it. HAProxy binds
    // before chroot (full path) and connects after (the path inside /var/lib/haproxy).
    t.notMatch(haproxy, /abns@/, 'no abstract socket: those have no permissions, any local user could forge a client');
    t.match(haproxy, /^ {4}bind unix@\/var\/lib\/haproxy\/pi-origin-hop\/http11-80\.sock mode 600 user haproxy group haproxy proto h2 accept-proxy$/m, 'the hop: a unix socket of mode 600 owned by haproxy, inside the chroot');
    t.match(haproxy, /^ {4}server http11 unix@\/pi-origin-hop\/http11-80\.sock proto h2 send-proxy-v2$/m, 'reached by its path inside the chroot, keeping the client address');
    t.match(haproxy, /^frontend www\n(?:(?! {4}use_backend).*\n)* {4}http-request deny deny_status 404 if \{ path_beg \/_origin\/ \}\n/m, '/_origin/* denied at the public frontend, before any backend is chosen');
    t.end();
  });

  t.test('HTTPS off by default: no TLS bind, no redirect, no HSTS', (t) => {
    t.notMatch(haproxy, /:443|\bssl\b|redirect|Strict-Transport-Security|backend acme/);
    t.end();
  });

  t.test('HTTPS at the front: TLS on both families, Mozilla intermediate, 308 except ACME, HSTS only over TLS', (t) => {
    t.equal(tls.code, 0, tls.stdout + tls.stderr);
    const cfg = readFileSync(join(dir, 'tls/haproxy.cfg'), 'utf8');
    const lines = cfg.split('\n').map((l) => l.trim());
    t.ok(lines.includes('bind 0.0.0.0:443 ssl crt-list /etc/haproxy/certs.list alpn h2,http/1.1'), 'IPv4 :443, one certificate per name by SNI, h2 and HTTP/1.1');
    t.ok(lines.includes('bind [::]:443 v6only ssl crt-list /etc/haproxy/certs.list alpn h2,http/1.1'), 'IPv6 :443 on its own socket');
    t.ok(lines.includes('ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets'), 'TLS 1.2 at least, no stateless tickets');
    t.notMatch(cfg, /ssl-default-bind-ciphers [^\n]*(CBC|RC4|3DES|SHA:|:AES128-|:AES256-)/, 'no CBC, RC4 or static-RSA suites');
    t.ok(lines.includes('http-request redirect scheme https code 308 if !{ ssl_fc } !acme_challenge'), '308 to https except ACME challenges');
    t.ok(lines.includes('http-response set-header Strict-Transport-Security "max-age=63072000; includeSubDomains" if { ssl_fc }'), 'HSTS only on TLS answers');
    t.ok(lines.includes('use_backend acme if acme_challenge !{ ssl_fc }') && lines.includes('server lego 127.0.0.1:8402'), 'challenges go to lego on loopback');
    t.ok(lines.includes('use_backend origins_http10 if { req.ver 1.0 } || { ssl_fc }'), 'HTTPS requests take the hop (no PROXY v2 TLV towards uWS)');
    t.ok(lines.includes('http-request deny deny_status 404 if { path_beg /_origin/ }'), '/_origin/* still denied');
    t.end();
  });

  t.test("HAProxy's Prometheus exporter: its own frontend on IPv6 :8405, /metrics only, private prefixes only, unlogged", (t) => {
    const block = /^frontend metrics\n((?:[ \t]+.*\n)*)/m.exec(haproxy)?.[1]?.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    t.same(
      block,
      [
        'bind [::]:8405 v6only',
        'no log',
        'http-request deny deny_status 403 if !{ src ::1/128 fc00::/7 }',
        'http-request use-service prometheus-exporter if { path /metrics }',
        'http-request deny deny_status 404',
      ],
      'the whole frontend, in the order HAProxy applies it: who may ask before what is served',
    );
    t.equal(haproxy.match(/prometheus-exporter/g)?.length, 1, 'the exporter is served by that frontend only, not on the public port');
    t.equal(nometrics.code, 0, nometrics.stdout + nometrics.stderr);
    const off = readFileSync(join(dir, 'nometrics/haproxy.cfg'), 'utf8');
    t.notMatch(off, /frontend metrics|prometheus-exporter|:8405/, 'dualstack_proxy_metrics_port 0: no exporter at all');
    t.end();
  });

  t.test('haproxy -c accepts the configuration', { skip: has('haproxy') ? false : 'haproxy is not installed' }, async (t) => {
    const r = await run('haproxy', ['-c', '-f', join(dir, 'good/haproxy.cfg')]);
    t.equal(r.code, 0, r.stdout + r.stderr);
  });
});

/**
 * Two namespaces on one veth link: the node applies `ruleset` and listens on [::] (dual-stack)
 * ports 80, 22 and 8081 and on IPv4; the client (one address inside http_allow and ssh_allow
 * prefixes, one outside, and an IPv4 address) probes it with test/fixtures/firewall/probe.py.
 * The link's addresses are documentation prefixes; nothing leaves the two namespaces.
 */
async function probeFirewall(t: Test, ruleset: string): Promise<Record<string, boolean>> {
  const ns = { node: `phf-node-${process.pid}`, client: `phf-cli-${process.pid}` };
  const link = { node: `phf${process.pid % 100000}a`, client: `phf${process.pid % 100000}b` };
  const sh = async (...argv: string[]): Promise<string> => {
    const r = await run(argv[0] as string, argv.slice(1));
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const inNs = (name: string, ...argv: string[]): Promise<string> => sh('ip', 'netns', 'exec', name, ...argv);
  t.teardown(async () => {
    for (const name of Object.values(ns)) {
      const pids = (await run('ip', ['netns', 'pids', name])).stdout.split('\n').filter((p) => p !== '');
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      await run('ip', ['netns', 'del', name]);
    }
  });
  await sh('ip', 'netns', 'add', ns.node);
  await sh('ip', 'netns', 'add', ns.client);
  await sh('ip', 'link', 'add', link.node, 'netns', ns.node, 'type', 'veth', 'peer', 'name', link.client, 'netns', ns.client);
  const node6 = '2001:db8:10::11';
  const up = async (name: string, dev: string, v6: string[], v4: string): Promise<void> => {
    await inNs(name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', `net.ipv6.conf.${dev}.accept_dad=0`);
    await inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    await inNs(name, 'ip', 'link', 'set', dev, 'up');
    for (const a of v6) await inNs(name, 'ip', '-6', 'addr', 'add', `${a}/64`, 'dev', dev, 'nodad');
    await inNs(name, 'ip', '-4', 'addr', 'add', `${v4}/24`, 'dev', dev);
  };
  // The allowed client is 2001:db8:10::2 (http_allow) and also in 2001:db8:ff::/64 (ssh_allow).
  await up(ns.node, link.node, [node6], '192.0.2.11');
  await up(ns.client, link.client, ['2001:db8:10::2', '2001:db8:10::3'], '192.0.2.2');
  await inNs(ns.client, 'ip', '-6', 'addr', 'add', '2001:db8:ff::2/64', 'dev', link.client, 'nodad');
  await inNs(ns.node, 'ip', '-6', 'route', 'add', '2001:db8:ff::/64', 'dev', link.node);
  await inNs(ns.node, 'nft', '-f', ruleset);
  const listener = spawn('ip', ['netns', 'exec', ns.node, '/usr/bin/python3', '-c', LISTEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => listener.kill('SIGKILL'));
  await new Promise<void>((resolve) => listener.stdout.once('data', () => resolve()));
  const out = await inNs(ns.client, '/usr/bin/python3', join(REPO, 'test/fixtures/firewall/probe.py'), node6, '192.0.2.11', '2001:db8:ff::2', '2001:db8:10::3');
  return JSON.parse(out) as Record<string, boolean>;
}

/** Listens on [::]:80, :22 and :8081 (dual-stack, so IPv4 too) until killed; prints once ready. */
const LISTEN = `
import socket, time
socks = []
for port in (80, 22, 8081):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port)); s.listen(16); socks.append(s)
print('ready', flush=True)
time.sleep(3600)
`;
