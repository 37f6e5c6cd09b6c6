#!/usr/bin/env bash
# The commit rule: the transaction commits once, at the last close of the
# open file, with every row; a close while another descriptor is still open
# commits nothing; a writer that dies or exits non-zero commits nothing.
. "$(dirname "$0")/../lib.sh"
pcf_setup

vals() { q "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM v"; }

commits_of_v() { grep -c "table=public.v outcome=committed" "$MNT/.pgcopyfs/history"; }

test_cat_redirect_commits_once_after_the_shells_early_close() {
	fresh
	local before
	before=$(commits_of_v)
	printf 'v\na\nb\n' >"$W/in.csv"
	cat "$W/in.csv" >"$T"
	expect_eq "$?" 0 "status"
	expect_eq "$(vals)" "a,b" "rows"
	expect_eq "$(($(commits_of_v) - before))" 1 "one commit"
}

test_exec_fd_with_builtin_echos() {
	fresh
	exec 3>"$T"
	echo v >&3
	echo a >&3
	echo b >&3
	expect_eq "$(vals)" "" "nothing committed while fd 3 is open"
	exec 3>&-
	expect_eq "$(vals)" "a,b" "committed at exec 3>&-"
}

test_brace_group_with_external_command() {
	fresh
	{ echo v; echo a; /bin/echo b; } >"$T"
	expect_eq "$(vals)" "a,b" "rows from the shell and /bin/echo"
}

test_stderr_redirected_too() {
	fresh
	sh -c 'echo v; echo a; echo b >&2' >"$T" 2>&1
	expect_eq "$?" 0 "status"
	expect_eq "$(vals)" "a,b" "rows from stdout and stderr"
}

test_forked_child_and_parent_both_write() {
	fresh
	python3 - "$T" <<-'PY'
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
	os.write(fd, b"v\nparent1\n")
	pid = os.fork()
	if pid == 0:
	    os.write(fd, b"child\n")
	    os._exit(0)          # the child's exit closes its copy: not the last
	os.waitpid(pid, 0)
	os.write(fd, b"parent2\n")
	os.close(fd)
	PY
	expect_eq "$?" 0 "status"
	expect_eq "$(vals)" "child,parent1,parent2" "all rows, one commit"
}

test_two_writers_of_one_table_commit_separately() {
	fresh
	# The same bytes at the same offsets: /proc cannot tell the two
	# descriptors apart by path and position; kcmp can.
	held_writer "$T" 'v\nsame\n' a
	local pa=$HELD_PID
	held_writer "$T" 'v\nsame\n' b
	local pb=$HELD_PID
	release_writer a
	wait "$pa"
	expect_eq "$?" 0 "first writer's close"
	expect_eq "$(vals)" "same" "the first committed while the second is open"
	release_writer b
	wait "$pb"
	expect_eq "$?" 0 "second writer's close"
	expect_eq "$(vals)" "same,same" "then the second"
}

test_writer_exiting_1_commits_nothing() {
	fresh
	local out
	out=$(sh -c 'echo v; echo a; exit 1' >"$T" || echo failed)
	expect_eq "$out" "failed" "status seen by the shell"
	expect_eq "$(vals)" "" "no rows after wait() returned"
	expect_match "$(last_history public.v)" \
		"outcome=failed .*errno=ECANCELED .*exited with status 1" "history"
}

test_writer_killed_commits_nothing() {
	local sig
	for sig in KILL TERM INT SEGV ABRT; do
		fresh
		python3 - "$T" "$W/ready" <<-'PY' &
		import os, signal, sys, time
		signal.signal(signal.SIGINT, signal.SIG_DFL)
		fd = os.open(sys.argv[1], os.O_WRONLY)
		os.write(fd, b"v\na\nb\n")
		open(sys.argv[2], "w").close()
		time.sleep(60)
		PY
		local p=$!
		wait_for "the writer" 10 test -e "$W/ready"
		kill -s "$sig" "$p"
		wait "$p"
		# The kernel closes its file as it dies; when that close is slow
		# (the sanitizers), calls.c may see the pending SIGKILL first and
		# end it ("killed by a signal while waiting on the server"): the
		# same outcome.
		expect_eq "$(vals)" "" "SIG$sig: no rows"
		expect_match "$(last_history public.v)" \
			"outcome=failed .*errno=ECANCELED .*killed by (a )?signal" \
			"SIG$sig: history"
		rm -f "$W/ready"
	done
}

test_cat_killed_mid_stream() {
	fresh
	mkfifo "$W/feed"
	cat "$W/feed" >"$T" &
	local p=$!
	exec 4>"$W/feed"
	printf 'v\na\nb\n' >&4
	wait_for "rows to stream" 10 grep -q "rows=2 " "$MNT/.pgcopyfs/loads"
	kill -9 "$p"
	wait "$p"
	exec 4>&-
	expect_eq "$(vals)" "" "no rows"
	rm -f "$W/feed"
}

pcf_run_tests
