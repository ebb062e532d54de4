#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - install what is missing, build and run every test:
#   build/       the default build (debugoptimized, warnings are errors)
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, unoptimized
#                (GCC compiles instrumented C++ at -O2 several times slower);
#                warnings are errors there too (meson.build drops only GCC's
#                false -Wmaybe-uninitialized reports in instrumented code)
#   build-fuzz/  clang, ASan + UBSan, libFuzzer: only the fuzz targets are
#                built; each runs FUZZ_SECONDS (default 60) seconds, all at
#                once (suite 'fuzz', fuzz/run-fuzzer.sh)
#   build-tsan/  ThreadSanitizer: only gsd, the libha_gs_r tests and the
#                threaded libcgha_cmm tests are built and run (suite 'tsan')
# Every build here is a unity build (meson --unity on, 8 sources a file):
# the heavy headers (nlohmann/json, spdlog, cppzmq) are parsed once per
# unity file instead of once per source, and the builds take 50 to 70 % of
# the time. meson.build leaves unity off, so users, debian/rules
# and scripts/bench.sh (build-release/) compile one object per source; the
# Debian package build of the packaging test does, so a source that does
# not compile on its own (a missing #include) still fails the suite.
# Each run ends with the summary printed by `meson test`, and test.sh closes
# with one "N passed, N failed, N skipped" line over all of them. Exits
# non-zero if any build or test failed. Extra arguments go to the first two
# `meson test` runs (for example a suite: ./scripts/test.sh --suite samples),
# and then the fuzz and ThreadSanitizer stages are skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
./scripts/install-deps.sh

start=$SECONDS
failed=()

# configure DIR OPTION...: set up DIR, or reconfigure it when it exists,
# with run_suite's setup_env (e.g. CC=clang CXX=clang++) in the environment.
configure() {
    local dir=$1
    shift
    if [ -e "$dir/meson-private/coredata.dat" ]; then
        env "${setup_env[@]}" meson setup --reconfigure "$dir" "$@"
    else
        env "${setup_env[@]}" meson setup "$dir" "$@"
    fi
}

# Set for one run_suite call, then cleared:
#   stage_env      environment of `meson setup` (e.g. CC=clang CXX=clang++)
#   stage_suite    build only what this meson suite needs, and run only it
#   stage_parallel meson test --num-processes (default: meson's, one per core)
stage_env=()
stage_suite=''
stage_parallel=''
logs=()

# suite_targets DIR SUITE: the ninja targets the tests of SUITE need (their
# programs and arguments inside DIR, and the targets they depend on).
suite_targets() {
    meson introspect "$1" --tests --targets | python3 -c '
import json, os, sys
build, suite = os.path.abspath(sys.argv[1]), sys.argv[2]
data = json.load(sys.stdin)
files = {t["id"]: t["filename"] for t in data["targets"]}
out = set()
for test in data["tests"]:
    if suite not in (s.split(":")[-1] for s in test["suite"]):
        continue
    paths = [a for a in test["cmd"] if a.startswith(build + "/")]
    for dep in test["depends"]:
        paths += files.get(dep, [])
    out.update(os.path.relpath(p, build) for p in paths)
print("\n".join(sorted(out)))
' "$1" "$2"
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
    local setup_env=("${stage_env[@]}") suite=$stage_suite parallel=$stage_parallel
    stage_env=()
    stage_suite=''
    stage_parallel=''
    local t0=$SECONDS
    echo
    echo "==> $name: configure and build in $dir/"
    local targets=() run_args=()
    if ! configure "$dir" "${opts[@]}"; then
        failed+=("$name build")
        return
    fi
    if [ -n "$suite" ]; then
        mapfile -t targets < <(suite_targets "$dir" "$suite")
        if [ ${#targets[@]} -eq 0 ]; then
            echo "==> $name: no tests in suite '$suite'"
            failed+=("$name build")
            return
        fi
        run_args=(--suite "$suite")
    else
        run_args=("${test_args[@]}")
    fi
    if [ -n "$parallel" ]; then
        run_args+=(--num-processes "$parallel")
    fi
    if ! ninja -C "$dir" "${targets[@]}"; then
        failed+=("$name build")
        return
    fi
    echo "==> $name: built in $((SECONDS - t0)) s"
    t0=$SECONDS
    echo
    echo "==> $name: meson test -C $dir${run_args[*]:+ ${run_args[*]}}"
    if ! env "$@" meson test -C "$dir" --no-rebuild --print-errorlogs "${run_args[@]}"; then
        failed+=("$name tests")
    fi
    logs+=("$dir/meson-logs/testlog.json")
    echo "==> $name: tests ran in $((SECONDS - t0)) s"
}

test_args=("$@")

unity=(--unity on -Dunity_size=8)
run_suite "default" build "${unity[@]}" -Dwerror=true --
run_suite "sanitizers" build-asan "${unity[@]}" \
    --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    -Dwerror=true -Dbench=false -- \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

if [ ${#test_args[@]} -gt 0 ]; then
    echo
    echo "==> fuzz, tsan: skipped (arguments given)"
else
    # Every fuzz target at once: the stage takes FUZZ_SECONDS, however many
    # targets there are. run-fuzzer.sh sets the sanitizer options.
    stage_env=(CC=clang CXX=clang++)
    stage_suite=fuzz
    stage_parallel=16
    run_suite "fuzz" build-fuzz "${unity[@]}" \
        --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
        -Dwerror=true -Dfuzz=true -Dtests=false -Dsamples=false -Dbench=false -- \
        FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
    stage_suite=tsan
    run_suite "tsan" build-tsan "${unity[@]}" \
        --buildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false \
        -Dwerror=true -Dsamples=false -Dbench=false -- \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 die_after_fork=0 suppressions=$PWD/tests/tsan.supp"
fi

# One closing line over the runs of this invocation, in the plain form CI reads:
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
            # CI shows only the end of the output: name each failure there,
            # with the end of what it printed.
            entry = json.loads(line)
            print(f"==> {entry.get('name')} ({log}): {result}")
            for text in (entry.get("stdout") or "").splitlines()[-40:]:
                print(f"    {text}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
}

echo
echo "==> test.sh took $((SECONDS - start)) s"
summary=$(count_results "${logs[@]}")
if [ ${#failed[@]} -gt 0 ]; then
    echo "==> FAILED: ${failed[*]}"
    echo "$summary"
    exit 1
fi
echo "==> all builds and tests passed"
echo "$summary"
