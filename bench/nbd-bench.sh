#!/usr/bin/env bash
# bench/nbd-bench.sh — `vd serve` against qemu-nbd and nbdkit serving the same image, same run.
#
# Usage:  bench/nbd-bench.sh [SIZE_MIB] [WORKDIR]
#   SIZE_MIB  virtual size, default 1024 (1 GiB)
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed unless KEEP=1)
#
# The image: a qcow2 whose every other 1 MiB block is random data (the rest unallocated).
# Each server exports it read-only on a Unix socket; measured per server:
#   seq   nbdcopy URI null: (whole disk, holes skipped through base:allocation), MB/s of disk size
#   rand  fio's nbd engine, 4 KiB random reads, iodepth 16, 15 s, IOPS (when fio has the engine)
# nbdkit serves the qcow2 through its qcow2dec filter where it has one, else the raw conversion
# (then it reads a plain file: an upper bound). Printed: the figures and vd's ratio to each peer
# (> 1 means vd is faster).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
size_mib="${1:-1024}"
work="${2:-$(mktemp -d /var/tmp/vd-nbd-bench.XXXXXX)}"
mkdir -p "$work"
for t in qemu-img qemu-io qemu-nbd nbdcopy; do
    command -v "$t" >/dev/null || { echo "nbd-bench: $t not installed" >&2; exit 1; }
done
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
qemu-img create -q -f qcow2 img.qcow2 "${size_mib}M"
cmds=()
for ((i = 0; i < size_mib; i += 2)); do
    cmds+=(-c "write -P $((i % 251 + 1)) ${i}M 1M")
    if ((${#cmds[@]} >= 512)); then qemu-io -f qcow2 "${cmds[@]}" img.qcow2 >/dev/null; cmds=(); fi
done
((${#cmds[@]} == 0)) || qemu-io -f qcow2 "${cmds[@]}" img.qcow2 >/dev/null
"$repo/vd" --version >/dev/null   # build outside the timing

wait_sock() { for _ in $(seq 600); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "nbd-bench: no $1" >&2; exit 1; }
has_fio_nbd=0
if command -v fio >/dev/null && fio --enghelp 2>/dev/null | grep -qw nbd; then has_fio_nbd=1; fi

declare -A seq rand
measure() {  # NAME SOCKET
    local name=$1 sock=$2 t0 t1
    t0=$(date +%s.%N); nbdcopy "nbd+unix:///?socket=$sock" null:; t1=$(date +%s.%N)
    seq[$name]=$(awk -v a="$t0" -v b="$t1" -v s="$size_mib" 'BEGIN { printf "%.0f", s * 1.048576 / (b - a) }')
    if ((has_fio_nbd)); then
        rand[$name]=$(fio --name=r --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --rw=randread --bs=4k \
            --iodepth=16 --time_based --runtime=15 --output-format=terse --terse-version=3 2>/dev/null \
            | awk -F';' 'NF > 8 { print $8; exit }')
    else
        rand[$name]="-"
    fi
}

"$repo/vd" serve --socket "$work/vd.sock" img.qcow2 2>vd.log & pids+=($!)
wait_sock "$work/vd.sock"; measure vd "$work/vd.sock"
qemu-nbd -t -r -f qcow2 -k "$work/qemu.sock" -e 16 img.qcow2 & pids+=($!)
wait_sock "$work/qemu.sock"; measure qemu-nbd "$work/qemu.sock"
peers=(qemu-nbd)
if command -v nbdkit >/dev/null; then
    if nbdkit --dump-plugin file >/dev/null 2>&1 && nbdkit --filter=qcow2dec file --version >/dev/null 2>&1; then
        nbdkit -r -U "$work/kit.sock" --filter=qcow2dec file img.qcow2 & pids+=($!)
        kit="nbdkit (qcow2dec)"
    else
        qemu-img convert -O raw img.qcow2 img.raw
        nbdkit -r -U "$work/kit.sock" file img.raw & pids+=($!)
        kit="nbdkit (raw file)"
    fi
    wait_sock "$work/kit.sock"; measure "$kit" "$work/kit.sock"; peers+=("$kit")
fi
printf '%-20s %14s %16s\n' server "seq MB/s" "4k rand IOPS"
for n in vd "${peers[@]}"; do printf '%-20s %14s %16s\n' "$n" "${seq[$n]}" "${rand[$n]}"; done
for n in "${peers[@]}"; do
    awk -v a="${seq[vd]}" -v b="${seq[$n]}" -v c="${rand[vd]}" -v d="${rand[$n]}" -v n="$n" 'BEGIN {
        printf "vd / %s: seq %.2f", n, a / b
        if (c != "-" && d != "-" && d > 0) printf ", rand %.2f", c / d
        printf "\n" }'
done
