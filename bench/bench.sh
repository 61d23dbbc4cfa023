#!/usr/bin/env bash
# bench/bench.sh — read throughput of vdmount against QEMU's own FUSE export, same images, same run.
#
# Usage (as root, needs /dev/fuse):  bench/bench.sh [--fuse NAME] [SIZE_MIB] [WORKDIR]
#                                    bench/bench.sh --all [--quick]
#   --all     every speed figure of issue 18 in one run, each against its peer measured beside it:
#             bench/fuse-bench.sh (vdmount's kernel transport vs qemu-storage-daemon and the raw
#             file: reads, QD16, parallel jobs and their scaling, writes into fresh images) on each
#             of ALL_FORMATS (default "vdi vhdx qcow2"), then bench/convert-bench.sh (vd convert vs
#             qemu-img, start-up); their tables as they print them, then one line per part and
#             `geomean-ratio X` over every ratio of every part. --quick passes --quick to both.
#   --fuse    the vdmount FUSE binding to measure (jnr, kernel; default: vdmount's default);
#             bench/fuse-bench.sh compares the bindings with each other in one run
#   SIZE_MIB  virtual disk size, default 1024 (1 GiB of random data, so every block is allocated)
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed at the end)
#   Env: RUNTIME_S (default 15) seconds per random-read test; KEEP=1 keeps WORKDIR;
#        FORMATS (default "vdi vhd vhdx qcow2 vmdk") which images to compare.
#
# What it does: makes one raw image of random data, converts it with qemu-img to each format
# (VDI dynamic, VHD dynamic with force_size, VHDX, QCOW2, VMDK monolithicSparse), then for each
# image serves it twice, read-only:
#   vdmount                ./vdmount IMG MNT           → reads MNT/disk
#   qemu-storage-daemon    --export type=fuse          → reads a regular file (the export mountpoint)
# and runs on each (page cache dropped before every test: echo 3 > /proc/sys/vm/drop_caches):
#   seq-buffered  fio 1 MiB sequential reads of the whole disk, through the page cache
#   seq-direct    fio 1 MiB sequential reads of the whole disk, O_DIRECT
#   rand4k-1job   fio 4 KiB random reads, O_DIRECT, psync, 1 job,  RUNTIME_S seconds
#   rand4k-4jobs  fio 4 KiB random reads, O_DIRECT, psync, 4 jobs, RUNTIME_S seconds
# Each figure is printed (MB/s or IOPS) with the ratio vdmount/qemu (> 1 means vdmount is faster),
# then `geomean-ratio X` over them all.
# Requires: qemu-utils (qemu-img), qemu-system-common (qemu-storage-daemon), fio, fuse3, libfuse2.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"

if [ "${1:-}" = --all ]; then
  quick=()
  [ "${2:-}" = --quick ] && quick=(--quick)
  ratios=$(mktemp /tmp/vdmount-bench-ratios.XXXXXX)
  trap 'rm -f "$ratios"' EXIT
  export BENCH_RATIOS="$ratios" # each part appends "PART FIGURE RATIO" lines
  for fmt in ${ALL_FORMATS:-vdi vhdx qcow2}; do
    echo "== fuse-bench $fmt"
    TARGETS="${TARGETS:-kernel qsd raw}" "$repo/bench/fuse-bench.sh" "${quick[@]}" "" "$fmt"
  done
  echo "== convert-bench"
  "$repo/bench/convert-bench.sh" "${quick[@]}"
  echo "== summary (ratios > 1: vdmount/vd faster than the peer)"
  awk '{ n[$1]++; s[$1] += log($3); a++; t += log($3) }
       END { for (p in n) printf "%-22s %3d ratios, geomean %.2f\n", p, n[p], exp(s[p] / n[p]);
             if (a) printf "geomean-ratio %.2f\n", exp(t / a) }' "$ratios"
  exit 0
fi
fuse_opt=()
if [ "${1:-}" = --fuse ]; then
  [ -n "${2:-}" ] || { echo "bench: --fuse needs a binding name" >&2; exit 1; }
  fuse_opt=(--fuse "$2")
  shift 2
fi
size_mib="${1:-1024}"
work="${2:-$(mktemp -d /var/tmp/vdmount-bench.XXXXXX)}"
runtime="${RUNTIME_S:-15}"
formats="${FORMATS:-vdi vhd vhdx qcow2 vmdk}"
mkdir -p "$work"

for t in qemu-img qemu-storage-daemon fio fusermount; do
  command -v "$t" >/dev/null 2>&1 || { echo "bench: $t is required" >&2; exit 1; }
done

qsd_pid=""
cleanup() {
  set +e
  [ -n "$qsd_pid" ] && kill "$qsd_pid" 2>/dev/null && wait "$qsd_pid" 2>/dev/null
  mountpoint -q "$work/mnt" 2>/dev/null && fusermount -u "$work/mnt"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

drop_caches() {
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "bench: cannot drop the page cache (not root?)" >&2
}

# fio --minimal (terse v3): field 7 = read bandwidth KiB/s, field 8 = read IOPS
fio_run() { # file name rw bs direct jobs [time]
  local args=(--name="$2" --filename="$1" --rw="$3" --bs="$4" --direct="$5" --numjobs="$6"
              --ioengine=psync --group_reporting --minimal --readonly)
  [ -n "${7:-}" ] && args+=(--runtime="$7" --time_based)
  drop_caches
  fio "${args[@]}" 2>/dev/null | awk -F';' '{ printf "%.1f %.0f\n", $7 / 1024, $8 }'
}

measure() { # file → four figures: seqbuf MB/s, seqdirect MB/s, rand1 IOPS, rand4 IOPS
  local f="$1"
  local a b c d
  a=$(fio_run "$f" seqbuf read 1M 0 1 | cut -d' ' -f1)
  b=$(fio_run "$f" seqdirect read 1M 1 1 | cut -d' ' -f1)
  c=$(fio_run "$f" rand1 randread 4k 1 1 "$runtime" | cut -d' ' -f2)
  d=$(fio_run "$f" rand4 randread 4k 1 4 "$runtime" | cut -d' ' -f2)
  echo "$a $b $c $d"
}

echo "bench: making a ${size_mib} MiB random image in $work" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/src.raw"
qemu_fmt() { [ "$1" = vhd ] && echo vpc || echo "$1"; }
for fmt in $formats; do
  case $fmt in
    vhd) opts=(-o subformat=dynamic,force_size=on) ;;
    vdi|vhdx|qcow2|vmdk) opts=() ;;
    *) echo "bench: unknown format $fmt (vdi vhd vhdx qcow2 vmdk)" >&2; exit 1 ;;
  esac
  qemu-img convert -f raw -O "$(qemu_fmt "$fmt")" "${opts[@]}" "$work/src.raw" "$work/img.$fmt"
done
rm -f "$work/src.raw"
mkdir -p "$work/mnt"

"$repo/vdmount" --version >/dev/null # build on first use, outside the timings

printf '%-5s %-14s %12s %12s %8s\n' image test vdmount qemu ratio
all_ratios=()
for fmt in $formats; do
  img="$work/img.$fmt"
  qfmt=$(qemu_fmt "$fmt")

  "$repo/vdmount" "${fuse_opt[@]}" "$img" "$work/mnt"
  v=$(measure "$work/mnt/disk")
  fusermount -u "$work/mnt"

  export_file="$work/qemu-export.raw"
  : > "$export_file"
  qemu-storage-daemon \
    --blockdev driver=file,node-name=f,filename="$img",read-only=on \
    --blockdev driver="$qfmt",node-name=d,file=f,read-only=on \
    --export type=fuse,id=e,node-name=d,mountpoint="$export_file" >/dev/null 2>&1 &
  qsd_pid=$!
  for _ in $(seq 100); do
    [ "$(stat -c %s "$export_file")" -gt 0 ] && break
    sleep 0.1
  done
  q=$(measure "$export_file")
  kill "$qsd_pid"; wait "$qsd_pid" 2>/dev/null || true; qsd_pid=""

  read -r v1 v2 v3 v4 <<<"$v"
  read -r q1 q2 q3 q4 <<<"$q"
  row() {
    local r
    r=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '%-5s %-14s %12s %12s %8s\n' "$fmt" "$1" "$2" "$3" "$r"
    all_ratios+=("$r")
  }
  row "seq-buf MB/s" "$v1" "$q1"
  row "seq-dio MB/s" "$v2" "$q2"
  row "rand4k-1 IOPS" "$v3" "$q3"
  row "rand4k-4 IOPS" "$v4" "$q4"
done
printf '%s\n' "${all_ratios[@]}" | awk '$1 > 0 { s += log($1); n++ } END { if (n) printf "geomean-ratio %.2f\n", exp(s / n) }'
