#!/usr/bin/env bash
# bench/commit-bench.sh — `vd commit` against `qemu-img commit -d` doing the same job, same run.
#
# Usage:  bench/commit-bench.sh [SIZE_MIB] [WORKDIR]
#   SIZE_MIB  virtual size, default 4096 (4 GiB)
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed unless KEEP=1)
#
# The job: a qcow2 base (empty) under a qcow2 top in which every 1 MiB block alternates between
# random data and an explicit zero write (qemu-io write -z): half the blocks data, half zero.
# Each tool commits its own copy of that chain into the base; the two bases are then compared
# with qemu-img compare (must be identical) and the times printed with the ratio vd/qemu
# (< 1 means vd is faster). The page cache is dropped before each run when running as root.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
size_mib="${1:-4096}"
work="${2:-$(mktemp -d /var/tmp/vd-commit-bench.XXXXXX)}"
mkdir -p "$work"
for t in qemu-img qemu-io; do
    command -v "$t" >/dev/null || { echo "commit-bench: $t not installed" >&2; exit 1; }
done
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
drop() { [ "$(id -u)" = 0 ] && sync && echo 3 > /proc/sys/vm/drop_caches || true; }

cd "$work"
head -c $((1 << 20)) /dev/urandom > block.bin
qemu-img create -q -f qcow2 base.qcow2 "${size_mib}M"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
cmds=()
for ((i = 0; i < size_mib; i++)); do
    if ((i % 2 == 0)); then cmds+=(-c "write -P $((i % 251 + 1)) ${i}M 1M"); else cmds+=(-c "write -z ${i}M 1M"); fi
    if ((${#cmds[@]} >= 512)); then qemu-io -f qcow2 "${cmds[@]}" top.qcow2 >/dev/null; cmds=(); fi
done
((${#cmds[@]} == 0)) || qemu-io -f qcow2 "${cmds[@]}" top.qcow2 >/dev/null
mkdir -p vd qemu
cp --sparse=always base.qcow2 top.qcow2 vd/
cp --sparse=always base.qcow2 top.qcow2 qemu/

"$repo/vd" --version >/dev/null   # build outside the timing
drop
t0=$(date +%s.%N); "$repo/vd" commit vd/top.qcow2; t1=$(date +%s.%N)
drop
t2=$(date +%s.%N); qemu-img commit -q -d qemu/top.qcow2; t3=$(date +%s.%N)
qemu-img compare -q vd/base.qcow2 qemu/base.qcow2 && echo "bases identical (qemu-img compare)"
qemu-img compare -q vd/top.qcow2 qemu/top.qcow2 && echo "tops identical (qemu-img compare)"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v s="$size_mib" 'BEGIN {
    vd = b - a; q = d - c
    printf "commit %d MiB (half data, half zero):  vd %.2f s   qemu-img %.2f s   ratio vd/qemu %.2f\n", s, vd, q, vd / q }'
