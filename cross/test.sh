#!/usr/bin/env bash
# Runs what cross/build.sh built, and the unit tests, under qemu-user (no hardware, no binfmt:
# qemu-<arch>-static is called explicitly).
#
#   bash cross/test.sh            (after bash cross/build.sh)
#
# 1. Every binary in target/cross/dist/<target>/ prints --version, accepts
#    tests/data/example.conf with --check and refuses tests/data/bad-syntax.conf (non-zero
#    exit, file:line message).
# 2. The library's unit tests (packet, netlink wire, config, state machine...) and the pure
#    integration tests (captures, sim) are cross-compiled for aarch64, armv7 (32-bit) and
#    big-endian mips and run under qemu: byte order bugs in the hand-built netlink (host order)
#    and packets (network order), and 32-bit assumptions, show up only there.
#    CROSS_TEST_TARGETS="t1 t2" picks other targets.
# Installs what it needs (qemu-user-static, plus what cross/build.sh needs). See cross/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=cross/lib.sh
. cross/lib.sh

read -r -a TEST_TARGETS <<<"${CROSS_TEST_TARGETS:-aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mips-unknown-linux-musl}"

# Tests that cannot run under qemu-user, by name (passed to the test binaries as --skip).
SKIP=(
    # (none so far)
)

# tests/cli.rs is not run: it executes the binary (CARGO_BIN_EXE_tinyvrrp), and a
# foreign-architecture executable spawned from inside qemu-user fails with ENOEXEC unless
# binfmt_misc is set up. Part 1 above runs the same --version/--check checks on the shipped
# binaries instead.
INTEGRATION_TESTS=(--test captures --test sim)

# Test builds: no debuginfo and no incremental state (cold CI builds, two targets' std built
# from source); the dev profile's opt-level 1 stays.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0
# The simulation's 10 000 instance and 10 000 router scenarios run in full natively (`cargo
# test` in tests/run.sh); under qemu they took 72-136 s per target (5 min of CI), and what
# qemu adds is the word size and byte order, which the first few hundred scenarios already
# reach. 4 000 of each keeps 1 000 per part, so the tests' coverage asserts still run.
export TINYVRRP_SIM_SCENARIOS=${TINYVRRP_SIM_SCENARIOS:-4000}
export TINYVRRP_SIM_ROUTER_SCENARIOS=${TINYVRRP_SIM_ROUTER_SCENARIOS:-4000}

failures=()
fail() {
    printf 'FAIL %s\n' "$*" >&2
    failures+=("$*")
}

# --- 1. the shipped binaries -------------------------------------------------------------
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

smoke() {
    local t=$1 bin=$DIST/$1/tinyvrrp qemu out rc
    qemu=$(qemu_for "$t")
    log "$t: --version, --check under $qemu"

    out=$("$qemu" "$bin" --version 2>&1) || fail "$t: --version exited $?: $out"
    [[ $out == "tinyvrrp $VERSION" ]] || fail "$t: --version printed '$out', want 'tinyvrrp $VERSION'"

    out=$("$qemu" "$bin" --check -f tests/data/example.conf 2>&1) ||
        fail "$t: --check of tests/data/example.conf exited $?: $out"
    [[ $out == *"tests/data/example.conf: OK ("* ]] || fail "$t: --check example.conf printed: $out"

    rc=0
    out=$("$qemu" "$bin" --check -f tests/data/bad-syntax.conf 2>&1) || rc=$?
    if ((rc == 0)); then
        fail "$t: --check accepted tests/data/bad-syntax.conf"
    elif ((rc >= 128)); then
        fail "$t: --check of bad-syntax.conf died of signal $((rc - 128)): $out"
    elif ! grep -Eq '^tests/data/bad-syntax\.conf:[0-9]+: ' <<<"$out"; then
        fail "$t: --check of bad-syntax.conf gave no file:line message: $out"
    fi
}

# --- 2. unit tests under qemu ------------------------------------------------------------
# aarch64 has rustup's prebuilt musl std: pinned stable, linked by rust-lld (no cross gcc).
test_stable_std() {
    local t=$1 e
    e=$(env_triple "$t")
    ensure_stable_target "$t"
    env "CARGO_TARGET_${e}_LINKER=rust-lld" "CARGO_TARGET_${e}_RUNNER=$(qemu_for "$t")" \
        cargo "+$STABLE" test --locked --target "$t" --target-dir "$OUT/test" \
        --lib "${INTEGRATION_TESTS[@]}" -- "${SKIP_ARGS[@]}"
}

# armv7 and mips have no prebuilt std: build it (with unwinding: the tests catch panics),
# link with zig as cross/build.sh does.
test_build_std() {
    local t=$1 e
    e=$(env_triple "$t")
    env "${BSTD_ENV[@]}" RUSTUP_TOOLCHAIN="$BSTD_TC" PATH="$VENV/bin:$PATH" \
        RUSTFLAGS="$(link_rustflags "$t")" "CARGO_TARGET_${e}_RUNNER=$(qemu_for "$t")" \
        cargo-zigbuild test --locked --target "$t" --target-dir "$OUT/test" -Zbuild-std \
        --lib "${INTEGRATION_TESTS[@]}" -- "${SKIP_ARGS[@]}"
}

# --- main ----------------------------------------------------------------------------------
ensure_rustup
apt_ensure "command -v qemu-aarch64-static && command -v qemu-arm-static && command -v qemu-mips-static && command -v qemu-mipsel-static && command -v qemu-x86_64-static" qemu-user-static

built=0
for t in "${ALL_TARGETS[@]}"; do
    [[ -x $DIST/$t/tinyvrrp ]] || continue
    built=$((built + 1))
    smoke "$t"
done
((built)) || die "no binaries in $DIST (run bash cross/build.sh first)"

SKIP_ARGS=()
for name in "${SKIP[@]}"; do SKIP_ARGS+=(--skip "$name"); done

pick_build_std_toolchain
ensure_zig
rows=()
for t in "${TEST_TARGETS[@]}"; do
    known_target "$t" || die "unknown target $t"
    log "$t: cargo test --lib ${INTEGRATION_TESTS[*]} under $(qemu_for "$t")"
    start=$(date +%s)
    rc=0
    if [[ $STABLE_STD_TARGETS == *" $t "* ]]; then
        test_stable_std "$t" || rc=$?
    else
        test_build_std "$t" || rc=$?
    fi
    ((rc == 0)) || fail "$t: cargo test exited $rc"
    rows+=("$(printf '%-32s %8s   %s' "$t" "$(($(date +%s) - start)) s" "$( ((rc)) && echo FAILED || echo ok)")")
done

printf '\n%-32s %8s   %s\n' "unit tests under qemu" "time" "result"
printf '%s\n' "${rows[@]}"
printf 'smoke-tested binaries: %s\n' "$built"
if ((${#failures[@]})); then
    printf '\n%s failure(s):\n' "${#failures[@]}" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
printf 'cross tests passed\n'
