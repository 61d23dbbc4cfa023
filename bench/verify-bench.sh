#!/usr/bin/env bash
# bench/verify-bench.sh — `vd verify` against libewf's `ewfverify` on the same E01 sets, same run.
#
# Usage:  bench/verify-bench.sh [--quick] [WORKDIR]
#   --quick   256 MiB media instead of 1 GiB
#   WORKDIR   scratch directory, default a new one under /var/tmp (removed unless KEEP=1)
#   Env: RUNS (default 3) timed runs per figure, the median is printed; VD (default ./vd);
#        VD_BASE another vd (an older checkout) timed in the same interleaved runs, printed as "before".
#
# The media is made here, the same on every machine: 1 MiB stretches of random bytes, zeros and a
# text-like pattern, in a seeded order (so compressed sets hold compressed, stored and empty
# chunks). ewfacquire makes two sets of it, "fast" (zlib) and "none" (stored chunks, Adler-32), in
# 32 KiB chunks, both with MD5 and SHA-1. Each run verifies both hashes: `vd verify SET` and
# `ewfverify -q -d sha1 SET` (it computes MD5 by default, -d adds SHA-1), interleaved, page cache
# hot, whole-process wall time. Each line: figure, vd seconds, ewfverify seconds, ratio ewf/vd
# (> 1 means vd is faster); the last line is `geomean-ratio X`.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    -*) echo "verify-bench: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
work="${1:-$(mktemp -d /var/tmp/vd-verify-bench.XXXXXX)}"
runs="${RUNS:-3}"
vd="${VD:-$repo/vd}"
base="${VD_BASE:-}"
mkdir -p "$work"
for t in ewfacquire ewfverify python3; do
  command -v "$t" >/dev/null || { echo "verify-bench: $t is required (apt-get install ewf-tools python3)" >&2; exit 1; }
done
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
mib=$([ "$quick" = 1 ] && echo 256 || echo 1024)

ratios=()
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { echo "${EPOCHREALTIME/,/.}"; }
timed() { # command...: prints its wall seconds; a failure stops the bench
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "verify-bench: failed: $*" >&2; exit 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

[ -z "$base" ] || "$base" --version >/dev/null
"$vd" --version >/dev/null # builds on first use, outside the timings
echo "verify-bench: making ${mib} MiB of media and two E01 sets in $work" >&2
python3 - "$work/media.raw" "$mib" <<'EOF'
import random, sys
r = random.Random(20261207)
text = b"".join(b"%08d the quick brown fox jumps over the lazy evidence\n" % i for i in range(20000))[: 1 << 20]
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        kind = r.randrange(3)
        f.write(r.randbytes(1 << 20) if kind == 0 else bytes(1 << 20) if kind == 1 else text)
EOF
for c in fast none; do
  ewfacquire -u -q -t "$work/$c" -c "deflate:$c" -b 64 -P 512 -d sha1 -S 4G "$work/media.raw" >/dev/null 2>&1 \
    || { echo "verify-bench: ewfacquire failed" >&2; exit 1; }
done
rm -f "$work/media.raw"

printf '%-28s %9s %9s %7s\n' figure "vd s" "ewf s" "ewf/vd"
for c in fast none; do
  set_=$work/$c.E01
  v=() e=() b=()
  for ((i = 0; i < runs; i++)); do
    [ -z "$base" ] || b+=("$(timed "$base" verify "$set_")")
    v+=("$(timed "$vd" verify "$set_")")
    e+=("$(timed ewfverify -q -d sha1 "$set_")")
  done
  vm=$(echo "${v[*]}" | median) em=$(echo "${e[*]}" | median)
  r=$(awk -v v="$vm" -v e="$em" 'BEGIN { printf "%.2f", e / v }')
  ratios+=("$r")
  extra=""
  [ -z "$base" ] || extra=$(awk -v b="$(echo "${b[*]}" | median)" -v e="$em" \
    'BEGIN { printf "before %s s (ewf/before %.2f)", b, e / b }')
  printf '%-28s %9s %9s %7s  %s\n' "verify ${mib}M deflate:$c" "$vm" "$em" "$r" "$extra"
done
printf '%s\n' "${ratios[@]}" | awk '{ s += log($1); n++ } END { printf "geomean-ratio %.2f\n", exp(s / n) }'
