#!/bin/sh
# OpenWrt feed CI (scripts/ci_helpers / test-package): called with the package name and
# version (PKG_VERSION, possibly followed by -rPKG_RELEASE); checks that the installed
# binary runs, reports that version, and accepts the shipped configuration.

case "$1" in
tinyvrrp)
	version="${2%%-*}"
	tinyvrrp --version 2>&1 | grep -Fx "tinyvrrp $version" || exit 1
	tinyvrrp --check -f /etc/tinyvrrp.conf || exit 1
	;;
esac
