#!/usr/bin/env bash
# The daemon under valgrind's memcheck, through the paths that allocate and
# free the most: loads that commit, fail on a bad row, append, lose their
# backend, lose their writer to SIGKILL, two loads of one table at once, and
# the status files, and the other formats; reads of a table to its end, as
# .csv.gz and spooled, and one closed early while its COPY runs. At unmount memcheck must have found no invalid read or
# write, no use of uninitialised memory, and nothing left allocated.
# AddressSanitizer covers leaks in the other build; memcheck also sees
# uninitialised reads, which it does not. Not built into the ASan build
# (tests/CMakeLists.txt): the two cannot run together.
. "$(dirname "$0")/../lib.sh"

command -v valgrind >/dev/null || { echo "memcheck: valgrind is missing (tests/install-deps.sh)" >&2; exit 1; }
PCF_WRAP=(valgrind --error-exitcode=9 --leak-check=full
	--show-leak-kinds=all --errors-for-leak-kinds=definite,indirect
	--track-origins=yes)
pcf_setup

test_a_load_that_commits() {
	fresh
	printf 'v\na\n"b\nc"\n' >"$W/ok.csv"
	expect_status 0 "cp" cp "$W/ok.csv" "$T"
	expect_eq "$(rows)" 2 "rows"
}

test_a2_other_formats() {
	q "DROP TABLE IF EXISTS jm; CREATE TABLE jm (id int, v text, doc jsonb)"
	printf '{"id":1,"v":"\\u00e9","doc":{"a":[1,2]}}\n{"v":"x","id":2}\n' | gzip -c >"$W/m.jsonl.gz"
	expect_status 0 "cp .jsonl.gz" cp "$W/m.jsonl.gz" "$MNT/public/jm.jsonl.gz"
	printf 'id\tv\n3\ta\\tb\n' | zstd -q -c | cat >"$MNT/public/jm.tsv"
	expect_eq "$?" 0 "zstd'd text format by its magic bytes"
	printf '{"id":4}\n[5]\n' | cat >"$MNT/public/jm.jsonl" 2>/dev/null
	expect_eq "$?" 1 "a line that is no object"
	head -c 30 "$W/m.jsonl.gz" | cat >"$MNT/public/jm.jsonl.gz" 2>/dev/null
	expect_eq "$?" 1 "a truncated .gz"
	expect_eq "$(count jm)" 3 "rows"
}

test_b_bad_row_fails_with_the_servers_message() {
	q "DROP TABLE IF EXISTS k; CREATE TABLE k (id int PRIMARY KEY)"
	printf 'id\n1\n1\n' | cat >"$MNT/public/k.csv" 2>/dev/null
	expect_eq "$?" 1 "cat"
	expect_eq "$(count k)" 0 "rows"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/k.csv")" \
		'duplicate key value.*line 3' "the error file"
}

test_c_append_and_status_files() {
	fresh
	printf 'v\na\n' >"$T" && printf 'v\nb\n' >>"$T"
	expect_eq "$?" 0 "> then >>"
	expect_eq "$(rows)" 2 "rows"
	expect_match "$(cat "$MNT/.pgcopyfs/history.jsonl" | tail -n 1)" \
		'"outcome":"committed"' "history.jsonl"
	cat "$MNT/.pgcopyfs/loads" "$MNT/.pgcopyfs/history" >/dev/null
	ls -R "$MNT" >/dev/null
}

test_d_writer_killed_mid_load() {
	fresh
	{ echo v; seq 1 100000; sleep 30; } >"$T" &
	local pid=$!
	wait_for "the load" 30 grep -q public.v "$MNT/.pgcopyfs/loads"
	sleep 1
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	wait_for "the rollback" 30 grep -q 'outcome=failed.*public.v\|public.v.*outcome=failed' \
		"$MNT/.pgcopyfs/history"
	expect_eq "$(rows)" 0 "rows"
}

test_e_backend_terminated_mid_load() {
	fresh
	held_writer "$T" 'v\na\n' term
	expect_eq "$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	   WHERE query LIKE 'COPY%' AND pid <> pg_backend_pid()")" 1 "terminated"
	release_writer term
	wait "$HELD_PID" 2>/dev/null
	expect_eq "$?" 1 "the writer's close failed"
	expect_eq "$(rows)" 0 "rows"
}

test_f_two_loads_of_one_table_at_once() {
	fresh
	held_writer "$T" 'v\nfirst\n' one
	printf 'v\nsecond\n' | cat >"$T"
	expect_eq "$?" 0 "the second load"
	release_writer one
	wait "$HELD_PID"
	expect_eq "$?" 0 "the first load"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM v")" \
		"first,second" "rows"
}

test_g_reads() {
	q "DROP TABLE IF EXISTS rd; CREATE TABLE rd AS SELECT i, md5(i::text) AS m FROM generate_series(1, 200000) i"
	psql -XAtqc "\\copy rd TO STDOUT (FORMAT csv, HEADER true)" >"$W/rd.want"
	expect_status 0 "cat of a table file is COPY TO's" cmp "$W/rd.want" <(cat "$MNT/public/rd.csv")
	expect_status 0 "zcat of its .csv.gz" cmp "$W/rd.want" <(zcat "$MNT/public/rd.csv.gz")
	expect_eq "$(head -n 3 "$MNT/public/rd.csv")" "$(head -n 3 "$W/rd.want")" "head: closed early"
	expect_status 0 "rsync's spooled read" rsync "$MNT/public/rd.csv" "$W/rd.rsync"
	expect_status 0 "rsync's copy" cmp "$W/rd.want" "$W/rd.rsync"
	expect_status 0 "tar's spool at its stat, read by its open" \
		cmp "$W/rd.want" <(tar -C "$MNT" -cf - public/rd.csv | tar -xOf -)
	# tar -cf /dev/null stats and reads nothing: the spool of its stat is
	# kept, and the unmount drops it
	expect_status 0 "tar -cf /dev/null" tar -C "$MNT" -cf /dev/null public/rd.csv
	# shutil's stat marks the file, its open spools (size_after_stat); a
	# stat alone leaves a mark for the unmount to drop
	python3 -c 'import os, shutil, sys
shutil.copyfile(sys.argv[1], sys.argv[2]); os.stat(sys.argv[1])' "$MNT/public/rd.csv" "$W/rd.shutil"
	expect_status 0 "shutil.copyfile's copy" cmp "$W/rd.want" "$W/rd.shutil"
}

pcf_run_tests
status=$?
# memcheck's verdict is the daemon's exit status (pcf_unmount checks it);
# these lines say what it was, for the log.
grep -E 'ERROR SUMMARY|in use at exit|definitely lost' "$PCF_TMP/daemon.log" >&2 || true
exit "$status"
