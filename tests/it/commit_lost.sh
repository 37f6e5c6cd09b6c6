#!/usr/bin/env bash
# The connection breaks after COMMIT was sent and before its answer came
# back. The rows may well be committed: pgcopyfs must find out (it kept the
# transaction id, reconnects and asks txid_status()) rather than report a
# failure. Committed: the writer succeeds and history says committed; rolled
# back: the writer fails and history says failed; the server unreachable
# again: the writer fails with EREMOTEIO and history says unknown. Each case
# with cp (a plain close: the COMMIT may wait for cp's exit) and with dd
# conv=fsync (fsync() then close(): the close itself commits).
#
# The loads go over TCP through tests/tools/pgproxy.py, which cuts a
# connection right after its COMMIT has reached the server (or instead of
# forwarding it); the checks ask the server over the unix socket, around the
# proxy.
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
proxy_exit() {
	proxy_stop
	[ "$PCF_FAILED" -gt 0 ] && tail -n 40 "$PCF_TMP/proxy.log" >&2
	pcf_cleanup
}
trap proxy_exit EXIT

pg_listen_tcp || exit 1

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

# proxy_set MODE [THEN...]: tells the proxy, and waits until it has taken it.
proxy_set() {
	local seq
	seq=$(proxy_state seq)
	echo "$*" >"$CTL"
	wait_for "the proxy to take '$*'" 5 proxy_seq_above "$seq" ||
		fail "the proxy did not take '$*'"
}

printf 'v\na\nb\nc\n' >"$W/three.csv"

# load WRITER SRC DST: copies SRC into DST with WRITER, under a timeout; sets
# RC, OUT (its stderr) and SECS. The two ways a close can commit:
#   cp  the plain close of a process that runs on (the commit may wait for
#       its exit, which it reaches at once)
#   dd  dd conv=fsync: fsync() then close(), so the close itself commits
load() {
	local start=$SECONDS
	case $1 in
	cp) OUT=$(timeout -k 5 60 cp "$2" "$3" 2>&1) ;;
	dd) OUT=$(timeout -k 5 60 dd if="$2" of="$3" conv=fsync status=none 2>&1) ;;
	esac
	RC=$?
	SECS=$((SECONDS - start))
}
WRITERS="cp dd"

test_pass_load_through_the_proxy_commits() {
	local w accepted h
	for w in $WRITERS; do
		fresh
		proxy_set pass
		accepted=$(proxy_state accepted)
		load "$w" "$W/three.csv" "$T"
		expect_eq "$RC" 0 "$w exits 0 ($OUT)"
		expect_eq "$(rows)" 3 "$w: 3 rows"
		h=$(last_history public.v)
		expect_match "$h" "outcome=committed" "$w: history"
		expect_match "$h" "(^| )rows=3( |$)" "$w: history rows"
		[ "$(proxy_state accepted)" -gt "$accepted" ] ||
			fail "$w: the load did not go through the proxy"
	done
}

# The server committed; only its answer was lost.
test_lost_commit_answer_of_a_committed_load_is_success() {
	local w cuts h
	for w in $WRITERS; do
		fresh
		cuts=$(proxy_state cuts)
		proxy_set cut-after-commit pass
		load "$w" "$W/three.csv" "$T"
		expect_eq "$(proxy_state cuts)" $((cuts + 1)) \
			"$w: the proxy cut the load's connection after its COMMIT"
		expect_eq "$(rows)" 3 "$w: the server committed the rows"
		expect_eq "$RC" 0 "$w exits 0 (output: $OUT)"
		h=$(last_history public.v)
		expect_match "$h" "outcome=committed" "$w: history says committed"
		expect_match "$h" "(^| )rows=3( |$)" "$w: history counts the rows"
		proxy_set pass
	done
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
	local w after cuts h
	for w in $WRITERS; do
		for after in stall "cut refuse"; do
			fresh
			cuts=$(proxy_state cuts)
			# shellcheck disable=SC2086 # "cut refuse" is two words
			proxy_set cut-after-commit $after
			load "$w" "$W/three.csv" "$T"
			[ "$(proxy_state cuts)" -gt "$cuts" ] ||
				fail "$w, $after: the proxy did not cut the load's connection"
			if [ "$w" = cp ]; then
				# The COMMIT waits for cp at its exit_group(0), whose
				# status becomes 1 (README, Commit on close); cp itself
				# closed without an error, so it prints nothing.
				expect_eq "$RC" 1 "$w, $after: cp exits 1 ($OUT)"
			else
				expect_eq "$RC" 1 "$w, $after: $w exits 1 (output: $OUT)"
				expect_match "$OUT" "Remote I/O error" \
					"$w, $after: EREMOTEIO for the writer"
			fi
			[ "$SECS" -le $((CONNECT_TIMEOUT + 6)) ] ||
				fail "$w, $after: took ${SECS}s (connect_timeout=$CONNECT_TIMEOUT)"
			h=$(last_history public.v)
			expect_match "$h" "outcome=unknown" "$w, $after: history says unknown"
			expect_match "$h" "errno=EREMOTEIO" "$w, $after: history errno"
			proxy_set pass
			expect_eq "$(rows)" 3 "$w, $after: the rows are in fact committed"
		done
	done
	printf 'v\nafter\n' | timeout -k 5 30 cat >"$T"
	expect_eq "$?" 0 "the next load works"
}

# The COMMIT is lost on its way (the proxy cuts the connection instead of
# forwarding it): the server rolls back when it finds the connection gone,
# txid_status() says aborted, and the writer must fail.
test_lost_commit_answer_of_a_rolled_back_load_is_failure() {
	local w cuts h
	for w in $WRITERS; do
		fresh
		cuts=$(proxy_state cuts)
		proxy_set cut-at-commit pass
		load "$w" "$W/three.csv" "$T"
		expect_eq "$(proxy_state cuts)" $((cuts + 1)) \
			"$w: the proxy cut the load's connection at its COMMIT"
		expect_eq "$(rows)" 0 "$w: the server rolled back"
		expect_eq "$RC" 1 "$w exits 1 (output: $OUT)"
		h=$(last_history public.v)
		expect_match "$h" "outcome=failed" "$w: history says failed"
		expect_match "$h" "(^| )rows=0( |$)" "$w: history rows"
		expect_match "$h" "errno=ECONNRESET" "$w: history errno"
		proxy_set pass
	done
}

# A COMMIT the server refuses: a deferred unique constraint. The daemon may
# check deferred constraints before it sends COMMIT (then the proxy cuts
# nothing) or COMMIT fails and its answer is lost; either way the load
# failed, nothing of it is committed, and history says failed (not unknown).
test_lost_commit_answer_of_a_deferred_constraint_violation_is_failure() {
	q "DROP TABLE IF EXISTS dk; CREATE TABLE dk (v text UNIQUE DEFERRABLE INITIALLY DEFERRED)"
	q "INSERT INTO dk VALUES ('a')"
	wait_for "dk.csv" 5 test -e "$MNT/public/dk.csv" || fail "no dk.csv"
	printf 'v\nb\na\n' >"$W/dup.csv"
	local w cuts commits h
	for w in $WRITERS; do
		cuts=$(proxy_state cuts)
		commits=$(proxy_state commits)
		proxy_set cut-after-commit pass
		load "$w" "$W/dup.csv" "$MNT/public/dk.csv"
		if [ "$(proxy_state cuts)" -gt "$cuts" ]; then
			pcf_log "  ($w: the COMMIT was sent; the proxy cut its answer)"
		elif [ "$(proxy_state commits)" = "$commits" ]; then
			pcf_log "  ($w: no COMMIT was sent: the constraint failed before it)"
		fi
		proxy_set pass # disarm, if no COMMIT came
		expect_eq "$RC" 1 "$w exits 1 (output: $OUT)"
		expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM dk")" a \
			"$w: nothing of the load is committed"
		h=$(last_history public.dk)
		expect_match "$h" "outcome=failed" "$w: history says failed"
		expect_match "$h" "(^| )rows=0( |$)" "$w: history rows"
		if printf '%s' "$h" | grep -q "EREMOTEIO"; then
			fail "$w: history says EREMOTEIO: $h"
		fi
	done
	q "DROP TABLE dk"
}

pcf_run_tests
