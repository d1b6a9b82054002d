/** `pi-origin gate`: the software release gate (load-tests/gate/). Exit 0 pass, 1 fail, 2 usage. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GateConfigError, readGateFile, resolveProfile } from '../load-tests/gate/config.js';
import { runGate } from '../load-tests/gate/gate.js';
import { saveReport } from '../load-tests/gate/save.js';
import { SCENARIO_NAMES, SCENARIOS, ScenarioError, type ScenarioName } from '../load-tests/gate/scenarios.js';
import { renderSummary } from '../load-tests/gate/summary.js';
import { packageRoot } from '../common/package-root.js';
import { reportsDir } from '../common/reports-dir.js';
import { DEMO_ROOT } from './serve.js';
import { targetOrigin, UsageError } from './subcommands.js';

function help(root: string): string {
  return [
    'Usage: pi-origin gate [--quick] [--target URL] [--release DIR] [--scenario NAME ...] [--out DIR] [--json]',
    '',
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
    `  --out DIR          where gate-<time>.json and gate-latest.json go [default: ${reportsDir(root)}]`,
    '  --json             print the report as JSON instead of the summary',
    `  --config FILE      SLO file [default: ${join(root, 'load-tests', 'gate.json')}]`,
    '  --help             show this help',
    '',
    'Scenarios:',
    ...SCENARIO_NAMES.map((n) => `  ${n.padEnd(14)} ${SCENARIOS[n].summary}`),
    '',
    'Exit status: 0 every check passed, 1 a check failed or the gate could not run, 2 usage.',
  ].join('\n');
}

export async function gateCommand(args: readonly string[]): Promise<number> {
  const root = packageRoot();
  const say = (line: string): void => void process.stderr.write(`pi-origin gate: ${line}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        quick: { type: 'boolean' },
        target: { type: 'string' },
        release: { type: 'string' },
        scenario: { type: 'string', multiple: true },
        out: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    say(`error: ${(e as Error).message}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(help(root) + '\n');
    return 0;
  }
  let options;
  try {
    const unknown = (values.scenario ?? []).filter((s) => !(SCENARIO_NAMES as readonly string[]).includes(s));
    if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')} (known: ${SCENARIO_NAMES.join(', ')})`);
    const file = readGateFile(values.config ?? join(root, 'load-tests', 'gate.json'));
    const quick = values.quick === true;
    const chosen = values.scenario === undefined ? SCENARIO_NAMES : SCENARIO_NAMES.filter((n) => values.scenario?.includes(n));
    options = {
      config: resolveProfile(file, quick),
      quick,
      release: values.release ?? DEMO_ROOT,
      target: values.target === undefined ? undefined : targetOrigin(values.target),
      scenarios: chosen as readonly ScenarioName[],
      command: ['pi-origin', 'gate', ...args].join(' '),
      progress: process.stderr.isTTY && values.json !== true,
    };
  } catch (e) {
    if (e instanceof UsageError || e instanceof GateConfigError) {
      say(`error: ${e.message}`);
      return 2;
    }
    throw e;
  }
  let report;
  try {
    report = await runGate(options);
  } catch (e) {
    if (e instanceof ScenarioError) {
      say(`error: ${e.message}`);
      return 2;
    }
    say(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const saved = saveReport(report, values.out ?? reportsDir(root));
  process.stdout.write(values.json === true ? JSON.stringify(report, null, 2) + '\n' : renderSummary(report, `${saved.html} (JSON: ${saved.json})`) + '\n');
  return report.passed === true ? 0 : 1;
}
