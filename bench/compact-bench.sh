#!/usr/bin/env bash
# bench/compact-bench.sh — `vd compact` against `qemu-img convert -O qcow2` (the way qemu users
# compact an image: a fresh copy that skips zeros), same image, same run.
#
# Usage:  bench/compact-bench.sh [SIZE_MIB] [WORKDIR]
#   SIZE_MIB  virtual size, default 4096 (4 GiB)
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed unless KEEP=1)
#
# The job: a qcow2 image (64 KiB clusters) in which every 1 MiB block is written, alternately
# with a data pattern and with zero bytes (qemu-io write -P 0: allocated clusters that hold
# zeros) — half the file is zeros. vd compacts its copy in place; qemu-img converts its copy into
# a new image. The two results are compared with qemu-img compare (must be identical), vd's is
# checked with qemu-img check, and the times, file sizes and the ratio vd/qemu are printed (< 1
# means vd is faster). The page cache is dropped before each run when running as root.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
size_mib="${1:-4096}"
work="${2:-$(mktemp -d /var/tmp/vd-compact-bench.XXXXXX)}"
mkdir -p "$work"
for t in qemu-img qemu-io; do
    command -v "$t" >/dev/null || { echo "compact-bench: $t not installed" >&2; exit 1; }
done
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
drop() { [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches || true; }

cd "$work"
qemu-img create -q -f qcow2 src.qcow2 "${size_mib}M"
cmds=()
for ((i = 0; i < size_mib; i++)); do
    cmds+=(-c "write -P $(( i % 2 == 0 ? i % 251 + 1 : 0 )) ${i}M 1M")
    if ((${#cmds[@]} >= 512)); then qemu-io -f qcow2 "${cmds[@]}" src.qcow2 >/dev/null; cmds=(); fi
done
((${#cmds[@]} == 0)) || qemu-io -f qcow2 "${cmds[@]}" src.qcow2 >/dev/null
mkdir -p vd qemu
cp --sparse=always src.qcow2 vd/img.qcow2

"$repo/vd" --version >/dev/null   # build outside the timing
drop
t0=$(date +%s.%N); "$repo/vd" compact vd/img.qcow2; t1=$(date +%s.%N)
drop
t2=$(date +%s.%N); qemu-img convert -O qcow2 src.qcow2 qemu/img.qcow2; t3=$(date +%s.%N)
qemu-img compare -q vd/img.qcow2 qemu/img.qcow2 && echo "results identical (qemu-img compare)"
qemu-img compare -q src.qcow2 vd/img.qcow2 && echo "vd's result reads as the source (qemu-img compare)"
qemu-img check -q vd/img.qcow2 && echo "vd's result: qemu-img check clean"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v s="$size_mib" \
    -v src="$(stat -c %s src.qcow2)" -v v="$(stat -c %s vd/img.qcow2)" -v q="$(stat -c %s qemu/img.qcow2)" 'BEGIN {
    vd = b - a; qm = d - c
    printf "compact %d MiB qcow2 (half zero): file %.0f MiB -> vd %.0f MiB, qemu-img convert %.0f MiB\n",
        s, src / 1048576, v / 1048576, q / 1048576
    printf "compact %d MiB:  vd %.2f s   qemu-img convert %.2f s   ratio vd/qemu %.2f\n", s, vd, qm, vd / qm }'
