#!/usr/bin/env bash
# Installs, on Debian 12, whatever pgcopyfs needs to build, run and test
# that is not there yet (with --run: to build and run only). Safe to run
# again: installs nothing when all is in.
set -euo pipefail

# --run: only what building, running and examples/quickstart.sh need.
run_only=0
[ "${1:-}" = --run ] && run_only=1

pkgs=(
	build-essential cmake pkg-config   # the build
	libfuse3-dev fuse3                 # FUSE (Debian's 3.14) and fusermount3
	libpq-dev postgresql-client        # libpq and psql
	zlib1g-dev libzstd-dev             # .gz and .zst loads
	libyajl-dev                        # .jsonl loads (yajl: see doc/formats.md)
	postgresql                         # the throwaway test servers
	procps psmisc util-linux           # ps, fuser, mountpoint, runuser
	libcmocka-dev                      # unit tests (cmake's default BUILD_TESTING=ON wants it)
)
[ "$run_only" = 1 ] || pkgs+=(
	python3                            # test writers that fork, pwrite, die
	clang libclang-rt-dev              # the libFuzzer target
	valgrind                           # the daemon under memcheck
	stress-ng                          # CPU load under the many-holders tests
	curl wget zstd gawk perl           # after_close.sh: writers that fail after their close
	pgbouncer                          # pgbouncer.sh: loads through a connection pooler
	locales                            # connect_errors.sh: a server speaking German (localedef)
	openjdk-17-jdk-headless            # legacy_tools.sh (and after_close.sh): java Prog.java, createTempFile + ATOMIC_MOVE (~116 MB download, ~260 MB installed)
	gnumeric                           # legacy_tools.sh: ssconvert saves via .gsf-save-XXXXXX + rename (~26 MB download, ~90 MB installed)
	libreoffice-calc-nogui             # legacy_tools.sh: soffice --convert-to csv, lock + temp file + rename (~82 MB download, ~255 MB installed)
	rsync tar sqlite3                  # safe_saves.sh: tools that save through a temp file, or ignore a failed close
	python3-pandas less                # read_tables.sh: pandas.read_csv and less(1) of a table file (~40 MB installed)
	libarchive-tools cpio              # read_tables.sh: bsdtar and cpio -o archive table files (size_at_stat)
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
# Do not let the postgresql package create and start a cluster of its own:
# the tests start their own throwaway servers.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	$SUDO mkdir -p /etc/postgresql-common
	echo "create_main_cluster = false" |
		$SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends "${missing[@]}" >/dev/null
