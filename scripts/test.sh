#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - install what is missing, build and run every test twice:
#   build/       the default build (debugoptimized, warnings are errors)
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, unoptimized
#                (GCC compiles instrumented C++ at -O2 several times slower);
#                warnings are errors there too (meson.build drops only GCC's
#                false -Wmaybe-uninitialized reports in instrumented code)
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
    -Dwerror=true -Dbench=false -- \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# One closing line over both runs, in the plain form CI reads:
# "N passed, N failed, N skipped", from meson's machine-readable logs.
count_results() {
    python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    try:
        lines = open(log).read().splitlines()
    except OSError:
        continue
    for line in lines:
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
}

echo
echo "==> test.sh took $((SECONDS - start)) s"
summary=$(count_results build/meson-logs/testlog.json build-asan/meson-logs/testlog.json)
if [ ${#failed[@]} -gt 0 ]; then
    echo "==> FAILED: ${failed[*]}"
    echo "$summary"
    exit 1
fi
echo "==> all builds and tests passed"
echo "$summary"
