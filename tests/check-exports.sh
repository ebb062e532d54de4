#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-exports.sh NM LIBRARY PREFIX FUNCTION...
# Fails unless LIBRARY's dynamic symbol table defines every FUNCTION and
# nothing but PREFIX* symbols.
set -eu
nm_tool=$1
lib=$2
prefix=$3
shift 3

symbols=$("$nm_tool" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
status=0

foreign=$(printf '%s\n' "$symbols" | grep -v "^$prefix" || true)
if [ -n "$foreign" ]; then
    echo "$lib exports symbols outside $prefix*:" >&2
    printf '%s\n' "$foreign" | sed 's/^/  /' >&2
    status=1
fi

for f in "$@"; do
    if ! printf '%s\n' "$symbols" | grep -qx "$f"; then
        echo "$lib does not export $f" >&2
        status=1
    fi
done
exit $status
