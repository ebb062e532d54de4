#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# chaos.sh - the long form of the chaos test (docs/testing.md, "Chaos test"):
# builds build/ (as test.sh does) and runs tests/chaos/driver.py for 10
# minutes with 24 clients over 6 groups, 10 gsd restarts and a client killed
# every 1.5 s on average, then the checker. Options (all optional):
#   --duration S       seconds of chaos (default 600)
#   --clients N        clients alive at once (default 24)
#   --groups N         groups (default 6)
#   --restarts N       gsd restarts (default 10)
#   --kill-interval S  mean seconds between client kills (default 1.5)
#   --seed N           the driver's seed (default: from the clock, printed)
#   --keep             keep the run directory (logs) even when it passes
#   --build DIR        build tree to use (default build)
# Exits with the checker's status: 0 when no property is violated.
set -euo pipefail

cd "$(dirname "$0")/.."

duration=600 clients=24 groups=6 restarts=10 kill_interval=1.5
seed=$(( $(date +%s) % 1000000 ))
keep=() build=build
while [ $# -gt 0 ]; do
    case $1 in
        --duration) duration=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --groups) groups=$2; shift 2 ;;
        --restarts) restarts=$2; shift 2 ;;
        --kill-interval) kill_interval=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --keep) keep=(--keep); shift ;;
        --build) build=$2; shift 2 ;;
        *) echo "chaos.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

if [ ! -e "$build/meson-private/coredata.dat" ]; then
    ./scripts/install-deps.sh
    meson setup "$build" -Dwerror=true
fi
ninja -C "$build" gsd/gsd tests/chaos/chaos_client tests/chaos/chaos_client_r

exec python3 tests/chaos/driver.py \
    --gsd "$build/gsd/gsd" --client "$build/tests/chaos/chaos_client" \
    --client-r "$build/tests/chaos/chaos_client_r" \
    --checker tests/chaos/checker.py \
    --duration "$duration" --clients "$clients" --groups "$groups" \
    --restarts "$restarts" --kill-interval "$kill_interval" --seed "$seed" "${keep[@]}"
