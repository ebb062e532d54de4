#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-exports.sh NM LIBRARY
# Fails unless LIBRARY's dynamic symbol table defines every GSAPI function and
# nothing but ha_gs_* symbols.
set -eu
nm_tool=$1
lib=$2

symbols=$("$nm_tool" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
status=0

foreign=$(printf '%s\n' "$symbols" | grep -v '^ha_gs_' || true)
if [ -n "$foreign" ]; then
    echo "$lib exports symbols outside ha_gs_*:" >&2
    printf '  %s\n' $foreign >&2
    status=1
fi

for f in ha_gs_init ha_gs_dispatch ha_gs_quit ha_gs_join ha_gs_leave ha_gs_goodbye \
         ha_gs_expel ha_gs_change_state_value ha_gs_change_attributes ha_gs_send_message \
         ha_gs_vote ha_gs_subscribe ha_gs_unsubscribe ha_gs_get_node_number \
         ha_gs_get_adapter_info ha_gs_strerror; do
    if ! printf '%s\n' "$symbols" | grep -qx "$f"; then
        echo "$lib does not export $f" >&2
        status=1
    fi
done
exit $status
