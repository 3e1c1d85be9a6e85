# shellcheck shell=bash disable=SC2034 # the variables here are used by the scripts that source it
# Shared by cross/build.sh and cross/test.sh (sourced, not run): pinned versions, the
# toolchain choice, zig, the RUSTFLAGS per target, and installing what is missing.
# Expects to be sourced from the repository root with `set -euo pipefail`.

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

ROOT=${ROOT:-$PWD}
OUT=$ROOT/target/cross
DIST=$OUT/dist
VENV=$OUT/venv

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

known_target() {
    local t
    for t in "${ALL_TARGETS[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# --- system packages ---------------------------------------------------------------------
# apt_ensure "<test command>" package...: installs the packages (apt-get update first) when the
# test command fails. Needs root and apt-get; otherwise says what to install and fails.
APT_UPDATED=
apt_ensure() {
    local check=$1
    shift
    bash -c "$check" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing: $* (install it: apt-get install $*)"
    fi
    log "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z $APT_UPDATED ]]; then
        apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
    bash -c "$check" >/dev/null 2>&1 || die "still missing after installing $*: $check"
}

# --- rustup: under sudo PATH may miss the invoking user's cargo ------------------------------
ensure_rustup() {
    if ! command -v rustup >/dev/null 2>&1; then
        local home
        for home in "${HOME:-/root}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
            if [[ -n $home && -x $home/.cargo/bin/rustup ]]; then
                export PATH="$home/.cargo/bin:$PATH"
                break
            fi
        done
    fi
    command -v rustup >/dev/null 2>&1 || die "rustup not found (https://rustup.rs)"
}

ensure_stable() {
    rustup run "$STABLE" rustc -V >/dev/null 2>&1 ||
        rustup toolchain install --profile minimal "$STABLE" >/dev/null ||
        die "cannot install Rust $STABLE"
}

# Adds rustup's prebuilt std for target $1 to the pinned stable toolchain.
ensure_stable_target() {
    ensure_stable
    rustup target list --installed --toolchain "$STABLE" 2>/dev/null | grep -qx "$1" ||
        rustup target add --toolchain "$STABLE" "$1" >/dev/null || die "rustup target add $1 failed"
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
    # Debian's python3 has no ensurepip (so no venv) without python3-venv.
    apt_ensure "python3 -c 'import venv, ensurepip'" python3 python3-venv
    log "installing ziglang $ZIGLANG and cargo-zigbuild $CARGO_ZIGBUILD into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD" ||
        die "pip install ziglang cargo-zigbuild failed"
}

# llvm-objcopy as shipped with every rustc (rust-objcopy); it reads every ELF flavour, unlike
# the host's GNU objcopy. Prints the command (it needs the toolchain's libLLVM).
rust_objcopy() {
    local sysroot host
    sysroot=$(rustup run "$BSTD_TC" rustc --print sysroot)
    host=$(rustup run "$BSTD_TC" rustc -vV | sed -n 's/^host: //p')
    [[ -x $sysroot/lib/rustlib/$host/bin/rust-objcopy ]] || die "no rust-objcopy in $sysroot"
    printf 'env LD_LIBRARY_PATH=%s/lib %s/lib/rustlib/%s/bin/rust-objcopy' "$sysroot" "$sysroot" "$host"
}

# Upper-case triple with underscores, as in CARGO_TARGET_<TRIPLE>_RUNNER.
env_triple() {
    local t=${1^^}
    printf '%s' "${t//-/_}"
}

# RUSTFLAGS every build-std build of target $1 needs to link statically with zig.
link_rustflags() {
    local flags=(
        -Ctarget-feature=+crt-static
        # zig supplies crt1.o and musl; there is no self-contained copy for a built std.
        -Clink-self-contained=no
    )
    case $1 in
    mips*) flags+=(-Crelocation-model=static) ;;
    esac
    printf '%s ' "${flags[@]}"
}

# RUSTFLAGS for the shipped (build-std) binaries of target $1.
ship_rustflags() {
    local flags=(
        # Size: no panic messages or locations, no unwind tables (the release profile aborts).
        -Zunstable-options
        -Cpanic=immediate-abort
        -Zlocation-detail=none
        -Cforce-unwind-tables=no
    )
    case $1 in
    armv7*) flags+=(-Ctarget-feature=+thumb-mode) ;; # Thumb-2: about a quarter smaller
    esac
    printf '%s%s ' "$(link_rustflags "$1")" "${flags[*]}"
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

# The qemu-user binary name for target $1 (qemu-<arch>-static).
qemu_for() {
    case $1 in
    x86_64-*) printf 'qemu-x86_64-static' ;;
    aarch64-*) printf 'qemu-aarch64-static' ;;
    armv7-*) printf 'qemu-arm-static' ;;
    mipsel-*) printf 'qemu-mipsel-static' ;;
    mips-*) printf 'qemu-mips-static' ;;
    *) die "no qemu for $1" ;;
    esac
}

size_of() { stat -c %s "$1"; }
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
