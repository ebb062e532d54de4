#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench.sh - the benchmark suite: build a release tree in build-release/,
# run every scenario (each with its own gsd; the CPG ones against a private
# corosync, see bench-cpg.sh), keep the results in bench/results/DATE/ and
# print one table with the targets after it (scripts/bench_report.py).
#
#   ./scripts/bench.sh            # full run, a few minutes
#   ./scripts/bench.sh --quick    # fewer iterations, smaller scale scenario
#   ./scripts/bench.sh --no-cpg   # skip the Corosync comparison
#
# Nothing is asserted about the numbers: the exit status says only whether
# the programs ran.
set -euo pipefail

cd "$(dirname "$0")/.."

mode=full
run_cpg=yes
for arg in "$@"; do
    case "$arg" in
    --quick) mode=quick ;;
    --no-cpg) run_cpg=no ;;
    *)
        echo "usage: $0 [--quick] [--no-cpg]" >&2
        exit 2
        ;;
    esac
done

if [ "$mode" = full ]; then
    iterations=5000 fanout_budget=300000 failure_rounds=200 scale_groups=10000
else
    iterations=300 fanout_budget=30000 failure_rounds=20 scale_groups=1000
fi

./scripts/install-deps.sh
# Corosync is only for the comparison: install it here rather than in
# install-deps.sh, so building and testing never need it. A failure to
# install leaves the CPG rows "not run".
if [ "$run_cpg" = yes ] && { ! command -v corosync >/dev/null || ! pkg-config --exists libcpg; }; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "bench: installing corosync and libcpg-dev for the CPG comparison"
    { "${sudo[@]}" apt-get update &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends corosync libcpg-dev; } ||
        echo "bench: could not install corosync; the CPG rows will say not run" >&2
fi

if [ ! -e build-release/meson-private/coredata.dat ]; then
    meson setup build-release --buildtype=release -Dtests=false -Dsamples=false
elif pkg-config --exists libcpg && [ ! -e build-release/bench/cpg_probe ] &&
    ! grep -q cpg_probe build-release/build.ninja; then
    # libcpg appeared after the tree was configured.
    meson setup --reconfigure build-release
fi
ninja -C build-release

results="bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$results"
echo "bench: $mode run, results in $results"

load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(load)

gsd=build-release/gsd/gsd
failed=()
run() {
    local name=$1
    shift
    local t0=$SECONDS
    if ! "$@" >"$results/$name.jsonl" 2>"$results/$name.log"; then
        failed+=("$name")
        echo "bench: $name failed, see $results/$name.log" >&2
    fi
    echo "bench: $name took $((SECONDS - t0)) s" >&2
}
# The floor is measured three times, spread over the run (the report takes
# the middle one), so a burst of load from elsewhere cannot skew every ratio.
run floor-1 build-release/bench/bench_floor --iterations "$iterations" rtt relay
# The raw ZeroMQ fan-out in the shapes of the fan-out scenarios, once.
run floor-fanout build-release/bench/bench_floor --fanout-budget "$fanout_budget" fanout
common=(--gsd "$gsd" --iterations "$iterations" --fanout-budget "$fanout_budget"
    --failure-rounds "$failure_rounds" --scale-groups "$scale_groups")
for scenario in latency nphase fanout fanout-parallel failure scale; do
    run "$scenario" build-release/bench/bench_gs "${common[@]}" "$scenario"
    if [ "$scenario" = fanout ]; then
        run floor-2 build-release/bench/bench_floor --iterations "$iterations" rtt relay
    fi
done
run floor-3 build-release/bench/bench_floor --iterations "$iterations" rtt relay
if [ "$run_cpg" = yes ]; then
    run cpg ./scripts/bench-cpg.sh build-release/bench/cpg_probe \
        --iterations "$iterations" --kill-rounds "$failure_rounds"
else
    ./scripts/bench-cpg.sh --not-run "skipped (--no-cpg)" >"$results/cpg.jsonl"
fi

cat >"$results/machine.json" <<JSON
{"cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')",
 "cores": $(nproc), "kernel": "$(uname -r)",
 "load_before": "$load_before", "load_after": "$(load)",
 "mode": "$mode", "iterations": $iterations, "scale_groups": $scale_groups}
JSON

echo
python3 scripts/bench_report.py "$results"
echo
echo "bench: suite took $SECONDS s; results and logs in $results"
if [ ${#failed[@]} -ne 0 ]; then
    echo "bench: failed: ${failed[*]}" >&2
    exit 1
fi
