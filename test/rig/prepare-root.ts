/**
 * Makes the machine rig's Debian root (machineRoot: debootstrap, ~1-2 min on a fresh machine,
 * mostly download) before the machine tests need it. `npm test` (scripts/test-all.sh) starts it
 * beside the suite, so a fresh CI machine does not wait for it later; the machine tests take the
 * same flock, so they wait for a build still running and never build it twice. A failure is
 * only reported here: the machine tests then fail with the same message, where it counts.
 */
import { DEFAULT_SUITE, machineRoot } from './machines.js';

const started = Date.now();
try {
  const dir = await machineRoot(DEFAULT_SUITE);
  process.stdout.write(`# machine root ${dir} ready in ${Math.round((Date.now() - started) / 1000)} s\n`);
} catch (e) {
  process.stdout.write(`# machine root not made ahead: ${(e as Error).message.split('\n')[0] ?? ''}\n`);
}
