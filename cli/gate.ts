/** `pi-origin gate`: the software release gate (load-tests/gate/). Exit 0 pass, 1 fail, 2 usage. */
import { join } from 'node:path';
import { GateConfigError, readGateFile, resolveProfile } from '../load-tests/gate/config.js';
import { SCENARIO_NAMES, SCENARIOS, ScenarioError, type ScenarioName } from '../load-tests/gate/scenarios.js';
import { renderSummary } from '../load-tests/gate/summary.js';
import { packageRoot } from '../common/package-root.js';
import { reportsDir } from '../common/reports-dir.js';
import { DEMO_ROOT } from './serve.js';
import { commandLine, loadTestModules, targetOrigin, UsageError, type ArgOption, type Subcommand } from './subcommands.js';

export const GATE: Subcommand = {
  summary: 'the release gate: scenarios at a fixed rate against their SLOs',
  usage: 'pi-origin gate [--quick] [--target URL] [--release DIR] [--scenario NAME ...] [--out DIR] [--json]',
  help: [
    'Runs each scenario at a fixed offered rate and checks the SLOs in load-tests/gate.json: no errors,',
    'nothing outside 2xx/3xx, p99 latency (corrected for coordinated omission) under its bound, the',
    'offered rate achieved. Without --target it starts `pi-origin serve` (built dist/) on [::1] and a raw',
    'uWS app serving the same files, and checks pi-origin\'s CPU per response against it, interleaved.',
    '',
    'Options:',
    '  --quick            the short profile (CI)',
    '  --target URL       gate a running node instead, e.g. http://[2001:db8::11]/ (no ratio, no cold-start)',
    `  --release DIR      release whose manifest gives the URLs and the expected release id [default: ${DEMO_ROOT}]`,
    `  --scenario NAME    run only these (repeatable): ${SCENARIO_NAMES.join(', ')}`,
    `  --out DIR          where gate-<time>.json and gate-latest.json go [default: ${reportsDir()}]`,
    '  --json             print the report as JSON instead of the summary',
    "  --config FILE      SLO file [default: the package's load-tests/gate.json]",
    '  --help             show this help',
    '',
    'Scenarios:',
    ...SCENARIO_NAMES.map((n) => `  ${n.padEnd(14)} ${SCENARIOS[n].summary}`),
    '',
    'Exit status: 0 every check passed, 1 a check failed or the gate could not run, 2 usage.',
  ].join('\n'),
  examples: ['pi-origin gate --quick', 'pi-origin gate --target http://[2001:db8::11]:8080/ --release /srv/origin/releases/current', 'pi-origin gate --scenario launch-day --json > gate.json'],
  flags: { quick: 'boolean', target: 'value', release: 'value', scenario: 'list', out: 'value', json: 'boolean', config: 'value' },
  run: gate,
};

async function gate(_positional: readonly string[], flags: ReadonlyMap<string, string | true>, lists: ReadonlyMap<string, readonly string[]>, ordered: readonly ArgOption[]): Promise<number> {
  const root = packageRoot();
  const say = (line: string): void => void process.stderr.write(`pi-origin gate: ${line}\n`);
  const text = (name: string): string | undefined => flags.get(name) as string | undefined;
  const json = flags.has('json');
  const wanted = lists.get('scenario');
  const unknown = (wanted ?? []).filter((s) => !(SCENARIO_NAMES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')} (known: ${SCENARIO_NAMES.join(', ')})`);
  let config;
  try {
    config = resolveProfile(readGateFile(text('config') ?? join(root, 'load-tests', 'gate.json')), flags.has('quick'));
  } catch (e) {
    if (e instanceof GateConfigError) throw new UsageError(e.message);
    throw e;
  }
  const options = {
    config,
    quick: flags.has('quick'),
    release: text('release') ?? DEMO_ROOT,
    target: text('target') === undefined ? undefined : targetOrigin(text('target') as string),
    scenarios: (wanted === undefined ? SCENARIO_NAMES : SCENARIO_NAMES.filter((n) => wanted.includes(n))) as readonly ScenarioName[],
    command: commandLine('gate', ordered),
    progress: process.stderr.isTTY && !json,
  };
  const modules = await loadTestModules('the gate', () => Promise.all([import('../load-tests/gate/gate.js'), import('../load-tests/gate/save.js')]));
  if (modules === undefined) return 1;
  const [{ runGate }, { saveReport }] = modules;
  let report;
  try {
    report = await runGate(options);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    say(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const saved = saveReport(report, text('out') ?? reportsDir(root));
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderSummary(report, `${saved.html} (JSON: ${saved.json})`) + '\n');
  return report.passed === true ? 0 : 1;
}
