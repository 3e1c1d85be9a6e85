#!/usr/bin/env bash
# Static, stripped release binaries of tinyvrrp for small Linux boxes.
#
#   bash cross/build.sh [TARGET...]      (default: all five below)
#
# Every target is built with a rebuilt, size-optimised std (-Zbuild-std) and linked
# statically against musl by zig (through cargo-zigbuild); that is what ships, in
# target/cross/dist/<target>/tinyvrrp. Where rustup has a prebuilt musl std (x86_64,
# aarch64) the plain stable build is made too, and its size printed beside it.
# Installs what it needs (rustup toolchains and components, a Python virtualenv with
# ziglang and cargo-zigbuild under target/). See cross/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

# --- pinned tools ---------------------------------------------------------------------------
STABLE=1.95.0
NIGHTLY=nightly-2026-05-20 # rustc 1.97.0-nightly (e50aa6fba 2026-05-19)
ZIGLANG=0.14.1             # 0.13 cannot provide musl for mipsel-linux-musleabi
CARGO_ZIGBUILD=0.24.1

ALL_TARGETS=(
    x86_64-unknown-linux-musl
    aarch64-unknown-linux-musl
    armv7-unknown-linux-musleabihf
    mipsel-unknown-linux-musl
    mips-unknown-linux-musl
)
# Targets rustup ships a prebuilt std for: also built the plain way, for comparison.
STABLE_STD_TARGETS=" x86_64-unknown-linux-musl aarch64-unknown-linux-musl "

OUT=$ROOT/target/cross
DIST=$OUT/dist
VENV=$OUT/venv

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'cross/build.sh: %s\n' "$*" >&2
    exit 1
}

known_target() {
    local t
    for t in "${ALL_TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# --- rustup: under sudo PATH may miss the invoking user's cargo ------------------------------
if ! command -v rustup >/dev/null 2>&1; then
    for home in "${HOME:-/root}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
        if [[ -n $home && -x $home/.cargo/bin/rustup ]]; then
            export PATH="$home/.cargo/bin:$PATH"
            break
        fi
    done
fi
command -v rustup >/dev/null 2>&1 || die "rustup not found (https://rustup.rs)"

ensure_stable() {
    rustup toolchain install --profile minimal "$STABLE" >/dev/null 2>&1 ||
        rustup run "$STABLE" rustc -V >/dev/null 2>&1 || die "cannot install Rust $STABLE"
}

# The toolchain for -Zbuild-std: the pinned nightly, or, when it cannot be installed (rustup
# downloads fail now and then), the pinned stable with RUSTC_BOOTSTRAP=1. Sets BSTD_TC and
# BSTD_ENV.
BSTD_TC=
BSTD_ENV=()
pick_build_std_toolchain() {
    [[ -n $BSTD_TC ]] && return 0
    if rustup run "$NIGHTLY" rustc -V >/dev/null 2>&1 &&
        rustup component add rust-src --toolchain "$NIGHTLY" >/dev/null 2>&1; then
        BSTD_TC=$NIGHTLY
    elif rustup toolchain install --profile minimal -c rust-src "$NIGHTLY" >/dev/null 2>&1; then
        BSTD_TC=$NIGHTLY
    else
        log "cannot install $NIGHTLY: using $STABLE with RUSTC_BOOTSTRAP=1"
        ensure_stable
        rustup component add rust-src --toolchain "$STABLE" >/dev/null ||
            die "cannot add rust-src to $STABLE"
        BSTD_TC=$STABLE
        BSTD_ENV=(RUSTC_BOOTSTRAP=1)
    fi
    log "build-std toolchain: $(rustup run "$BSTD_TC" rustc -V)"
}

# zig and cargo-zigbuild in a virtualenv under target/ (cached with it).
ensure_zig() {
    if [[ -x $VENV/bin/cargo-zigbuild ]] &&
        [[ $("$VENV/bin/python" -m ziglang version 2>/dev/null) == "$ZIGLANG" ]] &&
        [[ $("$VENV/bin/cargo-zigbuild" --version 2>/dev/null) == "cargo-zigbuild $CARGO_ZIGBUILD" ]]; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is needed for zig (apt-get install python3-venv)"
    log "installing ziglang $ZIGLANG and cargo-zigbuild $CARGO_ZIGBUILD into $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$VENV/bin/pip" install -q "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD" ||
        die "pip install ziglang cargo-zigbuild failed"
}

# Upper-case triple with underscores, as in CARGO_TARGET_<TRIPLE>_RUNNER.
env_triple() {
    local t=${1^^}
    printf '%s' "${t//-/_}"
}

# RUSTFLAGS for the shipped (build-std) binaries of target $1.
ship_rustflags() {
    local flags=(
        -Ctarget-feature=+crt-static
        # zig supplies crt1.o and musl; there is no self-contained copy for a built std.
        -Clink-self-contained=no
        # Size: no panic messages or locations, no unwind tables (the release profile aborts).
        -Zunstable-options
        -Cpanic=immediate-abort
        -Zlocation-detail=none
        -Cforce-unwind-tables=no
    )
    case $1 in
    mips*) flags+=(-Crelocation-model=static) ;;
    armv7*) flags+=(-Ctarget-feature=+thumb-mode) ;; # Thumb-2: about a quarter smaller
    esac
    printf '%s ' "${flags[@]}"
}

# Builds target $1 with build-std; prints the binary's path.
build_ship() {
    local t=$1
    env "${BSTD_ENV[@]}" PATH="$VENV/bin:$PATH" RUSTFLAGS="$(ship_rustflags "$t")" \
        cargo "+$BSTD_TC" zigbuild --release --locked --target "$t" \
        --target-dir "$OUT/build-std" \
        -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size >&2
    printf '%s' "$OUT/build-std/$t/release/tinyvrrp"
}

# Builds target $1 with rustup's prebuilt std; prints the binary's path.
build_stable_std() {
    local t=$1
    ensure_stable
    rustup target add --toolchain "$STABLE" "$t" >/dev/null || die "rustup target add $t failed"
    local linker=()
    # No aarch64 cross gcc needed: rust-lld links against the self-contained musl.
    [[ $t == aarch64-* ]] && linker=("CARGO_TARGET_$(env_triple "$t")_LINKER=rust-lld")
    env "${linker[@]}" cargo "+$STABLE" build --release --locked --target "$t" \
        --target-dir "$OUT/stable-std" >&2
    printf '%s' "$OUT/stable-std/$t/release/tinyvrrp"
}

# Fails unless $1 is statically linked (no PT_INTERP) and has no symbol table.
check_binary() {
    local bin=$1
    [[ -f $bin ]] || die "$bin was not built"
    if readelf -lW "$bin" | grep -q 'INTERP'; then
        die "$bin is dynamically linked: $(readelf -lW "$bin" | grep -A1 INTERP | tail -1)"
    fi
    if readelf -SW "$bin" | grep -q '\.symtab'; then
        die "$bin is not stripped"
    fi
}

size_of() { stat -c %s "$1"; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

# --- main ----------------------------------------------------------------------------------
targets=("$@")
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do known_target "$t" || die "unknown target $t (known: ${ALL_TARGETS[*]})"; done
command -v readelf >/dev/null 2>&1 || die "readelf not found (apt-get install binutils)"

pick_build_std_toolchain
ensure_zig

rows=()
for t in "${targets[@]}"; do
    log "$t"
    start=$(date +%s)
    bin=$(build_ship "$t")
    check_binary "$bin"
    mkdir -p "$DIST/$t"
    cp "$bin" "$DIST/$t/tinyvrrp"
    secs=$(($(date +%s) - start))
    ship=$(size_of "$bin")
    plain="-"
    if [[ $STABLE_STD_TARGETS == *" $t "* ]]; then
        start=$(date +%s)
        sbin=$(build_stable_std "$t")
        check_binary "$sbin"
        plain="$(kib "$(size_of "$sbin")") ($(($(date +%s) - start)) s)"
    fi
    rows+=("$(printf '%-32s %12s %10s   %s' "$t" "$(kib "$ship")" "${secs} s" "$plain")")
done

printf '\n%-32s %12s %10s   %s\n' "target" "size" "build" "stable std (build)"
printf '%s\n' "${rows[@]}"
printf '\nbinaries: %s/<target>/tinyvrrp\n' "$DIST"
