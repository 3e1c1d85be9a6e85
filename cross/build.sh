#!/usr/bin/env bash
# Static, stripped release binaries of tinyvrrp for small Linux boxes.
#
#   bash cross/build.sh [TARGET...]      (default: all five below)
#
# Every target is built with a rebuilt, size-optimised std (-Zbuild-std) and linked
# statically against musl by zig (through cargo-zigbuild); that is what ships, in
# target/cross/dist/<target>/tinyvrrp. Where rustup has a prebuilt musl std (x86_64,
# aarch64) the plain stable build is made too, and its size printed beside it.
# Installs what it needs: apt packages binutils (readelf) and python3-venv, rustup toolchains
# and components, and a Python virtualenv with ziglang and cargo-zigbuild under target/.
# Pinned versions and the shared functions: cross/lib.sh. See cross/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=cross/lib.sh
. cross/lib.sh

# Cargo feature arguments for target $1. The router targets leave out `tinyvrrp import`
# (about 39 KiB on MIPS): a keepalived.conf is converted once, on any PC or with the x86_64 /
# aarch64 binary, and the routers' flash is the scarce thing. They leave out `metrics` too
# (the Prometheus endpoint and `status --prometheus`: about 24 KiB on mipsel), and so does
# x86_64 (17 KiB there: 408 KiB, over its 400 KiB limit); aarch64 has everything.
features_for() {
    case $1 in
    armv7-* | mips*) printf '%s' --no-default-features ;;
    x86_64-*) printf '%s' '--no-default-features --features=import' ;;
    esac
}

# Builds target $1 with build-std; prints the binary's path.
build_ship() {
    local t=$1
    # shellcheck disable=SC2046 # features_for prints words to split
    env "${BSTD_ENV[@]}" PATH="$VENV/bin:$PATH" RUSTFLAGS="$(ship_rustflags "$t")" \
        cargo "+$BSTD_TC" zigbuild --release --locked --target "$t" \
        --target-dir "$OUT/build-std" $(features_for "$t") \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size >&2
    printf '%s' "$OUT/build-std/$t/release/tinyvrrp"
}

# Builds target $1 with rustup's prebuilt std; prints the binary's path.
build_stable_std() {
    local t=$1
    ensure_stable_target "$t"
    local linker=()
    # No aarch64 cross gcc needed: rust-lld links against the self-contained musl.
    [[ $t == aarch64-* ]] && linker=("CARGO_TARGET_$(env_triple "$t")_LINKER=rust-lld")
    env "${linker[@]}" cargo "+$STABLE" build --release --locked --target "$t" \
        --target-dir "$OUT/stable-std" >&2
    printf '%s' "$OUT/stable-std/$t/release/tinyvrrp"
}

# Copies $1 to $2 without the sections a stripped binary still carries but never loads:
# .comment (tool versions) and, on MIPS, .pdr (per-function "procedure descriptor" debug
# records the MIPS assembler emits, about 75 KiB here; strip keeps it because it is not named
# .debug*).
strip_extra() {
    $OBJCOPY --remove-section=.comment --remove-section=.pdr "$1" "$2" || die "objcopy $1 failed"
}

# Size a shipped binary may have (KiB, stripped): the targets of issue 7, MIPS raised from 400
# to 440 when the router module, the local hardening (status socket, pidfile, script security,
# config reading) and make-before-break stop went in (mipsel 392.5 -> 436.9 KiB); the ways back
# under 400 are in cross/README.md.
limit_kib() {
    case $1 in
    armv7-*) printf 300 ;;
    mips*) printf 440 ;;
    *) printf 400 ;;
    esac
}

# --- main ----------------------------------------------------------------------------------
targets=("$@")
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do known_target "$t" || die "unknown target $t (known: ${ALL_TARGETS[*]})"; done

ensure_rustup
apt_ensure "command -v readelf" binutils
pick_build_std_toolchain
ensure_zig
OBJCOPY=$(rust_objcopy)

all_start=$(date +%s)
rows=()
over=()
for t in "${targets[@]}"; do
    log "$t"
    start=$(date +%s)
    bin=$(build_ship "$t")
    mkdir -p "$DIST/$t"
    strip_extra "$bin" "$DIST/$t/tinyvrrp"
    check_binary "$DIST/$t/tinyvrrp"
    secs=$(($(date +%s) - start))
    ship=$(size_of "$DIST/$t/tinyvrrp")
    limit=$(limit_kib "$t")
    mark=""
    if ((ship > limit * 1024)); then
        mark=" > $limit KiB!"
        over+=("$t")
    fi
    plain="-"
    if [[ $STABLE_STD_TARGETS == *" $t "* ]]; then
        start=$(date +%s)
        sbin=$(build_stable_std "$t")
        check_binary "$sbin"
        plain="$(kib "$(size_of "$sbin")") ($(($(date +%s) - start)) s)"
    fi
    rows+=("$(printf '%-32s %12s %8s %10s   %s' "$t" "$(kib "$ship")" "$limit" "${secs} s" "$plain")$mark")
done

printf '\n%-32s %12s %8s %10s   %s\n' "target (build-std, shipped)" "size" "limit" "build" "stable std (build)"
printf '%s\n' "${rows[@]}"
printf '\ntotal %s s; binaries: %s/<target>/tinyvrrp (static, stripped)\n' \
    "$(($(date +%s) - all_start))" "$DIST"
if ((${#over[@]})); then
    die "over the size limit: ${over[*]}"
fi
