#!/usr/bin/env bash
# An installable OpenWrt package without the SDK:
#
#   bash openwrt/build-ipk.sh BINARY ARCH [OUTDIR]
#
# writes OUTDIR/tinyvrrp_<version>-r<release>_<openwrt-arch>.ipk (OUTDIR defaults to the
# current directory) from a cross-built static binary (cross/build.sh puts them in
# target/cross/dist/<target>/tinyvrrp) and the files of the feed package openwrt/tinyvrrp/,
# laid out and archived the way OpenWrt's package-ipkg.mk and scripts/ipkg-build do it:
# an outer gzip'd tar (not an ar archive: OpenWrt's opkg reads only the tar form) holding
# ./debian-binary, ./data.tar.gz and ./control.tar.gz, every file owned by 0:0, the
# install modes of the Makefile's INSTALL_BIN (0755) and INSTALL_CONF (0600),
# Installed-Size the byte count of the uncompressed data tar, /etc files as conffiles.
#
# ARCH is a short name or an OpenWrt package architecture, used verbatim:
#   aarch64 -> aarch64_cortex-a53   (the common generic name, used by the mediatek/filogic,
#                                    mvebu/cortexa53 ... targets; pass e.g. aarch64_generic
#                                    or aarch64_cortex-a72 verbatim for other boards)
#   mipsel  -> mipsel_24kc          (ramips/mt7621 uses mipsel_24kc as well)
#   mips    -> mips_24kc
#   armv7   -> arm_cortex-a7_neon-vfpv4
#   x86_64  -> x86_64
# Version from Cargo.toml; release, license, maintainer, section and description from the
# Makefile. Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the last commit's).
set -euo pipefail

die() {
    printf 'build-ipk.sh: %s\n' "$*" >&2
    exit 1
}

[[ $# -ge 2 && $# -le 3 ]] || die "usage: build-ipk.sh BINARY ARCH [OUTDIR]"
BINARY=$1
ARCH=$2
OUTDIR=${3:-.}
[[ -f $BINARY ]] || die "$BINARY: no such file"
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKGDIR=$ROOT/openwrt/tinyvrrp
MAKEFILE=$PKGDIR/Makefile

case $ARCH in
aarch64) PKGARCH=aarch64_cortex-a53 ;;
mipsel) PKGARCH=mipsel_24kc ;;
mips) PKGARCH=mips_24kc ;;
armv7) PKGARCH=arm_cortex-a7_neon-vfpv4 ;;
x86_64) PKGARCH=x86_64 ;;
*[!a-zA-Z0-9_.+-]* | '') die "bad architecture name '$ARCH'" ;;
*) PKGARCH=$ARCH ;;
esac

# `KEY:=value` from the Makefile (first match, leading whitespace allowed).
mk_var() {
    sed -n "s/^[[:space:]]*$1:=//p" "$MAKEFILE" | head -n1
}
# The body of `define NAME` ... `endef`, with make's $$ turned into $.
mk_define() {
    awk -v name="define $1" '$0 == name { on = 1; next } on && /^endef/ { exit } on' "$MAKEFILE" |
        sed 's/\$\$/$/g'
}

PKG_NAME=tinyvrrp
VERSION=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
RELEASE=$(mk_var PKG_RELEASE)
LICENSE=$(mk_var PKG_LICENSE)
MAINTAINER=$(mk_var PKG_MAINTAINER)
SECTION=$(mk_var SECTION)
DESCRIPTION=$(mk_define "Package/$PKG_NAME/description")
POSTINST_PKG=$(mk_define "Package/$PKG_NAME/postinst")
[[ -n $VERSION ]] || die "no version in Cargo.toml"
[[ $RELEASE =~ ^[0-9]+$ ]] || die "PKG_RELEASE '$RELEASE' is not an integer"
[[ -n $LICENSE && -n $MAINTAINER && -n $SECTION && -n $DESCRIPTION ]] ||
    die "license, maintainer, section or description missing from $MAKEFILE"

EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
TAR=(tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name --mtime="@$EPOCH")

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DATA=$WORK/data
CONTROL=$WORK/control
mkdir -p "$DATA" "$CONTROL"

# --- data: what Package/tinyvrrp/install installs ------------------------------------------
install -D -m0755 "$BINARY" "$DATA/usr/sbin/tinyvrrp"
install -D -m0755 "$PKGDIR/files/tinyvrrp.init" "$DATA/etc/init.d/tinyvrrp"
install -D -m0600 "$PKGDIR/files/tinyvrrp.config" "$DATA/etc/config/tinyvrrp"
install -D -m0600 "$PKGDIR/files/tinyvrrp.conf" "$DATA/etc/tinyvrrp.conf"
install -D -m0755 "$PKGDIR/files/tinyvrrp.rpcd" "$DATA/usr/libexec/rpcd/tinyvrrp"
find "$DATA" -type d -exec chmod 0755 {} +

# --- control ---------------------------------------------------------------------------------
(cd "$DATA" && "${TAR[@]}" -cf - .) | gzip -n -9 >"$WORK/data.tar.gz"
INSTALLED_SIZE=$(gzip -dc "$WORK/data.tar.gz" | wc -c)

{
    echo "Package: $PKG_NAME"
    echo "Version: $VERSION-r$RELEASE"
    echo "Depends: libc"
    echo "Source: feeds/$PKG_NAME/$PKG_NAME"
    echo "SourceName: $PKG_NAME"
    echo "License: $LICENSE"
    echo "Section: $SECTION"
    echo "Maintainer: $MAINTAINER"
    echo "Architecture: $PKGARCH"
    echo "Installed-Size: $INSTALLED_SIZE"
    # As package-ipkg.mk writes it: every description line indented by one space.
    printf 'Description: '
    printf '%s\n' "$DESCRIPTION" | sed -e 's,^[[:space:]]*, ,g'
} >"$CONTROL/control"
printf '%s\n' /etc/config/tinyvrrp /etc/tinyvrrp.conf | LC_ALL=C sort >"$CONTROL/conffiles"

# package-ipkg.mk's generic scripts: OpenWrt's /lib/functions.sh enables the init script
# (and starts it on a live system; it opens no instance while UCI `enabled` is 0) and runs
# postinst-pkg; default_prerm stops and disables it.
cat >"$CONTROL/postinst" <<'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
EOF
cat >"$CONTROL/prerm" <<'EOF'
#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
# shellcheck source=/dev/null
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
EOF
[[ -z $POSTINST_PKG ]] || printf '%s\n' "$POSTINST_PKG" >"$CONTROL/postinst-pkg"
chmod 0644 "$CONTROL/control" "$CONTROL/conffiles"
chmod 0755 "$CONTROL" "$CONTROL/postinst" "$CONTROL/prerm"
[[ ! -f $CONTROL/postinst-pkg ]] || chmod 0755 "$CONTROL/postinst-pkg"
(cd "$CONTROL" && "${TAR[@]}" -cf - .) | gzip -n -9 >"$WORK/control.tar.gz"

# --- the package -----------------------------------------------------------------------------
echo "2.0" >"$WORK/debian-binary"
chmod 0644 "$WORK/debian-binary" "$WORK/data.tar.gz" "$WORK/control.tar.gz"
IPK=$OUTDIR/${PKG_NAME}_${VERSION}-r${RELEASE}_${PKGARCH}.ipk
# ipkg-build's member order.
(cd "$WORK" && "${TAR[@]}" -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) |
    gzip -n -9 >"$IPK.tmp"
mv "$IPK.tmp" "$IPK"
echo "$IPK ($(stat -c %s "$IPK") bytes, Installed-Size $INSTALLED_SIZE)"
