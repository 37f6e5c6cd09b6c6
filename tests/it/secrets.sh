#!/usr/bin/env bash
# Passwords: one in CONNINFO is blanked from the daemon's arguments (ps
# shows them to every local user) with a warning; -o password_stdin reads it
# from standard input; with none known and a terminal, it is asked for, as
# psql does. The role here really needs a password (scram-sha-256 in
# pg_hba.conf for it alone).
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE ROLE pwuser LOGIN PASSWORD 'hunter2';
   CREATE TABLE sec (v text); GRANT INSERT, SELECT ON sec TO pwuser"
{ echo "local all pwuser scram-sha-256"; cat "$PCF_TMP/pg/pg_hba.conf"; } >"$W/hba"
cat "$W/hba" >"$PCF_TMP/pg/pg_hba.conf"
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

# own_mount INPUT OPTIONS... CONNINFO: a mount of our own, INPUT on stdin.
OWN_PID=
own_mount() {
	local input=$1
	shift
	pcf_unmount
	printf '%s' "$input" | "$PGCOPYFS_BIN" -f "$@" "$MNT" 2>>"$PCF_TMP/daemon.log" &
	OWN_PID=$!
	wait_for "the mount" 10 mountpoint -q "$MNT"
}
own_unmount() {
	fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$OWN_PID" ] && wait "$OWN_PID" 2>/dev/null
	OWN_PID=
}

test_password_in_conninfo_is_hidden_from_ps() {
	local before
	before=$(wc -l <"$PCF_TMP/daemon.log")
	own_mount "" "user=pwuser password=hunter2" || { fail "no mount"; return; }
	expect_eq "$(tr '\0' ' ' <"/proc/$OWN_PID/cmdline" | grep -c hunter2)" 0 \
		"the password is not in the daemon's arguments"
	tail -n +"$((before + 1))" "$PCF_TMP/daemon.log" | grep -q "warning: a password on the command line" ||
		fail "no warning on stderr"
	printf 'v\na\n' | cat >"$MNT/public/sec.csv"
	expect_eq "$?" 0 "a load with that password"
	own_unmount
	expect_eq "$(count sec)" 1 "its row"
}

test_password_stdin() {
	own_mount "hunter2
" -o password_stdin "user=pwuser" || { fail "no mount with -o password_stdin"; return; }
	printf 'v\nb\n' | cat >"$MNT/public/sec.csv"
	expect_eq "$?" 0 "a load with the password from stdin"
	own_unmount
	expect_eq "$(count sec)" 2 "its row"
}

test_no_password_fails_before_mounting() {
	local out
	out=$(timeout 20 "$PGCOPYFS_BIN" -f "user=pwuser" "$MNT" </dev/null 2>&1)
	expect_eq "$?" 1 "the start fails"
	expect_match "$out" "cannot connect to the database: .*password" "and says why"
	mountpoint -q "$MNT" && fail "mounted anyway"
}

test_password_asked_for_at_a_terminal() {
	local sp
	pcf_unmount
	# script(1) gives the daemon a terminal; the password is typed into it.
	( sleep 1; printf 'hunter2\n'; sleep 15 ) 2>/dev/null |
		script -qec "$PGCOPYFS_BIN -f user=pwuser $MNT" "$W/typescript" >/dev/null 2>&1 &
	sp=$!
	wait_for "the mount after the prompt" 15 mountpoint -q "$MNT" ||
		{ fail "no mount after typing the password ($(tr -d '\r' <"$W/typescript" | tail -n 2))"; kill "$sp"; return; }
	printf 'v\nc\n' | cat >"$MNT/public/sec.csv"
	expect_eq "$?" 0 "a load with the typed password"
	fusermount3 -u "$MNT"
	wait "$sp" 2>/dev/null
	# script(1) writes its typescript out as it ends.
	grep -q "Password for user pwuser: " "$W/typescript" || fail "no prompt"
	grep -q hunter2 "$W/typescript" && fail "the password was echoed"
	expect_eq "$(count sec)" 3 "its row"
	pcf_mount
}

pcf_run_tests
