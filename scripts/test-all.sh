#!/usr/bin/env bash
# `npm test`: the suite (tap, two files at a time), then the tests on the two rigs side by side:
# the namespace rig's cluster tests (one file at a time: they share namespace names) and the
# machine rig's tests (Debian machines booted with systemd-nspawn; their own prefixes and
# subnets, so they run beside the namespace rig). On two cores side by side saves little (both
# need the CPU); it costs nothing either. The namespace rig's output streams; the machine rig's
# is printed when both are done (two streams of TAP interleaved would be unreadable).
# Exit: the first non-zero of the three.
set -u
cd "$(dirname "$0")/.."

# The machine rig's Debian root (debootstrap, 1-2 min of mostly download on a fresh machine) is
# made beside the suite instead of in front of the first machine test.
root_log=$(mktemp)
machines_log=$(mktemp)
trap 'rm -f "$root_log" "$machines_log"' EXIT
npx tsx test/rig/prepare-root.ts >"$root_log" 2>&1 &
root_pid=$!

tap --disable-coverage
suite=$?
wait "$root_pid"
cat "$root_log"

tap --disable-coverage --jobs=2 --timeout=1200 test/machines-rig.test.ts test/machines-cluster.test.ts test/machines-front.test.ts >"$machines_log" 2>&1 &
machines_pid=$!
tap --disable-coverage --jobs=1 test/cluster-e2e.test.ts test/cluster-faults.test.ts
cluster=$?
echo "# the machine rig's tests (ran beside the namespace rig's):"
wait "$machines_pid"
machines=$?
cat "$machines_log"

for s in "$suite" "$cluster" "$machines"; do
  if [ "$s" -ne 0 ]; then exit "$s"; fi
done
exit 0
