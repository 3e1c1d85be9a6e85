#!/usr/bin/env bash
# Footprint of the daemon on a real network, printed as figures (nothing is asserted):
# binary size (static x86_64 musl, release), RSS, and CPU time of a master and a backup
# running N instances over D seconds.   usage: bash benches/footprint.sh [N] [SECONDS]
# Needs root (network namespaces); uses only 192.0.2.0/24 inside namespaces of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1}
D=${2:-30}
P="tvb$$"
TARGET=x86_64-unknown-linux-musl

rustup target add "$TARGET" >/dev/null 2>&1 || true
cargo build --release --target "$TARGET" -q
BIN=target/$TARGET/release/tinyvrrp
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.5
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for ns in a b; do ip netns del "$P-$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$P-a"; ip netns add "$P-b"
ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"
for ns in a b; do
    ip -n "$P-$ns" link set lo up
    ip -n "$P-$ns" link set eth0 up
done
ip -n "$P-a" addr add 192.0.2.11/24 dev eth0
ip -n "$P-b" addr add 192.0.2.12/24 dev eth0

config() { # priority
    for i in $(seq 1 "$N"); do
        printf '[vrrp_instance VI_%d]\ninterface = eth0\nvirtual_router_id = %d\npriority = %d\n' "$i" "$i" "$1"
        printf 'advert_int = 1\nversion = 3\nvirtual_ipaddress = 192.0.2.%d/32\n\n' "$((100 + i % 150))"
    done
}
config 150 >"$WORK/a.conf"
config 100 >"$WORK/b.conf"
for ns in a b; do
    ip netns exec "$P-$ns" "$BIN" -f "$WORK/$ns.conf" -l warn --status-socket "$WORK/$ns.sock" \
        2>"$WORK/$ns.log" &
    PIDS+=($!)
done
sleep 5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=("$(ticks "${PIDS[0]}")" "$(ticks "${PIDS[1]}")")
sleep "$D"
t1=("$(ticks "${PIDS[0]}")" "$(ticks "${PIDS[1]}")")
hz=$(getconf CLK_TCK)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
masters=$("$BIN" --status-socket "$WORK/a.sock" status | grep -c 'state=MASTER' || true)
printf 'binary: %s bytes (static %s, release, stripped)\n' "$(stat -c %s "$BIN")" "$TARGET"
printf 'instances: %d per node, advert_int 1 s, measured over %d s; node a master of %d\n' "$N" "$D" "$masters"
for i in 0 1; do
    role=$([ "$i" = 0 ] && echo master || echo backup)
    cpu_ms=$(( (t1[i] - t0[i]) * 1000 / hz ))
    awk -v r="$role" -v rss="$(rss "${PIDS[$i]}")" -v ms="$cpu_ms" -v d="$D" \
        'BEGIN { printf "%-6s RSS %6d KiB   CPU %5d ms (%.3f%% of one core)\n", r, rss, ms, ms / (d * 10) }'
done
