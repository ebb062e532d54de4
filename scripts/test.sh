#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - install what is missing, build and run every test twice:
#   build/       the default build (debugoptimized, warnings are errors)
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, unoptimized
#                (GCC compiles instrumented C++ at -O2 several times slower);
#                warnings are shown but are not errors there, because GCC
#                reports false positives (-Wmaybe-uninitialized) in
#                instrumented code
# Each run ends with the summary printed by `meson test`. Exits non-zero if
# any build or test failed. Extra arguments go to both `meson test` runs
# (for example a suite: ./scripts/test.sh --suite samples).
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/install-deps.sh

start=$SECONDS
failed=()

# configure DIR OPTION...: set up DIR, or reconfigure it when it exists.
configure() {
    local dir=$1
    shift
    if [ -e "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# run_suite NAME DIR MESON-OPTION... -- TEST-ENVIRONMENT...
run_suite() {
    local name=$1 dir=$2
    shift 2
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    local t0=$SECONDS
    echo
    echo "==> $name: configure and build in $dir/"
    if ! configure "$dir" "${opts[@]}" || ! ninja -C "$dir"; then
        failed+=("$name build")
        return
    fi
    echo "==> $name: built in $((SECONDS - t0)) s"
    t0=$SECONDS
    echo
    echo "==> $name: meson test -C $dir"
    if ! env "$@" meson test -C "$dir" --no-rebuild --print-errorlogs "${test_args[@]}"; then
        failed+=("$name tests")
    fi
    echo "==> $name: tests ran in $((SECONDS - t0)) s"
}

test_args=("$@")

run_suite "default" build -Dwerror=true --
run_suite "sanitizers" build-asan \
    --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    -Dwerror=false -Dbench=false -- \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

echo
echo "==> test.sh took $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "==> FAILED: ${failed[*]}"
    exit 1
fi
echo "==> all builds and tests passed"
