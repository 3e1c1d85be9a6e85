#!/usr/bin/env bash
# The CI fuzz stage (tests/run.sh runs it): builds every target of fuzz/ and runs each for
# TINYVRRP_FUZZ_SECS seconds (default 20; 0 skips the stage), seeded from the committed
# corpora. Exits non-zero on the first crash or failed invariant; libFuzzer prints the input
# and cargo-fuzz the command that replays it (fuzz/artifacts/TARGET/crash-*).
#
# Needs cargo-fuzz (installed into ~/.cargo/bin when missing) and a nightly compiler for the
# coverage flags: rustup's nightly, installed when missing; if rustup cannot download it, the
# stable compiler with RUSTC_BOOTSTRAP=1 (it accepts the same -Z flags). No sanitizer: the
# fuzzed code is safe Rust, and none keeps the stable fallback free of sanitizer runtimes.
# Corpora grow in target/fuzz-corpus/TARGET (kept between runs on one machine).
set -euo pipefail

cd "$(dirname "$0")/.."

secs=${TINYVRRP_FUZZ_SECS:-20}
[[ $secs =~ ^[0-9]+$ ]] || { echo "error: TINYVRRP_FUZZ_SECS=$secs is not a number" >&2; exit 1; }
if ((secs == 0)); then
    echo "fuzz stage skipped (TINYVRRP_FUZZ_SECS=0)"
    exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

toolchain=()
if command -v rustup >/dev/null 2>&1 &&
    { rustup run nightly rustc --version >/dev/null 2>&1 ||
        rustup toolchain install nightly --profile minimal; }; then
    toolchain=(+nightly)
else
    echo "note: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
fi
fuzz=(cargo "${toolchain[@]}" fuzz)
flags=(--sanitizer none)
"${fuzz[@]}" --version

# Each target's seeds (files and directories, copied into one read-only seed directory; new
# inputs go to the corpus directory).
declare -A seeds=(
    [packet]="fuzz/seeds/packet"
    [config]="tests/data/*.conf openwrt/tinyvrrp/files/tinyvrrp.conf"
    [import]="tests/data/keepalived"
    [netlink]="fuzz/seeds/netlink"
    [status_json]="fuzz/seeds/status_json"
    [instance_events]=""
    [track]=""
    [router_events]="fuzz/seeds/router_events"
)
mapfile -t targets < <("${fuzz[@]}" list)
((${#targets[@]})) || { echo "error: cargo fuzz list found no targets" >&2; exit 1; }
for t in "${targets[@]}"; do
    [[ -v seeds[$t] ]] || { echo "error: fuzz target $t has no seeds entry in $0" >&2; exit 1; }
done

start=$SECONDS
"${fuzz[@]}" build "${flags[@]}"
echo "fuzz build: $((SECONDS - start)) s"

for t in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$t
    seed_dir=target/fuzz-seeds/$t
    rm -rf "$seed_dir"
    mkdir -p "$corpus" "$seed_dir"
    for s in ${seeds[$t]}; do
        cp -r "$s"/. "$seed_dir"/ 2>/dev/null || cp "$s" "$seed_dir"/
    done
    log=target/fuzz-corpus/$t.log
    printf '== fuzz %s: %s s, %s seed files ... ' "$t" "$secs" "$(find "$seed_dir" -type f | wc -l)"
    if ! "${fuzz[@]}" run "${flags[@]}" "$t" "$corpus" "$seed_dir" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        echo "FAILED"
        tail -n 60 "$log"
        echo "error: fuzz target $t failed; its input is in fuzz/artifacts/$t/ (log: $log)" >&2
        exit 1
    fi
    # "#1234<TAB>DONE   cov: 950 ft: 2150 corp: 335/15Kb lim: 868 exec/s: 5002 rss: 225Mb"
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
        sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/ok: \1 runs, /'
done
echo "fuzz stage: ${#targets[@]} targets, $((SECONDS - start)) s"
