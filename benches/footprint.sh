#!/usr/bin/env bash
# Footprint on a real network, printed as figures (nothing is asserted): binary size, RSS and
# CPU time of a master and a backup running N instances for D seconds — tinyvrrp (static
# x86_64 musl release build) and, when installed, keepalived with the same instances, side by
# side. For keepalived every process of the daemon (parent and VRRP child) is counted.
#   usage: bash benches/footprint.sh [N] [SECONDS]
# Needs root; uses only 192.0.2.0/24 inside two network namespaces of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1}
D=${2:-30}
P="tvb$$"
TARGET=x86_64-unknown-linux-musl

rustup target add "$TARGET" >/dev/null 2>&1 || true
cargo build --release --target "$TARGET" -q
BIN=$PWD/target/$TARGET/release/tinyvrrp
WORK=$(mktemp -d)
PIDS=()
stop_all() { # SIGTERM, up to 5 s to exit, then SIGKILL for what is left (children too)
    local pid kids=()
    for pid in "${PIDS[@]}"; do
        mapfile -t -O "${#kids[@]}" kids < <(pgrep -P "$pid" || true)
        kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${PIDS[@]}" "${kids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}" "${kids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}
cleanup() {
    stop_all
    for ns in a b; do ip netns del "$P-$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$P-a"
ip netns add "$P-b"
ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"
for ns in a b; do
    ip -n "$P-$ns" link set lo up
    ip -n "$P-$ns" link set eth0 up
done
ip -n "$P-a" addr add 192.0.2.11/24 dev eth0
ip -n "$P-b" addr add 192.0.2.12/24 dev eth0

tinyvrrp_config() { # priority
    for i in $(seq 1 "$N"); do
        printf '[vrrp_instance VI_%d]\ninterface = eth0\nvirtual_router_id = %d\npriority = %d\n' "$i" "$i" "$1"
        printf 'advert_int = 1\nversion = 3\nvirtual_ipaddress = 192.0.2.%d/32\n\n' "$((100 + i % 150))"
    done
}
keepalived_config() { # priority
    for i in $(seq 1 "$N"); do
        printf 'vrrp_instance VI_%d {\n state BACKUP\n interface eth0\n virtual_router_id %d\n' "$i" "$i"
        printf ' priority %d\n advert_int 1\n version 3\n virtual_ipaddress {\n  192.0.2.%d/32\n }\n}\n' \
            "$1" "$((100 + i % 150))"
    done
}

# A daemon's processes: the one we started and its children.
tree() { echo "$1"; pgrep -P "$1" || true; }
ticks() { local t=0 p; for p in $(tree "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
rss() { local r=0 p; for p in $(tree "$1"); do r=$((r + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$r"; }
hz=$(getconf CLK_TCK)

measure() { # name
    sleep 5
    local t0=("$(ticks "${PIDS[0]}")" "$(ticks "${PIDS[1]}")")
    sleep "$D"
    local t1=("$(ticks "${PIDS[0]}")" "$(ticks "${PIDS[1]}")")
    local i role cpu_ms
    for i in 0 1; do
        role=$([ "$i" = 0 ] && echo master || echo backup)
        cpu_ms=$(((t1[i] - t0[i]) * 1000 / hz))
        awk -v n="$1" -v r="$role" -v rss="$(rss "${PIDS[$i]}")" -v ms="$cpu_ms" -v d="$D" \
            'BEGIN { printf "%-10s %-6s RSS %6d KiB   CPU %5d ms (%.3f%% of one core)\n", n, r, rss, ms, ms / (d * 10) }'
    done
}

printf 'instances: %d per node, VRRPv3, advert_int 1 s, measured over %d s\n' "$N" "$D"
printf 'tinyvrrp binary: %s bytes (static %s, release, stripped)\n' "$(stat -c %s "$BIN")" "$TARGET"
tinyvrrp_config 150 >"$WORK/a.conf"
tinyvrrp_config 100 >"$WORK/b.conf"
for ns in a b; do
    ip netns exec "$P-$ns" "$BIN" -f "$WORK/$ns.conf" -l warn --status-socket "$WORK/$ns.sock" \
        2>"$WORK/$ns.log" &
    PIDS+=($!)
done
measure tinyvrrp
masters=$("$BIN" --status-socket "$WORK/a.sock" status | grep -c 'state=MASTER' || true)
echo "tinyvrrp   node a master of $masters instance(s)"
stop_all

KA=$(command -v keepalived || true)
if [ -z "$KA" ]; then
    echo "keepalived not installed: no comparison"
    exit 0
fi
printf 'keepalived binary: %s bytes (%s, %d shared libraries)\n' "$(stat -c %s "$KA")" \
    "$("$KA" --version 2>&1 | head -n 1)" "$(ldd "$KA" | grep -c '=>')"
keepalived_config 150 >"$WORK/ka-a.conf"
keepalived_config 100 >"$WORK/ka-b.conf"
for ns in a b; do
    ip netns exec "$P-$ns" "$KA" -n -l -D -G -P -R -f "$WORK/ka-$ns.conf" -p "$WORK/ka-$ns.pid" \
        -r "$WORK/ka-$ns.vrrp.pid" -c "$WORK/ka-$ns.chk.pid" -b "$WORK/ka-$ns.bfd.pid" \
        >"$WORK/ka-$ns.log" 2>&1 &
    PIDS+=($!)
done
measure keepalived
