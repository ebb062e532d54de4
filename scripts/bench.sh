#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench.sh - build a release tree in build-release/ and run the latency
# benchmark against that tree's gsd. Arguments go to bench_latency, e.g.
#   ./scripts/bench.sh -n 5000 -w 500
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/install-deps.sh

if [ ! -e build-release/meson-private/coredata.dat ]; then
    meson setup build-release --buildtype=release -Dtests=false -Dsamples=false
fi
ninja -C build-release
exec build-release/bench/bench_latency --gsd build-release/gsd/gsd "$@"
