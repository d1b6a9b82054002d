/**
 * The peer benchmark end to end: `pi-origin bench --quick --only ...` against the built dist/,
 * with two of the Node peers and tiny durations. It proves the peers start, pass the byte probe,
 * get measured, and that the run yields a complete bench Report with its ratios. Numbers are not
 * judged here; only their presence and plausibility (bytes per response match the file).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseWrkText } from '../load-tests/bench/loadgen.js';
import type { Report } from '../load-tests/report/model.js';
import { runCli } from './helpers/cli.js';

const hasTaskset = ['/usr/bin/taskset', '/bin/taskset'].some((p) => existsSync(p));

t.test('wrk text output: mean, p50, p90, p99 and max are parsed; p99.9 is absent', (t) => {
  const r = parseWrkText(`Running 5s test @ http://[::1]:1/small.html
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   635.91us  120.00us  12.50ms   91.00%
    Req/Sec    79.10k     2.00k   81.00k    70.00%
  Latency Distribution
     50%  600.00us
     75%  650.00us
     90%  700.00us
     99%    1.20ms
  393000 requests in 5.00s, 530.00MB read
Requests/sec:  78600.00
Transfer/sec:    106.00MB
`);
  const ms = (v: number): number => Math.round(v * 1e6) / 1e6;
  t.same(
    [r.latencyMeanMs, r.latencyP50Ms, r.latencyP90Ms, r.latencyP99Ms, r.latencyMaxMs].map(ms),
    [0.63591, 0.6, 0.7, 1.2, 12.5],
  );
  t.ok(Number.isNaN(r.latencyP999Ms));
  t.equal(r.requests, 393000);
  t.same(r.timeline, []);
  t.end();
});

t.test('pi-origin bench --help names every peer', async (t) => {
  const r = await runCli(['bench', '--help']);
  t.equal(r.code, 0, r.stderr);
  for (const id of ['pi-origin', 'raw-uws', 'nginx', 'node-http', 'sirv', 'fastify-static']) t.match(r.stdout, id);
});

t.test('pi-origin bench --quick --only pi-origin,node-http,sirv writes a valid bench Report', { skip: process.platform !== 'linux' || !hasTaskset ? 'needs Linux and taskset' : false }, async (t) => {
  const out = t.testdir({});
  const r = await runCli(
    ['bench', '--quick', '--only', 'pi-origin,node-http,sirv', '--no-workers', '--duration', '2', '--warmup', '0', '--quiet-wait', '0', '--connections', '8', '--out', out],
    {},
    60_000,
  );
  t.equal(r.code, 0, r.stderr);
  for (const f of ['RESULTS.md', 'results.json', 'bench-report.json']) t.ok(existsSync(join(out, f)), f);

  const rep = JSON.parse(readFileSync(join(out, 'bench-report.json'), 'utf8')) as Report;
  t.equal(rep.schema, 1);
  t.equal(rep.kind, 'bench');
  t.match(rep.title, /quick/);
  t.match(rep.command, /^pi-origin bench --quick --only pi-origin,node-http,sirv /);
  t.ok(rep.machine.cpu && rep.machine.cores >= 1 && rep.machine.os, 'machine described');
  t.equal(rep.machine.node, process.version);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
    parameters: { files: { name: string; label: string; bytes: number }[] };
    servers: { id: string; headerBytes: Record<string, number> }[];
  };
  const files = results.parameters.files;
  t.same(files.map((f) => f.label), ['1KB', '200KB', '5MB']);
  const servers = ['pi-origin', 'node-http', 'sirv'];
  // pi-origin brings the same server on a site with a 2,100-rule _redirects, on the 1 KB file.
  t.same(results.servers.map((s) => s.id), ['pi-origin', 'pi-origin-rules', 'node-http', 'sirv']);

  t.same(
    rep.runs.map((x) => x.name).sort(),
    [...servers.flatMap((s) => files.map((f) => `${s} ${f.label}`)), 'pi-origin + 2,100 _redirects rules 1KB'].sort(),
    'one RunReport per server and file',
  );
  for (const x of rep.runs) {
    const file = files.find((f) => x.name.endsWith(` ${f.label}`));
    const server = results.servers.find((s) => x.name.startsWith(`${s.id} `));
    if (!file || !server) {
      t.fail(`unexpected run ${x.name}`);
      continue;
    }
    t.ok(x.requests > 0 && x.achievedRate > 0 && x.durationSec > 0, `${x.name}: measured`);
    t.equal(x.errors, 0, `${x.name}: no socket errors`);
    t.equal(x.non2xx3xx, 0, `${x.name}: every response 2xx`);
    // Whole bodies went over the wire: bytes per response is the file plus its headers
    // (plus whatever partial responses were in flight when the run stopped).
    const perResponse = x.bytesPerSec / x.achievedRate;
    const expected = file.bytes + (server.headerBytes[file.name] ?? 0);
    t.ok(perResponse >= expected * 0.99 && perResponse <= expected * 1.5, `${x.name}: ${Math.round(perResponse)} B per response, expected ~${expected}`);
    const l = x.latency;
    // autocannon records whole milliseconds: a fast server's percentiles may be 0, its max never is.
      t.ok([l.mean, l.p50, l.p90, l.p99, l.p999].every((v) => typeof v === 'number' && v >= 0) && l.max > 0, `${x.name}: latency filled`);
    t.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, `${x.name}: percentiles ordered`);
    t.ok(Array.isArray(x.timeline), `${x.name}: timeline present`);
    t.ok((x.serverRssBytes ?? 0) > 10 * 1024 * 1024, `${x.name}: server RSS measured`);
    t.same(x.verdicts?.map((v) => [v.check, v.ok]), [['bytes', true], ['errors', true]]);
  }

  t.same(
    rep.ratios.map((b) => b.label).sort(),
    [...['node-http', 'sirv'].flatMap((p) => files.map((f) => `pi-origin / ${p}, ${f.label}`)), 'pi-origin + 2,100 _redirects rules / pi-origin, 1KB'].sort(),
    'one ratio per peer and size, and the rules against none',
  );
  const rules = rep.ratios.find((b) => b.label.startsWith('pi-origin + '));
  const [withRules, without] = ['pi-origin + 2,100 _redirects rules 1KB', 'pi-origin 1KB'].map((n) => rep.runs.find((x) => x.name === n));
  if (rules && withRules && without) t.ok(Math.abs(rules.ratio - withRules.achievedRate / without.achievedRate) < 1e-9, `rules / none = ${rules.ratio.toFixed(2)}`);
  else t.fail('the rules ratio and both of its runs are present');
  t.match(readFileSync(join(out, 'RESULTS.md'), 'utf8'), /### `_redirects` rules\n\npi-origin serving the same 1 KB file .* target: within 5 % of none \((met|missed by [0-9.]+ points)\)/);
  for (const b of rep.ratios.filter((x) => x !== rules)) {
    const num = rep.runs.find((x) => b.label.startsWith('pi-origin / ') && x.name === `pi-origin ${b.label.split(', ')[1]}`);
    const den = rep.runs.find((x) => x.name === `${b.label.slice('pi-origin / '.length).split(', ')[0]} ${b.label.split(', ')[1]}`);
    t.ok(num && den, `${b.label}: both runs present`);
    // One round: the ratio is exactly the ratio of the two runs' rates.
    if (num && den) t.ok(Math.abs(b.ratio - num.achievedRate / den.achievedRate) < 1e-9, `${b.label} = ${b.ratio.toFixed(2)}`);
  }
  t.match(readFileSync(join(out, 'RESULTS.md'), 'utf8'), /\| pi-origin \/ sirv \| 5MB \|/);
});
