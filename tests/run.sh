#!/usr/bin/env bash
# The whole test suite:  sudo bash tests/run.sh
#
# Installs what the tests need when it is missing (Debian/Ubuntu), then runs, in order:
# cargo fmt --check, cargo clippy --all-targets -D warnings, cargo test (all tests; the
# network-namespace tests run because we are root, and skip with a message otherwise).
# Exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- system packages: ip (iproute2), ping (iputils-ping), sysctl/ps (procps) ---------------
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v sysctl >/dev/null 2>&1 || missing+=(procps)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
        echo "warning: missing ${missing[*]} and cannot apt-get install them; netns tests may fail" >&2
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

log "all passed"
