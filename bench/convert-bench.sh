#!/usr/bin/env bash
# bench/convert-bench.sh — `vd convert` and start-up against qemu-img, same images, same run.
#
# Usage:  bench/convert-bench.sh [--quick] [--sections convert,existing,compress,startup] [WORKDIR]
#   --quick     256 MiB random + 512 MiB half-zero instead of 1 GiB random + 4 GiB half-zero
#   --sections  which parts to run (default all four)
#   WORKDIR     scratch directory, default a new one under /var/tmp (removed unless KEEP=1)
#   Env: RUNS (default 3) timed runs per figure, the median is printed; VD (default ./vd);
#        VD_BASE another vd (say a checkout of an older commit) timed in the same interleaved runs,
#        printed as "before" at the end of each line (ratio qemu/before beside it);
#        PAIRS (default "qcow2:raw raw:qcow2 vdi:vhdx vmdk:vhdx") and SOURCES (default "random half")
#        restrict the convert section, e.g. PAIRS=raw:qcow2 SOURCES=random while iterating.
#
# convert: four pairs (qcow2→raw, raw→qcow2, vdi→vhdx, vmdk→vhdx) on two sources: random data
# (every block allocated) and "half-zero" (every other 1 MiB block random, the rest never written,
# so unallocated in the source images). Each source image is made from one raw file by qemu-img.
# The runs are interleaved (vd, qemu-img, vd, qemu-img, ...), page cache hot, `sync` before each
# run (outside the timing), whole-process wall time. vd convert makes its output durable (fsync at
# the end), so the peer is `qemu-img convert -t writeback` (which flushes at the end too); the time
# of qemu-img's default (-t unsafe for convert: no flush at all) is printed beside it for context.
# Every vd output is checked with `qemu-img compare` against the source and its allocated size
# (du) against qemu-img's output.
# existing: `vd convert -n` vs `qemu-img convert -n -t writeback`, qcow2 → an existing raw file of
# the source's size full of random bytes (made again before every run, outside the timing), on both
# sources: the data written, every range the source reads as zeros zeroed (holes punched). The
# target is checked with `qemu-img compare` and its allocation (du) printed beside qemu-img's.
# compress: `vd convert -c -O qcow2` vs `qemu-img convert -c -t writeback -O qcow2` on a "mixed" raw
# source (256 MiB, 1 GiB without --quick): each 1 MiB is random, text-like or zeros in turn. Both
# compress clusters on several threads (vd: -m workers, one per core up to 4; qemu: its thread pool).
# Checked with `qemu-img compare`; the sizes of both outputs are printed.
# startup: `vd --version` vs `qemu-img --version`, `vd info IMG` vs `qemu-img info IMG`, and
# `vdmount IMG MNT` vs `qemu-storage-daemon --daemonize ... --export type=fuse` (where FUSE works).
#
# Each line: figure, vd seconds, qemu-img seconds, ratio qemu/vd (> 1 means vd is faster); the last
# line is `geomean-ratio X` over every ratio printed (convert vs -t writeback, and start-up).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
quick=0
sections="convert,existing,compress,startup"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --sections) sections=$2; shift 2 ;;
    -*) echo "convert-bench: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
work="${1:-$(mktemp -d /var/tmp/vd-convert-bench.XXXXXX)}"
runs="${RUNS:-3}"
vd="${VD:-$repo/vd}"
base="${VD_BASE:-}"
mkdir -p "$work"
command -v qemu-img >/dev/null || { echo "convert-bench: qemu-img is required" >&2; exit 1; }
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT

if [ "$quick" = 1 ]; then rand_mib=256 half_mib=512; else rand_mib=1024 half_mib=4096; fi

ratios=()
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
row() { # name vd qemu [context]
  local r
  [[ "$2 $3" =~ ^[0-9.]+\ [0-9.]+$ ]] || { echo "convert-bench: $1: a run failed" >&2; exit 1; }
  r=$(awk -v v="$2" -v q="$3" 'BEGIN { printf "%.2f", q / v }')
  ratios+=("$r")
  [ -z "${BENCH_RATIOS:-}" ] || echo "convert ${1// /_} $r" >> "$BENCH_RATIOS" # for bench.sh --all
  printf '%-34s %9s %9s %7s  %s\n' "$1" "$2" "$3" "$r" "${4:-}"
}
before() { # base-times qemu-times: "; before X s (q/before R)" when VD_BASE is set
  [ -n "$1" ] || return 0
  local bt qt
  bt=$(echo "$1" | median) qt=$(echo "$2" | median)
  awk -v b="$bt" -v q="$qt" 'BEGIN { printf "; before %s s (q/before %.2f)", b, q / b }'
}
timed() { # command...: prints its wall seconds; its output is discarded, a failure stops the bench
  local t0 t1
  sync
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "convert-bench: failed: $*" >&2; exit 1; }
  t1=$(now)
  elapsed "$t0" "$t1"
}

[ -z "$base" ] || "$base" --version >/dev/null
"$vd" --version >/dev/null # builds on first use (and the class data archive), outside the timings
printf '%-34s %9s %9s %7s\n' figure "vd s" "qemu s" "q/vd"

if [[ ",$sections," == *",convert,"* ]]; then
  echo "convert-bench: making ${rand_mib} MiB random and ${half_mib} MiB half-zero sources in $work" >&2
  head -c "$((rand_mib << 20))" /dev/urandom >"$work/random.raw"
  truncate -s "${half_mib}M" "$work/half.raw"
  python3 - "$work/half.raw" "$half_mib" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    for i in range(0, int(sys.argv[2]), 2):
        f.seek(i << 20)
        f.write(os.urandom(1 << 20))
EOF
  for src in random half; do
    for fmt in qcow2 vdi vmdk; do
      qemu-img convert -f raw -O "$fmt" "$work/$src.raw" "$work/$src.$fmt"
    done
  done
  for src in ${SOURCES:-random half}; do
    size=$([ $src = random ] && echo "$rand_mib" || echo "$half_mib")
    for pair in ${PAIRS:-qcow2:raw raw:qcow2 vdi:vhdx vmdk:vhdx}; do
      from=${pair%%:*} to=${pair##*:}
      in="$work/$src.$from"
      qto=$([ "$to" = vhdx ] && echo vhdx || echo "$to")
      v=() q=() u=() b=()
      for ((i = 0; i < runs; i++)); do
        rm -f "$work/out.vd" "$work/out.q" "$work/out.u" "$work/out.b"
        [ -z "$base" ] || b+=("$(timed "$base" convert -f "$from" -O "$to" "$in" "$work/out.b")")
        v+=("$(timed "$vd" convert -f "$from" -O "$to" "$in" "$work/out.vd")")
        q+=("$(timed qemu-img convert -t writeback -f "$from" -O "$qto" "$in" "$work/out.q")")
        u+=("$(timed qemu-img convert -f "$from" -O "$qto" "$in" "$work/out.u")")
      done
      qemu-img compare -q -f "$from" -F "$qto" "$in" "$work/out.vd" \
        || { echo "convert-bench: vd's $to output differs from $in" >&2; exit 1; }
      du_vd=$(du -k "$work/out.vd" | cut -f1) du_q=$(du -k "$work/out.q" | cut -f1)
      row "convert $from>$to ${size}M $src" "$(echo "${v[*]}" | median)" "$(echo "${q[*]}" | median)" \
        "identical; du vd ${du_vd}K qemu ${du_q}K; qemu -t unsafe $(echo "${u[*]}" | median)$(before "${b[*]}" "${q[*]}")"
      rm -f "$work/out.vd" "$work/out.q" "$work/out.u" "$work/out.b"
    done
  done
fi

if [[ ",$sections," == *",existing,"* ]]; then
  for src in ${SOURCES:-random half}; do
    size=$([ $src = random ] && echo "$rand_mib" || echo "$half_mib")
    [ -e "$work/$src.qcow2" ] || {
      if [ $src = random ]; then head -c "$((size << 20))" /dev/urandom >"$work/$src.raw"
      else truncate -s "${size}M" "$work/$src.raw"; for ((i = 0; i < size; i += 2)); do
        dd if=/dev/urandom of="$work/$src.raw" bs=1M seek=$i count=1 conv=notrunc status=none; done; fi
      qemu-img convert -f raw -O qcow2 "$work/$src.raw" "$work/$src.qcow2"
    }
    head -c "$((size << 20))" /dev/urandom >"$work/noise"
    v=() q=() b=()
    for ((i = 0; i < runs; i++)); do
      [ -z "$base" ] || { cp "$work/noise" "$work/dst.b"; b+=("$(timed "$base" convert -n -f qcow2 "$work/$src.qcow2" "$work/dst.b")"); }
      cp "$work/noise" "$work/dst.vd"
      v+=("$(timed "$vd" convert -n -f qcow2 "$work/$src.qcow2" "$work/dst.vd")")
      cp "$work/noise" "$work/dst.q"
      q+=("$(timed qemu-img convert -n -t writeback -f qcow2 -O raw "$work/$src.qcow2" "$work/dst.q")")
    done
    qemu-img compare -q -f qcow2 -F raw "$work/$src.qcow2" "$work/dst.vd" \
      || { echo "convert-bench: vd convert -n left a target that differs from $src.qcow2" >&2; exit 1; }
    du_vd=$(du -k "$work/dst.vd" | cut -f1) du_q=$(du -k "$work/dst.q" | cut -f1)
    row "convert -n qcow2>raw ${size}M $src" "$(echo "${v[*]}" | median)" "$(echo "${q[*]}" | median)" \
      "identical; du vd ${du_vd}K qemu ${du_q}K$(before "${b[*]}" "${q[*]}")"
    rm -f "$work/noise" "$work/dst.vd" "$work/dst.q" "$work/dst.b"
  done
fi

if [[ ",$sections," == *",compress,"* ]]; then
  size=$([ "$quick" = 1 ] && echo 256 || echo 1024)
  python3 - "$work/mixed.raw" "$size" <<'EOF'
import os, random, sys
words = b"disk image cluster sector table of the qcow2 zlib block chain ".split()
rnd = random.Random(7)
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        if i % 3 == 0:
            f.write(os.urandom(1 << 20))
        elif i % 3 == 1:
            line = b" ".join(rnd.choice(words) for _ in range(40000))
            f.write((line * 2)[:1 << 20])
        else:
            f.write(bytes(1 << 20))
EOF
  v=() q=() b=()
  for ((i = 0; i < runs; i++)); do
    rm -f "$work/c.vd" "$work/c.q" "$work/c.b"
    [ -z "$base" ] || b+=("$(timed "$base" convert -c -f raw -O qcow2 "$work/mixed.raw" "$work/c.b")")
    v+=("$(timed "$vd" convert -c -f raw -O qcow2 "$work/mixed.raw" "$work/c.vd")")
    q+=("$(timed qemu-img convert -c -t writeback -f raw -O qcow2 "$work/mixed.raw" "$work/c.q")")
  done
  qemu-img compare -q -f raw -F qcow2 "$work/mixed.raw" "$work/c.vd" \
    || { echo "convert-bench: vd convert -c output differs from mixed.raw" >&2; exit 1; }
  row "convert -c raw>qcow2 ${size}M mixed" "$(echo "${v[*]}" | median)" "$(echo "${q[*]}" | median)" \
    "identical; size vd $(stat -c %s "$work/c.vd") qemu $(stat -c %s "$work/c.q")$(before "${b[*]}" "${q[*]}")"
  rm -f "$work/mixed.raw" "$work/c.vd" "$work/c.q" "$work/c.b"
fi

if [[ ",$sections," == *",startup,"* ]]; then
  img="$work/startup.qcow2"
  qemu-img create -q -f qcow2 "$img" 1G
  v=() q=() vi=() qi=() b=() bi=()
  for ((i = 0; i < runs * 2 + 1; i++)); do
    if [ -n "$base" ]; then
      b+=("$(timed "$base" --version)")
      bi+=("$(timed "$base" info "$img")")
    fi
    v+=("$(timed "$vd" --version)")
    q+=("$(timed qemu-img --version)")
    vi+=("$(timed "$vd" info "$img")")
    qi+=("$(timed qemu-img info "$img")")
  done
  row "startup --version" "$(echo "${v[*]}" | median)" "$(echo "${q[*]}" | median)" "$(before "${b[*]}" "${q[*]}")"
  row "startup info (1 GiB qcow2)" "$(echo "${vi[*]}" | median)" "$(echo "${qi[*]}" | median)" \
    "$(before "${bi[*]}" "${qi[*]}")"
  # a mount: `vdmount IMG MNT` returning (the files usable) against qemu-storage-daemon --daemonize
  # returning with its FUSE export of the same image up; each unmounted outside the timing
  if command -v qemu-storage-daemon >/dev/null && command -v fusermount >/dev/null && [ -e /dev/fuse ]; then
    vdm="${vd%/*}/vdmount" bvdm="${base:+${base%/*}/vdmount}"
    mkdir -p "$work/mnt"
    touch "$work/qsd.raw"
    mounted() { grep -q " $1 " /proc/self/mountinfo; }
    gone() { # MOUNTPOINT: waits (at most 10 s) until it is unmounted
      local i
      for ((i = 0; i < 200; i++)); do mounted "$1" || return 0; sleep 0.05; done
      echo "convert-bench: $1 still mounted" >&2; exit 1
    }
    m=() qm=() bm=()
    for ((i = 0; i < runs * 2 + 1; i++)); do
      if [ -n "$base" ]; then
        bm+=("$(timed "$bvdm" "$img" "$work/mnt")")
        fusermount -u "$work/mnt"; gone "$work/mnt"
      fi
      m+=("$(timed "$vdm" "$img" "$work/mnt")")
      fusermount -u "$work/mnt"; gone "$work/mnt"
      qm+=("$(timed qemu-storage-daemon --daemonize --pidfile "$work/qsd.pid" \
        --blockdev driver=file,node-name=f,filename="$img",read-only=on \
        --blockdev driver=qcow2,node-name=d,file=f,read-only=on \
        --export type=fuse,id=e,node-name=d,mountpoint="$work/qsd.raw")")
      kill "$(cat "$work/qsd.pid")"; gone "$work/qsd.raw"
    done
    row "startup mount (1 GiB qcow2)" "$(echo "${m[*]}" | median)" "$(echo "${qm[*]}" | median)" \
      "qemu: qemu-storage-daemon --daemonize, FUSE export$(before "${bm[*]}" "${qm[*]}")"
  fi
fi

printf '%s\n' "${ratios[@]}" | awk '{ s += log($1); n++ } END { if (n) printf "geomean-ratio %.2f\n", exp(s / n) }'
