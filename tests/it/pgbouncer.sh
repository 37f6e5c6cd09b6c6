#!/usr/bin/env bash
# Loads through a real PgBouncer, in pool_mode=session and then
# pool_mode=transaction: a plain cp commits, and a slow stream with a bad row
# gets EIO at a write soon after it, with nothing committed and the server's
# message in the history. Then a transaction pool of 4 with four long loads
# holding every slot: ls, stat and the status files still answer at once
# (nothing global waits for a slot), a fifth load waiting for one dies at
# once when killed, and the four commit.
#
# The server listens on 127.0.0.1 too (a free port); pgbouncer (run as the
# postgres user: it refuses root) listens on another free port and pools
# onto it; pgcopyfs is remounted through pgbouncer. The checks ask the
# server over the unix socket, around pgbouncer.
. "$(dirname "$0")/../lib.sh"
PGBOUNCER=${PGBOUNCER:-$(command -v pgbouncer || echo /usr/sbin/pgbouncer)}
if [ ! -x "$PGBOUNCER" ]; then
	echo "pgbouncer.sh: no pgbouncer binary (tests/install-deps.sh installs it)" >&2
	exit 1
fi
pcf_setup

BDIR=$PCF_TMP/bouncer
BOUNCER_PID=
bouncer_stop() {
	[ -n "$BOUNCER_PID" ] || return 0
	kill -TERM "$BOUNCER_PID" 2>/dev/null
	wait_for "pgbouncer $BOUNCER_PID to exit" 10 bash -c "! kill -0 $BOUNCER_PID" ||
		kill -KILL "$BOUNCER_PID" 2>/dev/null
	BOUNCER_PID=
}
# lib.sh's trap runs pcf_cleanup; keep it, after stopping pgbouncer.
trap 'bouncer_stop; pcf_cleanup' EXIT

pg_listen_tcp || exit 1

mkdir -p "$BDIR"
[ "$(id -u)" = 0 ] && chown postgres "$BDIR"
BOUNCER_PORT=$(free_port)

# bouncer_start MODE: pgbouncer anew, with that pool_mode; the old one (and
# the mount that used it) must be gone first.
bouncer_start() {
	bouncer_stop
	echo '"postgres" ""' >"$BDIR/users.txt"
	cat >"$BDIR/pgbouncer.ini" <<-INI
	[databases]
	postgres = host=127.0.0.1 port=$PGTCP dbname=postgres

	[pgbouncer]
	listen_addr = 127.0.0.1
	listen_port = $BOUNCER_PORT
	unix_socket_dir =
	auth_type = trust
	auth_file = $BDIR/users.txt
	pool_mode = $1
	default_pool_size = ${2:-10}
	max_client_conn = 100
	ignore_startup_parameters = extra_float_digits,options
	logfile = $BDIR/pgbouncer.log
	pidfile = $BDIR/pgbouncer.pid
	INI
	[ "$(id -u)" = 0 ] && chown postgres "$BDIR"/*
	rm -f "$BDIR/pgbouncer.pid"
	as_pg "$PGBOUNCER" -d "$BDIR/pgbouncer.ini" 2>>"$BDIR/start.log" ||
		{ cat "$BDIR/start.log" "$BDIR/pgbouncer.log" >&2; return 1; }
	wait_for "pgbouncer's pid file" 10 test -s "$BDIR/pgbouncer.pid" ||
		{ cat "$BDIR/pgbouncer.log" >&2; return 1; }
	BOUNCER_PID=$(cat "$BDIR/pgbouncer.pid")
	wait_for "pgbouncer on port $BOUNCER_PORT" 10 psql -X -A -t -q \
		"host=127.0.0.1 port=$BOUNCER_PORT dbname=postgres user=postgres" \
		-c "SELECT 1" || { cat "$BDIR/pgbouncer.log" >&2; return 1; }
}

# through MODE [POOL]: pgbouncer in MODE, pgcopyfs mounted through it.
through() {
	pcf_unmount
	bouncer_start "$1" "${2:-}" || { fail "$1: pgbouncer does not start"; return 1; }
	PCF_CONNINFO="host=127.0.0.1 port=$BOUNCER_PORT dbname=postgres user=postgres"
	pcf_remount || { fail "$1: cannot mount through pgbouncer"; return 1; }
}

# Connections pgbouncer has taken from clients so far (its log says so).
logins() { grep -c "login attempt" "$BDIR/pgbouncer.log" 2>/dev/null || echo 0; }

printf 'v\na\nb\nc\n' >"$W/three.csv"

check_cp() { # MODE
	local mode=$1 out rc before h t0 t1
	fresh
	before=$(logins)
	t0=$(date +%s.%N)
	out=$(timeout -k 5 60 cp "$W/three.csv" "$T" 2>&1)
	rc=$?
	t1=$(date +%s.%N)
	pcf_log "  $mode: cp took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
	expect_eq "$rc" 0 "$mode: cp exits 0 ($out)"
	wait_for "the commit" 5 bash -c '[ "$(psql -X -A -t -q -c "SELECT count(*) FROM v")" = 3 ]'
	expect_eq "$(rows)" 3 "$mode: 3 rows"
	h=$(last_history public.v)
	expect_match "$h" "outcome=committed" "$mode: history ($h)"
	expect_match "$h" "(^| )rows=3( |$)" "$mode: history rows"
	[ "$(logins)" -gt "$before" ] ||
		fail "$mode: the load did not log in through pgbouncer"
}

check_slow_stream() { # MODE
	local mode=$1 out dt h
	q "DROP TABLE IF EXISTS d; CREATE TABLE d (a int)"
	wait_for "d.csv" 5 test -e "$MNT/public/d.csv" || fail "$mode: no d.csv"
	out=$(timeout -k 5 60 python3 - "$MNT/public/d.csv" <<-'PY'
	import errno, os, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY)
	bad = None
	for i in range(1, 21):
	    if i == 3:
	        bad = time.monotonic()
	    try:
	        os.write(fd, b"x\n" if i == 3 else b"%d\n" % i)
	    except OSError as e:
	        print("row=%d %s %d %.3f" % (i, errno.errorcode.get(e.errno, "?"),
	                                     e.errno, time.monotonic() - bad), end=" ")
	        try:
	            os.close(fd)
	            print("close ok")
	        except OSError as e:
	            print("close", errno.errorcode.get(e.errno, "?"))
	        sys.exit(0)
	    time.sleep(1)
	print("no error")
	PY
	)
	pcf_log "  $mode: the failing write: $out"
	expect_match "$out" "^row=[0-9]+ EIO 5 [0-9.]+ " "$mode: EIO (errno 5) on a write"
	dt=$(printf '%s' "$out" | awk '{ print $4 }')
	awk -v d="${dt:-99}" 'BEGIN { exit !(d <= 2.5) }' ||
		fail "$mode: the failing write came ${dt:-never} s after the bad row (> 2.5 s)"
	expect_eq "$(count d)" 0 "$mode: no rows"
	h=$(last_history public.d)
	expect_match "$h" "outcome=failed" "$mode: history outcome ($h)"
	expect_match "$h" "errno=EIO" "$mode: history errno"
	expect_match "$h" 'invalid input syntax for type integer.*line 3' \
		"$mode: history has the server's message"
}

# Binary rows through the pooler: stretches of binary and CSV COPY in the
# load's one transaction, on the server connection that transaction holds;
# the rows are what psql stores from the same file, directly.
check_typed() { # MODE
	local mode=$1 h
	q "DROP TABLE IF EXISTS ty, ty2; CREATE TABLE ty (id int, n numeric, at timestamptz, u uuid);
	   CREATE TABLE ty2 (LIKE ty)"
	python3 - "$W/ty.csv" <<-'PY'
	import sys
	with open(sys.argv[1], "w") as f:
	    f.write("id,n,at,u\n")
	    for k in range(1, 4001):
	        n = " %d.5" % k if k == 1500 else "%d.5" % k  # one only the server reads
	        f.write("%d,%s,2024-01-02 03:04:05+01,%08x-0000-4000-8000-000000000000\n" % (k, n, k))
	PY
	timeout -k 5 60 cp "$W/ty.csv" "$MNT/public/ty.csv" || fail "$mode: cp of typed rows"
	psql -X -q -c "\\copy ty2 FROM '$W/ty.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(q "SELECT md5(string_agg(ty::text, ',' ORDER BY id)) FROM ty")" \
		"$(q "SELECT md5(string_agg(ty2::text, ',' ORDER BY id)) FROM ty2")" "$mode: typed rows as psql's"
	h=$(last_history public.ty)
	expect_match "$h" "outcome=committed .*binary_rows=(3[0-9]{3}) csv_rows=([0-9]+) " "$mode: binary and CSV rows ($h)"
}

test_a_session_pooling() {
	through session || return
	check_cp session
	check_slow_stream session
	check_typed session
}

test_b_transaction_pooling() {
	through transaction || return
	check_cp transaction
	check_slow_stream transaction
	check_typed transaction
}

# ms CMD...: runs CMD (bounded to 10 s) three times and prints the fastest
# in ms: a blocked command is slow every time, a busy CI machine only once.
ms() {
	local t0 t1 i best=999999
	for i in 1 2 3; do
		t0=$(date +%s%N)
		timeout -s KILL 10 "$@" >/dev/null 2>&1
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000000)) -lt "$best" ] && best=$(((t1 - t0) / 1000000))
	done
	echo "$best"
}

test_c_transaction_pool_full() {
	local i pids=() took limit=100 killer
	[ -n "${PCF_SANITIZED:-}" ] && limit=300
	fresh
	through transaction 4 || return
	# Four loads, each inside its transaction: every server slot is taken.
	for i in 1 2 3 4; do
		python3 - "$T" "$W/hold" "$i" <<-'PY' &
		import os, sys, time
		f = open(sys.argv[1], "w")
		f.write("v\nrow%s\n" % sys.argv[3]); f.flush()
		while not os.path.exists(sys.argv[2]):
		    time.sleep(0.05)
		f.close()
		PY
		pids+=($!)
	done
	wait_for "four loads streaming" 15 bash -c \
		"[ \$(grep -c 'state=copying' '$MNT/.pgcopyfs/loads') = 4 ]" ||
		fail "the four loads did not start"
	# Let the catalog's once-a-second read go stale: it now waits for a
	# slot too.
	sleep 1.2
	for what in "ls $MNT/public" "stat $T" "cat $MNT/.pgcopyfs/loads" "ls -l $MNT/public"; do
		# shellcheck disable=SC2086
		took=$(ms $what)
		[ "$took" -le "$limit" ] ||
			fail "$what with every pool slot taken: $took ms (limit $limit ms)"
	done
	# A fifth load waits for a slot in pgbouncer: killable at once.
	cp "$W/three.csv" "$MNT/public/d.csv" 2>/dev/null &
	killer=$!
	sleep 1
	kill -0 "$killer" 2>/dev/null || fail "the fifth load did not wait for a slot"
	kill -9 "$killer"
	took=0
	while kill -0 "$killer" 2>/dev/null && [ "$took" -lt 50 ]; do
		sleep 0.02
		took=$((took + 1))
	done
	kill -0 "$killer" 2>/dev/null &&
		fail "the fifth writer, killed while waiting for a slot, still there after 1 s ($(cat /proc/$killer/stat 2>/dev/null | cut -d' ' -f3))"
	wait "$killer" 2>/dev/null
	touch "$W/hold"
	for i in "${pids[@]}"; do
		timeout -s KILL 20 tail --pid="$i" -f /dev/null
		wait "$i"
		expect_eq "$?" 0 "a writer holding a slot exits 0"
	done
	expect_eq "$(rows)" 4 "the four loads' rows"
	rm -f "$W/hold"
}

pcf_run_tests
