#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-fuzzer.sh FUZZER SEEDS - run one libFuzzer target for a bounded time.
#
# The fuzzer starts from the seed corpus SEEDS (read only) and writes what it
# finds into a scratch directory, so the repository is never modified; with
# FUZZ_WORK=DIR it writes into DIR/<target>/ instead and keeps it, so that a
# later run goes on from there. Runs for FUZZ_SECONDS seconds (default 60). Fails on a crash, a leak, a
# sanitizer report, a timeout of one input (FUZZ_INPUT_TIMEOUT, default 10 s)
# or an out-of-memory; the input that did it is kept in
#   <fuzzer's directory>/artifacts/<target>-<kind>-<sha1>
# and can be replayed with `FUZZER FILE`. The whole log of the last run is
# artifacts/<target>.log. Extra arguments go to libFuzzer.
set -uo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 FUZZER SEEDS [libFuzzer option...]" >&2
    exit 2
fi
fuzzer=$1
seeds=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
name=$(basename "$fuzzer")
artifacts="$(cd "$(dirname "$fuzzer")" && pwd)/artifacts"
mkdir -p "$artifacts"
if [ -n "${FUZZ_WORK:-}" ]; then
    work="$FUZZ_WORK/${name#fuzz_}"
    mkdir -p "$work"
    started="$artifacts/.started-$name"
    touch "$started"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    started=$work
    trap 'rm -rf "$work"' EXIT
fi
log="$artifacts/$name.log"

# Leaks are reported at the end of each input (libFuzzer's -detect_leaks);
# any UBSan report stops the run, like an ASan one.
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:report_error_type=1

echo "$name: ${seconds} s over $(find "$seeds" -type f | wc -l) seeds from $seeds," \
    "$(find "$work" -type f | wc -l) inputs in $work"
"$fuzzer" -max_total_time="$seconds" -timeout="${FUZZ_INPUT_TIMEOUT:-10}" \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/${name#fuzz_}-" \
    "$@" "$work" "$seeds" >"$log" 2>&1
rc=$?

reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz check failed' "$log")
if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then
    tail -n 150 "$log"
    echo "$name: FAILED (exit $rc, $reports sanitizer/fuzzer reports); full log $log"
    find "$artifacts" -type f -newer "$started" ! -name '*.log' ! -name '.started-*' | sed 's|^|  artifact: |'
    exit 1
fi
grep -E '^INFO: Seed:|^INFO: seed corpus|^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$log"
echo "$name: passed (exit 0, no reports); log $log"
