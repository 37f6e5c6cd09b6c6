#!/usr/bin/env bash
# Tools that save safely: staged files (a temp or lock file beside a table
# file is a file on local disk), rename onto a table file commits and
# returns the load's outcome, unlink of a table file deletes no row and
# lets unlink-then-create work, drop folders take files under any name.
# Real tools: rsync, Python's tempfile + os.replace, install, mv across
# file systems, cp --remove-destination, tar -x, split, cp *.csv.
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE TABLE t (id int NOT NULL, v text)"
P=$MNT/public
D=$P/t.d
wait_for "t.csv" 5 test -e "$P/t.csv"
printf 'id,v\n1,a\n2,b\n3,c\n' >"$W/good.csv"
printf 'id,v\n1,a\nnot-a-number,b\n' >"$W/bad.csv"

reset_t() { q "TRUNCATE t"; }
history_of() { grep -F "table=public.t " "$MNT/.pgcopyfs/history" | tail -n "${1:-1}"; }

test_staged_file_is_a_local_file() {
	local f=$P/.t.csv.tmp1
	printf 'hello\n' >"$f"
	expect_eq "$?" 0 "create and write a dot-name"
	expect_eq "$(cat "$f")" "hello" "read back"
	printf 'HE' | dd of="$f" conv=notrunc status=none
	expect_eq "$(cat "$f")" "HEllo" "a write in the middle (seek)"
	printf 'more\n' >>"$f"
	expect_eq "$(wc -c <"$f")" 11 "append, and the size"
	expect_eq "$(stat -c %s "$f")" 11 "stat's size"
	chmod 600 "$f"
	expect_eq "$(stat -c %a "$f")" 600 "chmod"
	touch -d '2001-02-03 04:05:06' "$f"
	expect_eq "$(stat -c %Y "$f")" "$(date -d '2001-02-03 04:05:06' +%s)" "utimes"
	truncate -s 2 "$f"
	expect_eq "$(cat "$f")" "HE" "truncate"
	ls -a "$P" | grep -qx '.t.csv.tmp1' || fail "listed in its directory"
	grep -q 'path=/public/.t.csv.tmp1 bytes=2 ' "$MNT/.pgcopyfs/staged" ||
		fail "shown in .pgcopyfs/staged: $(cat "$MNT/.pgcopyfs/staged")"
	mv "$f" "$P/.t.csv.tmp2"
	expect_eq "$(cat "$P/.t.csv.tmp2")" "HE" "renamed among staged names"
	test -e "$f" && fail "the old name is gone"
	# O_EXCL: a lock file cannot be taken twice.
	python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_CREAT|os.O_EXCL|os.O_WRONLY))' "$P/.~lock.t.csv#"
	expect_eq "$?" 0 "a lock file (O_CREAT|O_EXCL)"
	python3 -c 'import os,sys; os.open(sys.argv[1], os.O_CREAT|os.O_EXCL|os.O_WRONLY)' "$P/.~lock.t.csv#" 2>/dev/null
	expect_eq "$?" 1 "taken: EEXIST"
	rm "$P/.t.csv.tmp2" "$P/.~lock.t.csv#"
	expect_eq "$(ls -a "$P" | grep -c '^\.t\|lock')" 0 "unlinked"
	expect_eq "$(grep -c . "$MNT/.pgcopyfs/staged")" 0 "the status file is empty again"
	expect_eq "$(count t)" 0 "nothing of it reached the table"
	# A name without .csv is a staged file too; one with .csv that is no
	# table stays ENOENT (a typo must not load nothing and succeed).
	cp "$W/good.csv" "$P/export.txt"
	expect_eq "$?" 0 "export.txt is staged"
	expect_match "$(cp "$W/good.csv" "$P/tt.csv" 2>&1)" "No such file or directory" \
		"a .csv name that is no table"
	gzip -c "$W/good.csv" >"$W/good.csv.gz"
	expect_match "$(cp "$W/good.csv.gz" "$P/tt.csv.gz" 2>&1)" "No such file or directory" \
		"a compressed export's name of no table is not a staged file"
	rm "$P/export.txt"
}

test_open_staged_file_survives_unlink() {
	python3 - "$P/tmpkeep" <<-'PY'
	import os, sys
	p = sys.argv[1]
	fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
	os.write(fd, b"kept")
	os.unlink(p)
	assert not os.path.exists(p)
	os.lseek(fd, 0, 0)
	assert os.read(fd, 10) == b"kept", "bytes after unlink"
	os.close(fd)
	PY
	expect_eq "$?" 0 "read back through the descriptor after unlink"
}

test_rename_onto_table_commits_and_returns_outcome() {
	reset_t
	cp "$W/good.csv" "$P/.stage"
	mv "$P/.stage" "$P/t.csv"
	expect_eq "$?" 0 "rename of good rows"
	expect_eq "$(count t)" 3 "every row, at once"
	expect_match "$(history_of)" "outcome=committed .*rows=3 " "history"
	test -e "$P/.stage" && fail "the staged file is gone"
	cp "$W/bad.csv" "$P/.stage"
	local err
	err=$(mv "$P/.stage" "$P/t.csv" 2>&1)
	expect_eq "$?" 1 "rename of a bad row fails"
	expect_match "$err" "Input/output error" "with the load's errno (EIO)"
	expect_eq "$(count t)" 3 "nothing more committed"
	expect_match "$(history_of)" "outcome=failed .*errno=EIO .*line 3" "history names the line"
	test -e "$P/.stage" || fail "a failed rename leaves its source"
	rm -f "$P/.stage"
	# An empty staged file loads nothing and succeeds.
	: >"$P/.empty"
	expect_status 0 "rename of an empty file" mv "$P/.empty" "$P/t.csv"
	expect_eq "$(count t)" 3 "no row"
}

test_rename_with_truncate_replaces() {
	pcf_remount -o truncate
	reset_t
	printf 'id,v\n1,old\n' | cat >"$P/t.csv"
	cp "$W/good.csv" "$P/.stage"
	mv "$P/.stage" "$P/t.csv"
	expect_eq "$?" 0 "rename under -o truncate"
	expect_eq "$(q "SELECT string_agg(v, '' ORDER BY id) FROM t")" "abc" "replaced"
	cp "$W/bad.csv" "$P/.stage"
	mv "$P/.stage" "$P/t.csv" 2>/dev/null
	expect_eq "$?" 1 "a bad replacement fails"
	expect_eq "$(q "SELECT string_agg(v, '' ORDER BY id) FROM t")" "abc" "the old rows stay"
	rm -f "$P/.stage"
	pcf_remount
}

test_rename_loads_whole_under_checkpoints() {
	pcf_remount -o checkpoint=0.1
	reset_t
	# Long enough to cross several checkpoint intervals, and a bad last row.
	python3 -c '
import sys
out = sys.stdout
out.write("id,v\n")
for i in range(1, 1500001):   # about 1 s to load: ten intervals
    out.write("%d,a row of some length\n" % i)
out.write("bad,row\n")
' >"$P/.big"
	mv "$P/.big" "$P/t.csv" 2>/dev/null
	expect_eq "$?" 1 "the rename of a file with a bad last row fails"
	expect_eq "$(count t)" 0 "nothing committed: a rename loads whole, checkpoints or not"
	rm -f "$P/.big"
	pcf_remount
}

test_killed_renamer_is_released_and_commits_nothing() {
	reset_t
	# A rename that waits on the server: the table is locked by another
	# session, so the load's first write waits for the lock.
	cp "$W/good.csv" "$P/.locked"
	psql -X -q -c "BEGIN" -c "LOCK TABLE t IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
	local locker=$!
	wait_for "the lock" 10 bash -c "[ \$(psql -XAtc \"SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass AND mode = 'AccessExclusiveLock' AND granted\") = 1 ]"
	mv "$P/.locked" "$P/t.csv" &
	local mover=$! start
	sleep 0.5
	start=$(date +%s%N)
	kill -KILL "$mover"
	wait "$mover"
	local took=$((($(date +%s%N) - start) / 1000000))
	[ "$took" -lt 2000 ] || fail "the killed mv took ${took} ms to go"
	kill "$locker" 2>/dev/null
	wait "$locker" 2>/dev/null
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
	expect_eq "$(count t)" 0 "nothing committed"
	expect_match "$(history_of)" "outcome=failed .*errno=ECANCELED" "history"
	test -e "$P/.locked" || fail "the staged file stays"
	rm -f "$P/.locked"
	ls "$P" >/dev/null || fail "the directory answers"
}

test_rsync() {
	reset_t
	rsync "$W/good.csv" "$P/t.csv"
	expect_eq "$?" 0 "rsync (temp file + rename)"
	expect_eq "$(count t)" 3 "every row once"
	rsync "$W/good.csv" "$P/t.csv"
	expect_eq "$(count t)" 6 "run twice, loads twice (its quick check cannot know the table)"
	rsync "$W/bad.csv" "$P/t.csv" 2>/dev/null
	expect_eq "$?" 23 "a bad row: rsync reports the failed rename (23)"
	expect_eq "$(count t)" 6 "nothing committed"
	expect_eq "$(ls -a "$P" | grep -c '^\.t\.csv\.')" 0 "rsync removed its temp file"
}

test_python_tempfile_and_os_replace() {
	reset_t
	local prog='
import os, sys, tempfile
d, src = sys.argv[1], sys.argv[2]
with tempfile.NamedTemporaryFile("w", dir=d, delete=False) as f:
    f.write(open(src).read())
try:
    os.replace(f.name, os.path.join(d, "t.csv"))
except OSError as e:
    os.unlink(f.name)
    sys.exit("replace failed: %s" % e)
'
	python3 -c "$prog" "$P" "$W/good.csv"
	expect_eq "$?" 0 "NamedTemporaryFile + os.replace"
	expect_eq "$(count t)" 3 "every row once"
	local err
	err=$(python3 -c "$prog" "$P" "$W/bad.csv" 2>&1)
	expect_eq "$?" 1 "a bad row: os.replace raises"
	expect_match "$err" "Errno 5" "EIO"
	expect_eq "$(count t)" 3 "nothing committed"
}

test_unlink_then_create_tools() {
	reset_t
	install -m 644 "$W/good.csv" "$P/t.csv"
	expect_eq "$?" 0 "install -m 644"
	expect_eq "$(count t)" 3 "install loads once"
	cp --remove-destination "$W/good.csv" "$P/t.csv"
	expect_eq "$?" 0 "cp --remove-destination"
	expect_eq "$(count t)" 6 "once more"
	cp "$W/good.csv" "$W/mine.csv"
	chmod 600 "$W/mine.csv"
	mv "$W/mine.csv" "$P/t.csv"
	expect_eq "$?" 0 "mv across file systems (a 0600 file: its fchmod is accepted)"
	expect_eq "$(count t)" 9 "once more"
	test -e "$W/mine.csv" && fail "mv removed its source"
	mkdir -p "$W/tar"
	cp "$W/good.csv" "$W/tar/t.csv"
	tar -C "$W/tar" -cf "$W/t.tar" t.csv
	tar -C "$P" -xf "$W/t.tar"
	expect_eq "$?" 0 "tar -x over the table file (unlinks, then O_EXCL)"
	expect_eq "$(count t)" 12 "once more"
	# rm deletes no row, and everyone else still sees the file.
	rm "$P/t.csv"
	expect_eq "$?" 0 "rm"
	expect_eq "$(count t)" 12 "rm deleted no row"
	test -e "$P/t.csv" || fail "the table file is still there for other processes"
	# One process: unlink, and the name is gone for it until it creates it.
	python3 - "$P/t.csv" "$W/good.csv" <<-'PY'
	import os, sys
	p, src = sys.argv[1], sys.argv[2]
	os.unlink(p)
	assert not os.path.exists(p), "gone for the unlinker"
	fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
	os.write(fd, open(src, "rb").read())
	os.close(fd)
	assert os.path.exists(p), "back after its create"
	PY
	expect_eq "$?" 0 "unlink, then O_CREAT|O_EXCL in one process"
	expect_eq "$(count t)" 15 "its rows"
	# A bad row through unlink-then-create fails like a cp.
	install -m 644 "$W/bad.csv" "$P/t.csv" 2>/dev/null
	expect_eq "$?" 1 "install of a bad row fails"
	expect_eq "$(count t)" 15 "nothing committed"
}

test_programs_that_ignore_a_failed_close_exit_1() {
	reset_t
	sqlite3 :memory: ".mode csv" ".headers on" ".once $P/t.csv" \
		"SELECT 1 AS id, 'a' AS v UNION ALL SELECT 2, 'b'"
	expect_eq "$?" 0 "sqlite3 .once of good rows"
	expect_eq "$(count t)" 2 "its rows"
	sqlite3 :memory: ".mode csv" ".headers on" ".once $P/t.csv" \
		"SELECT 'x' AS id, 'a' AS v" 2>/dev/null
	expect_eq "$?" 1 "sqlite3 ignores its failed close: its exit(0) becomes 1"
	expect_eq "$(count t)" 2 "nothing committed"
	# A program that catches the failed close and loads the rows again
	# (a retry) keeps its exit 0; one that gives up is made to fail.
	local prog='
import sys
def load(rows):
    try:
        with open(sys.argv[1], "w") as f:
            f.write("id,v\n" + rows)
        return True
    except OSError:
        return False
if not load("x,bad\n") and sys.argv[2] == "retry":
    load("3,c\n")
'
	python3 -c "$prog" "$P/t.csv" retry
	expect_eq "$?" 0 "a retry after a failed close: exit 0 stays"
	expect_eq "$(count t)" 3 "the retried row"
	python3 -c "$prog" "$P/t.csv" giveup
	expect_eq "$?" 1 "no retry: its exit 0 becomes 1"
	expect_eq "$(count t)" 3 "nothing more"
	# perl -i edits a staged file in place (its own temp file + rename).
	printf 'id;v\n5;e\n' >"$P/.semi"
	perl -i -pe 's/;/,/g' "$P/.semi"
	expect_eq "$?" 0 "perl -i on a staged file"
	mv "$P/.semi" "$P/t.csv"
	expect_eq "$(q "SELECT v FROM t WHERE id = 5")" "e" "then renamed onto the table"
}

test_drop_folder_takes_files_under_any_name() {
	reset_t
	[ -d "$D" ] || fail "t.d is a directory"
	ls "$P" | grep -q '^t\.d$' && fail "drop folders are not listed in the schema"
	local i
	mkdir -p "$W/many"
	for i in 1 2 3; do
		printf 'id,v\n%d,a\n%d,b\n' "$i" "$i" >"$W/many/orders_2026120$i.csv"
	done
	cp "$W"/many/*.csv "$D/"
	expect_eq "$?" 0 "cp *.csv DIR/"
	expect_eq "$(count t)" 6 "every file once"
	expect_eq "$(history_of 3 | grep -c 'outcome=committed .*rows=2 ')" 3 "each file its own load"
	expect_match "$(history_of 1)" ' file=/public/t.d/orders_20261203.csv$' \
		"history names the file of the folder"
	cp "$W/good.csv" "$P/t.d/"
	expect_eq "$(count t)" 9 "cp file MOUNT/public/t.d/"
	seq 1 95 | sed 's/$/,x/' >"$W/big"
	split -l 10 "$W/big" "$D/part-"
	expect_eq "$?" 0 "split -l 10 into the folder"
	expect_eq "$(count t)" 104 "every line once"
	expect_eq "$(grep -c 'outcome=committed .*rows=10 ' "$MNT/.pgcopyfs/history")" 9 \
		"ten files, each its own transaction (nine of 10 rows, one of 5)"
	tar -C "$W/many" -cf "$W/many.tar" .
	tar -C "$D" -xf "$W/many.tar"
	expect_eq "$?" 0 "tar -x -C DIR (its utimensat and chmod after each close)"
	expect_eq "$(count t)" 110 "every file once"
	rsync "$W"/many/*.csv "$D/"
	expect_eq "$?" 0 "rsync into the folder (dot temp files renamed)"
	expect_eq "$(count t)" 116 "every file once"
	# A program that writes a name of its own, then renames its temp file.
	python3 - "$D" <<-'PY'
	import os, sys, tempfile
	d = sys.argv[1]
	with tempfile.NamedTemporaryFile("w", dir=d, delete=False) as f:
	    f.write("id,v\n7,seven\n")
	os.replace(f.name, os.path.join(d, "orders_20261201.csv"))
	PY
	expect_eq "$?" 0 "temp + rename inside the folder"
	expect_eq "$(q "SELECT count(*) FROM t WHERE v = 'seven'")" 1 "loaded once"
}

test_drop_folder_failures() {
	reset_t
	sh -c "cat '$W/good.csv' > '$D/x.csv'; exit 3"
	expect_eq "$?" 3 "a writer that fails after its close"
	expect_eq "$(count t)" 0 "nothing committed"
	local err
	err=$(cp "$W/bad.csv" "$D/" 2>&1)
	expect_eq "$?" 1 "a bad row fails the close"
	expect_match "$err" "Input/output error" "EIO"
	expect_eq "$(count t)" 0 "nothing committed"
	expect_match "$(history_of)" "outcome=failed .*line 3" "history names the line"
	# A file removed before its commit is rolled back.
	python3 - "$D" "$W/good.csv" <<-'PY'
	import os, sys, time
	d, src = sys.argv[1], sys.argv[2]
	p = os.path.join(d, "gives-up.csv")
	with open(p, "w") as f:
	    f.write(open(src).read())
	os.unlink(p)
	PY
	expect_eq "$?" 0 "write, close, unlink"
	expect_eq "$(count t)" 0 "the unlinked file's rows were not committed"
	expect_match "$(history_of)" "outcome=failed .*removed before its commit" "history says why"
	# The names go once their writers are done.
	sleep 0.2
	expect_eq "$(ls -A "$D" | wc -l)" 0 "an empty folder"
	expect_match "$(cp "$W/good.csv" "$P/nosuch.d/" 2>&1)" "No such file|Not a directory" \
		"the folder of a table that does not exist"
}

test_other_users_stage_where_they_may_load() {
	getent group pcfload >/dev/null || groupadd pcfload
	id pcfin >/dev/null 2>&1 || useradd -M -N -g pcfload pcfin
	id pcfin2 >/dev/null 2>&1 || useradd -M -N -g pcfload pcfin2
	id pcfout >/dev/null 2>&1 || useradd -M -N pcfout
	local gid
	gid=$(getent group pcfload | cut -d: -f3)
	reset_t
	chmod 755 "$PCF_TMP" "$PCF_TMP/sock" "$W"
	chmod 644 "$W/good.csv"
	pcf_remount -o allow_other,gid="$gid",table_mode=0664
	expect_eq "$(stat -c %A "$P")" "drwxrwxr-x" "a schema: writable where tables are"
	expect_eq "$(stat -c %A "$D")" "drwxrwxr-x" "and a drop folder"
	runuser -u pcfin -- cp "$W/good.csv" "$P/.pcfin.tmp"
	expect_eq "$?" 0 "a group member stages a file"
	expect_eq "$(stat -c %U "$P/.pcfin.tmp")" "pcfin" "owned by its creator"
	expect_match "$(runuser -u pcfin2 -- rm -f "$P/.pcfin.tmp" 2>&1)" "Operation not permitted" \
		"another user may not remove it (as in a sticky directory)"
	expect_match "$(runuser -u pcfout -- cp "$W/good.csv" "$P/.pcfout.tmp" 2>&1)" "Permission denied" \
		"a user outside the group may not stage"
	expect_eq "$(runuser -u pcfout -- cat "$MNT/.pgcopyfs/staged" | grep -c .)" 0 \
		"nor see other users' staged files"
	expect_eq "$(runuser -u pcfin -- cat "$MNT/.pgcopyfs/staged" | grep -c pcfin.tmp)" 1 \
		"the creator sees its own"
	runuser -u pcfin -- mv "$P/.pcfin.tmp" "$P/t.csv"
	expect_eq "$?" 0 "and renames it onto the table"
	expect_eq "$(count t)" 3 "its rows"
	runuser -u pcfin -- cp "$W/good.csv" "$D/by-pcfin.csv"
	expect_eq "$?" 0 "a group member drops a file"
	expect_eq "$(count t)" 6 "its rows"
	pcf_remount
}

test_spool_full_gives_enospc_and_unmount_discards() {
	mkdir -p "$W/spool"
	if ! mount -t tmpfs -o size=1M tmpfs "$W/spool" 2>/dev/null; then
		pcf_log "  (skipped: cannot mount a small tmpfs here)"
		return
	fi
	pcf_remount -o spool="$W/spool"
	local err
	err=$(head -c 3M /dev/zero 2>/dev/null | cat 2>&1 >"$P/.big")
	expect_match "$err" "No space left on device" "a full spool is the writer's ENOSPC"
	rm -f "$P/.big"
	printf 'keep me\n' >"$P/.left"
	expect_eq "$(ls "$W/spool" | wc -l)" 1 "the spool's private directory"
	pcf_remount
	test -e "$P/.left" && fail "a staged file survives no remount"
	expect_eq "$(ls "$W/spool" | wc -l)" 0 "the spool was removed at unmount"
	umount "$W/spool"
	mkdir -p "$W/m2"
	expect_match "$("$PGCOPYFS_BIN" -o spool=/nonexistent/dir "" "$W/m2" 2>&1)" \
		"spool=/nonexistent/dir: No such file or directory" "a bad spool fails before mounting"
}

pcf_run_tests
