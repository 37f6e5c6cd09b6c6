#!/usr/bin/env bash
# The connection breaks after COMMIT was sent and before its answer came
# back. The rows may well be committed: pgcopyfs must find out (it kept the
# transaction id, reconnects and asks txid_status()) rather than report a
# failure. Committed: the writer's close() returns 0 and history says
# committed; rolled back: the close fails and history says failed; the server
# unreachable again: the close fails with EREMOTEIO and history says unknown.
#
# The loads go over TCP through tests/tools/pgproxy.py, which cuts a
# connection right after its COMMIT has reached the server; the checks ask
# the server over the unix socket, around the proxy.
. "$(dirname "$0")/../lib.sh"
PGPROXY=$(cd "$(dirname "$0")/../tools" && pwd)/pgproxy.py
pcf_setup

PROXY_PID=
proxy_stop() {
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
		PROXY_PID=
	fi
}
# lib.sh's trap runs pcf_cleanup; keep it, after stopping the proxy (a
# daemon waiting on a stalled proxy connection unmounts once it is gone).
trap 'proxy_stop; pcf_cleanup' EXIT

# The server listens on 127.0.0.1 too, on a free port (the unix socket's
# name follows the port, so PGPORT follows it as well).
pcf_unmount
PGTCP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >>"$PCF_TMP/pg/postgresql.conf" <<-CONF
listen_addresses = '127.0.0.1'
port = $PGTCP
CONF
pg_ctl restart -m fast || { cat "$PCF_TMP/pg.log" >&2; exit 1; }
export PGPORT=$PGTCP

CTL=$W/proxy.ctl
python3 "$PGPROXY" --listen-port-file "$W/proxy.port" \
	--upstream "127.0.0.1:$PGTCP" --control "$CTL" --verbose \
	2>>"$PCF_TMP/proxy.log" &
PROXY_PID=$!
wait_for "the proxy" 10 test -s "$CTL.state" ||
	{ cat "$PCF_TMP/proxy.log" >&2; exit 1; }
PCF_CONNINFO="host=127.0.0.1 port=$(cat "$W/proxy.port") dbname=postgres user=postgres"
CONNECT_TIMEOUT=2
pcf_remount -o connect_timeout=$CONNECT_TIMEOUT || exit 1

# proxy_state FIELD: a field of the proxy's state line (seq mode then
# cuts=N commits=N accepted=N conns=N), by position or by name.
proxy_state() {
	case $1 in
	seq) cut -d' ' -f1 "$CTL.state" ;;
	*) sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$CTL.state" ;;
	esac
}
proxy_seq_above() { [ "$(proxy_state seq)" -gt "$1" ]; }

# proxy_set MODE [THEN]: tells the proxy, and waits until it has taken it.
proxy_set() {
	local seq
	seq=$(proxy_state seq)
	echo "$*" >"$CTL"
	wait_for "the proxy to take '$*'" 5 proxy_seq_above "$seq" ||
		fail "the proxy did not take '$*'"
}

printf 'v\na\nb\nc\n' >"$W/three.csv"

# cp_timed SRC DST: cp under a timeout; sets CP_RC, CP_OUT, CP_SECS.
cp_timed() {
	local start=$SECONDS
	CP_OUT=$(timeout -k 5 60 cp "$1" "$2" 2>&1)
	CP_RC=$?
	CP_SECS=$((SECONDS - start))
}

# The same with dd conv=fsync: its fsync() before close() makes the close
# commit at once, so the COMMIT's outcome is the close's (a cp's COMMIT
# waits for cp's exit, whose status is already decided then).
dd_timed() {
	local start=$SECONDS
	CP_OUT=$(timeout -k 5 60 dd if="$1" of="$2" conv=fsync status=none 2>&1)
	CP_RC=$?
	CP_SECS=$((SECONDS - start))
}

test_pass_load_through_the_proxy_commits() {
	fresh
	proxy_set pass
	local accepted h
	accepted=$(proxy_state accepted)
	cp_timed "$W/three.csv" "$T"
	expect_eq "$CP_RC" 0 "cp exits 0 ($CP_OUT)"
	expect_eq "$(rows)" 3 "3 rows"
	h=$(last_history public.v)
	expect_match "$h" "outcome=committed" "history"
	expect_match "$h" "(^| )rows=3( |$)" "history rows"
	[ "$(proxy_state accepted)" -gt "$accepted" ] ||
		fail "the load did not go through the proxy"
}

test_lost_commit_answer_of_a_committed_load_is_success() {
	fresh
	local cuts h
	cuts=$(proxy_state cuts)
	proxy_set cut-after-commit pass
	cp_timed "$W/three.csv" "$T"
	expect_eq "$(proxy_state cuts)" $((cuts + 1)) \
		"the proxy cut the load's connection after its COMMIT"
	expect_eq "$(rows)" 3 "the server committed the rows"
	expect_eq "$CP_RC" 0 "cp exits 0 (output: $CP_OUT)"
	h=$(last_history public.v)
	expect_match "$h" "outcome=committed" "history says committed"
	expect_match "$h" "(^| )rows=3( |$)" "history counts the rows"
	proxy_set pass
	printf 'v\nafter\n' | timeout -k 5 30 cat >"$T"
	expect_eq "$(rows)" 4 "the next load works"
}

# After the cut nobody reaches the server any more: every connection
# stalls and new ones are held unanswered (a dead network path:
# connect_timeout runs out), or every connection is closed and new ones are
# refused (the proxy, standing for the server, went away). pgcopyfs cannot
# know what became of the COMMIT and must say so: EREMOTEIO, outcome=unknown,
# never "failed" (the rows are in fact committed).
test_lost_commit_answer_with_the_server_unreachable_is_unknown() {
	local after cuts h
	for after in stall "cut refuse"; do
		fresh
		cuts=$(proxy_state cuts)
		proxy_set cut-after-commit $after
		dd_timed "$W/three.csv" "$T"
		[ "$(proxy_state cuts)" -gt "$cuts" ] ||
			fail "$after: the proxy did not cut the load's connection"
		expect_eq "$CP_RC" 1 "$after: dd conv=fsync exits 1 (output: $CP_OUT)"
		expect_match "$CP_OUT" "Remote I/O error" "$after: EREMOTEIO for the writer"
		[ "$CP_SECS" -le $((CONNECT_TIMEOUT + 6)) ] ||
			fail "$after: cp took ${CP_SECS}s (connect_timeout=$CONNECT_TIMEOUT)"
		h=$(last_history public.v)
		expect_match "$h" "outcome=unknown" "$after: history says unknown"
		expect_match "$h" "errno=EREMOTEIO" "$after: history errno"
		proxy_set pass
		expect_eq "$(rows)" 3 "$after: the rows are in fact committed"
	done
	# cp: the COMMIT comes at cp's exit (the commit rule), when its status
	# is decided already: only the history can say "unknown".
	fresh
	proxy_set cut-after-commit stall
	cp_timed "$W/three.csv" "$T"
	expect_eq "$CP_RC" 0 "cp: its exit came before the COMMIT ($CP_OUT)"
	h=$(last_history public.v)
	expect_match "$h" "outcome=unknown .*errno=EREMOTEIO" "cp: history says unknown"
	proxy_set pass
	printf 'v\nafter\n' | timeout -k 5 30 cat >"$T"
	expect_eq "$?" 0 "the next load works"
}

# A COMMIT the server refuses: a deferred unique constraint, checked at
# COMMIT. The new daemon may check deferred constraints before it sends
# COMMIT (then the proxy cuts nothing); either way the load failed, nothing
# of it is committed, and history says failed (not unknown).
test_lost_commit_answer_of_a_rolled_back_load_is_failure() {
	q "DROP TABLE IF EXISTS dk; CREATE TABLE dk (v text UNIQUE DEFERRABLE INITIALLY DEFERRED)"
	q "INSERT INTO dk VALUES ('a')"
	wait_for "dk.csv" 5 test -e "$MNT/public/dk.csv" || fail "no dk.csv"
	printf 'v\nb\na\n' >"$W/dup.csv"
	local cuts commits h
	cuts=$(proxy_state cuts)
	commits=$(proxy_state commits)
	proxy_set cut-after-commit pass
	cp_timed "$W/dup.csv" "$MNT/public/dk.csv"
	if [ "$(proxy_state cuts)" -gt "$cuts" ]; then
		pcf_log "  (the COMMIT was sent; the proxy cut its answer)"
	elif [ "$(proxy_state commits)" = "$commits" ]; then
		pcf_log "  (no COMMIT was sent: the constraint failed before it)"
	fi
	proxy_set pass # disarm, if no COMMIT came
	expect_eq "$CP_RC" 1 "cp exits 1 (output: $CP_OUT)"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM dk")" a \
		"nothing of the load is committed"
	h=$(last_history public.dk)
	expect_match "$h" "outcome=failed" "history says failed"
	expect_match "$h" "(^| )rows=0( |$)" "history rows"
	if printf '%s' "$h" | grep -q "EREMOTEIO"; then
		fail "history says EREMOTEIO: $h"
	fi
	q "DROP TABLE dk"
}

pcf_run_tests
