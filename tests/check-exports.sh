#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-exports.sh [--version NODE] NM LIBRARY PREFIX FUNCTION...
# Fails unless LIBRARY's dynamic symbol table defines every FUNCTION and
# nothing but PREFIX* symbols; with --version, also unless every PREFIX*
# symbol carries the default version NODE (symbol@@NODE).
set -eu
version=
if [ "${1:-}" = "--version" ]; then
    version=$2
    shift 2
fi
nm_tool=$1
lib=$2
prefix=$3
shift 3

# "name@@VERSION" (default version) or "name" without version information.
versioned=$("$nm_tool" -D --defined-only --with-symbol-versions "$lib" |
    awk 'NF >= 3 { print $3 }')
symbols=$(printf '%s\n' "$versioned" | sed 's/@.*//' | grep -v '^$' || true)
status=0

foreign=$(printf '%s\n' "$symbols" | grep -v "^$prefix" | grep -vx "$version" || true)
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

if [ -n "$version" ]; then
    unversioned=$(printf '%s\n' "$versioned" | grep "^$prefix" | grep -v "@@$version\$" || true)
    if [ -n "$unversioned" ]; then
        echo "$lib exports $prefix* symbols without version $version:" >&2
        printf '%s\n' "$unversioned" | sed 's/^/  /' >&2
        status=1
    fi
fi
exit $status
