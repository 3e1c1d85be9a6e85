#!/usr/bin/env bash
# The VM stage of tests/run.sh (after cross/build.sh): the shipped aarch64, armv7 and mipsel
# binaries on Debian's kernels for those architectures, under qemu-system (no KVM), in a
# failover with keepalived and the x86_64 tinyvrrp (tests/netns/vm.rs says what is checked).
#
#   sudo bash tests/vm/run.sh [aarch64|armv7|mipsel ...]     (default: all three)
#
# Needs target/cross/dist/<target>/tinyvrrp (cross/build.sh). Installs qemu-system-arm
# (aarch64 and arm) and qemu-system-mips when missing. Downloads, once, Debian's
# linux-image-{arm64,armmp,4kc-malta} and busybox-static for arm64, armhf and mipsel with
# apt-get, using a private package list for those architectures (the host's dpkg is left
# alone), and unpacks what the VMs need of them with dpkg-deb. Everything is kept in the
# cache directory, $TINYVRRP_VM_CACHE or ~/.cache/tinyvrrp-vm (about 150 MB of .debs, 60 MB
# of package lists, the unpacked parts); a later run downloads nothing unless Debian's kernel
# package moved on.
set -euo pipefail

cd "$(dirname "$0")/../.."
CACHE=${TINYVRRP_VM_CACHE:-$HOME/.cache/tinyvrrp-vm}

log() { printf '\n== %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "tests/vm/run.sh needs root (network namespaces, tap devices)"

# arch name, Debian architecture, kernel flavour, Rust target, qemu binary
ARCHES=(
    "aarch64 arm64 arm64 aarch64-unknown-linux-musl qemu-system-aarch64"
    "armv7 armhf armmp armv7-unknown-linux-musleabihf qemu-system-arm"
    "mipsel mipsel 4kc-malta mipsel-unknown-linux-musl qemu-system-mipsel"
)

install_qemu() {
    local missing=()
    command -v qemu-system-aarch64 >/dev/null && command -v qemu-system-arm >/dev/null ||
        missing+=(qemu-system-arm)
    command -v qemu-system-mipsel >/dev/null || missing+=(qemu-system-mips)
    command -v dpkg-deb >/dev/null || die "dpkg-deb missing (a Debian/Ubuntu host is needed)"
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
    fi
}

# apt-get with package lists for the three foreign architectures kept under $CACHE/apt.
APT_OPTS=()
foreign_apt() {
    local dir=$CACHE/apt
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    APT_OPTS=(-q -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
        -o Dir::State::status=/dev/null -o APT::Architecture=arm64
        -o APT::Architectures::=arm64 -o APT::Architectures::=armhf -o APT::Architectures::=mipsel
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o APT::Sandbox::User=root)
}

update_lists() {
    log "apt-get update (arm64, armhf, mipsel lists, in $CACHE/apt)"
    # A security mirror caught mid-sync fails its index; the main archive is enough here.
    apt-get "${APT_OPTS[@]}" update >/dev/null 2>&1 || true
    rm -f "$CACHE/apt/resolved"
    compgen -G "$CACHE/apt/lists/*_main_binary-mipsel_Packages*" >/dev/null ||
        die "no package lists for the foreign architectures (no network?)"
}

# Prints the concrete package a metapackage ($1, e.g. linux-image-arm64:arm64) depends on.
# apt-cache takes half a minute to read the three lists, so the answers for all three
# kernels are kept in $CACHE/apt/resolved until the lists are updated.
resolve() {
    local file=$CACHE/apt/resolved line
    if [[ ! -s $file ]]; then
        for line in "${ARCHES[@]}"; do
            read -r _ debarch flavour _ <<<"$line"
            printf 'linux-image-%s:%s\n' "$flavour" "$debarch"
        done | xargs apt-cache "${APT_OPTS[@]}" depends 2>/dev/null |
            awk '/^linux-image-/ { meta = $1; sub(/:.*/, "", meta) }
                 $1 == "Depends:" && meta { sub(/:.*/, "", $2); print meta, $2; meta = "" }' \
                >"$file.tmp" && mv "$file.tmp" "$file"
    fi
    awk -v m="${1%%:*}" '$1 == m { print $2; exit }' "$file"
}

# Downloads package $1 (name:arch) into $CACHE/debs unless there; prints the .deb path.
fetch_deb() {
    local name=${1%%:*} arch=${1##*:} deb
    deb=$(compgen -G "$CACHE/debs/${name}_*_${arch}.deb" | head -n1 || true)
    if [[ -z $deb ]]; then
        mkdir -p "$CACHE/debs"
        (cd "$CACHE/debs" && apt-get "${APT_OPTS[@]}" download "$1" >&2) ||
            die "apt-get download $1 failed"
        deb=$(compgen -G "$CACHE/debs/${name}_*_${arch}.deb" | head -n1)
    fi
    printf '%s' "$deb"
}

# Unpacks .deb $1 into $2, only the members matching the patterns after it (all without),
# once: a stamp names the .deb it came from.
unpack() {
    local deb=$1 dir=$2
    shift 2
    if [[ $(cat "$dir/.from" 2>/dev/null) != "$deb" ]]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        if (($#)); then
            dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards "$@"
        else
            dpkg-deb -x "$deb" "$dir"
        fi
        printf '%s' "$deb" >"$dir/.from"
    fi
}

# What a VM needs of a kernel package (300 MB unpacked): the kernel and the modules of its
# NIC (tests/netns/vm/qemu.rs loads them: virtio-net on -M virt, Malta's PCnet).
KERNEL_PARTS=('./boot/vmlinuz-*' './lib/modules/*/kernel/drivers/virtio/*'
    '*/drivers/net/virtio_net.ko' '*/drivers/net/net_failover.ko' '*/net/core/failover.ko'
    '*/drivers/net/mii.ko' '*/drivers/net/ethernet/amd/pcnet32.ko')

# Fills $CACHE/vm/<arch>/{kernel,busybox} for arch line $1.
prepare() {
    local name debarch flavour target kpkg deb
    read -r name debarch flavour target _ <<<"$1"
    [[ -x target/cross/dist/$target/tinyvrrp ]] ||
        die "target/cross/dist/$target/tinyvrrp missing: run cross/build.sh first"
    kpkg=$(resolve "linux-image-$flavour:$debarch")
    if [[ -z $kpkg ]]; then
        # The lists may be stale against a moved mirror: refresh once.
        update_lists
        kpkg=$(resolve "linux-image-$flavour:$debarch")
    fi
    [[ -n $kpkg ]] || die "cannot resolve linux-image-$flavour for $debarch"
    if ! deb=$(fetch_deb "$kpkg:$debarch"); then
        # Debian moved the kernel on since the lists were fetched: refresh them once.
        update_lists
        kpkg=$(resolve "linux-image-$flavour:$debarch")
        deb=$(fetch_deb "$kpkg:$debarch")
    fi
    unpack "$deb" "$CACHE/vm/$name/kernel" "${KERNEL_PARTS[@]}"
    deb=$(fetch_deb "busybox-static:$debarch")
    unpack "$deb" "$CACHE/vm/$name/busybox"
    echo "$name: $(basename "$(cat "$CACHE/vm/$name/kernel/.from")"), $(basename "$(cat "$CACHE/vm/$name/busybox/.from")")"
}

main() {
    local want=("$@") line name tests=()
    ((${#want[@]})) || want=(aarch64 armv7 mipsel)
    install_qemu
    foreign_apt
    compgen -G "$CACHE/apt/lists/*_main_binary-mipsel_Packages*" >/dev/null || update_lists
    log "kernels and busybox from Debian (cache: $CACHE)"
    for line in "${ARCHES[@]}"; do
        name=${line%% *}
        if [[ " ${want[*]} " == *" $name "* ]]; then
            prepare "$line"
            tests+=("vm::vm_$name")
        fi
    done
    ((${#tests[@]})) || die "no architecture among: ${want[*]}"
    log "tests/netns/vm.rs: ${tests[*]} (one VM at a time)"
    local start=$SECONDS
    TINYVRRP_VM_DIR=$CACHE/vm cargo test --test netns -- --ignored --exact --nocapture \
        --test-threads=1 "${tests[@]}"
    echo "VM stage: $((SECONDS - start)) s for ${tests[*]}"
}

main "$@"
