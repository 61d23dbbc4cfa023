#!/usr/bin/env bash
# bench/scaling/run.sh — the scaling check of issue 18, on a bare many-core machine (as root, with
# /dev/fuse, no Java or FUSE tools): run from a kit that bench/scaling/kit.sh assembled.
#
# Usage (on that machine):  KIT/run.sh [IMAGE_MIB]      Env: T seconds per figure (default 3),
#                           THREADS (default "1 2 4 8 16 32"), W scratch directory (default /tmp/vdscale)
# One random raw file (IMAGE_MIB, default 1024) is converted to a dynamic VDI by the kit's vd; then
# for each jar of the kit (vdmount-all.jar = "new", and base.jar = "base" where the kit has one) the
# VDI is mounted read-only (foreground daemon, the default kernel transport) and read through the
# mount with THREADS threads of 4 KiB O_DIRECT random reads (every read a FUSE request: the
# daemon's path), then the raw file the same way through the page cache (the ceiling). Prints one
# table (reads/s per thread count) and, per jar, whether its figures ever fall as threads are added
# up to the core count.
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
size_mib=${1:-1024}
secs=${T:-3}
threads=${THREADS:-1 2 4 8 16 32}
w=${W:-/tmp/vdscale}
java="$kit/jre/bin/java"
cores=$(nproc)
mkdir -p "$w/m"
echo "scaling: $cores cores, $(uname -r), ${size_mib} MiB random VDI, ${secs} s per figure"
[ -f "$w/r.raw" ] || head -c "$((size_mib << 20))" /dev/urandom >"$w/r.raw"
rm -f "$w/r.vdi"
"$java" -cp "$kit/vdmount-all.jar" org.vdmount.mount.cli.VdMain convert -O vdi "$w/r.raw" "$w/r.vdi" || exit 1
cat "$w/r.raw" "$w/r.vdi" >/dev/null

declare -A iops
jars=(new)
[ -f "$kit/base.jar" ] && jars+=(base)
for name in "${jars[@]}"; do
  jar="$kit/vdmount-all.jar"
  [ "$name" = base ] && jar="$kit/base.jar"
  "$java" -cp "$jar" org.vdmount.mount.cli.VdmountMain -f "$w/r.vdi" "$w/m" >"$w/$name.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do [ -e "$w/m/disk" ] && break; sleep 0.2; done
  [ -e "$w/m/disk" ] || { echo "scaling: the $name mount failed"; cat "$w/$name.log"; exit 1; }
  for th in $threads; do
    iops[$name,$th]=$("$kit/bin/rd" "$w/m/disk" rand4k "$th" "$secs" 1 | sed 's/.*ops\/s=\([0-9]*\).*/\1/')
  done
  umount "$w/m" 2>/dev/null || fusermount3 -u "$w/m" 2>/dev/null || fusermount -u "$w/m"
  wait "$daemon"
done
for th in $threads; do
  iops[raw,$th]=$("$kit/bin/rd" "$w/r.raw" rand4k "$th" "$secs" 0 | sed 's/.*ops\/s=\([0-9]*\).*/\1/')
done

printf '%-8s' threads; for name in "${jars[@]}" raw; do printf '%12s' "$name"; done
[ -f "$kit/base.jar" ] && printf '%10s' new/base
echo
for th in $threads; do
  printf '%-8s' "$th"
  for name in "${jars[@]}" raw; do printf '%12s' "${iops[$name,$th]}"; done
  [ -f "$kit/base.jar" ] && awk -v a="${iops[new,$th]}" -v b="${iops[base,$th]}" 'BEGIN { printf "%10.2f", a / b }'
  echo
done
for name in "${jars[@]}"; do
  prev=0 falls=no
  for th in $threads; do
    [ "$th" -le "$cores" ] || continue
    [ "${iops[$name,$th]}" -lt "$prev" ] && falls="yes (at $th threads)"
    prev=${iops[$name,$th]}
  done
  echo "scaling $name: 4 KiB O_DIRECT reads/s through the mount; falls up to $cores threads: $falls"
done
