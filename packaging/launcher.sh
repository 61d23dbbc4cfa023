#!/bin/bash
# Shared by the ./vd and ./vdmount launchers (which source it): build the runnable jar on first use
# (or when the sources changed), then exec Java. Run with VDMOUNT_MAIN set to the main class.
# Installed by packaging/build-deb as /usr/share/vdmount/launcher.sh next to vdmount.jar (what
# /usr/bin/vd and /usr/bin/vdmount run): then the jar is used as it is and nothing is built.
# Every start runs this, so its common path starts only two programs (readlink, stat) besides
# java: the rest is bash itself (a program started costs ~5 ms on a small VM).
set -euo pipefail
here=${BASH_SOURCE[0]}
case $here in */*) here=${here%/*} ;; *) here=. ;; esac
here="$(cd "$here" && pwd)"
if [ -f "$here/vdmount.jar" ]; then
  installed=1
  jar="$here/vdmount.jar"
else
  installed=
  repo="$(cd "$here/.." && pwd)"
  jar="$repo/packaging/target/vdmount-all.jar"
fi
prog="${VDMOUNT_PROG:-vdmount}"
unset VDMOUNT_READY_FD # set below, for vdmount's daemon only: never one inherited from elsewhere

die() { echo "$prog: $*" >&2; exit 127; }

command -v java >/dev/null 2>&1 || die "Java 17 or newer is required and no 'java' is on PATH: install it (Debian: apt-get install openjdk-17-jre-headless)"
javabin=$(readlink -f "$(command -v java)")
# the version from the JDK's release file beside bin/java (starting a JVM just to ask costs ~0.1 s);
# a java without one (or an unreadable one) is asked itself
jv=
if [ -r "${javabin%/bin/java}/release" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      JAVA_VERSION=\"1.*) jv=${line#JAVA_VERSION=\"1.} ;;
      JAVA_VERSION=\"*) jv=${line#JAVA_VERSION=\"} ;;
      *) continue ;;
    esac
    jv=${jv%%[!0-9]*}
    break
  done <"${javabin%/bin/java}/release"
fi
[ -n "$jv" ] || jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is required, but $(readlink -f "$(command -v java)") is Java ${jv:-of unknown version} (install openjdk-17-jre-headless or newer; choose it with: update-alternatives --config java)"
# Newer Javas warn on stderr, on every start, about what jnr-ffi's jffi does: loading native code
# (22 and later, unless allowed) and sun.misc.Unsafe's memory access (23 and later). Both are
# allowed here; Java 17 knows neither option as such (the first would only turn off CDS's
# archived module graph there).
jvm_opts=()
[ "${jv%%.*}" -ge 22 ] && jvm_opts+=(--enable-native-access=ALL-UNNAMED)
[ "${jv%%.*}" -ge 23 ] && jvm_opts+=(--sun-misc-unsafe-memory-access=allow)

# Class data sharing (AppCDS, a static archive): the classes a start loads, parsed and verified
# once into an archive that every later start maps (-XX:SharedArchiveFile). It is made in two runs:
# ClassDataTraining lists the classes it loads (-XX:DumpLoadedClassList), then -Xshare:dump archives
# them with the JDK's own. A static archive (unlike Java 17's dynamic one, -XX:ArchiveClassesAtExit)
# also holds picocli's classes, which are Java 5 class files: -40 ms for `vd info`, -75 ms for a
# mount to be ready (2-core VM). One archive per jar and JVM: the name carries a key of the
# java binary, its version and the jar's size and mtime, so a rebuilt jar or another JVM looks for
# another file. The JVM also checks the archive itself and starts without it when it does not match
# (-Xlog:cds=off keeps that silent). Archives live in the build directory (made right after a build),
# or installed in /var/cache/vdmount (made by the package's postinst) and, for users who cannot
# write there, in ${XDG_CACHE_HOME:-~/.cache}/vdmount. A missing one is built in the background for
# the next start; this one runs without. VDMOUNT_CDS=0 turns all of it off; VDMOUNT_CDS_DIR=DIR
# keeps the archives in DIR instead.
cds_log=(-Xlog:cds=off -Xlog:cds+dynamic=off)
cds_key() { # a 32-bit string hash (bash arithmetic, no cksum to start) of the JVM and the jar's size and mtime
  local s i c h=5381
  s="$javabin $jv $(stat -Lc %s-%Y "$jar")"
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c %d "'${s:i:1}"
    h=$(((h * 33 + c) & 0xffffffff))
  done
  echo "$h"
}
cds_build() { # DIR: writes DIR/vdmount-KEY.jsa (a temporary name renamed, so readers never see half)
  local dir=$1 key tmp list
  key=$(cds_key)
  mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ] || return 1
  # the temporaries of a build killed midway (a build takes seconds: an hour-old one is dead)
  find "$dir" -maxdepth 1 -name '.vdmount-*.[0-9]*.*' -mmin +60 -delete 2>/dev/null || true
  tmp="$dir/.vdmount-$key.$$.jsa"
  list="$dir/.vdmount-$key.$$.classlist"
  if java "${jvm_opts[@]}" -XX:DumpLoadedClassList="$list" -cp "$jar" org.vdmount.mount.cli.ClassDataTraining \
       </dev/null >/dev/null 2>&1 && [ -s "$list" ] \
     && java "${jvm_opts[@]}" -Xshare:dump -XX:SharedClassListFile="$list" -XX:SharedArchiveFile="$tmp" "${cds_log[@]}" \
       -cp "$jar" </dev/null >/dev/null 2>&1 && [ -s "$tmp" ]; then
    rm -f "$list"
    chmod 0644 "$tmp"
    rm -f "$dir"/vdmount-*.jsa # those of older jars or other JVMs
    mv -f "$tmp" "$dir/vdmount-$key.jsa"
  else
    rm -f "$tmp" "$list"
    return 1
  fi
}
cds_build_locked() { # DIR: as cds_build, unless another start is building there already
  mkdir -p "$1" 2>/dev/null && [ -w "$1" ] || return 1
  ( command -v flock >/dev/null 2>&1 && { flock -n 9 || exit 0; }; cds_build "$1" ) 9>"$1/.lock"
}
if [ -n "${VDMOUNT_CDS_DIR:-}" ]; then
  cds_dirs=("$VDMOUNT_CDS_DIR")
elif [ -n "$installed" ]; then
  cds_dirs=(/var/cache/vdmount)
  [ -n "${XDG_CACHE_HOME:-${HOME:-}}" ] && cds_dirs+=("${XDG_CACHE_HOME:-$HOME/.cache}/vdmount")
else
  cds_dirs=("$repo/packaging/target")
fi

# the package's postinst: launcher.sh --build-cds-archive (as root, into /var/cache/vdmount)
if [ -z "${VDMOUNT_MAIN:-}" ] && [ "${1:-}" = --build-cds-archive ]; then
  cds_build "${2:-${cds_dirs[0]}}"
  exit
fi

# vdmount needs libfuse 2 (jnr-fuse binds libfuse.so.2) and fusermount (from fuse3 on Debian 12).
# Missing pieces are installed when we are root and apt-get exists; otherwise we say what to install.
check_fuse() {
  local missing=() ldc
  ldc=$(command -v ldconfig || echo /sbin/ldconfig)
  # no "ldconfig | grep -q" here: with pipefail, grep's early exit makes ldconfig die of SIGPIPE
  local libs f found=
  libs=$("$ldc" -p 2>/dev/null || true)
  case "$libs" in *"libfuse.so.2 "*) found=1 ;; esac
  if [ -z "$found" ]; then
    for f in /lib/*/libfuse.so.2 /usr/lib/*/libfuse.so.2 /usr/lib/libfuse.so.2; do
      [ -e "$f" ] && found=1 && break
    done
  fi
  [ -n "$found" ] || missing+=(libfuse2)
  if ! command -v fusermount >/dev/null 2>&1 && ! command -v fusermount3 >/dev/null 2>&1; then
    missing+=(fuse3)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  # installed as a package, dpkg has already been told what it depends on: only say what is missing
  if [ -z "$installed" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$prog: installing ${missing[*]} (FUSE support)..." >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q libfuse2 fuse3 >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q libfuse2 fuse3 >/dev/null 2>&1 \
        || die "installing FUSE support failed: run apt-get install libfuse2 fuse3"
    fi
    return 0
  fi
  die "FUSE support is missing (${missing[*]}): install it (Debian: apt-get install libfuse2 fuse3)"
}

if [ "$prog" = vdmount ]; then
  case " $* " in
    *" -h "*|*" --help "*|*" --version "*|*" -V "*) ;;
    *) check_fuse ;;
  esac
fi

needs_build() {
  [ -f "$jar" ] || return 0
  # rebuild when any source or POM is newer than the jar
  [ -n "$(find "$repo" \( -path "$repo/*/target" -o -path "$repo/.git" \) -prune -o \( -name '*.java' -o -name 'pom.xml' \) -newer "$jar" -print -quit 2>/dev/null)" ]
}

if [ -z "$installed" ] && needs_build; then
  command -v mvn >/dev/null 2>&1 || die "Maven is required to build on first use: install it (Debian: apt-get install maven)"
  log="$repo/packaging/target/build.log"
  mkdir -p "$repo/packaging/target"
  echo "$prog: building (first use, about a minute)..." >&2
  if ! (cd "$repo" && mvn -q -B -DskipTests -pl packaging -am package) >"$log" 2>&1; then
    echo "$prog: build failed; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  built=1
fi

cds_opts=()
if [ "${VDMOUNT_CDS:-1}" != 0 ]; then
  # right after a build the archive is made at once (the build took a minute anyway)
  [ -n "${built:-}" ] && cds_build "${cds_dirs[0]}" || true
  key=$(cds_key)
  for d in "${cds_dirs[@]}"; do
    if [ -f "$d/vdmount-$key.jsa" ]; then
      cds_opts=(-XX:SharedArchiveFile="$d/vdmount-$key.jsa" "${cds_log[@]}")
      break
    fi
  done
  if [ ${#cds_opts[@]} -eq 0 ]; then
    for d in "${cds_dirs[@]}"; do
      if (mkdir -p "$d" && [ -w "$d" ]) 2>/dev/null; then
        cds_build_locked "$d" </dev/null >/dev/null 2>&1 &
        break
      fi
    done
  fi
fi

# vd runs for a moment and calls libc only a few times per image (locks, hole punching, zstd per
# cluster): jnr-ffi's reflection invoker instead of classes generated at start-up (-40 ms), and no
# hsperfdata file (jps/jstat) for it. vdmount, whose FUSE transport calls libc on every request,
# keeps the generated invokers. vd's optimising compiler (C2) waits for code ten times hotter than
# by default: a command of a few seconds spends its CPU on I/O, not on compiling start-up code
# (a 1 GiB convert: -30% user time, -0.1 s), while what stays hot (AES of an encrypted image, a
# long serve) still gets C2 within milliseconds; C1 alone would make a LUKS convert 40% slower.
prog_opts=()
[ "$prog" = vd ] && prog_opts=(-Djnr.ffi.asm.enabled=false -XX:-UsePerfData
  -XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000
  -XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000)

# vdmount without -f returns once the mount is usable and leaves a daemon serving it. That daemon is
# this very JVM: it starts as a background job (a coprocess) whose descriptor 3 is a pipe back here,
# prompts and mounts on the user's terminal, then leaves the session, detaches its stdio and writes
# READY on the pipe, and this script exits 0. When it exits instead, its status is passed on (its
# error line is already on stderr). One JVM, not a command JVM that starts a daemon JVM: -0.35 s.
# A background job ignores SIGINT, so Ctrl-C (or TERM) while it starts is passed on as TERM.
# VDMOUNT_IN_PLACE=0: the command JVM starts the daemon JVM itself, as before.
detaches() { # vdmount ARGS... returns leaving a daemon: no -f, --help, --version or -u (a miss is harmless)
  local a
  for a in "$@"; do
    case $a in
      --) return 0 ;;
      -f|--foreground|-h|--help|-V|--version|-u|--unmount) return 1 ;;
      --*) ;;
      -*) [[ $a =~ ^-[vVhfu]+$ && $a == *[fhVu]* ]] && return 1 ;;
    esac
  done
  return 0
}
if [ "$prog" = vdmount ] && [ "${VDMOUNT_IN_PLACE:-1}" != 0 ] && detaches "$@"; then
  # the caller's stdio as 7, 8, 9 for the coprocess (one the caller closed: /dev/null instead)
  if [ -e /proc/self/fd/0 ]; then exec 7<&0; else exec 7</dev/null; fi
  if [ -e /proc/self/fd/1 ]; then exec 8>&1; else exec 8>/dev/null; fi
  if [ -e /proc/self/fd/2 ]; then exec 9>&2; else exec 9>/dev/null; fi
  coproc VDMOUNT_JVM {
    # a daemon keeps no descriptor its caller passed on beyond stdio (someone's pipe would never see EOF)
    for f in /proc/self/fd/*; do
      f=${f##*/}
      case $f in 0|1|2|7|8|9) ;; *) eval "exec $f>&-" 2>/dev/null || true ;; esac
    done
    VDMOUNT_READY_FD=3 exec java "${jvm_opts[@]}" "${cds_opts[@]}" ${VDMOUNT_JAVA_OPTS:-} -cp "$jar" \
      "$VDMOUNT_MAIN" "$@" 3>&1 1>&8 2>&9 0<&7 7<&- 8>&- 9>&-
  }
  pid=$VDMOUNT_JVM_PID
  exec {status_fd}<&"${VDMOUNT_JVM[0]}" 7<&- 8>&- 9>&- # bash closes the coprocess's own copy once it ends
  trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM HUP
  line=
  read -r -u "$status_fd" line || true
  [ "$line" = READY ] && exit 0
  rc=0
  while :; do # wait returns early (> 128) when a trapped signal arrives: again while the JVM lives
    wait "$pid" && rc=0 || rc=$?
    [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null || break
  done
  exit "$rc"
fi
exec java "${jvm_opts[@]}" "${cds_opts[@]}" "${prog_opts[@]}" ${VDMOUNT_JAVA_OPTS:-} -cp "$jar" "$VDMOUNT_MAIN" "$@"
