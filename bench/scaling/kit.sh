#!/usr/bin/env bash
# bench/scaling/kit.sh — assembles the kit that bench/scaling/run.sh runs from on a bare many-core
# machine (the `device` machine: no Java, no FUSE tools; root and /dev/fuse): a jlinked Java
# runtime, this checkout's jar, optionally an older commit's jar to compare with, and a static rd.
#
# Usage:  bench/scaling/kit.sh [--base REV] DIR
#   DIR      where to put the kit; inside the checkout it must be git-ignored (add it to
#            .git/info/exclude) and named in the device call's `carry`
#   --base   also builds REV (say HEAD~1) in a temporary worktree as DIR/base.jar; run.sh then
#            prints both side by side with their ratio
# Then, on the device:  DIR/run.sh     (about 15 s per jar and thread count list at T=3, plus set-up)
# Needs here: jlink (JDK 17), gcc with static glibc, Maven (the jar is built as ./vd builds it).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)"
base=""
if [ "${1:-}" = --base ]; then
  base=$2
  shift 2
fi
[ $# -eq 1 ] || { echo "usage: bench/scaling/kit.sh [--base REV] DIR" >&2; exit 2; }
kit=$1
rm -rf "$kit"
mkdir -p "$kit/bin"
build_jar() { # checkout -> builds its packaging/target/vdmount-all.jar
  (cd "$1" && mvn -B -ntp -q -o -pl packaging -am package -DskipTests 2>/dev/null \
    || mvn -B -ntp -q -pl packaging -am package -DskipTests)
}
build_jar "$repo"
cp "$repo/packaging/target/vdmount-all.jar" "$kit/vdmount-all.jar"
if [ -n "$base" ]; then
  wt=$(mktemp -d /tmp/vdscale-base.XXXXXX)
  git -C "$repo" worktree add -q --detach "$wt" "$base"
  build_jar "$wt"
  cp "$wt/packaging/target/vdmount-all.jar" "$kit/base.jar"
  git -C "$repo" worktree remove --force "$wt"
fi
gcc -O2 -pthread -static -o "$kit/bin/rd" "$repo/bench/scaling/rd.c" 2>/dev/null
jlink --add-modules java.base,java.logging,java.management,java.xml,jdk.unsupported --strip-debug --no-man-pages \
  --no-header-files --compress=2 --output "$kit/jre"
cp "$repo/bench/scaling/run.sh" "$kit/run.sh"
echo "kit.sh: $(du -sh "$kit" | cut -f1) in $kit; on the device: $kit/run.sh"
