#!/usr/bin/env bash
# Connect errors on a server that speaks German (lc_messages=de_DE.UTF-8):
# a wrong password, a NOLOGIN role, a pg_hba.conf reject and a role's
# connection limit each give the writer the errno README "Errors" names
# (EACCES, EACCES, EACCES, EAGAIN), classified from the server's SQLSTATE,
# never from its words; history keeps the server's own message.
. "$(dirname "$0")/../lib.sh"

if ! locale -a 2>/dev/null | grep -qix 'de_DE.utf8'; then
	localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 2>/dev/null ||
		{ echo "connect_errors: cannot generate the de_DE.UTF-8 locale (localedef)" >&2; exit 1; }
fi

pg_start || exit 1
trap pcf_cleanup EXIT
W=$PCF_TMP/work
echo "lc_messages = 'de_DE.UTF-8'" >>"$PCF_TMP/pg/postgresql.conf"
q "CREATE ROLE loader LOGIN PASSWORD 'pw1';
   CREATE TABLE v (v text); GRANT INSERT, SELECT ON v TO loader"
HBA=$PCF_TMP/pg/pg_hba.conf
cp "$HBA" "$W/hba.orig"
{ echo "local all loader scram-sha-256"; cat "$W/hba.orig"; } >"$HBA"
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
[ "$(q 'SHOW lc_messages')" = de_DE.UTF-8 ] ||
	{ echo "connect_errors: the server does not speak German" >&2; exit 1; }

PCF_CONNINFO="user=loader password=pw1" pcf_mount || { cat "$PCF_TMP/daemon.log" >&2; exit 1; }
T=$MNT/public/v.csv

# open_fails ERRNO_WORDS ERRNO_NAME HISTORY_RE WHAT: a load's open fails so.
open_fails() {
	local out
	out=$(printf 'v\nx\n' | cat 2>&1 >"$T")
	expect_eq "$?" 1 "$4: the writer fails"
	expect_match "$out" "$1" "$4: $2"
	expect_match "$(last_history public.v)" "errno=$2 " "$4: history's errno"
	expect_match "$(last_history public.v)" "$3" "$4: history has the server's words"
	expect_eq "$(count v)" 0 "$4: nothing loaded"
}

loads_again() {
	printf 'v\nok\n' | cat >"$T"
	expect_eq "$?" 0 "$1: a load works again"
	q "TRUNCATE v"
}

test_wrong_password() {
	q "ALTER ROLE loader PASSWORD 'changed'"
	open_fails "Permission denied" EACCES "Passwort-Authentifizierung" "wrong password"
	expect_match "$(last_history public.v)" "sqlstate=28P01" "the SQLSTATE is kept"
	q "ALTER ROLE loader PASSWORD 'pw1'"
	loads_again "password back"
}

test_nologin_role() {
	q "ALTER ROLE loader NOLOGIN"
	open_fails "Permission denied" EACCES "loader" "NOLOGIN"
	q "ALTER ROLE loader LOGIN"
	loads_again "LOGIN back"
}

test_pg_hba_reject() {
	{ echo "local all loader reject"; cat "$W/hba.orig"; } >"$HBA"
	q "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
	open_fails "Permission denied" EACCES "pg_hba.conf" "pg_hba.conf reject"
	{ echo "local all loader scram-sha-256"; cat "$W/hba.orig"; } >"$HBA"
	q "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
	loads_again "pg_hba.conf back"
}

test_role_connection_limit() {
	# The mount's own connections (catalog, monitor) use the limit up.
	local held
	held=$(q "SELECT count(*) FROM pg_stat_activity WHERE usename = 'loader'")
	q "ALTER ROLE loader CONNECTION LIMIT $held"
	open_fails "Resource temporarily unavailable" EAGAIN "loader" "connection limit"
	q "ALTER ROLE loader CONNECTION LIMIT -1"
	loads_again "no limit"
}

test_start_failure_says_what_the_server_said() {
	local out
	mkdir -p "$W/m2"
	out=$(timeout 20 "$PGCOPYFS_BIN" -f "dbname=nope" "$W/m2" 2>&1)
	expect_eq "$?" 1 "the start fails"
	expect_match "$out" 'Datenbank .*nope.* existiert nicht' "in the server's words"
	expect_eq "$(printf '%s\n' "$out" | grep -c -E '3D000|LOCATION')" 0 \
		"without the SQLSTATE token or a LOCATION line"
	expect_eq "$(printf '%s\n' "$out" | wc -l)" 1 "on one line"
}

pcf_run_tests
