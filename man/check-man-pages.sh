#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-man-pages.sh NM PAGE_DIR EXTRA_PAGE... LIBRARY...
# Fails unless every function a LIBRARY (*.so*) exports has its page
# PAGE_DIR/<function>.3, and every page in PAGE_DIR and every EXTRA_PAGE
# renders (groff -man, all warnings on) without a word on stderr.
set -eu
nm_tool=$1
page_dir=$2
shift 2
status=0
pages="$page_dir"/*.[0-9]
for arg in "$@"; do
    case $arg in
    *.so | *.so.*)
        listing=$("$nm_tool" -D --defined-only "$arg")
        for symbol in $(printf '%s\n' "$listing" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }'); do
            if [ ! -f "$page_dir/$symbol.3" ]; then
                echo "$arg exports $symbol, which has no page $symbol.3" >&2
                status=1
            fi
        done
        ;;
    *) pages="$pages $arg" ;;
    esac
done
count=0
for page in $pages; do
    count=$((count + 1))
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1 >/dev/null || echo "groff failed")
    if [ -n "$warnings" ]; then
        echo "$page:" >&2
        printf '%s\n' "$warnings" | sed 's/^/  /' >&2
        status=1
    fi
done
echo "$count pages checked"
exit $status
