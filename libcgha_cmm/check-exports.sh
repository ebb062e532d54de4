#!/bin/sh
# SPDX-License-Identifier: MIT
# Usage: check-exports.sh NM LIBRARY
# Fails unless LIBRARY's dynamic symbol table defines every cmm.h function and
# nothing but cmm_* symbols.
set -eu
nm_tool=$1
lib=$2

symbols=$("$nm_tool" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
status=0

foreign=$(printf '%s\n' "$symbols" | grep -v '^cmm_' || true)
if [ -n "$foreign" ]; then
    echo "$lib exports symbols outside cmm_*:" >&2
    printf '  %s\n' $foreign >&2
    status=1
fi

for f in cmm_connect cmm_disconnect cmm_node_getid cmm_member_getinfo cmm_potential_getinfo \
         cmm_master_getinfo cmm_vicemaster_getinfo cmm_member_getcount cmm_member_getall \
         cmm_member_isdesynchronized cmm_member_isdisqualified cmm_member_isqualified \
         cmm_member_iseligible cmm_member_isexcluded cmm_member_isfrozen cmm_member_ismaster \
         cmm_member_isvicemaster cmm_member_isoutofcluster cmm_mastership_release \
         cmm_membership_remove cmm_member_setqualif cmm_member_seizequalif cmm_config_reload \
         cmm_cmc_register cmm_cmc_unregister cmm_cmc_filter cmm_notify_getfd \
         cmm_notify_dispatch cmm_strerror; do
    if ! printf '%s\n' "$symbols" | grep -qx "$f"; then
        echo "$lib does not export $f" >&2
        status=1
    fi
done
exit $status
