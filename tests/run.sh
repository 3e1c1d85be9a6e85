#!/usr/bin/env bash
# The whole test suite:  sudo bash tests/run.sh
#
# Installs what the tests need when it is missing (Debian/Ubuntu), then runs, in order:
# cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test (all tests; the
# network-namespace tests run because we are root, and skip with a message otherwise), the
# fuzz stage (tests/fuzz.sh; TINYVRRP_FUZZ_SECS seconds per target, default 20).
# Then the cross builds (cross/build.sh), their qemu tests (cross/test.sh), the VMs that run
# them on Debian's ARM and MIPS kernels (tests/vm/run.sh, as root) and the OpenWrt package
# tests (tests/openwrt_files.sh). Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- system packages: ip (iproute2), ping (iputils-ping), sysctl/ps (procps), nft (nftables),
# busybox (its start-stop-daemon runs contrib/busybox/S50tinyvrrp in tests/netns/initscript.rs) --
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v busybox >/dev/null 2>&1 || missing+=(busybox)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v sysctl >/dev/null 2>&1 || missing+=(procps)
# nft: tests/netns/chaos.rs makes packet loss with nftables (this kernel has no sch_netem)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
# setpriv, setcap: tests/netns/privilege.rs runs the daemon as nobody with capabilities
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v setcap >/dev/null 2>&1 || missing+=(libcap2-bin)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "warning: missing ${missing[*]} and cannot apt-get install them; netns tests may fail" >&2
    fi
fi

# --- packages whose Debian service must not start on install: a keepalived or prometheus
# running with the default config in the host namespace is not ours. policy-rc.d (exit 101)
# forbids it for the install only.
# install_without_service PACKAGE WHAT-NEEDS-IT [apt-get install options...]
install_without_service() {
    local pkg=$1 needed_by=$2 rc=0 ours=1
    shift 2
    log "installing $pkg (service not started)"
    if [[ -e /usr/sbin/policy-rc.d ]]; then
        # Docker images ship one that forbids every service start: use it as it is.
        if ! grep -qx 'exit 101' /usr/sbin/policy-rc.d; then
            echo "error: /usr/sbin/policy-rc.d exists and may allow $pkg's service; not replacing it" >&2
            exit 1
        fi
        ours=0
    else
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" "$pkg" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq "$@" "$pkg"; } || rc=$?
    if ((ours)); then
        rm -f /usr/sbin/policy-rc.d
        trap - EXIT
    fi
    if ((rc)); then
        echo "error: installing $pkg failed; $needed_by needs it" >&2
        exit 1
    fi
}
can_install() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }

# --- keepalived, the interop peer (tests/netns/interop_keepalived.rs fails without it as root);
# afterwards no keepalived may be running that the tests did not start.
if ! command -v keepalived >/dev/null 2>&1 && [[ ! -x /usr/sbin/keepalived ]]; then
    if can_install; then
        install_without_service keepalived "the interop tests"
    else
        echo "warning: keepalived missing and cannot be installed; interop tests fail as root" >&2
    fi
fi
# keepalived runs inside a test lab's namespace (tvr<pid>x<n>-*) belong to the tests.
if [[ $(id -u) -eq 0 ]]; then
    strays=()
    for pid in $(pgrep -x keepalived || true); do
        [[ $(ip netns identify "$pid" 2>/dev/null) == tvr* ]] || strays+=("$pid")
    done
    if ((${#strays[@]})); then
        echo "error: keepalived is running outside the tests' namespaces (pids ${strays[*]})," >&2
        echo "       e.g. its service started on install; stop it: it would answer VRRP on the host" >&2
        exit 1
    fi
fi

# --- prometheus and promtool (tests/netns/metrics.rs scrapes the daemons with a real Prometheus
# and fails without it as root).
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    if can_install; then
        install_without_service prometheus "tests/netns/metrics.rs" --no-install-recommends
    else
        echo "warning: prometheus missing and cannot be installed; the metrics test fails as root" >&2
    fi
fi

# --- Rust toolchain: under sudo, PATH may not include the invoking user's cargo ----------------
if ! command -v cargo >/dev/null 2>&1; then
    for home in "${HOME:-/root}" "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)"; do
        if [[ -n $home && -x $home/.cargo/bin/cargo ]]; then
            export PATH="$home/.cargo/bin:$PATH"
            export CARGO_HOME="${CARGO_HOME:-$home/.cargo}"
            export RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
            break
        fi
    done
fi
command -v cargo >/dev/null 2>&1 || { echo "error: cargo not found (install Rust with rustup)" >&2; exit 1; }
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 ||
        echo "warning: rustup component add rustfmt clippy failed" >&2
fi

# --- the suite ---------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

[[ $(id -u) -eq 0 ]] || echo "note: not root: the network-namespace tests will skip" >&2
log "cargo test"
cargo test

# --- fuzzing (tests/fuzz.sh): every target of fuzz/ for TINYVRRP_FUZZ_SECS (20) seconds -------
log "tests/fuzz.sh (each fuzz target ${TINYVRRP_FUZZ_SECS:-20} s)"
bash tests/fuzz.sh

# --- cross builds and qemu (cross/README.md): static musl binaries for five targets, each run
# under qemu-user, and the unit tests on aarch64, armv7 and big-endian mips ------------------
log "cross/build.sh (x86_64, aarch64, armv7, mipsel, mips; static, stripped, sizes)"
bash cross/build.sh

log "cross/test.sh (--version/--check under qemu; unit tests on aarch64, armv7, mips)"
bash cross/test.sh

# --- the router binaries on their own kernels: qemu-system VMs (aarch64, armv7, mipsel) with
# Debian's kernels and busybox init, in a failover with keepalived and the x86_64 daemon
# (tests/netns/vm.rs); the .debs are cached in ~/.cache/tinyvrrp-vm ---------------------------
if [[ $(id -u) -eq 0 ]]; then
    log "tests/vm/run.sh (aarch64, armv7, mipsel VMs under qemu-system)"
    bash tests/vm/run.sh
else
    echo "note: not root: the VM stage (tests/vm/run.sh) is skipped" >&2
fi

# --- OpenWrt and busybox files: shellcheck / ash -n, the procd script with stubbed procd, the
# Makefile lint, .ipk files built from the cross binaries and taken apart ---------------------
log "tests/openwrt_files.sh (OpenWrt package, .ipk for aarch64 and mipsel)"
bash tests/openwrt_files.sh target/cross/dist

log "all passed"
