/**
 * RESULTS.md's "Index cost" section (load-tests/bench/index-cost-section.ts): a column per run,
 * and with two sizes a 10,000,000-file column scaled linearly through the two largest.
 */
import t from 'tap';
import { indexCostSection, type IndexCostRun } from '../load-tests/bench/index-cost-section.js';

const run = (files: number, k: number): IndexCostRun => ({
  date: '2026-12-04T00:00:00.000Z', node: 'v20.20.2', cpu: 'cpu', cores: 2, files, perDirectory: 1000,
  build: { ms: 10_000 * k, peakRssMiB: 100 * k }, manifestBytes: 35 * 1024 * 1024 * k,
  table: { bytes: 14 * 1024 * 1024 * k, bytesPerFile: 144, loadMs: 500 * k },
  lookup: { tableNs: 1000, statNs: 4000 },
  serve: [{ workers: 2, readyMs: 1000 * k, rssMiB: 100 + 30 * k, peakRssMiB: 0 }],
  publish: { files: 1000, ms: 2000, peakRssMiB: 150, incremental: true, verifyMs: 1500 + 100 * k },
  command: '',
});

t.test('one column per run, and a scaled one from two sizes', (t) => {
  const md = indexCostSection([run(100_000, 1), run(1_000_000, 10)]);
  t.match(md, /\| measure \| 100,000 files \| 1,000,000 files \| 10,000,000 \(scaled\) \|/);
  t.match(md, /scaled linearly from the 100,000- and 1,000,000-file runs/);
  // k = 1 at 100,000 and 10 at 1,000,000: k = 100 at 10,000,000 on the same line.
  t.match(md, /\| `release build` \(first\) \| 10\.0 s \| 100\.0 s \| 1000\.0 s \|/);
  t.match(md, /\| serve RSS after 2,000 requests, 2 workers \| 130 MiB \| 400 MiB \| 3,100 MiB \|/);
  t.match(md, /\| `serve` ready, 4 workers \| n\/a \| n\/a \| n\/a \|/, 'a figure not measured stays n/a');
  const one = indexCostSection([run(1_000_000, 10)]);
  t.notMatch(one, /scaled/, 'one size: nothing on paper');
  t.equal(indexCostSection([]), '');
  t.end();
});
