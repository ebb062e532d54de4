#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-debian-package.sh SOURCE_DIR - build the Debian packages of a copy of
# SOURCE_DIR (DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b), run
# lintian on them when it is installed (errors fail the test, warnings are
# printed), extract every .deb into a temporary root with dpkg-deb -x (the
# machine's own packages are not touched), build the samples against the
# extracted -dev packages (pkg-config pointed at the root) and run their
# smoke tests against the extracted gsd. Exit 77 (skipped) when
# dpkg-buildpackage or a build dependency is missing.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 SOURCE_DIR" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
    echo "dpkg-buildpackage or debhelper is not installed: skipped" >&2
    exit 77
fi
if ! (cd "$source_dir" && dpkg-checkbuilddeps -Pnocheck 2>&1); then
    echo "build dependencies missing: skipped" >&2
    exit 77
fi

work=$(mktemp -d /tmp/ha_gs-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The tree without build directories or git metadata.
mkdir "$work/ha-gs"
tar -C "$source_dir" --exclude='./build*' --exclude='./_build*' --exclude=./.git \
    --exclude=./bench/results -cf - . | tar -C "$work/ha-gs" -xf -

start=$SECONDS
(cd "$work/ha-gs" &&
    DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b \
        >"$work/build.log" 2>&1) || {
    tail -n 60 "$work/build.log" >&2
    echo "FAIL: dpkg-buildpackage failed (log above)" >&2
    exit 1
}
echo "dpkg-buildpackage took $((SECONDS - start)) s"

shopt -s nullglob
debs=("$work"/*.deb)
for package in gsd libha-gs1 libha-gs-dev libcgha-cmm1 libcgha-cmm-dev; do
    found=("$work/${package}"_*.deb)
    [ ${#found[@]} -eq 1 ] || { echo "FAIL: no package $package among ${debs[*]}" >&2; exit 1; }
done

if command -v lintian >/dev/null; then
    changes=("$work"/*.changes)
    lintian_rc=0
    lintian --fail-on error --display-info "${changes[0]}" || lintian_rc=$?
    [ "$lintian_rc" -eq 0 ] || { echo "FAIL: lintian reports errors" >&2; exit 1; }
else
    echo "lintian is not installed: packages not checked"
fi

root="$work/root"
for deb in "${debs[@]}"; do
    dpkg-deb -x "$deb" "$root"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir="$root/usr/lib/$multiarch"
for file in usr/sbin/gsd usr/sbin/gsctl lib/systemd/system/gsd.service \
    usr/lib/sysusers.d/gsd.conf usr/share/man/man8/gsd.8.gz usr/share/man/man8/gsctl.8.gz \
    usr/share/man/man3/ha_gs_init.3.gz \
    usr/share/man/man3/cmm_connect.3.gz usr/share/man/man5/cmm-nodes.5.gz \
    usr/include/ha_gs.h usr/include/cmm.h; do
    [ -e "$root/$file" ] || { echo "FAIL: the packages install no /$file" >&2; exit 1; }
done
grep -qx 'Type=notify' "$root/lib/systemd/system/gsd.service" ||
    { echo "FAIL: gsd.service is not Type=notify" >&2; exit 1; }

# The samples, built the way a user of the -dev packages builds them.
export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$libdir/pkgconfig
mkdir "$work/samples"
for sample in subscriber provider voter; do
    # shellcheck disable=SC2046 # pkg-config's words are separate arguments
    cc -std=c99 -o "$work/samples/$sample" "$source_dir/samples/$sample.c" \
        $(pkg-config --cflags --libs ha_gs)
done
for sample in cluster_monitor cmm_check; do
    # shellcheck disable=SC2046
    cc -std=c99 -o "$work/samples/$sample" "$source_dir/samples/$sample.c" \
        $(pkg-config --cflags --libs cgha_cmm)
done
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR

export LD_LIBRARY_PATH=$libdir
gsd=$root/usr/sbin/gsd
"$gsd" --version
for scenario in subscriber provider voter; do
    "$source_dir/samples/smoke-test.sh" "$scenario" "$gsd" "$work/samples/subscriber" \
        "$work/samples/provider" "$work/samples/voter"
done
"$source_dir/samples/cmm-smoke-test.sh" "$gsd" "$work/samples/cluster_monitor" \
    "$work/samples/cmm_check"
# gsctl from the package against the package's gsd.
admin_dir=$(mktemp -d /tmp/gsctl-pkg.XXXXXX)
"$gsd" --socket "ipc://$admin_dir/gsd.sock" 2>"$admin_dir/log" &
admin_gsd=$!
for _ in $(seq 100); do
    [ -S "$admin_dir/gsd.sock" ] && break
    sleep 0.1
done
admin_rc=0
"$root/usr/sbin/gsctl" --socket "ipc://$admin_dir/gsd.sock" --json stats >"$admin_dir/stats" ||
    admin_rc=$?
kill "$admin_gsd"
wait "$admin_gsd" || true
grep -q '"synced":true' "$admin_dir/stats" || admin_rc=1
rm -rf "$admin_dir"
[ "$admin_rc" -eq 0 ] || { echo "FAIL: the packaged gsctl cannot ask the packaged gsd" >&2; exit 1; }
echo "packages built, extracted and run: ${debs[*]##*/}"
