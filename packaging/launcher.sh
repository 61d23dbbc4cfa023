#!/usr/bin/env bash
# Shared by the ./vd and ./vdmount launchers: build the runnable jar on first use (or when the
# sources changed), then exec Java. Run with VDMOUNT_MAIN set to the main class.
# Installed by packaging/build-deb as /usr/share/vdmount/launcher.sh next to vdmount.jar (what
# /usr/bin/vd and /usr/bin/vdmount run): then the jar is used as it is and nothing is built.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -f "$here/vdmount.jar" ]; then
  installed=1
  jar="$here/vdmount.jar"
else
  installed=
  repo="$(cd "$here/.." && pwd)"
  jar="$repo/packaging/target/vdmount-all.jar"
fi
prog="${VDMOUNT_PROG:-vdmount}"

die() { echo "$prog: $*" >&2; exit 127; }

command -v java >/dev/null 2>&1 || die "Java 17 or newer is required and no 'java' is on PATH: install it (Debian: apt-get install openjdk-17-jre-headless)"
jv=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "Java 17 or newer is required, but $(readlink -f "$(command -v java)") is Java ${jv:-of unknown version} (install openjdk-17-jre-headless or newer; choose it with: update-alternatives --config java)"

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
  [ -n "$(find "$repo" -path "$repo/*/target" -prune -o \( -name '*.java' -o -name 'pom.xml' \) -newer "$jar" -print -quit 2>/dev/null)" ]
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
fi

exec java ${VDMOUNT_JAVA_OPTS:-} -cp "$jar" "$VDMOUNT_MAIN" "$@"
