# tests/lib.sh - shared by the integration tests: a throwaway PostgreSQL
# (initdb in a temporary directory, unix socket only), the real pgcopyfs
# mounted on a temporary directory, and assertions that say what differed.
#
# A test script sources this, calls pcf_setup, defines test_* functions and
# ends with pcf_run_tests. Environment:
#   PGCOPYFS_BIN  the pgcopyfs binary (CTest passes the built one)
#   PCF_KEEP=1    keep the temporary directory for a post-mortem
#   PCF_ONLY=RE   run only the tests whose names match the regex RE

set -u
set -o pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PGCOPYFS_BIN=${PGCOPYFS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/pgcopyfs}
PCF_PASSED=0
PCF_FAILED=0
PCF_FAILS=()
PCF_DAEMON_PID=
PCF_DAEMON_ERRORS=()
PCF_CURRENT=
PCF_WRAP=() # a command the daemon runs under (memcheck.sh: valgrind)

# Runs a command as the PostgreSQL owner (initdb refuses root), from /: the
# postgres user may not enter the caller's directory (a clone under /root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

pcf_log() { printf '%s\n' "$*" >&2; }

# Starts a throwaway server; exports PGHOST/PGPORT/PGUSER/PGDATABASE so
# psql and pgcopyfs "" find it.
pg_start() {
	PCF_TMP=$(mktemp -d /tmp/pgcopyfs-test.XXXXXX)
	chmod 755 "$PCF_TMP"
	mkdir -p "$PCF_TMP/pg" "$PCF_TMP/sock" "$PCF_TMP/mnt" "$PCF_TMP/work"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$PCF_TMP/pg" "$PCF_TMP/sock"
		touch "$PCF_TMP/pg.log" && chown postgres "$PCF_TMP/pg.log"
	fi
	as_pg "$PGBIN/initdb" -D "$PCF_TMP/pg" -A trust -U postgres -E UTF8 \
		--locale=C >"$PCF_TMP/initdb.log" 2>&1 ||
		{ cat "$PCF_TMP/initdb.log" >&2; return 1; }
	cat >>"$PCF_TMP/pg/postgresql.conf" <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$PCF_TMP/sock'
	port = 5432
	fsync = off
	max_connections = 100
	log_statement = 'all'
	CONF
	pg_ctl_start || return 1
	export PGHOST="$PCF_TMP/sock" PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
	unset PGSERVICE PGPASSWORD PGAPPNAME PGCONNECT_TIMEOUT
	export PGOPTIONS="-c client_min_messages=warning"
}

pg_ctl_start() {
	as_pg "$PGBIN/pg_ctl" -D "$PCF_TMP/pg" -l "$PCF_TMP/pg.log" -w -t 60 \
		start >/dev/null || { cat "$PCF_TMP/pg.log" >&2; return 1; }
}

pg_ctl() {
	as_pg "$PGBIN/pg_ctl" -D "$PCF_TMP/pg" -l "$PCF_TMP/pg.log" -w -t 60 "$@" \
		>/dev/null
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_listen_tcp: the server listens on 127.0.0.1 too, on a free port, set in
# PGTCP (the unix socket's name follows the port, so PGPORT follows it as
# well). Unmounts first: the mount's connections would break.
pg_listen_tcp() {
	pcf_unmount
	PGTCP=$(free_port)
	cat >>"$PCF_TMP/pg/postgresql.conf" <<-CONF
	listen_addresses = '127.0.0.1'
	port = $PGTCP
	CONF
	pg_ctl restart -m fast || { cat "$PCF_TMP/pg.log" >&2; return 1; }
	export PGPORT=$PGTCP
}

pg_stop() {
	[ -n "${PCF_TMP:-}" ] && [ -f "$PCF_TMP/pg/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$PCF_TMP/pg" -m immediate -w stop \
			>/dev/null 2>&1
	return 0
}

# q SQL: one query, unaligned, tuples only.
q() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}

MNT=
# Mounts pgcopyfs in the foreground (in the background of this shell) with
# the given options; waits until the mount answers.
pcf_mount() {
	MNT="$PCF_TMP/mnt"
	"${PCF_WRAP[@]}" "$PGCOPYFS_BIN" -f "$@" "${PCF_CONNINFO:-}" "$MNT" \
		2>>"$PCF_TMP/daemon.log" &
	PCF_DAEMON_PID=$!
	wait_for "the mount on $MNT" 20 mountpoint -q "$MNT"
}

# Mounted, also when its daemon is gone (a dead FUSE mount fails every
# stat with ENOTCONN, which mountpoint(1) takes for "not a mount point").
pcf_mounted() { grep -qs " ${1:-$MNT} fuse" /proc/self/mounts; }

pcf_unmount() {
	if pcf_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
	if [ -n "$PCF_DAEMON_PID" ]; then
		wait "$PCF_DAEMON_PID" 2>/dev/null
		PCF_DAEMON_STATUS=$?
		[ "$PCF_DAEMON_STATUS" = 0 ] ||
			PCF_DAEMON_ERRORS+=("daemon $PCF_DAEMON_PID exited $PCF_DAEMON_STATUS")
	fi
	PCF_DAEMON_PID=
}

# wait_for WHAT SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 20; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	pcf_log "timed out after ${secs}s waiting for $what"
	return 1
}

pcf_cleanup() {
	pcf_unmount
	pg_stop
	if [ "${PCF_KEEP:-0}" = 1 ] || [ "$PCF_FAILED" -gt 0 ]; then
		pcf_log "kept $PCF_TMP (daemon.log, pg.log)"
	else
		rm -rf "$PCF_TMP"
	fi
}

# pcf_setup [pgcopyfs options...]: server, mount, cleanup on exit.
pcf_setup() {
	pg_start || exit 1
	trap pcf_cleanup EXIT
	pcf_mount "$@" || { cat "$PCF_TMP/daemon.log" >&2; exit 1; }
	W=$PCF_TMP/work
	T=$MNT/public/v.csv
}

fail() {
	PCF_TEST_OK=0
	pcf_log "  FAIL [$PCF_CURRENT]: $*"
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	if [ "$1" != "$2" ]; then
		fail "$3: expected '$2', got '$1'"
		return 1
	fi
}

# expect_match TEXT REGEX WHAT
expect_match() {
	if ! printf '%s' "$1" | grep -Eq -- "$2"; then
		fail "$3: '$1' does not match /$2/"
		return 1
	fi
}

# expect_status EXPECTED WHAT CMD...: runs CMD, compares its exit status.
expect_status() {
	local want=$1 what=$2 got
	shift 2
	"$@"
	got=$?
	expect_eq "$got" "$want" "$what (exit status of: $*)"
}

# The last history line for a table (schema.table), from the mount itself.
last_history() {
	grep -F "table=$1 " "$MNT/.pgcopyfs/history" | tail -n 1
}

count() { q "SELECT count(*) FROM $1"; }

# The test_ functions in the order they are written (declare -F alone
# sorts them by name).
pcf_tests_in_order() {
	local f
	shopt -s extdebug
	for f in $(declare -F | awk '{print $3}' | grep '^test_'); do
		declare -F "$f"
	done | sort -k3,3 -k2,2n | awk '{print $1}'
	shopt -u extdebug
}

pcf_run_tests() {
	local t
	for t in $(pcf_tests_in_order); do
		[[ $t =~ ${PCF_ONLY:-.} ]] || continue
		PCF_CURRENT=$t
		PCF_TEST_OK=1
		"$t"
		if [ "$PCF_TEST_OK" = 1 ]; then
			PCF_PASSED=$((PCF_PASSED + 1))
			pcf_log "ok   $t"
		else
			PCF_FAILED=$((PCF_FAILED + 1))
			PCF_FAILS+=("$t")
		fi
	done
	# The daemon must still be alive, and exit 0 at unmount: under the
	# sanitizers a leak or an error shows as its exit status.
	if ! kill -0 "$PCF_DAEMON_PID" 2>/dev/null; then
		pcf_log "  FAIL: the daemon died"
		PCF_FAILED=$((PCF_FAILED + 1))
	else
		pcf_unmount
	fi
	if [ ${#PCF_DAEMON_ERRORS[@]} -gt 0 ]; then
		pcf_log "  FAIL: ${PCF_DAEMON_ERRORS[*]}"
		PCF_FAILED=$((PCF_FAILED + 1))
	fi
	# The daemon says "pgcopyfs: bug:" where its own bookkeeping is wrong
	# (a COPY ended twice): every test fails on it.
	if grep -q "^pgcopyfs: bug:" "$PCF_TMP/daemon.log"; then
		pcf_log "  FAIL: the daemon logged a bug: $(grep -m1 '^pgcopyfs: bug:' "$PCF_TMP/daemon.log")"
		PCF_FAILED=$((PCF_FAILED + 1))
	fi
	if [ "$PCF_FAILED" != 0 ] || grep -q "Sanitizer" "$PCF_TMP/daemon.log"; then
		grep -v -E '^(unique|   |getattr|write\[|open|flush|release)' \
			"$PCF_TMP/daemon.log" | tail -n 60 >&2
	fi
	echo "$(basename "$0" .sh): $PCF_PASSED passed, $PCF_FAILED failed"
	[ "$PCF_FAILED" = 0 ]
}

# pcf_remount [options...]: the same server, a new mount with new options.
pcf_remount() {
	pcf_unmount
	pcf_mount "$@" || { cat "$PCF_TMP/daemon.log" >&2; return 1; }
}

# Most tests load a one-column table v(v text): fresh makes it anew and
# points T at its file; rows counts it.
fresh() {
	q "DROP TABLE IF EXISTS v; CREATE TABLE v (v text)"
	T=$MNT/public/v.csv
}

rows() { q "SELECT count(*) FROM v"; }

# The blog posts' table of the README and the benchmarks.
make_posts() {
	q "DROP TABLE IF EXISTS ${1:-posts}; CREATE TABLE ${1:-posts} (
		id serial PRIMARY KEY,
		message varchar(1028) NOT NULL,
		created_at timestamptz DEFAULT now())"
}

# held_writer FILE DATA NAME: in the background, opens FILE, writes DATA
# (printf-style escapes), creates $W/NAME.ready, then waits until
# release_writer NAME before closing and exiting 0. Sets HELD_PID.
held_writer() {
	mkfifo "$PCF_TMP/work/$3.go"
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, sys.argv[2].encode().decode("unicode_escape").encode())
open(sys.argv[3] + ".ready", "w").close()
open(sys.argv[3] + ".go").read()
os.close(fd)
' "$1" "$2" "$PCF_TMP/work/$3" &
	HELD_PID=$!
	wait_for "writer $3" 10 test -e "$PCF_TMP/work/$3.ready"
}

release_writer() {
	: >"$PCF_TMP/work/$1.go"
	rm -f "$PCF_TMP/work/$1.go" "$PCF_TMP/work/$1.ready"
}
