#!/usr/bin/env bash
# Several writers at once: each open file has its own connection and
# transaction; the tree keeps answering while loads wait on the server.
. "$(dirname "$0")/../lib.sh"
pcf_setup

make_inputs() {
	local i t
	for t in 1 2 3 4; do
		q "DROP TABLE IF EXISTS c$t; CREATE TABLE c$t (id int PRIMARY KEY, w int, v text)"
	done
	for i in $(seq 1 16); do
		# Each writer its own ids; the same table gets 4 writers at once.
		awk -v w="$i" 'BEGIN { print "id,w,v";
			for (n = 1; n <= 20000; n++) print w * 100000 + n "," w ",row " n }' \
			>"$W/c$i.csv"
	done
}

start_cps() {
	local i
	CP_PIDS=()
	for i in $(seq 1 16); do
		cp "$W/c$i.csv" "$MNT/public/c$(((i - 1) % 4 + 1)).csv" &
		CP_PIDS+=($!)
	done
}

check_cps() {
	local failed=0 p t
	for p in "${CP_PIDS[@]}"; do wait "$p" || failed=$((failed + 1)); done
	expect_eq "$failed" 0 "every cp exited 0"
	for t in 1 2 3 4; do
		expect_eq "$(q "SELECT count(*) || ' ' || count(DISTINCT w) FROM c$t")" \
			"80000 4" "c$t: every row of its four writers"
	done
}

test_sixteen_cp_into_four_tables() {
	make_inputs
	start_cps
	check_cps
}

test_sixteen_cp_while_the_server_makes_them_wait() {
	make_inputs
	# Another session holds the four tables: every COPY waits on a lock.
	mkfifo "$W/lockhold"
	psql -X -q -c "BEGIN; LOCK TABLE c1, c2, c3, c4 IN ACCESS EXCLUSIVE MODE;
		SELECT 'locked';" -f "$W/lockhold" >"$W/lock.out" 2>&1 &
	local locker=$!
	exec 5>"$W/lockhold"
	wait_for "the lock" 10 grep -q locked "$W/lock.out"
	start_cps
	wait_for "16 open loads" 20 bash -c \
		"[ \$(grep -c 'table=public.c' '$MNT/.pgcopyfs/loads') = 16 ]" ||
		fail "not all loads opened"
	wait_for "every COPY waiting on the lock in the server (none in the kernel)" 20 bash -c \
		"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity
		  WHERE application_name = 'pgcopyfs' AND wait_event_type = 'Lock'\") = 16 ]" ||
		fail "COPYs are not waiting"
	expect_status 0 "ls while loads wait" timeout 5 ls "$MNT/public"
	expect_status 0 "stat while loads wait" timeout 5 stat "$MNT/public/c1.csv"
	expect_status 0 "status while loads wait" timeout 5 cat "$MNT/.pgcopyfs/loads"
	expect_eq "$(q "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'pgcopyfs' AND state <> 'idle'")" 16 \
		"one connection per load"
	echo "COMMIT;" >&5
	exec 5>&-
	wait "$locker"
	check_cps
	rm -f "$W/lockhold"
}

pcf_run_tests
