// The README's configuration reference and `serve --help` come from different places; this keeps
// them in step with the option table in server/config.ts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { envName, OPTIONS, serveHelp } from '../server/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('README documents every option with its env variable', (t) => {
  for (const o of OPTIONS) {
    t.ok(readme.includes('`' + o.flag), `README mentions ${o.flag}`);
    t.ok(readme.includes(envName(o.key)), `README mentions ${envName(o.key)}`);
  }
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
