#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# install-deps.sh - install the Debian 12 packages needed to build and test.
#
# Idempotent: asks dpkg-query first and does nothing when every package is
# installed; otherwise runs apt-get update and installs only the missing ones
# (through sudo when not root).
set -euo pipefail

packages=(
    build-essential g++ meson ninja-build pkg-config
    libzmq3-dev cppzmq-dev nlohmann-json3-dev doctest-dev
    libspdlog-dev libfmt-dev libcli11-dev
    clang clang-format
    libclang-rt-14-dev llvm-14
    libsystemd-dev groff-base man-db
    corosync libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcorosync-common-dev
    corosync-qnetd corosync-qdevice
    iproute2
    debhelper dpkg-dev fakeroot lintian
)
# libsystemd-dev: gsd's sd_notify (optional in meson.build, wanted here so
# that the test of gsd.service's messages runs); groff-base, man-db: the man
# page checks; corosync and its client libraries: gsd --cluster (CPG,
# quorum, cmap) and the cluster tests, which run Corosync in network
# namespaces made with iproute2; corosync-qnetd and corosync-qdevice: the
# quorum device that breaks the tie of a two-node domain (docs/cluster.md,
# "Two nodes"), which the qdevice cluster test runs in a third namespace;
# debhelper ... lintian: the packaging test (debian/).
# libclang-rt-14-dev: clang's sanitizer and libFuzzer runtimes (the fuzz
# build); llvm-14: llvm-symbolizer, for source lines in sanitizer reports.
# Both are only recommended by clang, and apt-get runs without recommends.

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages are installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
