#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-cluster.sh - GSAPI across a three-node Corosync cluster in network
# namespaces, side by side with raw CPG in the same namespaces and the same
# run (bench/bench_cluster, docs/performance.md "Cluster"): one table with
# each row's ratio to the baseline measured in the run and whether its
# target is met. Run as root. Builds nothing: it runs the bench_cluster and
# gsd of BUILD_DIR (default build-release; build them with
# `ninja -C build-release bench/bench_cluster gsd/gsd`).
#
#   sudo scripts/bench-cluster.sh [BUILD_DIR] [--quick] [bench_cluster options...]
#
# Default: 1,000 rounds, 20 gsd deaths and 5 node deaths per token, tokens
# 300, 1000 and 1500 ms (about five minutes). --quick: 300 rounds, 3 gsd
# deaths and 2 node deaths per token, tokens 300 and 1000 ms (under a
# minute). Everything the run starts (namespaces, Corosync, gsd, clients)
# is torn down by bench_cluster itself, or by the cluster harness's reaper
# if it is killed.
# The table is also kept in bench/results/cluster-DATE.md. Nothing is
# asserted about the numbers: the exit status says whether the run worked.
set -euo pipefail

cd "$(dirname "$0")/.."

build=build-release
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    build=$1
    shift
fi
args=()
for arg in "$@"; do
    case "$arg" in
    --quick) args+=(--iterations 300 --kill-rounds 3 --node-kill-rounds 2 --tokens 300,1000) ;;
    *) args+=("$arg") ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-cluster: run as root (network namespaces, Corosync)" >&2
    exit 2
fi
bench=$build/bench/bench_cluster
gsd=$build/gsd/gsd
for program in "$bench" "$gsd"; do
    if [ ! -x "$program" ]; then
        echo "bench-cluster: no $program; build it first:" \
            "ninja -C $build bench/bench_cluster gsd/gsd" >&2
        exit 2
    fi
done

results=bench/results
mkdir -p "$results"
table="$results/cluster-$(date +%Y%m%d-%H%M%S).md"
load() { cut -d' ' -f1-3 /proc/loadavg; }
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
corosync_version=$(corosync -v 2>/dev/null | sed -n 's/.*version .\([0-9.]*\).*/\1/p' | head -n1)
# The run's circumstances head the kept table (and go to stderr).
{
    echo "bench-cluster $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
        "$(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs ($cpu)," \
        "corosync $corosync_version, options: ${args[*]:-(defaults)}; load before: $(load)"
    echo
} | tee "$table" >&2

# bench_cluster runs in the background so that an interrupt reaches it as
# SIGTERM (its harness's reaper then removes what it started); only this pid
# is signalled.
"$bench" --gsd "$gsd" "${args[@]}" >>"$table" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
status=0
wait "$pid" || status=$?
# An interrupt ends the first wait early: wait for the exit too.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || status=$?
done
trap - INT TERM
{
    echo
    echo "Load after: $(load)"
} >>"$table"
cat "$table"
if [ "$status" -ne 0 ]; then
    echo "bench-cluster: bench_cluster failed (status $status)" >&2
    exit 1
fi
echo "bench-cluster: table kept in $table" >&2
