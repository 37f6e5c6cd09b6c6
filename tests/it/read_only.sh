#!/usr/bin/env bash
# A server that takes no writes: a hot standby (pg_basebackup -R of the test
# cluster, started beside it), and a database whose
# default_transaction_read_only is on. Its table files show r--r--r--, and a
# write open fails with EROFS naming the cause (not EIO after a COPY the
# server refuses), with the reason in history.
. "$(dirname "$0")/../lib.sh"
pcf_setup

STANDBY=$PCF_TMP/standby
STANDBY_SOCK=$PCF_TMP/sock2
standby_stop() {
	[ -f "$STANDBY/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$STANDBY" -m immediate -w stop >/dev/null 2>&1
	return 0
}
trap 'standby_stop; pcf_cleanup' EXIT

# read_only_checks WHAT REASON: the table file's mode, the refused open, and
# history, on the mount as it is now.
read_only_checks() {
	local what=$1 reason=$2 out rc
	expect_eq "$(stat -c %A "$T")" "-r--r--r--" "$what: the table file's mode"
	out=$( { printf 'v\nx\n' | timeout -s KILL 10 cat >"$T"; } 2>&1)
	rc=$?
	expect_eq "$rc" 1 "$what: the writer fails ($out)"
	expect_match "$out" "Read-only file system" "$what: EROFS"
	expect_match "$(last_history public.v)" "errno=EROFS .*read-only: $reason" \
		"$what: history says why"
}

test_default_transaction_read_only() {
	fresh
	q "ALTER DATABASE postgres SET default_transaction_read_only = on"
	pcf_remount
	read_only_checks "default_transaction_read_only" "default_transaction_read_only is on"
	PGOPTIONS="-c default_transaction_read_only=off" \
		q "ALTER DATABASE postgres RESET default_transaction_read_only"
	pcf_remount
	expect_eq "$(stat -c %A "$T")" "-rw-r--r--" "writable again"
	printf 'v\nx\n' | cat >"$T"
	expect_eq "$?" 0 "a load commits again"
	expect_eq "$(rows)" 1 "its row"
}

test_hot_standby() {
	fresh
	mkdir -p "$STANDBY_SOCK" "$STANDBY"
	chown postgres "$STANDBY_SOCK" "$STANDBY"
	chmod 700 "$STANDBY"
	as_pg "$PGBIN/pg_basebackup" -h "$PCF_TMP/sock" -p 5432 -U postgres \
		-D "$STANDBY" -R -X stream >"$PCF_TMP/basebackup.log" 2>&1 ||
		{ cat "$PCF_TMP/basebackup.log" >&2; fail "pg_basebackup"; return; }
	cat >>"$STANDBY/postgresql.conf" <<-CONF
	port = 5433
	unix_socket_directories = '$STANDBY_SOCK'
	hot_standby = on
	CONF
	touch "$PCF_TMP/standby.log" && chown postgres "$PCF_TMP/standby.log"
	as_pg "$PGBIN/pg_ctl" -D "$STANDBY" -l "$PCF_TMP/standby.log" -w -t 60 start \
		>/dev/null || { cat "$PCF_TMP/standby.log" >&2; fail "the standby does not start"; return; }
	expect_eq "$(psql -X -A -t -h "$STANDBY_SOCK" -p 5433 -c 'SELECT pg_is_in_recovery()')" \
		t "the standby is in recovery"
	PCF_CONNINFO="host=$STANDBY_SOCK port=5433" pcf_remount
	read_only_checks "hot standby" "a hot standby"
	expect_eq "$(rows)" 0 "nothing reached the primary"
	PCF_CONNINFO= pcf_remount
	standby_stop
}

pcf_run_tests
