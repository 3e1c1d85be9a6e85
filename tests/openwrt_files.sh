#!/usr/bin/env bash
# Tests of the OpenWrt files without OpenWrt:
#
#   bash tests/openwrt_files.sh [DIST]
#
# DIST: the directory cross/build.sh fills (<target>/tinyvrrp); default $TINYVRRP_DIST, else
# target/cross/dist. Checks, each printed as "ok" or "FAIL" (exit status 1 if any failed):
#  1. busybox ash -n (bash -n for bash scripts) and shellcheck on every shell file under
#     openwrt/;
#  2. the procd init script, sourced in busybox ash with procd_*, config_* and logger stubbed
#     and a stub PROG: the exact procd instance (command line, file, reload_signal HUP,
#     respawn), no instance when enabled is 0 or unset, none and the error shown when
#     --check fails, reload refused on a broken file, the UCI reload trigger;
#  3. the rpcd plugin: list, call status (socket from UCI), the error JSON;
#  4. a static lint of openwrt/tinyvrrp/Makefile;
#  5. .ipk files built by openwrt/build-ipk.sh for aarch64 and mipsel: archive format,
#     members, control fields, conffiles, Installed-Size, owners, modes, the files the
#     Makefile installs, the binary's ELF machine, the maintainer scripts, reproducibility.
# Installs busybox, shellcheck and binutils with apt-get when they are missing.
# `cond && ok … || fail …` is safe here: ok always returns 0. The Makefile text is matched
# literally, so $(…) in single quotes is meant.
# shellcheck disable=SC2015,SC2016
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
DIST=${1:-${TINYVRRP_DIST:-$ROOT/target/cross/dist}}
PKGDIR=$ROOT/openwrt/tinyvrrp
MAKEFILE=$PKGDIR/Makefile

FAILED=0
ok() {
    printf 'ok   - %s\n' "$1"
    return 0
}
fail() {
    printf 'FAIL - %s\n' "$1"
    [[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/       /'
    FAILED=$((FAILED + 1))
}
# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
    if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1" "$(printf 'expected:\n%s\ngot:\n%s' "$3" "$2")"; fi
}
# expect DESCRIPTION COMMAND...: the command succeeds.
expect() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else fail "$desc" "$out"; fi
}
section() { printf '\n== %s\n' "$*"; }

# --- tools ---------------------------------------------------------------------------------
missing=()
command -v busybox >/dev/null 2>&1 || missing+=(busybox)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        section "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    for tool in busybox shellcheck readelf; do
        command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool missing" >&2; exit 1; }
    done
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- 1. syntax and shellcheck ------------------------------------------------------------------
section "syntax (busybox ash -n / bash -n) and shellcheck of every shell file under openwrt/ and contrib/"
shell_files=()
while IFS= read -r f; do
    case $(head -n1 "$f") in
    '#!'*sh*) shell_files+=("$f") ;;
    esac
done < <(find openwrt contrib -type f | LC_ALL=C sort)
((${#shell_files[@]} >= 5)) && ok "found ${#shell_files[@]} shell files" ||
    fail "expected at least the init, rpcd, test.sh, S50 and build-ipk.sh scripts" "${shell_files[*]}"
for f in "${shell_files[@]}"; do
    if head -n1 "$f" | grep -q bash; then
        expect "bash -n $f" bash -n "$f"
    else
        expect "busybox ash -n $f" busybox ash -n "$f"
    fi
    expect "shellcheck $f" shellcheck "$f"
done
expect "the init script tells shellcheck it is ash" grep -qx '# shellcheck shell=ash.*' "$PKGDIR/files/tinyvrrp.init"

# --- 2. the procd init script --------------------------------------------------------------------
section "procd init script sourced in busybox ash with stubs"
STUB=$TMP/stub-tinyvrrp
CALLS=$TMP/stub-calls
# Fails --check for any file whose name contains "broken", like the daemon on a bad file.
cat >"$STUB" <<EOF
#!/bin/sh
echo "\$*" >>"$CALLS"
if [ "\$1" = --check ]; then
	case "\$3" in
	*broken*) echo "\$3:4: unknown key 'bogus'" >&2; exit 1 ;;
	esac
	echo "\$3: OK (1 instance(s))"
fi
exit 0
EOF
chmod 755 "$STUB"

HARNESS=$TMP/harness.sh
cat >"$HARNESS" <<'EOF'
# usage: busybox ash harness.sh INIT STUB FUNCTION; UCI values from UCI_<option> variables.
INIT=$1 STUBPROG=$2 FUNC=$3
out() { printf '%s' "$1"; shift; for a in "$@"; do printf ' [%s]' "$a"; done; echo; }
procd_open_instance() { out open_instance "$@"; }
procd_set_param() { out set_param "$@"; }
procd_close_instance() { out close_instance "$@"; }
procd_add_reload_trigger() { out reload_trigger "$@"; }
logger() { out logger "$@"; }
start() { out start; start_service; }
config_load() { [ "$1" = tinyvrrp ] || { echo "config_load $1" >&2; exit 3; }; }
# As OpenWrt's functions.sh: the default when the option is unset or empty.
config_get() {
	[ "$2" = main ] || { echo "section $2" >&2; exit 3; }
	eval "_v=\${UCI_$3:-}"
	[ -n "$_v" ] || _v=$4
	eval "$1=\$_v"
}
config_get_bool() {
	config_get _b "$2" "$3" "$4"
	case "$_b" in
	1 | on | true | yes | enabled) _b=1 ;;
	0 | off | false | no | disabled) _b=0 ;;
	*) _b=$4 ;;
	esac
	eval "$1=\$_b"
}
. "$INIT"
PROG=$STUBPROG
if [ "$FUNC" = vars ]; then
	echo "START=$START STOP=$STOP USE_PROCD=$USE_PROCD PROG=/usr/sbin/tinyvrrp"
	exit 0
fi
"$FUNC"
echo "status=$?"
EOF

# run_init FUNCTION [VAR=value...]: stdout+stderr of the function in busybox ash.
run_init() {
    local func=$1
    shift
    : >"$CALLS"
    env -i PATH="$PATH" "$@" busybox ash "$HARNESS" "$PKGDIR/files/tinyvrrp.init" "$STUB" "$func" 2>&1
}
INIT_VARS=$(env -i PATH="$PATH" busybox ash -c ". '$PKGDIR/files/tinyvrrp.init'; echo \"START=\$START STOP=\$STOP USE_PROCD=\$USE_PROCD PROG=\$PROG\"")
expect_eq "USE_PROCD=1, START after network (20), PROG" "$INIT_VARS" "START=60 STOP=10 USE_PROCD=1 PROG=/usr/sbin/tinyvrrp"
start_no=${INIT_VARS#START=}
start_no=${start_no%% *}
((start_no > 20)) && ok "START=$start_no is after network's START=20" || fail "START=$start_no is not after network (20)"

GOOD=$TMP/router.conf
got=$(run_init start_service UCI_enabled=1 UCI_config="$GOOD" UCI_log_level=debug UCI_status_socket="$TMP/s.sock")
expect_eq "enabled=1: the exact procd instance" "$got" "\
open_instance
set_param [command] [$STUB] [-f] [$GOOD] [-l] [debug] [--status-socket] [$TMP/s.sock] [--syslog]
set_param [file] [$GOOD]
set_param [reload_signal] [HUP]
set_param [respawn] [3600] [5] [5]
set_param [term_timeout] [30]
set_param [stderr] [1]
close_instance
status=0"
expect_eq "enabled=1: --check ran on the file first" "$(cat "$CALLS")" "--check -f $GOOD"

got=$(run_init start_service UCI_enabled=yes)
expect_eq "UCI defaults: /etc/tinyvrrp.conf, info, /var/run/tinyvrrp.sock" \
    "$(printf '%s\n' "$got" | grep '^set_param \[command\]')" \
    "set_param [command] [$STUB] [-f] [/etc/tinyvrrp.conf] [-l] [info] [--status-socket] [/var/run/tinyvrrp.sock] [--syslog]"

for enabled in 0 "" off; do
    got=$(run_init start_service UCI_enabled="$enabled" UCI_config="$GOOD")
    expect_eq "enabled='$enabled': no instance, nothing run" "$got|$(cat "$CALLS")" "status=0|"
done

BROKEN=$TMP/broken.conf
got=$(run_init start_service UCI_enabled=1 UCI_config="$BROKEN")
expect_eq "broken config: no instance, the error shown and logged, start fails" "$got" "\
tinyvrrp: not started: $BROKEN:4: unknown key 'bogus'
logger [-t] [tinyvrrp] [-p] [daemon.err] [not started: $BROKEN:4: unknown key 'bogus']
status=1"

got=$(run_init reload_service UCI_enabled=1 UCI_config="$BROKEN")
expect_eq "reload with a broken config: refused, the running daemon left alone" "$got" "\
tinyvrrp: reload refused: $BROKEN:4: unknown key 'bogus'
logger [-t] [tinyvrrp] [-p] [daemon.err] [reload refused: $BROKEN:4: unknown key 'bogus']
status=1"
got=$(run_init reload_service UCI_enabled=1 UCI_config="$GOOD")
expect_eq "reload with a good config: start again (procd sends HUP when only the file changed)" \
    "$(printf '%s\n' "$got" | grep -v '^set_param')" "start
open_instance
close_instance
status=0"
got=$(run_init reload_service UCI_enabled=0 UCI_config="$BROKEN")
expect_eq "reload when disabled: start (opens no instance, so procd stops the daemon)" "$got" "start
status=0"
expect_eq "service_triggers: reload on UCI changes" "$(run_init service_triggers)" "reload_trigger [tinyvrrp]
status=0"

# --- 3. the rpcd plugin ----------------------------------------------------------------------------
section "rpcd plugin"
RPCD=$TMP/rpcd-tinyvrrp
sed "s|^PROG=/usr/sbin/tinyvrrp$|PROG=$STUB|" "$PKGDIR/files/tinyvrrp.rpcd" >"$RPCD"
grep -q "^PROG=$STUB\$" "$RPCD" && ok "rpcd plugin has PROG=/usr/sbin/tinyvrrp" || fail "rpcd plugin: no PROG=/usr/sbin/tinyvrrp line"
mkdir -p "$TMP/bin-uci" "$TMP/bin-nouci"
printf '#!/bin/sh\n[ "$*" = "-q get tinyvrrp.main.status_socket" ] && echo %s/uci.sock\n' "$TMP" >"$TMP/bin-uci/uci"
chmod 755 "$TMP/bin-uci/uci"
expect_eq "list" "$(busybox ash "$RPCD" list)" '{"status":{}}'
: >"$CALLS"
busybox ash "$RPCD" call status >/dev/null
expect_eq "call status without uci: default socket, status --json" "$(cat "$CALLS")" \
    "--status-socket /var/run/tinyvrrp.sock status --json"
: >"$CALLS"
PATH="$TMP/bin-uci:$PATH" busybox ash "$RPCD" call status >/dev/null
expect_eq "call status: the socket from UCI" "$(cat "$CALLS")" "--status-socket $TMP/uci.sock status --json"
sed "s|^PROG=/usr/sbin/tinyvrrp$|PROG=$TMP/absent|" "$PKGDIR/files/tinyvrrp.rpcd" >"$RPCD.absent"
expect_eq "call status, binary missing: error JSON" "$(busybox ash "$RPCD.absent" call status)" \
    '{"error":"cannot run /usr/sbin/tinyvrrp"}'
REAL=$ROOT/target/debug/tinyvrrp
if [[ -x $REAL ]] && "$REAL" status --help 2>&1 | grep -q -- --json; then
    sed "s|^PROG=/usr/sbin/tinyvrrp$|PROG=$REAL|" "$PKGDIR/files/tinyvrrp.rpcd" >"$RPCD.real"
    expect_eq "call status, daemon not running (real binary): error JSON" \
        "$(busybox ash "$RPCD.real" call status)" \
        '{"error":"status from /var/run/tinyvrrp.sock: No such file or directory (os error 2)"}'
else
    echo "note: $REAL (with status --json) not built; skipping the real-binary rpcd check"
fi

section "test.sh (the feed's version test) with a stub tinyvrrp on PATH"
mkdir -p "$TMP/bin-test"
printf '#!/bin/sh\ncase "$1" in --version) echo "tinyvrrp %s" ;; --check) echo "$*" >"%s" ;; esac\n' \
    "$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' Cargo.toml | head -n1)" "$TMP/test-check" >"$TMP/bin-test/tinyvrrp"
chmod 755 "$TMP/bin-test/tinyvrrp"
TEST_VERSION=$(sed -n 's/^PKG_VERSION:=//p' "$MAKEFILE")
expect "test.sh tinyvrrp PKG_VERSION passes" env PATH="$TMP/bin-test:$PATH" busybox ash "$PKGDIR/test.sh" tinyvrrp "$TEST_VERSION"
expect_eq "test.sh checks /etc/tinyvrrp.conf" "$(cat "$TMP/test-check" 2>/dev/null)" "--check -f /etc/tinyvrrp.conf"
expect "test.sh tinyvrrp PKG_VERSION-r1 (apk form) passes" env PATH="$TMP/bin-test:$PATH" busybox ash "$PKGDIR/test.sh" tinyvrrp "$TEST_VERSION-r1"
if env PATH="$TMP/bin-test:$PATH" busybox ash "$PKGDIR/test.sh" tinyvrrp 9.9.9 >/dev/null 2>&1; then
    fail "test.sh accepts a wrong version"
else
    ok "test.sh fails on a wrong version"
fi

# --- 4. Makefile lint ----------------------------------------------------------------------------
section "Makefile lint"
mk_var() { sed -n "s/^$1:=//p" "$MAKEFILE"; }
CARGO_VERSION=$(sed -n 's/^version[[:space:]]*=[[:space:]]*"\(.*\)"/\1/p' Cargo.toml | head -n1)
PKG_VERSION=$(mk_var PKG_VERSION)
PKG_RELEASE=$(mk_var PKG_RELEASE)
expect_eq "PKG_VERSION equals Cargo.toml's version" "$PKG_VERSION" "$CARGO_VERSION"
# apk (OpenWrt 25.x) accepts digits and dots with an optional _alpha/_beta/_pre/_rc/_p suffix.
[[ $PKG_VERSION =~ ^[0-9]+(\.[0-9]+)*(_(alpha|beta|pre|rc|p)[0-9]*)?$ ]] &&
    ok "PKG_VERSION '$PKG_VERSION' is apk-valid" || fail "PKG_VERSION '$PKG_VERSION' is not apk-valid"
[[ $PKG_RELEASE =~ ^[0-9]+$ ]] && ok "PKG_RELEASE '$PKG_RELEASE' is an integer" ||
    fail "PKG_RELEASE '$PKG_RELEASE' is not an integer"
for v in PKG_LICENSE PKG_MAINTAINER; do
    [[ -n $(mk_var $v) ]] && ok "$v set" || fail "$v missing"
done
expect_eq "PKG_BUILD_DEPENDS" "$(mk_var PKG_BUILD_DEPENDS)" "rust/host"
expect_eq "DEPENDS" "$(sed -n 's/^[[:space:]]*DEPENDS:=//p' "$MAKEFILE")" '$(RUST_ARCH_DEPENDS)'
expect_eq "includes, in order" "$(grep '^include ' "$MAKEFILE")" 'include $(TOPDIR)/rules.mk
include $(INCLUDE_DIR)/package.mk
include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk'
expect_eq "BuildPackage is the last line" "$(tail -n1 "$MAKEFILE")" '$(eval $(call BuildPackage,tinyvrrp))'
for kv in PANIC=abort OPT_LEVEL=z LTO=true CODEGEN_UNITS=1; do
    if awk '/^CARGO_PKG_VARS\+=/ { on = 1 } on { print } on && !/\\$/ { exit }' "$MAKEFILE" |
        grep -q "CARGO_PROFILE_RELEASE_$kv"; then
        ok "CARGO_PKG_VARS sets CARGO_PROFILE_RELEASE_$kv"
    else
        fail "CARGO_PKG_VARS does not set CARGO_PROFILE_RELEASE_$kv"
    fi
done
# Recipes: the bodies of Build/* and Package/*/install defines and of rules (target: lines).
bad_recipe=$(awk '
    /^define (Build\/|Package\/[^ ]*\/install$)/ { recipe = 1; next }
    /^endef/ { recipe = 0; next }
    /^[A-Za-z0-9_.\/$()-]+:([^=]|$)/ { rule = 1; next }
    rule && /^$/ { rule = 0 }
    (recipe || rule) && /[^[:space:]]/ && !/^\t/ { printf "line %d: %s\n", NR, $0 }
' "$MAKEFILE")
[[ -z $bad_recipe ]] && ok "every recipe line starts with a tab" || fail "recipe lines without a leading tab" "$bad_recipe"
refs=$(grep -o '\./files/[A-Za-z0-9_.-]*' "$MAKEFILE" | sort -u)
for r in $refs; do
    [[ -f $PKGDIR/$r ]] && ok "$r exists" || fail "$r is referenced but missing"
done
for f in "$PKGDIR"/files/*; do
    grep -qF "./files/$(basename "$f")" "$MAKEFILE" && ok "files/$(basename "$f") is installed" ||
        fail "files/$(basename "$f") is never installed"
done
[[ -f $PKGDIR/test.sh ]] && ok "test.sh exists" || fail "test.sh missing"
# What Package/tinyvrrp/install installs: "path mode source" lines, compared with the .ipk.
MK_INSTALLS=$(awk '/^define Package\/tinyvrrp\/install$/ { on = 1; next } on && /^endef/ { exit } on' "$MAKEFILE" |
    awk '$1 == "$(INSTALL_BIN)" || $1 == "$(INSTALL_CONF)" || $1 == "$(INSTALL_DATA)" {
        mode = ($1 == "$(INSTALL_BIN)") ? "755" : ($1 == "$(INSTALL_CONF)") ? "600" : "644"
        src = $2; dst = $3; sub(/^\$\(1\)/, "", dst)
        n = split(src, parts, "/"); if (dst ~ /\/$/) dst = dst parts[n]
        if (src ~ /^\$\(PKG_INSTALL_DIR\)/) src = "BINARY"; else sub(/^\.\//, "", src)
        print dst, mode, src }' | LC_ALL=C sort)
MK_CONFFILES=$(awk '/^define Package\/tinyvrrp\/conffiles$/ { on = 1; next } on && /^endef/ { exit } on' "$MAKEFILE" | LC_ALL=C sort)
expect_eq "conffiles are the files installed with INSTALL_CONF" "$MK_CONFFILES" \
    "$(printf '%s\n' "$MK_INSTALLS" | awk '$2 == "600" { print $1 }')"

# --- 5. the .ipk files ---------------------------------------------------------------------------
section ".ipk files from openwrt/build-ipk.sh (binaries from $DIST)"
check_ipk() {
    local arch=$1 target=$2 pkgarch=$3 machine=$4 endian=$5
    local bin=$DIST/$target/tinyvrrp out=$TMP/ipk-$arch ipk x
    echo "-- $arch ($pkgarch)"
    if [[ ! -f $bin ]]; then
        fail "$bin missing (run cross/build.sh first)"
        return
    fi
    mkdir -p "$out"
    if ! SOURCE_DATE_EPOCH=1700000000 bash openwrt/build-ipk.sh "$bin" "$arch" "$out" >/dev/null; then
        fail "build-ipk.sh $arch"
        return
    fi
    ipk=$out/tinyvrrp_${CARGO_VERSION}-r${PKG_RELEASE}_${pkgarch}.ipk
    [[ -f $ipk ]] && ok "named $(basename "$ipk")" || { fail "no $ipk" "$(ls "$out")"; return; }
    expect_eq "outer file is gzip (1f8b), not an ar archive" "$(head -c2 "$ipk" | od -An -tx1 | tr -d ' \n')" "1f8b"
    expect_eq "outer tar: exactly the three members, in ipkg-build's order" "$(tar -tzf "$ipk")" \
        "./debian-binary
./data.tar.gz
./control.tar.gz"
    expect_eq "every member of the three archives is owned by 0:0" "$(
        {
            tar --numeric-owner -tvzf "$ipk"
            tar -xzOf "$ipk" ./control.tar.gz | tar --numeric-owner -tvzf -
            tar -xzOf "$ipk" ./data.tar.gz | tar --numeric-owner -tvzf -
        } | awk '$2 != "0/0"'
    )" ""
    mkdir -p "$out/x/control" "$out/x/root"
    tar -xzf "$ipk" -C "$out/x"
    expect_eq "debian-binary is 2.0" "$(od -c "$out/x/debian-binary" | head -n1)" "$(printf '2.0\n' | od -c | head -n1)"
    tar -xzf "$out/x/control.tar.gz" -C "$out/x/control"
    local size
    size=$(gzip -dc "$out/x/data.tar.gz" | wc -c)
    expect_eq "control fields" "$(sed '/^Description:/,$d' "$out/x/control/control")" "\
Package: tinyvrrp
Version: $CARGO_VERSION-r$PKG_RELEASE
Depends: libc
Source: feeds/tinyvrrp/tinyvrrp
SourceName: tinyvrrp
License: $(mk_var PKG_LICENSE)
Section: net
Maintainer: $(mk_var PKG_MAINTAINER)
Architecture: $pkgarch
Installed-Size: $size"
    expect_eq "Description: the Makefile's, each line indented by one space" \
        "$(sed -n '/^Description:/,$p' "$out/x/control/control")" \
        "$(awk '/^define Package\/tinyvrrp\/description$/ { on = 1; next } on && /^endef/ { exit } on' "$MAKEFILE" |
            sed 's/^[[:space:]]*/ /; 1s/^/Description: /')"
    expect_eq "conffiles" "$(cat "$out/x/control/conffiles")" "$MK_CONFFILES"
    expect_eq "control members and modes" "$(cd "$out/x/control" && find . -mindepth 1 -printf '%p %m\n' | LC_ALL=C sort)" \
        "./conffiles 644
./control 644
./postinst 755
./postinst-pkg 755
./prerm 755"
    for x in postinst prerm postinst-pkg; do
        expect "$x: busybox ash -n and shellcheck" sh -c "busybox ash -n '$out/x/control/$x' && shellcheck -s sh '$out/x/control/$x'"
    done
    mkdir -p "$out/instroot/lib"
    printf 'default_postinst() { echo "default_postinst $*"; }\n' >"$out/instroot/lib/functions.sh"
    expect_eq "postinst calls OpenWrt's default_postinst (enables the init script)" \
        "$(IPKG_INSTROOT=$out/instroot sh "$out/x/control/postinst" configure)" \
        "default_postinst $out/x/control/postinst configure"
    expect_eq "postinst does nothing with IPKG_NO_SCRIPT=1" \
        "$(IPKG_NO_SCRIPT=1 IPKG_INSTROOT=$out/instroot sh "$out/x/control/postinst" configure)" ""
    expect_eq "postinst-pkg is the Makefile's Package/tinyvrrp/postinst" "$(cat "$out/x/control/postinst-pkg")" \
        "$(awk '/^define Package\/tinyvrrp\/postinst$/ { on = 1; next } on && /^endef/ { exit } on' "$MAKEFILE" | sed 's/\$\$/$/g')"
    tar --same-owner -xpzf "$out/x/data.tar.gz" -C "$out/x/root"
    local want_files got_files path src
    want_files=$(printf '%s\n' "$MK_INSTALLS" | awk '{ print $1, $2 }')
    got_files=$(cd "$out/x/root" && find . -type f -printf '%p %m\n' | sed 's/^\.//' | LC_ALL=C sort)
    expect_eq "data: exactly the files the Makefile installs, with its modes" "$got_files" "$want_files"
    expect_eq "data: every directory is 0755" "$(cd "$out/x/root" && find . -type d ! -perm 0755)" ""
    if [[ $(id -u) -eq 0 ]]; then
        expect_eq "data: extracted as root, everything is owned by root" \
            "$(find "$out/x/root" ! -uid 0 -o ! -gid 0)" ""
    fi
    while read -r path _ src; do
        [[ -n $path ]] || continue
        [[ $src == BINARY ]] && src=$bin || src=$PKGDIR/$src
        cmp -s "$src" "$out/x/root$path" && ok "data: $path is $(basename "$src")" || fail "data: $path differs from $src"
    done <<<"$MK_INSTALLS"
    local elf=$out/x/root/usr/sbin/tinyvrrp
    expect_eq "binary: ELF machine $machine" "$(readelf -h "$elf" | sed -n 's/^ *Machine: *//p')" "$machine"
    expect_eq "binary: $endian" "$(readelf -h "$elf" | sed -n 's/^ *Data: *//p')" "$endian"
    expect_eq "binary: static (no INTERP)" "$(readelf -l "$elf" | grep -c INTERP)" "0"
    SOURCE_DATE_EPOCH=1700000000 bash openwrt/build-ipk.sh "$bin" "$arch" "$out/again" >/dev/null
    cmp -s "$ipk" "$out/again/$(basename "$ipk")" && ok "reproducible: a second build is byte-identical" ||
        fail "a second build differs"
}
check_ipk aarch64 aarch64-unknown-linux-musl aarch64_cortex-a53 AArch64 "2's complement, little endian"
check_ipk mipsel mipsel-unknown-linux-musl mipsel_24kc "MIPS R3000" "2's complement, little endian"

echo
if ((FAILED)); then
    echo "openwrt_files: $FAILED check(s) FAILED"
    exit 1
fi
echo "openwrt_files: all passed"
