#!/usr/bin/env bash
# tinyvrrp next to keepalived and next to the physical floor, in one run, as one table
# (issue 14 part 3). Figures are printed, nothing is asserted. Root, from a fresh clone:
#   sudo bash benches/compare.sh
# Environment:
#   RUNS=3            runs of every measurement; the table shows the median and min..max
#   DURATION=15       seconds of CPU measurement per run and configuration
#   SETTLE=5          seconds after start-up before the CPU window opens
#   PING_SECS=3       length of each ping window of the failover trials (10 ms pings)
#   TINYVRRP_BIN      glibc release binary to measure CPU with (default: built here)
#   TINYVRRP_STATIC   static musl binary for the RSS rows (default:
#                     target/cross/dist/x86_64-unknown-linux-musl/tinyvrrp, built with
#                     `bash cross/build.sh x86_64-unknown-linux-musl` when absent)
# What runs: three CPU configurations (1 instance v2 at 1 s, 1 instance v3 at 0.1 s, 100
# instances v3 at 0.1 s), each pair on its own bridge: tinyvrrp (glibc), the floor programs
# (examples/floor_sender.rs and floor_receiver.rs: one sendmmsg of N datagrams per interval;
# epoll + recvmmsg(64)) and the static tinyvrrp for RSS side by side, then keepalived alone; all at the
# same packet rate and size. CPU is the on-CPU time of the
# process and its children (/proc/PID/task/*/schedstat, nanoseconds; utime+stime from
# /proc/PID/stat count in 10 ms ticks, too coarse for a 1 s advert), scaled to ms per
# minute. Then failover trials, one instance v3 at 0.1 s (priorities 150 / 100), for
# tinyvrrp and keepalived: preemption and graceful stop (pings lost at 10 ms), and a crash
# (kill -9 and the master's bridge port down): last advert of the old master to the first
# of the new one, captured on the bridge, against Master_Down_Interval, and kill to the
# first ping reply.
# Takes about RUNS * (6 * (SETTLE + DURATION + 2) + 2 * (4 * PING_SECS + 6)) seconds: 8 minutes
# with the defaults.
# Uses only 192.0.2.0/24 in network namespaces of its own (prefix tvc<pid>), removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-15}
SETTLE=${SETTLE:-5}
PING_SECS=${PING_SECS:-3}
P="tvc$$"
[[ $(id -u) == 0 ]] || { echo "compare.sh needs root (network namespaces)" >&2; exit 1; }

# --- what it needs: keepalived (service not started, as tests/run.sh does), tcpdump, ping
missing=()
command -v keepalived >/dev/null 2>&1 || [[ -x /usr/sbin/keepalived ]] || missing+=(keepalived)
command -v tcpdump >/dev/null 2>&1 || [[ -x /usr/bin/tcpdump ]] || missing+=(tcpdump)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
if ((${#missing[@]})); then
    # keepalived's service must not start on install (as in tests/run.sh): a policy-rc.d
    # that forbids it, unless one is there already (Docker images have one).
    own_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    rc=0
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
    ((own_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || { echo "installing ${missing[*]} failed" >&2; exit 1; }
fi
KA=$(command -v keepalived || echo /usr/sbin/keepalived)
TCPDUMP=$(command -v tcpdump || echo /usr/bin/tcpdump)

# --- binaries
nice cargo build --release --examples -q
if [[ -z ${TINYVRRP_BIN:-} ]]; then
    nice cargo build --release -q
    TINYVRRP_BIN=$PWD/target/release/tinyvrrp
fi
STATIC=${TINYVRRP_STATIC:-$PWD/target/cross/dist/x86_64-unknown-linux-musl/tinyvrrp}
[[ -x $STATIC ]] || nice bash cross/build.sh x86_64-unknown-linux-musl >&2
FSEND=$PWD/target/release/examples/floor_sender
FRECV=$PWD/target/release/examples/floor_receiver

WORK=$(mktemp -d)
M=$WORK/measures # lines "KEY VALUE", one per run
: >"$M"
PIDS=()
NSS=()

kids() { pgrep -P "$1" 2>/dev/null || true; }
tree() { echo "$1"; kids "$1"; }
stop_pids() { # SIGTERM, up to 5 s, then SIGKILL; only the given pids and their children
    local pid all=()
    for pid in "$@"; do mapfile -t -O "${#all[@]}" all < <(tree "$pid"); done
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${all[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
cleanup() {
    ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
    local ns
    for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

ip netns add "$P-br"
NSS+=("$P-br")
ip -n "$P-br" link set lo up

# A pair on its own bridge: namespaces $P-TAG-a (192.0.2.11), -b (.12), -c (client, .13).
lab_up() { # TAG
    local t=$1 n
    ip -n "$P-br" link add "br-$t" type bridge mcast_snooping 0
    ip -n "$P-br" link set "br-$t" up
    for n in a b c; do
        ip netns add "$P-$t-$n"
        NSS+=("$P-$t-$n")
        ip -n "$P-br" link add "$t-$n" type veth peer name eth0 netns "$P-$t-$n"
        ip -n "$P-br" link set "$t-$n" master "br-$t" up
        ip -n "$P-$t-$n" link set lo up
        ip -n "$P-$t-$n" link set eth0 up
    done
    ip -n "$P-$t-a" addr add 192.0.2.11/24 dev eth0
    ip -n "$P-$t-b" addr add 192.0.2.12/24 dev eth0
    ip -n "$P-$t-c" addr add 192.0.2.13/24 dev eth0
}
lab_down() { # TAG
    local n
    ip -n "$P-br" link del "br-$1" 2>/dev/null || true
    for n in a b c; do
        ip -n "$P-br" link del "$1-$n" 2>/dev/null || true
        ip netns del "$P-$1-$n" 2>/dev/null || true
    done
}

tv_conf() { # N PRIORITY INTERVAL VERSION
    local i
    for i in $(seq "$1"); do
        printf '[vrrp_instance VI_%d]\ninterface = eth0\nvirtual_router_id = %d\n' "$i" "$i"
        printf 'priority = %d\nadvert_int = %s\nversion = %d\n' "$2" "$3" "$4"
        printf 'virtual_ipaddress = 192.0.2.%d/32\n\n' "$((100 + i))"
    done
}
ka_conf() { # N PRIORITY INTERVAL VERSION
    local i
    printf 'global_defs {\n vrrp_version %d\n}\n' "$4"
    for i in $(seq "$1"); do
        printf 'vrrp_instance VI_%d {\n state BACKUP\n interface eth0\n virtual_router_id %d\n' "$i" "$i"
        printf ' priority %d\n advert_int %s\n virtual_ipaddress {\n  192.0.2.%d/32\n }\n}\n' \
            "$2" "$3" "$((100 + i))"
    done
}
# Starts a daemon in $P-TAG-NODE; the pid (ip netns exec execs) is left in STARTED.
start_tv() { # BIN TAG NODE N PRIORITY INTERVAL VERSION
    local f=$WORK/$2-$3
    tv_conf "$4" "$5" "$6" "$7" >"$f.conf"
    ip netns exec "$P-$2-$3" "$1" -f "$f.conf" -l warn --status-socket "$f.sock" 2>>"$f.log" &
    STARTED=$!
    PIDS+=("$STARTED")
}
start_ka() { # TAG NODE N PRIORITY INTERVAL VERSION
    local f=$WORK/$1-$2
    ka_conf "$3" "$4" "$5" "$6" >"$f.kconf"
    ip netns exec "$P-$1-$2" "$KA" -n -l -D -P -f "$f.kconf" -p "$f.pid" -r "$f.vrrp.pid" \
        -c "$f.chk.pid" -b "$f.bfd.pid" >>"$f.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}
start_in() { # TAG NODE COMMAND...
    local ns="$P-$1-$2"
    shift 2
    ip netns exec "$ns" "$@" &
    STARTED=$!
    PIDS+=("$STARTED")
}
forget() { # the pids stopped by hand leave PIDS
    local p q keep=()
    for p in "${PIDS[@]}"; do
        for q in "$@"; do [[ $p == "$q" ]] && continue 2; done
        keep+=("$p")
    done
    PIDS=("${keep[@]}")
}

cpu_ns() { # on-CPU nanoseconds of a process tree, every thread
    local t=0 p f v
    for p in $(tree "$1"); do
        for f in /proc/"$p"/task/*/schedstat; do
            read -r v _ <"$f" 2>/dev/null || v=0
            t=$((t + v))
        done
    done
    echo "$t"
}
rss_kib() { # VmRSS of a process tree
    local r=0 p v
    for p in $(tree "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        r=$((r + ${v:-0}))
    done
    echo "$r"
}
status_of() { "$TINYVRRP_BIN" --status-socket "$WORK/$1.sock" status 2>/dev/null || true; }
# "allocs adverts": heap allocations and the sum of a status column over the instances
allocs_adverts() { # TAG-NODE COLUMN
    status_of "$1" | awk -v c="$2" '/^process heap_allocs=/ { split($2, a, "="); h = a[2] }
        { for (i = 1; i <= NF; i++) if (index($i, c "=") == 1) { split($i, b, "="); s += b[2] } }
        END { print h + 0, s + 0 }'
}
now_ns() { date +%s%N; }
put() { echo "$1 $2" >>"$M"; }

# --- CPU, RSS, allocations of one configuration, one run. tinyvrrp, the floor and the static
# build run side by side (they are light); keepalived runs alone afterwards, so that its load
# (and the softirq time the kernel charges to whatever process it interrupts) stays out of
# the others' figures.
cpu_run() { # NAME N INTERVAL VERSION INTERVAL_MS SIZE
    cpu_phase "$@" t f s
    cpu_phase "$@" k
}
cpu_phase() { # NAME N INTERVAL VERSION INTERVAL_MS SIZE TAGS...
    local name=$1 n=$2 iv=$3 ver=$4 ms=$5 size=$6 t p
    shift 6
    local tags=("$@") pids=() roles=()
    for t in "${tags[@]}"; do
        lab_up "$t"
        case $t in
        t) start_tv "$TINYVRRP_BIN" t a "$n" 150 "$iv" "$ver"; pids+=("$STARTED"); roles+=(tinyvrrp/master)
           start_tv "$TINYVRRP_BIN" t b "$n" 100 "$iv" "$ver"; pids+=("$STARTED"); roles+=(tinyvrrp/backup) ;;
        k) start_ka k a "$n" 150 "$iv" "$ver"; pids+=("$STARTED"); roles+=(keepalived/master)
           start_ka k b "$n" 100 "$iv" "$ver"; pids+=("$STARTED"); roles+=(keepalived/backup) ;;
        f) start_in f a "$FSEND" eth0 "$n" "$ms" "$size"; pids+=("$STARTED"); roles+=(floor/master)
           start_in f b "$FRECV" eth0; pids+=("$STARTED"); roles+=(floor/backup) ;;
        s) start_tv "$STATIC" s a "$n" 150 "$iv" "$ver"; pids+=("$STARTED"); roles+=(static/master)
           start_tv "$STATIC" s b "$n" 100 "$iv" "$ver"; pids+=("$STARTED"); roles+=(static/backup) ;;
        esac
    done
    sleep "$SETTLE"
    local c0=() c1=() a0 a1 b0 b1 q t0 t1 i tv=0
    [[ ${tags[0]} == t ]] && tv=1
    if ((tv)); then
        allocs_adverts t-a tx_adverts >/dev/null # the first query allocates more than later ones
        allocs_adverts t-b rx_adverts >/dev/null
        a0=$(allocs_adverts t-a tx_adverts)
        b0=$(allocs_adverts t-b rx_adverts)
    fi
    t0=$(now_ns)
    for p in "${pids[@]}"; do c0+=("$(cpu_ns "$p")"); done
    sleep "$DURATION"
    for p in "${pids[@]}"; do c1+=("$(cpu_ns "$p")"); done
    t1=$(now_ns)
    for i in "${!pids[@]}"; do
        put "cpu/$name/${roles[i]}" "$(((c1[i] - c0[i]) * 60000 / (t1 - t0)))"
        put "rss/$name/${roles[i]}" "$(rss_kib "${pids[i]}")"
    done
    if ((tv)); then
        a1=$(allocs_adverts t-a tx_adverts)
        b1=$(allocs_adverts t-b rx_adverts)
        # what one status query allocates itself, taken off the differences
        q=$(($(allocs_adverts t-a tx_adverts | cut -d' ' -f1) - ${a1%% *}))
        alloc_rate "alloc/$name/master" "$a0" "$a1" "$q"
        alloc_rate "alloc/$name/backup" "$b0" "$b1" "$q"
        local masters
        masters=$(status_of t-a | grep -c 'state=MASTER' || true)
        ((masters == n)) || echo "warning: $name: tinyvrrp node a master of $masters of $n" >&2
    fi
    stop_pids "${pids[@]}"
    forget "${pids[@]}"
    for t in "${tags[@]}"; do lab_down "$t"; done
}
alloc_rate() { # KEY "ALLOCS0 ADVERTS0" "ALLOCS1 ADVERTS1" QUERY_ALLOCS
    awk -v k="$1" -v a0="$2" -v a1="$3" -v q="$4" 'BEGIN { split(a0, x); split(a1, y)
        if (y[2] > x[2]) printf "%s %.3f\n", k, (y[1] - x[1] - q) / (y[2] - x[2]) }' >>"$M"
}

# --- failover trials of one daemon kind (tv or ka) on pair TAG
start_kind() { # KIND NODE PRIORITY
    if [[ $1 == tv ]]; then start_tv "$TINYVRRP_BIN" x "$2" 1 "$3" 0.1 3; else start_ka x "$2" 1 "$3" 0.1 3; fi
}
# KEY: pings lost at 10 ms while COMMAND runs PING_SECS/3 after the pings started
lost_during() { # KEY COMMAND...
    local key=$1 out=$WORK/ping.out count=$((PING_SECS * 100))
    shift
    ip netns exec "$P-x-c" ping -n -q -i 0.01 -W 1 -c "$count" 192.0.2.101 >"$out" 2>&1 &
    local ping=$!
    sleep "$(awk -v s="$PING_SECS" 'BEGIN { print s / 3 }')"
    "$@"
    wait "$ping" || true
    put "$key" "$(awk '/packets transmitted/ { print $1 - $4 }' "$out")"
}
failover_run() { # KIND
    local kind=$1 a b
    lab_up x
    start_kind "$kind" b 100; b=$STARTED
    sleep 2
    start_a() { start_kind "$kind" a 150; a=$STARTED; }
    lost_during "preempt/$kind" start_a
    sleep 1
    stop_a() { stop_pids "$a"; forget "$a"; }
    lost_during "graceful/$kind" stop_a
    start_a
    sleep 2
    local cap=$WORK/cap pout=$WORK/crash.ping tk td
    ip netns exec "$P-br" "$TCPDUMP" -i x-b -nn -tt -l -U 'ip proto 112' >"$cap" 2>/dev/null &
    local dump=$!
    PIDS+=("$dump")
    ip netns exec "$P-x-c" ping -n -D -i 0.01 -W 1 -c "$((PING_SECS * 100))" 192.0.2.101 >"$pout" 2>&1 &
    local ping=$!
    sleep 1
    local all
    all=$(tree "$a")
    tk=$(date +%s.%N)
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $all 2>/dev/null || true
    ip -n "$P-br" link set x-a down
    td=$(date +%s.%N)
    wait "$a" 2>/dev/null || true
    wait "$ping" || true
    sleep 0.2
    stop_pids "$dump"
    forget "$a" "$dump"
    awk -v tk="$tk" '$3 == "192.0.2.11" && $1 <= tk + 0.05 { last = $1 }
        $3 == "192.0.2.12" && !first && $1 > tk - 0.05 { first = $1 }
        END { if (last && first) printf "takeover/'"$kind"' %.0f\n", (first - last) * 1000 }' "$cap" >>"$M"
    awk -v tk="$tk" -v td="$td" -F'[][]' '/bytes from/ && $2 > td { printf "reply/'"$kind"' %.0f\n", ($2 - tk) * 1000; exit }' \
        "$pout" >>"$M"
    stop_pids "$b"
    forget "$b"
    lab_down x
}

configs=("v2-1s-x1|1|1|2|1000|20" "v3-0.1s-x1|1|0.1|3|100|12" "v3-0.1s-x100|100|0.1|3|100|12")
echo "compare.sh: $RUNS run(s), ${DURATION} s per CPU window; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for run in $(seq "$RUNS"); do
    for c in "${configs[@]}"; do
        IFS='|' read -r name n iv ver ms size <<<"$c"
        echo "run $run: $name" >&2
        cpu_run "$name" "$n" "$iv" "$ver" "$ms" "$size"
    done
    for kind in tv ka; do
        echo "run $run: failover $kind" >&2
        failover_run "$kind"
    done
done

# --- the table
stat_of() { # KEY -> "median min max n" (nothing when there is no sample)
    awk -v k="$1" '$1 == k { print $2 }' "$M" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR) { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%g %g %g %d\n", m, v[1], v[NR], NR } }'
}
cell() { # KEY -> "median (min..max)"
    local s
    s=$(stat_of "$1")
    [[ -n $s ]] || { echo "-"; return; }
    awk -v s="$s" 'BEGIN { split(s, x); if (x[2] == x[3]) printf "%g", x[1]; else printf "%g (%g..%g)", x[1], x[2], x[3] }'
}
med() { stat_of "$1" | cut -d' ' -f1; }
ratio() { # A B -> A/B
    awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "x%.2f", a / b; else printf "-" }'
}
row() { printf '%-34s %-22s %-22s %-22s %-8s %-8s\n' "$@"; }

echo
echo "tinyvrrp vs floor vs keepalived — medians (min..max) of $RUNS run(s); ${DURATION} s windows"
echo "kernel $(uname -r), $(nproc) CPUs; $("$KA" --version 2>&1 | head -n 1)"
row "CPU ms per minute" tinyvrrp floor keepalived "/floor" "/keepal."
for c in "${configs[@]}"; do
    name=${c%%|*}
    for role in master backup; do
        tv=$(med "cpu/$name/tinyvrrp/$role")
        row "  $name $role" "$(cell "cpu/$name/tinyvrrp/$role")" "$(cell "cpu/$name/floor/$role")" \
            "$(cell "cpu/$name/keepalived/$role")" "$(ratio "$tv" "$(med "cpu/$name/floor/$role")")" \
            "$(ratio "$tv" "$(med "cpu/$name/keepalived/$role")")"
    done
done
row "RSS KiB (tinyvrrp: static musl)" tinyvrrp "" keepalived "" "/keepal."
for name in v3-0.1s-x1 v3-0.1s-x100; do
    for role in master backup; do
        tv=$(med "rss/$name/static/$role")
        row "  ${name#v3-0.1s-} $role" "$(cell "rss/$name/static/$role")" "" \
            "$(cell "rss/$name/keepalived/$role")" "" "$(ratio "$tv" "$(med "rss/$name/keepalived/$role")")"
    done
done
mdi=$(awk 'BEGIN { printf "%.0f", (3 * 0.1 + (256 - 100) * 0.1 / 256) * 1000 }')
row "Failover (1 instance, v3 0.1 s)" tinyvrrp "bound" keepalived "" "/keepal."
row "  crash: last->first advert ms" "$(cell takeover/tv)" "MDI $mdi" "$(cell takeover/ka)" \
    "$(ratio "$(med takeover/tv)" "$mdi")" "$(ratio "$(med takeover/tv)" "$(med takeover/ka)")"
row "  crash: kill->first reply ms" "$(cell reply/tv)" "" "$(cell reply/ka)" "" \
    "$(ratio "$(med reply/tv)" "$(med reply/ka)")"
row "  graceful stop: pings lost" "$(cell graceful/tv)" "0" "$(cell graceful/ka)" "" ""
row "  preemption: pings lost" "$(cell preempt/tv)" "0" "$(cell preempt/ka)" "" ""
row "Heap allocations per advert" "" "" "" "" ""
for c in "${configs[@]}"; do
    name=${c%%|*}
    row "  $name sent / received" "$(cell "alloc/$name/master") / $(cell "alloc/$name/backup")" "" "" "" ""
done
echo "Binary sizes (bytes)"
for f in target/cross/dist/*/tinyvrrp; do
    [[ -f $f ]] && row "  $(basename "$(dirname "$f")")" "$(stat -c %s "$f")" "" "" "" ""
done
row "  static used for RSS" "$(stat -c %s "$STATIC")" "" "" "" ""
row "  glibc release (CPU rows)" "$(stat -c %s "$TINYVRRP_BIN")" "" \
    "$(stat -c %s "$KA") +$(ldd "$KA" | grep -c '=>') libs" "" ""
