#!/usr/bin/env bash
# Endless streams: program output that does not come all at once.
# * A producer silent for longer than the server's
#   idle_in_transaction_session_timeout, before its first byte, inside its
#   first line and between rows, still loads (the transaction begins with
#   the first whole line, and a running COPY is not idle), in both modes.
# * -o checkpoint=SECONDS: whole rows are committed as they come, each
#   checkpoint its own transaction; a writer stopped by SIGINT (from a
#   terminal), SIGTERM or SIGKILL loses only the rows after the last
#   checkpoint; fsync() is a checkpoint; a bad row or a server restart
#   keeps the earlier checkpoints; a quoted field open across a checkpoint
#   goes whole into the next transaction.
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE TABLE s (v text);
   CREATE TABLE ck (n int NOT NULL, v text);
   CREATE TABLE vm (us int, sy int, id int);
   ALTER DATABASE postgres SET idle_in_transaction_session_timeout = '1s'"
P=$MNT/public
wait_for "s.csv" 5 test -e "$P/s.csv"
pcf_remount # the loads' new connections take the setting

# The last history line of table ck (by outcome, if given).
ck_history() { grep -F "table=public.ck " "$MNT/.pgcopyfs/history" | grep -F "${1:-}" | tail -n 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# The rows of ck are 1..N, each once.
expect_contiguous() {
	expect_eq "$(q "SELECT count(*) = count(DISTINCT n) AND coalesce(max(n), 0) = count(*) FROM ck")" \
		t "$1: rows 1..N, each once ($(q "SELECT count(*), count(DISTINCT n), max(n) FROM ck"))"
}
# A shell loop writing row i every 0.2 s (a row a second, five times over).
LOOP='echo n,v; i=0; while :; do i=$((i+1)); echo "$i,row $i"; sleep 0.2; done'

test_idle_producer_outlives_idle_in_transaction_timeout() {
	q "TRUNCATE s"
	(sleep 1.5; printf 'v'; sleep 1.5; echo; sleep 1.5; echo a; sleep 1.5
	 printf 'b'; sleep 1.5; echo) >"$P/s.csv"
	expect_eq "$?" 0 "the producer's load"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM s")" "a,b" "every row"
	expect_match "$(last_history public.s)" "outcome=committed .*rows=2 " "history"
}

test_the_timeout_is_real() {
	# The same setting ends a transaction left idle: the test's premise.
	local out
	out=$({ echo "BEGIN;"; sleep 1.5; echo "SELECT 1;"; } |
		psql -X -q -v ON_ERROR_STOP=1 2>&1)
	expect_match "$out" "idle-in-transaction timeout" "psql's idle transaction is ended"
}

test_checkpoint_option_is_checked() {
	local out
	mkdir -p "$W/m2"
	out=$("$PGCOPYFS_BIN" -o checkpoint=0 "" "$W/m2" 2>&1)
	expect_eq "$?" 1 "checkpoint=0 is refused"
	expect_match "$out" "checkpoint= takes seconds" "and says why"
	out=$("$PGCOPYFS_BIN" -o checkpoint=1,commit=fsync "" "$W/m2" 2>&1)
	expect_match "$out" "do not go together" "with commit=fsync"
}

test_rows_show_while_the_stream_runs() {
	pcf_remount -o checkpoint=1
	q "TRUNCATE ck"
	setsid bash -c "$LOOP" >"$P/ck.csv" &
	local w=$! seen=0 i
	for i in $(seq 1 40); do
		sleep 0.1
		[ "$(count ck)" -gt 0 ] && { seen=1; break; }
	done
	expect_eq "$seen" 1 "rows visible within 4 s while the writer runs"
	grep -F "table=public.ck " "$MNT/.pgcopyfs/loads" | grep -q "committed=[1-9].* pending=[0-9]* checkpoints=[1-9].* last_checkpoint=20" ||
		fail "loads shows committed, pending, checkpoints, last_checkpoint: $(cat "$MNT/.pgcopyfs/loads")"
	sleep 1.5
	kill -TERM -- -"$w"
	wait "$w"
	expect_eq "$?" 143 "the writer ended by SIGTERM"
	sleep 0.3
	local h
	h=$(ck_history outcome=failed)
	expect_match "$h" "errno=ECANCELED .*earlier checkpoints stay" "history: why"
	expect_eq "$(count ck)" "$(field committed "$h")" "every checkpointed row kept, nothing after"
	expect_contiguous "SIGTERM"
	[ "$(count ck)" -ge 10 ] || fail "at least 2 s of rows kept: $(count ck)"
	expect_match "$(ck_history outcome=checkpoint)" "outcome=checkpoint .*committed=[1-9]" \
		"history records the checkpoints"
}

test_a_row_a_second_for_20_seconds() {
	pcf_remount -o checkpoint=2
	q "TRUNCATE ck"
	bash -c 'echo n,v; for i in $(seq 1 20); do echo "$i,second $i"; sleep 1; done' >"$P/ck.csv" &
	local w=$! at5 at12
	sleep 5.5
	at5=$(count ck)
	sleep 7
	at12=$(count ck)
	wait "$w"
	expect_eq "$?" 0 "the writer ends by itself"
	[ "$at5" -ge 2 ] && [ "$at5" -le 6 ] || fail "after 5 s: $at5 rows visible (2 to 6)"
	[ "$at12" -ge 9 ] && [ "$at12" -le 13 ] || fail "after 12 s: $at12 rows visible (9 to 13)"
	expect_eq "$(count ck)" 20 "every row at its close"
	expect_contiguous "a row a second"
	expect_match "$(ck_history outcome=committed)" "committed=20 pending=0 checkpoints=([5-9]|1[0-2])( |$)" \
		"history: the final count and the checkpoints"
	pcf_remount -o checkpoint=1
}

test_sigkill_keeps_checkpointed_rows() {
	q "TRUNCATE ck"
	setsid bash -c "$LOOP" >"$P/ck.csv" &
	local w=$!
	sleep 3.2
	kill -KILL -- -"$w"
	wait "$w"
	sleep 0.5
	local h
	h=$(ck_history outcome=failed)
	expect_match "$h" "errno=ECANCELED" "history"
	expect_eq "$(count ck)" "$(field committed "$h")" "SIGKILL: the checkpointed rows stay"
	expect_contiguous "SIGKILL"
	[ "$(count ck)" -ge 5 ] || fail "rows kept: $(count ck)"
}

test_ctrl_c_at_a_terminal_keeps_checkpointed_rows() {
	q "TRUNCATE ck"
	# script(1) gives the loop a terminal; ^C there is SIGINT to it.
	(sleep 3.2; printf '\003'; sleep 2) |
		script -qfec "bash -c '$LOOP' > '$P/ck.csv'" /dev/null >/dev/null 2>&1
	sleep 0.5
	local h
	h=$(ck_history outcome=failed)
	expect_match "$h" "errno=ECANCELED .*signal 2" "history: SIGINT"
	expect_eq "$(count ck)" "$(field committed "$h")" "Ctrl-C: the checkpointed rows stay"
	expect_contiguous "Ctrl-C"
	[ "$(count ck)" -ge 5 ] || fail "rows kept: $(count ck)"
}

test_vmstat_and_tail_f() {
	q "TRUNCATE vm"
	setsid bash -c "vmstat -n 1 | awk -v OFS=, 'NR > 2 { print \$13, \$14, \$15; fflush() }' >'$P/vm.csv'" &
	local w=$!
	sleep 3.5
	[ "$(count vm)" -ge 1 ] || fail "vmstat's rows show while it runs: $(count vm)"
	kill -TERM -- -"$w"
	wait "$w"
	sleep 0.3
	[ "$(count vm)" -ge 2 ] || fail "vmstat's checkpointed rows stay: $(count vm)"
	# tail -F of a growing file, piped into a table.
	q "TRUNCATE ck"
	: >"$W/grow.log"
	setsid bash -c "for i in \$(seq 1 1000); do echo \"\$i,line \$i\" >>'$W/grow.log'; sleep 0.1; done" &
	local g=$!
	setsid bash -c "tail -n +1 -F '$W/grow.log' 2>/dev/null | cat >'$P/ck.csv'" &
	local t=$!
	sleep 3.5
	[ "$(count ck)" -ge 10 ] || fail "tail -F's rows show while it runs: $(count ck)"
	kill -TERM -- -"$t" -"$g"
	wait "$t" "$g"
	sleep 0.3
	expect_contiguous "tail -F"
}

test_fsync_is_a_checkpoint() {
	pcf_remount -o checkpoint=3600
	q "TRUNCATE ck"
	local out
	out=$(python3 - "$P/ck.csv" <<-'PY'
	import os, subprocess, sys
	def rows():
	    return subprocess.run(["psql", "-XAtqc", "SELECT count(*) FROM ck"],
	                          capture_output=True, text=True).stdout.strip()
	f = open(sys.argv[1], "w")
	f.write("n,v\n1,a\n2,b\n3,c")   # the third row is not whole yet
	f.flush()
	os.fsync(f.fileno())
	print("after fsync", rows())
	f.write("\n4,d\n")
	f.flush()
	os.fdatasync(f.fileno())
	print("after fdatasync", rows())
	f.write("5,e\n")
	f.close()
	print("after close", rows())
	PY
	)
	expect_match "$out" "after fsync 2" "fsync commits the whole rows, at once"
	expect_match "$out" "after fdatasync 4" "so does fdatasync"
	expect_match "$out" "after close 5" "the close commits the rest"
	expect_contiguous "fsync"
}

test_quoted_field_open_across_a_checkpoint() {
	pcf_remount -o checkpoint=0.5
	q "TRUNCATE ck"
	local out
	out=$(python3 - "$P/ck.csv" <<-'PY'
	import subprocess, sys, time
	def rows():
	    return subprocess.run(["psql", "-XAtqc", "SELECT count(*) FROM ck"],
	                          capture_output=True, text=True).stdout.strip()
	f = open(sys.argv[1], "w", buffering=1)
	f.write('n,v\n1,a\n2,"first line\n')
	f.flush()
	time.sleep(1.5)                     # checkpoints are due meanwhile
	print("while open", rows())
	f.write('second line"\n3,c\n')
	f.flush()
	time.sleep(1.5)
	print("after", rows())
	f.close()
	PY
	)
	expect_match "$out" "while open 1" "only the whole row is committed"
	expect_match "$out" "after 3" "the open row goes whole into the next transaction"
	expect_eq "$(q "SELECT v FROM ck WHERE n = 2")" "first line
second line" "its value, both lines"
	expect_contiguous "quoted"
}

test_bad_row_keeps_earlier_checkpoints() {
	q "TRUNCATE ck"
	local out
	out=$(python3 - "$P/ck.csv" <<-'PY'
	import os, sys, time
	f = open(sys.argv[1], "w")
	f.write("n,v\n1,a\n2,b\n")
	f.flush()
	os.fsync(f.fileno())
	f.write("3,c\nnot-a-number,d\n")
	f.flush()
	time.sleep(1.5)
	try:
	    f.write("4,e\n")
	    f.flush()
	    f.close()
	    print("no error")
	except OSError as e:
	    print("error", e.errno)
	PY
	)
	expect_eq "$out" "error 5" "the writer gets EIO at its next write or close"
	expect_eq "$(count ck)" 2 "the checkpoint before the bad row stays"
	local h
	h=$(ck_history outcome=failed)
	expect_match "$h" "committed=2 " "history: committed"
	expect_match "$h" 'COPY ck, line 5, column n' "the file's line, not the COPY's"
}

test_server_restart_keeps_earlier_checkpoints() {
	q "TRUNCATE ck"
	setsid bash -c "$LOOP" >"$P/ck.csv" 2>"$W/restart.err" &
	local w=$!
	sleep 2.5
	pg_ctl restart -m fast
	# The loop goes on after a failed echo: its errors are the sign.
	wait_for "the writer's error" 5 grep -q "write error" "$W/restart.err" ||
		fail "the writer got no error: $(cat "$W/restart.err")"
	kill -KILL -- -"$w"
	wait "$w"
	expect_match "$(head -n 1 "$W/restart.err")" "Connection reset|Input/output" "ECONNRESET (or EIO)"
	[ "$(count ck)" -ge 5 ] || fail "earlier checkpoints stay: $(count ck)"
	expect_eq "$(count ck)" "$(field committed "$(ck_history outcome=failed)")" "exactly them"
	expect_contiguous "restart"
}

test_idle_producer_with_checkpoints() {
	pcf_remount -o checkpoint=1
	q "TRUNCATE s"
	(sleep 1.5; echo v; sleep 1.5; echo a; sleep 2.5; echo b; sleep 1.5) >"$P/s.csv"
	expect_eq "$?" 0 "a producer silent between checkpoints"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM s")" "a,b" "every row"
}

test_truncate_with_checkpoints_truncates_once() {
	pcf_remount -o checkpoint=0.5,truncate
	q "TRUNCATE ck; INSERT INTO ck VALUES (100, 'old')"
	python3 - "$P/ck.csv" <<-'PY'
	import os, sys, time
	f = open(sys.argv[1], "w")
	for i in range(1, 5):
	    f.write("%s%d,x\n" % ("n,v\n" if i == 1 else "", i))
	    f.flush()
	    os.fsync(f.fileno())
	    time.sleep(0.3)
	f.close()
	PY
	expect_eq "$(q "SELECT string_agg(n::text, ',' ORDER BY n) FROM ck")" "1,2,3,4" \
		"the old row replaced once, every checkpoint kept"
	pcf_remount
}

test_memory_stays_flat_with_checkpoints() {
	pcf_remount -o checkpoint=1
	q "TRUNCATE ck"
	python3 -c '
import sys
out = sys.stdout.buffer
out.write(b"n,v\n")
for k in range(30):   # 30 x 10,000 rows, about 30 MB, over a few seconds
    out.write(b"".join(b"%d,%s\n" % (k * 10000 + i, b"x" * 90)
                       for i in range(1, 10001)))
' >"$P/ck.csv"
	expect_eq "$?" 0 "a 30 MB stream under checkpoints"
	expect_eq "$(count ck)" 300000 "every row"
	local rss
	rss=$(awk '/VmHWM/ { print $2 }' "/proc/$PCF_DAEMON_PID/status")
	[ "$rss" -lt 65536 ] || fail "daemon peak RSS ${rss} kB"
	pcf_remount
}

pcf_run_tests
