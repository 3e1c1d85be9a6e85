#!/usr/bin/env bash
# tinyvrrp failover demo:  sudo bash tests/demo.sh
#
# Builds the daemon, then in throw-away network namespaces (a bridge, three VRRP nodes with
# priorities 150/100/50 and a client; documentation addresses only) shows who is master, the
# client reaching the virtual IP, the master crashing (SIGKILL) and a backup taking over within
# the RFC's Master_Down_Interval, the old master coming back and preempting, and a graceful stop.
# Everything it creates is removed on exit, Ctrl-C or error. The host's interfaces are untouched.
set -euo pipefail

cd "$(dirname "$0")/.."

VIP=192.0.2.1
ADVERT_INT=1 # seconds, VRRPv3
PRIOS=(150 100 50)
PREFIX="tvd$$" # namespaces: tvd<pid>-br, -n1, -n2, -n3, -cl
# TINYVRRP_BIN=/path/to/tinyvrrp runs the demo with that binary instead of building one.
BIN="${TINYVRRP_BIN:-$PWD/target/release/tinyvrrp}"
WORK=""
declare -a PIDS=()

say() { printf '\n\033[1m>>> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "run me as root: sudo bash tests/demo.sh"

# --- what we need ----------------------------------------------------------------------------
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v ps >/dev/null 2>&1 || missing+=(procps)
if ((${#missing[@]})); then
    say "Installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [[ -z ${TINYVRRP_BIN:-} ]]; then
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
    if ! command -v cargo >/dev/null 2>&1; then
        say "Installing Rust (Debian's cargo)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo
    fi

    say "Building tinyvrrp (cargo build --release)"
    cargo build --release --quiet || die "build failed (an old distribution Rust? try rustup)"
fi
info "$BIN: $(stat -c %s "$BIN") bytes"

# --- clean-up, whatever happens ----------------------------------------------------------------
cleanup() {
    local pid ns
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.3
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ns in "$PREFIX-cl" "$PREFIX-n1" "$PREFIX-n2" "$PREFIX-n3" "$PREFIX-br"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    [[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

WORK=$(mktemp -d /tmp/tvrdemo.XXXXXX)

# --- the lab ---------------------------------------------------------------------------------
say "Building the lab: bridge namespace $PREFIX-br, nodes $PREFIX-n1..n3, client $PREFIX-cl"
ip netns add "$PREFIX-br"
ip -n "$PREFIX-br" link add br0 type bridge mcast_snooping 0 stp_state 0
ip -n "$PREFIX-br" link set br0 up
add_member() { # role address
    local ns="$PREFIX-$1"
    ip netns add "$ns"
    ip -n "$PREFIX-br" link add "$1" type veth peer name eth0 netns "$ns"
    ip -n "$PREFIX-br" link set "$1" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$2/24" dev eth0
    ip -n "$ns" link set eth0 up
}
for i in 1 2 3; do
    add_member "n$i" "192.0.2.$((10 + i))"
    info "node $i: 192.0.2.$((10 + i)) priority ${PRIOS[i - 1]} mac $(ip -n "$PREFIX-n$i" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)"
done
add_member cl 192.0.2.100
info "client: 192.0.2.100; virtual IP: $VIP (VRRPv3, VRID 51, advert_int $ADVERT_INT s)"

# --- helpers ---------------------------------------------------------------------------------
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# Master_Down_Interval (v3) = 3 * advert_int + (256 - priority) * advert_int / 256
mdi() { awk -v p="$1" -v i="$ADVERT_INT" 'BEGIN { printf "%.3f", 3 * i + (256 - p) * i / 256 }'; }
skew() { awk -v p="$1" -v i="$ADVERT_INT" 'BEGIN { printf "%.3f", (256 - p) * i / 256 }'; }

start_node() { # i
    local i=$1 conf="$WORK/n$1.conf"
    cat >"$conf" <<EOF
[vrrp_instance VI_1]
interface = eth0
state = BACKUP
virtual_router_id = 51
priority = ${PRIOS[i - 1]}
advert_int = $ADVERT_INT
version = 3
virtual_ipaddress = $VIP/24
EOF
    rm -f "$WORK/n$i.sock"
    ip netns exec "$PREFIX-n$i" "$BIN" -f "$conf" -l info --status-socket "$WORK/n$i.sock" \
        2>>"$WORK/n$i.log" &
    PIDS[i]=$!
}
state_of() { # i -> MASTER/BACKUP/FAULT/-
    "$BIN" --status-socket "$WORK/n$1.sock" status 2>/dev/null |
        grep -o 'state=[A-Z]*' | head -n1 | cut -d= -f2 || true
}
has_vip() { ip -n "$PREFIX-n$1" -o addr show dev eth0 | grep -q "inet $VIP/"; }
mac_of() { ip -n "$PREFIX-n$1" -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
client_mac() { ip -n "$PREFIX-cl" neigh show to "$VIP" dev eth0 | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2 || true; }
who_is() { # mac -> node number
    local i
    for i in 1 2 3; do [[ $(mac_of "$i") == "$1" ]] && { echo "node $i"; return; }; done
    echo "unknown ($1)"
}
wait_for() { # timeout-seconds command...
    local end
    end=$(awk -v t="$1" -v n="$(now)" 'BEGIN { printf "%.3f", n + t }')
    shift
    until "$@"; do
        awk -v e="$end" -v n="$(now)" 'BEGIN { exit !(n > e) }' && return 1
        sleep 0.02
    done
}
only_master() { # i: node i is MASTER with the VIP, the others are not
    local j
    [[ $(state_of "$1") == MASTER ]] && has_vip "$1" || return 1
    for j in 1 2 3; do
        [[ $j == "$1" ]] && continue
        if [[ -n ${PIDS[j]:-} ]] && kill -0 "${PIDS[j]}" 2>/dev/null; then
            [[ $(state_of "$j") == BACKUP ]] && ! has_vip "$j" || return 1
        fi
    done
}
table() {
    local i st
    for i in 1 2 3; do
        st=$(state_of "$i")
        info "node $i (priority ${PRIOS[i - 1]}): ${st:-not running}$(has_vip "$i" && echo ", holds $VIP")"
    done
}
client_mac_is() { [[ $(client_mac) == "$(mac_of "$1")" ]]; }

# --- the story -------------------------------------------------------------------------------
say "Starting three tinyvrrp nodes, all in state BACKUP"
t0=$(now)
for i in 1 2 3; do start_node "$i"; done
wait_for 10 only_master 1 || { table; die "no single master after 10 s; logs in $WORK"; }
info "election took $(since "$t0") s (node 1's Master_Down_Interval: $(mdi 150) s)"
table

say "The client pings $VIP"
ip netns exec "$PREFIX-cl" ping -c 3 -i 0.2 -W 1 "$VIP" | sed 's/^/    /'
info "client's neighbour entry for $VIP: $(client_mac) = $(who_is "$(client_mac)")"
sleep 1.1 # past the ARP locktime, so only a gratuitous ARP can move the entry

say "Crash: SIGKILL to the master (node 1, pid ${PIDS[1]})"
t0=$(now)
kill -KILL "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
unset 'PIDS[1]'
if wait_for 10 client_mac_is 2; then
    took=$(since "$t0")
    info "node 2 took over: the client's entry moved to node 2's MAC after $took s"
    info "RFC bound for priority 100: Master_Down_Interval = 3 x $ADVERT_INT + $(skew 100) = $(mdi 100) s"
else
    die "the backup did not take over; logs in $WORK"
fi
table
info "(node 1's kernel still holds $VIP: a crashed daemon cannot remove it; the next start will)"
ip netns exec "$PREFIX-cl" ping -c 2 -i 0.2 -W 1 "$VIP" | tail -n 2 | sed 's/^/    /'

say "Node 1 comes back: tinyvrrp removes the $VIP its crashed run left, hears node 2 and preempts"
sleep 1.1
t0=$(now)
start_node 1
if wait_for 10 only_master 1 && wait_for 3 client_mac_is 1; then
    info "node 1 preempted node 2 after $(since "$t0") s: one advert interval + Skew_Time at most,"
    info "  where keepalived waits a full Master_Down_Interval ($(mdi 150) s)"
else
    die "node 1 did not preempt; logs in $WORK"
fi
table
sleep 1.1

say "Graceful stop: SIGTERM to node 1 (it sends priority 0, node 2 waits only Skew_Time)"
t0=$(now)
kill -TERM "${PIDS[1]}"
if wait_for 10 client_mac_is 2; then
    info "node 2 master after $(since "$t0") s (Skew_Time $(skew 100) s, vs $(mdi 100) s for a crash)"
else
    die "no handover after SIGTERM; logs in $WORK"
fi
status=0
wait "${PIDS[1]}" || status=$?
info "node 1 exited with status $status"
unset 'PIDS[1]'
table

say "State transitions logged by the nodes"
for i in 1 2 3; do
    grep -h -- '->' "$WORK/n$i.log" | sed "s/^/    node $i: /" || true
done

say "Done; removing the lab"
