#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chaos-cluster.sh - the long form of the chaos test across the cluster
# (docs/testing.md, "Chaos test across the cluster"): a three-node domain in
# network namespaces (Corosync + gsd --cluster per node, tests/cluster's
# harness), chaos clients on every node, random client kills, gsd SIGKILLs,
# SIGTERMs and restarts, link cuts and heals, then tests/chaos/checker.py over
# every node's client logs. Needs root, iproute2 and corosync. Options (all
# optional):
#   --minutes M          minutes of chaos (default 10)
#   --clients N          clients alive at once per node (default 6)
#   --groups N           groups (default 6)
#   --kill-interval S    mean seconds between client kills (default 1.5)
#   --disturb-interval S mean seconds between node disturbances (default 8)
#   --token MS           Corosync's totem token (default 1000: stable on a loaded
#                        machine; the harness's 300 makes Corosync re-form its
#                        ring on its own when the CPU is starved)
#   --seed N             the driver's seed (default: from the clock, printed)
#   --keep               keep the run directory (logs) even when it passes
#   --build DIR          build tree to use (default build)
# Prints the figures (nodes, clients, protocols approved, client kills, gsd
# kills, partitions, resyncs, violations) and exits 0 when no property is
# violated.
set -euo pipefail

cd "$(dirname "$0")/.."

minutes=10 clients=6 groups=6 kill_interval=1.5 disturb_interval=8 token=1000
seed=$(( $(date +%s) % 1000000 ))
keep=0 build=build
while [ $# -gt 0 ]; do
    case $1 in
        --minutes) minutes=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --groups) groups=$2; shift 2 ;;
        --kill-interval) kill_interval=$2; shift 2 ;;
        --disturb-interval) disturb_interval=$2; shift 2 ;;
        --token) token=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --build) build=$2; shift 2 ;;
        *) echo "chaos-cluster.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "chaos-cluster.sh: needs root (network namespaces, Corosync)" >&2
    exit 2
fi
if [ ! -e "$build/meson-private/coredata.dat" ]; then
    ./scripts/install-deps.sh
    meson setup "$build" -Dwerror=true
fi
ninja -C "$build" gsd/gsd tests/chaos/chaos_client tests/chaos/chaos_client_r \
    tests/cluster/cluster_chaos

GSD_PATH="$PWD/$build/gsd/gsd" \
GS_CHAOS_CLIENT="$PWD/$build/tests/chaos/chaos_client" \
GS_CHAOS_CLIENT_R="$PWD/$build/tests/chaos/chaos_client_r" \
GS_CHAOS_CHECKER="$PWD/tests/chaos/checker.py" \
GS_CHAOS_PYTHON="$(command -v python3)" \
GS_CHAOS_SECONDS=$(( minutes * 60 )) \
GS_CHAOS_CLIENTS=$clients GS_CHAOS_GROUPS=$groups \
GS_CHAOS_KILL_INTERVAL=$kill_interval GS_CHAOS_DISTURB_INTERVAL=$disturb_interval \
GS_CHAOS_SEED=$seed GS_CHAOS_KEEP=$keep GS_CHAOS_TOKEN_MS=$token \
    exec "$build/tests/cluster/cluster_chaos"
