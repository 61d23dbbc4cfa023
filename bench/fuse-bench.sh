#!/usr/bin/env bash
# bench/fuse-bench.sh — the FUSE transports side by side: vdmount --fuse jnr, vdmount --fuse kernel
# and qemu-storage-daemon's FUSE export, on the same image in the same run, interleaved (A/B/C per
# round) with the median of ROUNDS rounds per figure; the raw source file read directly is the
# ceiling (context only: its O_DIRECT reads go to the host disk, not through any FUSE layer).
#
# Usage (as root, needs /dev/fuse):  bench/fuse-bench.sh [--quick] [SIZE_MIB] [FORMAT] [WORKDIR]
#   --quick   for iterating: 1 round, 3 s per random-read test, 128 MiB unless SIZE_MIB is given
#   SIZE_MIB  virtual disk size, default 512 (random data: every block allocated); also the size of
#             the fresh images the write tests fill
#   FORMAT    vdi (default), vhd, vhdx, qcow2 or vmdk
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed at the end)
#   Env: ROUNDS (default 3), RUNTIME_S (default 8) seconds per random-read test, KEEP=1 keeps
#        WORKDIR, TARGETS (default "jnr kernel qsd raw"), TESTS (default: all of those below).
#
# Read tests (fio, hot host page cache for the image file; each mount starts with a cold FUSE cache):
#   seq-buf    1 MiB sequential reads of the whole disk, buffered (readahead)
#   seq-dio    1 MiB sequential reads of the whole disk, O_DIRECT
#   rand-qd1   4 KiB random reads, O_DIRECT, psync, 1 job, RUNTIME_S seconds
#   rand-qd16  4 KiB random reads, O_DIRECT, libaio iodepth 16, 1 job, RUNTIME_S seconds
#   rand-jN    4 KiB random reads, O_DIRECT, psync, N parallel jobs (threads), RUNTIME_S seconds;
#              the default runs N = 2, 4, ... up to the core count, and 16 (issue 18's "16 parallel
#              jobs"); with rand-qd1 as N = 1 a "scaling" line per target follows the table: IOPS
#              by job count, and whether they ever fall as jobs are added up to the core count
# Write tests, each into a FRESH empty dynamic FORMAT image of SIZE_MIB (qemu-img create, made again
# before every run, then `sync` so that no run starts while the last one's dirty pages are still
# being written back) mounted writable (vdmount --rw; qsd's export with writable=on); raw's figure,
# the ceiling, writes a fresh sparse raw file of SIZE_MIB directly (wseq-dio: to the host disk):
#   wseq-dio   1 MiB sequential writes of the whole disk, O_DIRECT
#   wseq-sync  1 MiB sequential writes of the whole disk, buffered, one fsync at the end (counted)
# Prints MB/s or IOPS per target and the ratios kernel/jnr and kernel/qsd, then
# "geomean-ratio kernel/qsd X" over every test. Requires: qemu-img, qemu-storage-daemon, fio,
# fusermount3, libfuse2.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
quick=
if [ "${1:-}" = --quick ]; then
  quick=1
  shift
fi
size_mib="${1:-${quick:+128}}"
size_mib="${size_mib:-512}"
fmt="${2:-vdi}"
work="${3:-$(mktemp -d /var/tmp/vdmount-fbench.XXXXXX)}"
rounds="${ROUNDS:-${quick:+1}}"
rounds="${rounds:-3}"
runtime="${RUNTIME_S:-${quick:+3}}"
runtime="${runtime:-8}"
targets="${TARGETS:-jnr kernel qsd raw}"
ncpu=$(nproc)
jobs_tests=""
for ((j = 2; j <= ncpu; j *= 2)); do jobs_tests+=" rand-j$j"; done
[ "$ncpu" -ge 16 ] || jobs_tests+=" rand-j16"
tests="${TESTS:-seq-buf seq-dio rand-qd1 rand-qd16$jobs_tests wseq-dio wseq-sync}"
mkdir -p "$work/mnt"

for t in qemu-img qemu-storage-daemon fio fusermount; do
  command -v "$t" >/dev/null 2>&1 || { echo "fuse-bench: $t is required" >&2; exit 1; }
done

qsd_pid=""
cleanup() {
  set +e
  [ -n "$qsd_pid" ] && kill "$qsd_pid" 2>/dev/null && wait "$qsd_pid" 2>/dev/null
  mountpoint -q "$work/mnt" 2>/dev/null && fusermount -u "$work/mnt"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# fio --minimal (terse v3): field 7 = read bandwidth KiB/s, field 8 = read IOPS, 48 = write KiB/s
one_test() { # file test → one figure
  local f="$1" args
  local jobs=1
  case $2 in rand-j[0-9]*) jobs=${2#rand-j} ;; esac
  args=(--filename="$f" --name="$2" --group_reporting --minimal --numjobs="$jobs" --thread)
  case $2 in
    wseq-*) args+=(--fallocate=none) ;;
    *) args+=(--readonly) ;;
  esac
  case $2 in
    seq-buf) args+=(--rw=read --bs=1M --direct=0 --ioengine=psync) ;;
    seq-dio) args+=(--rw=read --bs=1M --direct=1 --ioengine=psync) ;;
    rand-qd1) args+=(--rw=randread --bs=4k --direct=1 --ioengine=psync --runtime="$runtime" --time_based) ;;
    rand-qd16) args+=(--rw=randread --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --runtime="$runtime" --time_based) ;;
    rand-j[0-9]*) args+=(--rw=randread --bs=4k --direct=1 --ioengine=psync --runtime="$runtime" --time_based) ;;
    wseq-dio) args+=(--rw=write --bs=1M --direct=1 --ioengine=psync) ;;
    wseq-sync) args+=(--rw=write --bs=1M --direct=0 --ioengine=psync --end_fsync=1) ;;
    *) echo "fuse-bench: unknown test $2" >&2; exit 2 ;;
  esac
  case $2 in
    wseq-*) fio "${args[@]}" 2>/dev/null | awk -F';' '{ printf "%.0f\n", $48 / 1024 * 1.048576 }' ;; # MB/s
    seq-*) fio "${args[@]}" 2>/dev/null | awk -F';' '{ printf "%.0f\n", $7 / 1024 * 1.048576 }' ;; # MB/s
    *) fio "${args[@]}" 2>/dev/null | awk -F';' '{ printf "%.0f\n", $8 }' ;;
  esac
}

qfmt() { [ "$1" = vhd ] && echo vpc || echo "$1"; }
case $fmt in
  vhd) opts=(-o subformat=dynamic,force_size=on); create_opts=(-o subformat=dynamic) ;;
  vdi|vhdx|qcow2|vmdk) opts=(); create_opts=() ;;
  *) echo "fuse-bench: unknown format $fmt" >&2; exit 1 ;;
esac
echo "fuse-bench: ${size_mib} MiB random $fmt image in $work, $rounds rounds" >&2
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$work/src.raw"
img="$work/img.$fmt"
qemu-img convert -f raw -O "$(qfmt "$fmt")" "${opts[@]}" "$work/src.raw" "$img"
cat "$img" "$work/src.raw" > /dev/null # hot host page cache for every target
"$repo/vdmount" --version >/dev/null   # build on first use, outside the timings

start() { # target image [rw] → sets $file, the file to use (not in a subshell: qsd_pid must stay)
  local ro=on rw=() w=off
  if [ -n "${3:-}" ]; then ro=off; rw=(--rw); w=on; fi
  case $1 in
    jnr|kernel) "$repo/vdmount" "${rw[@]}" --fuse "$1" "$2" "$work/mnt"; file="$work/mnt/disk" ;;
    qsd)
      : > "$work/export.raw"
      qemu-storage-daemon \
        --blockdev driver=file,node-name=f,filename="$2",read-only=$ro \
        --blockdev driver="$(qfmt "$fmt")",node-name=d,file=f,read-only=$ro \
        --export type=fuse,id=e,node-name=d,mountpoint="$work/export.raw",writable=$w >/dev/null 2>&1 &
      qsd_pid=$!
      for _ in $(seq 100); do [ "$(stat -c %s "$work/export.raw")" -gt 0 ] && break; sleep 0.1; done
      file="$work/export.raw" ;;
    raw) file="$work/src.raw" ;;
  esac
}
stop() {
  case $1 in
    jnr|kernel) fusermount -u "$work/mnt" ;;
    qsd) kill "$qsd_pid"; wait "$qsd_pid" 2>/dev/null || true; qsd_pid="" ;;
  esac
}

fresh() { # a new empty dynamic image of $fmt, $size_mib MiB
  rm -f "$work/w.$fmt"
  qemu-img create -q -f "$(qfmt "$fmt")" "${create_opts[@]}" "$work/w.$fmt" "${size_mib}M"
}

declare -A fig
for r in $(seq "$rounds"); do
  for t in $targets; do
    start "$t" "$img"
    for x in $tests; do
      case $x in wseq-*) continue ;; esac
      fig[$t,$x]="${fig[$t,$x]:-} $(one_test "$file" "$x")"
    done
    stop "$t"
    for x in $tests; do
      case $x in wseq-*) ;; *) continue ;; esac
      if [ "$t" = raw ]; then # the ceiling: a fresh sparse raw file written directly, no FUSE layer
        rm -f "$work/w.raw"; truncate -s "${size_mib}M" "$work/w.raw"; sync
        fig[$t,$x]="${fig[$t,$x]:-} $(one_test "$work/w.raw" "$x")"
        continue
      fi
      fresh
      sync # no target starts with the previous run's dirty pages still being written back
      start "$t" "$work/w.$fmt" rw
      fig[$t,$x]="${fig[$t,$x]:-} $(one_test "$file" "$x")"
      stop "$t"
    done
  done
  echo "fuse-bench: round $r done" >&2
done

median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -n | awk '{ a[NR] = $1 } END { print (NR ? a[int((NR + 1) / 2)] : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "-" }'; }
printf '%-10s' test; for t in $targets; do printf ' %10s' "$t"; done; printf ' %10s %10s\n' kernel/jnr kernel/qsd
logsum=0; n=0
for x in $tests; do
  printf '%-10s' "$x"
  declare -A med=()
  for t in $targets; do
    med[$t]=$(echo "${fig[$t,$x]:-}" | median)
    if [ -n "${fig[$t,$x]:-}" ]; then printf ' %10s' "${med[$t]}"; else printf ' %10s' -; fi
  done
  kj=$(ratio "${med[kernel]:-0}" "${med[jnr]:-0}")
  kq=$(ratio "${med[kernel]:-0}" "${med[qsd]:-0}")
  printf ' %10s %10s\n' "$kj" "$kq"
  [ "$kq" = - ] && continue
  [ -z "${BENCH_RATIOS:-}" ] || echo "fuse-$fmt $x $kq" >> "$BENCH_RATIOS"
  logsum=$(awk -v s="$logsum" -v r="$kq" 'BEGIN { print s + log(r) }'); n=$((n + 1))
done
# scaling: IOPS by job count (rand-qd1 is 1 job); "falls" when a count up to the core count gives
# over 5% less than a smaller one (run-to-run noise on a busy machine is about that)
scaling=""
for x in $tests; do case $x in rand-qd1|rand-j[0-9]*) scaling+=" $x" ;; esac; done
if [ "$(echo $scaling | wc -w)" -gt 1 ]; then
  for t in $targets; do
    line="" best=0 falls=no
    for x in $scaling; do
      [ -n "${fig[$t,$x]:-}" ] || continue
      j=1; [ "$x" = rand-qd1 ] || j=${x#rand-j}
      v=$(echo "${fig[$t,$x]}" | median)
      line+=" ${j}j=$v"
      if [ "$j" -le "$ncpu" ]; then
        if awk -v v="$v" -v b="$best" 'BEGIN { exit !(v < 0.95 * b) }'; then falls=yes; fi
        if [ "$v" -gt "$best" ]; then best=$v; fi
      fi
    done
    [ -n "$line" ] && echo "scaling $t (IOPS, $ncpu cores):$line; falls up to $ncpu jobs: $falls"
  done
fi
echo "units: seq-* and wseq-* MB/s (median of $rounds), rand-* IOPS (median of $rounds); $fmt, ${size_mib} MiB"
awk -v s="$logsum" -v n="$n" 'BEGIN { if (n) printf "geomean-ratio kernel/qsd %.2f\n", exp(s / n); else print "geomean-ratio kernel/qsd -" }'
