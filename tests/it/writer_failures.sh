#!/usr/bin/env bash
# Writers that fail in the ways /proc can see, and writers that confuse the
# stream (gaps, size changes, fallocate, sparse copies): nothing committed,
# an error for the writer, the reason in the history. And the strict mode
# for what /proc cannot see.
. "$(dirname "$0")/../lib.sh"
pcf_setup

test_c_writer_exiting_1_without_closing() {
	fresh
	cat >"$W/exit1.c" <<-'C'
	#include <fcntl.h>
	#include <stdlib.h>
	#include <unistd.h>
	int main(int argc, char **argv)
	{
		int fd = open(argv[1], O_WRONLY | O_TRUNC);
		if (fd < 0 || write(fd, "v\na\nb\n", 6) != 6)
			return 2;
		exit(1); /* the kernel closes fd at exit: that close must roll back */
	}
	C
	cc -o "$W/exit1" "$W/exit1.c" || { fail "cannot compile"; return; }
	"$W/exit1" "$T" || echo "failed" >"$W/seen"
	expect_eq "$(cat "$W/seen" 2>/dev/null)" "failed" "the parent saw the failure"
	expect_eq "$(rows)" 0 "no rows by the time wait() returned"
	expect_match "$(last_history public.v)" "errno=ECANCELED .*exited with status 1" \
		"history"
}

test_multithreaded_writer_killed_from_a_thread() {
	fresh
	python3 - "$T" <<-'PY'
	import os, signal, sys, threading
	fd = os.open(sys.argv[1], os.O_WRONLY)
	def writer():
	    os.write(fd, b"v\n" + b"row\n" * 1000)
	t = threading.Thread(target=writer); t.start(); t.join()
	def killer():
	    os.kill(os.getpid(), signal.SIGKILL)
	k = threading.Thread(target=killer); k.start(); k.join()
	PY
	expect_eq "$?" 137 "killed"
	expect_eq "$(rows)" 0 "no rows"
	expect_match "$(last_history public.v)" "errno=ECANCELED .*killed by (signal 9|a signal while waiting on the server)" \
		"history"
}

test_writer_killed_while_blocked_in_a_slow_close() {
	fresh
	# A statement trigger makes the end of the COPY take seconds: the writer
	# is inside close() while the server finishes.
	q "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
	   'BEGIN PERFORM pg_sleep(3); RETURN NULL; END';
	   CREATE TRIGGER slow AFTER INSERT ON v FOR EACH STATEMENT EXECUTE FUNCTION slow()"
	python3 - "$T" "$W/closing" <<-'PY' &
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\na\nb\n")
	open(sys.argv[2], "w").close()
	os.close(fd)
	print("close returned")
	PY
	local p=$!
	wait_for "the writer in close()" 10 test -e "$W/closing"
	wait_for "the trigger to run" 10 bash -c \
		"psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'\" | grep -q 1"
	kill -9 "$p"
	wait "$p"
	expect_eq "$?" 137 "killed in close()"
	wait_for "the load to finish" 10 bash -c "! grep -q table=public.v '$MNT/.pgcopyfs/loads'"
	expect_eq "$(rows)" 0 "rolled back, not committed"
	# Killed while the close waits on the server: the wait is cut short
	# (calls.c), and the reason is the writer's death either way.
	expect_match "$(last_history public.v)" "errno=ECANCELED .*(killed by signal 9 .*while closing|killed by a signal while waiting on the server)" \
		"history"
	q "DROP TRIGGER slow ON v; DROP FUNCTION slow()"
}

test_gap_fails_the_load() {
	fresh
	local out
	out=$(python3 - "$T" <<-'PY'
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\na\n")
	try:
	    os.pwrite(fd, b"b\n", 100)
	except OSError as e:
	    print(e.strerror)
	try:
	    os.close(fd)
	except OSError as e:
	    print(e.strerror)
	PY
	)
	expect_eq "$out" "Invalid argument
Invalid argument" "write and close"
	expect_eq "$(rows)" 0 "rows"
}

test_fallocate_fails_the_load() {
	fresh
	local out
	out=$(python3 - "$T" <<-'PY'
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\na\n")
	for f in (lambda: os.posix_fallocate(fd, 0, 4096), lambda: os.close(fd)):
	    try:
	        f()
	    except OSError as e:
	        print(e.errno == 95 and "EOPNOTSUPP" or e.strerror)
	PY
	)
	expect_eq "$out" "EOPNOTSUPP
EOPNOTSUPP" "fallocate and close"
	expect_eq "$(rows)" 0 "rows"
}

test_truncate_of_the_path_during_a_load() {
	fresh
	held_writer "$T" 'v\na\n' t
	local p=$HELD_PID
	expect_match "$(truncate -s 100 "$T" 2>&1)" "Invalid argument" "truncate -s 100"
	release_writer t
	wait "$p"
	expect_eq "$?" 1 "the writer's close failed"
	expect_eq "$(rows)" 0 "rows"
	expect_match "$(last_history public.v)" "errno=EINVAL .*truncated" "history"
	expect_status 0 "truncate -s 0 with no load" truncate -s 0 "$T"
}

# ftruncate() by one writer fails its own load, not another load of the
# same table; truncate(1) fails only the loads that have written.
test_ftruncate_fails_only_its_own_load() {
	fresh
	held_writer "$T" 'v\nother\n' t
	local p=$HELD_PID
	python3 - "$T" <<-'PY' 2>/dev/null
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\nmine\n")
	os.ftruncate(fd, 3)
	PY
	expect_eq "$?" 1 "the truncating writer fails"
	release_writer t
	wait "$p"
	expect_eq "$?" 0 "the other writer's load commits"
	expect_eq "$(q "SELECT string_agg(v, ',') FROM v")" "other" "only the other's row"
	# truncate(1) beside a load that has not written yet: that one goes on.
	python3 - "$T" "$W/go" <<-'PY' &
	import os, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY)
	while not os.path.exists(sys.argv[2]):
	    time.sleep(0.05)
	os.write(fd, b"v\nlater\n")
	os.close(fd)
	PY
	p=$!
	sleep 0.5
	truncate -s 100 "$T" 2>/dev/null
	touch "$W/go"
	wait "$p"
	expect_eq "$?" 0 "a load that had not written commits"
	expect_eq "$(q "SELECT count(*) FROM v WHERE v = 'later'")" 1 "its row"
	rm -f "$W/go"
}

test_sparse_copy_fails_the_load() {
	fresh
	{ echo v; echo a; } >"$W/sparse.csv"
	truncate -s 1M "$W/sparse.csv"
	echo b >>"$W/sparse.csv"
	cp --sparse=always "$W/sparse.csv" "$T" 2>/dev/null
	expect_eq "$?" 1 "cp --sparse=always"
	expect_eq "$(rows)" 0 "rows"
}

test_commit_fsync_mode() {
	fresh
	pcf_remount -o commit=fsync
	printf 'v\nplain\n' >"$W/f.csv"
	cp "$W/f.csv" "$T" 2>/dev/null
	expect_eq "$?" 1 "cp without fsync is refused"
	expect_match "$(last_history public.v)" "errno=ECANCELED .*after the last fsync" \
		"history"
	expect_status 0 "dd conv=fsync" dd if="$W/f.csv" of="$T" conv=fsync status=none
	expect_eq "$(q "SELECT string_agg(v, ',') FROM v")" "plain" "sealed data committed"
	local closed
	closed=$(python3 - "$T" <<-'PY'
	import errno, os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\nsealed\n")
	os.fsync(fd)
	os.write(fd, b"unsealed\n")   # a writer that fails after its fsync
	try:
	    os.close(fd)
	    print("close ok")
	except OSError as e:
	    print("close", errno.errorcode.get(e.errno, e.errno))
	PY
	)
	expect_eq "$closed" "close ECANCELED" "the close says the unsealed bytes were not committed"
	expect_eq "$(rows)" 1 "bytes after the fsync: the whole load rolled back"
	pcf_remount
}

pcf_run_tests
