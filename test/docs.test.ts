// The README's configuration reference and `serve --help` come from different places; this keeps
// them in step with the option table in server/config.ts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { envName, OPTIONS, optionsTable, serveHelp } from '../server/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('README documents every option with its env variable', (t) => {
  for (const o of OPTIONS) {
    t.ok(readme.includes('`' + o.flag), `README mentions ${o.flag}`);
    t.ok(readme.includes(envName(o.key)), `README mentions ${envName(o.key)}`);
  }
  t.end();
});

t.test("README's options table is the one generated from the option table", (t) => {
  const start = readme.indexOf('| flag | env | default | meaning |');
  t.not(start, -1, 'README has the options table');
  const table = readme.slice(start, readme.indexOf('\n\n', start));
  // On a mismatch, paste optionsTable() (server/config.ts) over the README's table.
  t.equal(table, optionsTable());
  t.end();
});

t.test('serve --help lists every option with its env variable', (t) => {
  const help = serveHelp('/demo');
  for (const o of OPTIONS) {
    t.ok(help.includes(o.flag), `help mentions ${o.flag}`);
    t.ok(help.includes(envName(o.key)), `help mentions ${envName(o.key)}`);
  }
  t.end();
});

t.test('README quick start is the two commands CI and newcomers use', (t) => {
  t.match(readme, /npm ci && npm start/);
  t.match(readme, /\nnpm test\s/);
  t.end();
});

t.test('the operator docs name every cluster command and only playbooks that exist', async (t) => {
  const { existsSync } = await import('node:fs');
  const ops = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
  const { runCli } = await import('./helpers/cli.js');
  const help = await runCli(['cluster', '--help']);
  const commands = [...help.stdout.matchAll(/^ {2}(\w+) {2,}/gm)].map((m) => m[1] as string);
  t.ok(commands.length >= 9, `cluster --help lists the commands (${commands.join(', ')})`);
  for (const c of commands) t.match(ops, `pi-origin cluster ${c}`, `docs/operations.md shows pi-origin cluster ${c}`);
  const playbooks = new Set([...ops.matchAll(/ansible\/([\w-]+\.yml)/g)].map((m) => m[1] as string));
  for (const p of playbooks) t.ok(existsSync(new URL(`../ansible/${p}`, import.meta.url)), `ansible/${p} exists`);
  for (const p of ['provision.yml', 'rollout.yml', 'rollback.yml', 'register.yml', 'deregister.yml', 'upgrade.yml', 'proxy.yml']) t.ok(playbooks.has(p), `docs/operations.md mentions ansible/${p}`);
});
