/**
 * Realistic Reports for the HTML report tests: a gate with four fixed-rate scenarios (one fails
 * its p99 objective) and a bench with peer ratios. Deterministic: the "noise" is a fixed function
 * of the second, so every call returns the same data.
 */
import type { LatencySummary, Report, RunReport, TimelinePoint, Verdict } from '../../load-tests/report/model.js';

const MACHINE = { cpu: 'Cortex-A72 (Raspberry Pi 4 Model B Rev 1.5)', cores: 4, node: 'v20.19.5', os: 'Linux 6.6.51+rpt-rpi-v8 aarch64' } as const;

/** A wobble in [-1, 1] that looks like measurement noise and never changes. */
const wobble = (i: number, seed: number): number => Math.sin(i * 1.7 + seed) * 0.6 + Math.sin(i * 0.37 + seed * 2) * 0.4;

function timeline(seconds: number, rate: number, p99: number, seed: number, withP99: boolean, spikeAt?: number): TimelinePoint[] {
  return Array.from({ length: seconds }, (_, t) => {
    const spike = spikeAt !== undefined && t >= spikeAt && t < spikeAt + 4 ? 1 : 0;
    const requests = Math.round(rate * (1 + 0.03 * wobble(t, seed)) * (1 - 0.35 * spike));
    const point: TimelinePoint = { t, requests };
    return withP99 ? { ...point, p99: Math.round(p99 * (1 + 0.15 * wobble(t, seed + 1) + 2.5 * spike) * 100) / 100 } : point;
  });
}

function latency(p50: number, p99: number, max: number): LatencySummary {
  return { mean: p50 * 1.2, p50, p90: (p50 + p99) / 2.5, p99, p999: (p99 + max) / 2, max };
}

function scenario(name: string, offered: number, achieved: number, lat: LatencySummary, verdicts: Verdict[], seed: number, spikeAt?: number): RunReport {
  const durationSec = 60;
  return {
    name,
    target: 'http://[2001:db8:10::11]:8080',
    offeredRate: offered,
    achievedRate: achieved,
    bytesPerSec: achieved * 14_200,
    durationSec,
    requests: Math.round(achieved * durationSec),
    errors: 0,
    non2xx3xx: name === 'launch-day' ? 37 : 0,
    latency: lat,
    timeline: timeline(durationSec, achieved, lat.p99, seed, true, spikeAt),
    serverRssBytes: 71_303_168 + seed * 1_048_576,
    verdicts,
  };
}

const ok = (check: string, detail: string): Verdict => ({ check, ok: true, detail });

/** A failing gate: launch-day misses its p99 objective and has non-2xx answers. */
export function gateReport(): Report {
  return {
    schema: 1,
    kind: 'gate',
    title: 'Gate: pi-origin 0.1.0 on pi4-a (4 scenarios)',
    generated: '2026-03-14T09:26:53.000Z',
    machine: MACHINE,
    command: `node dist/load-tests/gate/main.js --target 'http://[2001:db8:10::11]:8080' --slo "p99<50ms" --scenarios steady,launch-day,cold-cache,big-files`,
    passed: false,
    runs: [
      scenario('steady', 2000, 1999.6, latency(1.8, 6.4, 31.2), [ok('p99 ≤ 50 ms', 'p99 6.40 ms'), ok('errors = 0', '0 errors')], 1),
      scenario(
        'launch-day',
        8000,
        7412.3,
        latency(4.2, 73.2, 412.9),
        [{ check: 'p99 ≤ 50 ms', ok: false, detail: 'p99 73.2 ms > 50 ms' }, { check: 'non-2xx/3xx = 0', ok: false, detail: '37 responses 503' }, ok('errors = 0', '0 errors')],
        2,
        31,
      ),
      scenario('cold-cache', 1000, 999.9, latency(2.6, 18.5, 88.0), [ok('p99 ≤ 50 ms', 'p99 18.5 ms')], 3),
      scenario('big-files (200 KB & 5 MB)', 200, 199.8, latency(21.4, 44.9, 120.3), [ok('p99 ≤ 50 ms', 'p99 44.9 ms'), ok('MB/s ≥ 40', '41.6 MB/s')], 4),
    ],
    ratios: [],
    notes: ['SLO: p99 < 50 ms & no errors at the offered rate', 'launch-day ramps 2,000 → 8,000 req/s over 30 s, then holds'],
  };
}

function benchRun(server: string, file: string, rate: number, bytes: number, lat: LatencySummary, rssMiB: number, seed: number): RunReport {
  return {
    name: `${server} ${file}`,
    target: `http://[::1]:4${seed}001/${file === '1KB' ? 'small.html' : 'image.png'}`,
    achievedRate: rate,
    bytesPerSec: rate * bytes,
    durationSec: 5,
    requests: rate * 5,
    errors: 0,
    non2xx3xx: 0,
    latency: lat,
    timeline: timeline(5, rate, lat.p99, seed, false),
    serverRssBytes: rssMiB * 1_048_576,
  };
}

/** A peer bench: six runs (no per-second p99, as with wrk) and six ratios around 1.0. */
export function benchReport(): Report {
  return {
    schema: 1,
    kind: 'bench',
    title: 'Peers: pi-origin vs raw uWS vs nginx',
    generated: '2026-03-14T10:02:11.000Z',
    machine: MACHINE,
    command: 'node dist/load-tests/bench/peers.js --rounds 3 --duration 5',
    runs: [
      benchRun('pi-origin', '1KB', 44_310, 1_404, latency(1.05, 2.31, 14.2), 58.2, 1),
      benchRun('raw-uws', '1KB', 45_215, 1_404, latency(1.02, 2.2, 11.9), 41.7, 2),
      benchRun('nginx', '1KB', 43_440, 1_390, latency(1.1, 2.6, 19.4), 6.1, 3),
      benchRun('pi-origin', '200KB', 5_702, 205_190, latency(8.4, 15.9, 48.3), 63.9, 4),
      benchRun('raw-uws', '200KB', 6_066, 205_190, latency(7.9, 14.8, 40.1), 46.0, 5),
      benchRun('nginx', '200KB', 8_772, 205_176, latency(5.5, 10.2, 33.3), 6.3, 6),
    ],
    ratios: [
      { label: 'pi-origin / raw-uws, 1 KB', ratio: 0.98, detail: 'req/s, median of 3 rounds (0.96–1.01)' },
      { label: 'pi-origin / raw-uws, 200 KB', ratio: 0.94, detail: 'req/s (0.92–0.97)' },
      { label: 'pi-origin / raw-uws, 5 MB', ratio: 1.02 },
      { label: 'pi-origin / nginx, 1 KB', ratio: 1.02, detail: 'req/s (0.99–1.04)' },
      { label: 'pi-origin / nginx, 200 KB', ratio: 0.65, detail: 'nginx uses sendfile; wrk at 100 % CPU' },
      { label: 'pi-origin --workers 2 / --workers 1, 1 KB', ratio: 1.1, detail: 'second worker shares a core with wrk' },
    ],
    notes: ['wrk is at ~100 % of its core on 200 KB: req/s there is partly the load generator\'s limit.'],
  };
}
