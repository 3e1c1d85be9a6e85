#!/usr/bin/env bash
# Soak (issue 13 part 3): a pair of tinyvrrp daemons with 50 VRRPv3 instances at 0.1 s each
# (25 masters on each node) and two track scripts run every second, for SECONDS (default
# 600). Every SOAK_EVERY seconds (default 5) it samples each daemon's RSS (VmRSS), open fds
# (/proc/PID/fd), the malloc heap's RSS, heap allocations (`tinyvrrp status`: process
# heap_allocs) and the lines it has logged (a step there is an event: a transition, a script
# that timed out; one may allocate once, to a new high-water mark), prints the samples, then a verdict per figure: flat, or growing with its least-squares slope (per
# minute, over the samples after the first minute, which is start-up). Exit status 1 when a
# figure grows or a daemon died.
#   usage: sudo bash benches/soak.sh [SECONDS]      (or SOAK_SECS=...; TINYVRRP_BIN=path)
# Needs root; uses only 192.0.2.0/24 and 203.0.113.0/24 in two network namespaces of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-${SOAK_SECS:-600}}
EVERY=${SOAK_EVERY:-5}
WARMUP=${SOAK_WARMUP:-60}
N=50
P="tvsoak$$"

if [[ -z ${TINYVRRP_BIN:-} ]]; then
    nice cargo build --release -q
    TINYVRRP_BIN=$PWD/target/release/tinyvrrp
fi
BIN=$TINYVRRP_BIN
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in a b; do ip netns del "$P-$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$P-a"
ip netns add "$P-b"
ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"
for ns in a b; do
    ip -n "$P-$ns" link set lo up
    ip -n "$P-$ns" link set eth0 up
done
ip -n "$P-a" addr add 192.0.2.11/24 dev eth0
ip -n "$P-b" addr add 192.0.2.12/24 dev eth0

# Node a is master of the odd VRIDs, node b of the even ones.
config() { # NODE
    printf '[global_defs]\nvrrp_version = 3\n\n'
    printf '[vrrp_script chk_true]\nscript = /bin/true\ninterval = 1\nweight = 2\n\n'
    printf '[vrrp_script chk_dir]\nscript = test -d /\ninterval = 1\nweight = 3\n\n'
    for i in $(seq "$N"); do
        local prio=100 odd=0
        ((i % 2 == 1)) && odd=1
        if [[ $odd == 1 && $1 == a ]] || [[ $odd == 0 && $1 == b ]]; then prio=150; fi
        printf '[vrrp_instance VI_%d]\ninterface = eth0\nvirtual_router_id = %d\n' "$i" "$i"
        printf 'priority = %d\nadvert_int = 0.1\nvirtual_ipaddress = 203.0.113.%d/32\n' "$prio" "$i"
        printf 'track_script = chk_true\ntrack_script = chk_dir\n\n'
    done
}
for ns in a b; do
    config "$ns" >"$WORK/$ns.conf"
    "$BIN" --check -f "$WORK/$ns.conf" >/dev/null
    ip netns exec "$P-$ns" nice "$BIN" -f "$WORK/$ns.conf" --status-socket "$WORK/$ns.sock" \
        2>"$WORK/$ns.log" &
    PIDS+=($!)
done
# `ip netns exec` execs the daemon, so $! is the daemon's pid.

sample() { # PID SOCK LOG -> "rss_kib heap_kib fds allocs masters log_lines"
    local pid=$1 sock=$2 rss heap fds st allocs masters lines
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    # RSS of the malloc heap alone ([heap]; 0 when malloc uses none, e.g. musl's mmap)
    heap=$(awk '/\[heap\]/ {h = 1; next} h && /^Rss:/ {print $2; f = 1; exit}
        END {if (!f) print 0}' "/proc/$pid/smaps")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    # A status query that fails (the daemon busy past the client's timeout) leaves the
    # sample without allocations: "-", and it is not used for the verdict.
    st=$("$BIN" --status-socket "$sock" status 2>/dev/null) || st=
    allocs=$(sed -n 's/^process heap_allocs=\([0-9]*\).*/\1/p' <<<"$st")
    allocs=${allocs:--}
    masters=$(grep -c 'state=MASTER' <<<"$st" || true)
    # Lines logged so far: a step here is an event (a transition, a script that failed).
    lines=$(wc -l <"$3")
    echo "$rss $heap $fds $allocs $masters $lines"
}

echo "soak: $N instances per node (v3, 0.1 s), 2 track scripts at 1 s, ${SECS} s, sample every ${EVERY} s"
echo "binary: $BIN"
printf '%7s | %9s %8s %4s %10s %3s %4s | %9s %8s %4s %10s %3s %4s\n' t a_rss_kib heap_kib fds \
    heap_alloc mst log b_rss_kib heap_kib fds heap_alloc mst log
SAMPLES="$WORK/samples"
: >"$SAMPLES"
start=$(date +%s.%N)
dead=0
while :; do
    sleep "$EVERY"
    t=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || dead=1; done
    if ((dead)); then
        echo "a daemon died; logs:"
        tail -n 20 "$WORK"/*.log
        break
    fi
    read -r ar ah af aa am al <<<"$(sample "${PIDS[0]}" "$WORK/a.sock" "$WORK/a.log")"
    read -r br bh bf ba bm bl <<<"$(sample "${PIDS[1]}" "$WORK/b.sock" "$WORK/b.log")"
    printf '%7s | %9s %8s %4s %10s %3s %4s | %9s %8s %4s %10s %3s %4s\n' "$t" "$ar" "$ah" \
        "$af" "$aa" "$am" "$al" "$br" "$bh" "$bf" "$ba" "$bm" "$bl"
    if [[ $aa == - || $ba == - ]]; then
        echo "        (a status query failed: this sample is left out of the verdict)"
    else
        echo "$t $ar $ah $af $aa $br $bh $bf $ba" >>"$SAMPLES"
    fi
    awk -v t="$t" -v s="$SECS" 'BEGIN {exit !(t >= s)}' && break
done

# Verdict per column: least-squares slope per minute over the samples after WARMUP s;
# flat when the fitted change over that span is below one sample's resolution (fds and
# allocations: less than 1; RSS: less than one 4 KiB page).
verdict=0
names=(x a_rss_kib a_heap_kib a_fds a_heap_allocs b_rss_kib b_heap_kib b_fds b_heap_allocs)
for col in 2 3 4 5 6 7 8 9; do
    line=$(awk -v c="$col" -v w="$WARMUP" '
        $1 >= w { n++; x = $1 / 60; y = $c; sx += x; sy += y; sxx += x * x; sxy += x * y
                  if (n == 1) { first = y; min = y; max = y; x0 = x }
                  if (y < min) min = y; if (y > max) max = y; last = y; x1 = x }
        END {
            if (n < 3) { print "too few samples after the warm-up"; exit 3 }
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
            change = slope * (x1 - x0)
            limit = (c == 2 || c == 3 || c == 6 || c == 7) ? 4 : 1
            printf "%s first %d last %d min %d max %d, slope %.3f/min (%.1f over %.1f min)",
                (change < limit ? "flat" : "GROWING"), first, last, min, max, slope, change,
                x1 - x0
            exit (change < limit ? 0 : 1)
        }' "$SAMPLES") || verdict=1
    printf '%-14s %s\n' "${names[$col - 1]}" "$line"
done
# Each daemon starts 2 track scripts a second: what the allocation counter gains per run.
awk -v w="$WARMUP" '$1 >= w { if (!n++) { t0 = $1; a0 = $5; b0 = $9 } t1 = $1; a1 = $5; b1 = $9 }
    END { if (t1 > t0) printf "heap allocations per track-script run: a %.1f, b %.1f\n",
        (a1 - a0) / (2 * (t1 - t0)), (b1 - b0) / (2 * (t1 - t0)) }' "$SAMPLES"
((dead)) && verdict=1
echo "verdict: $( ((verdict)) && echo "something grows (or a daemon died)" || echo "flat")"
exit "$verdict"
