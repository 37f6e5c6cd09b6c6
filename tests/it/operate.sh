#!/usr/bin/env bash
# Operating the mount: the status tree during and after loads, logging,
# application_name, mount -t and fstab, allow_other with file modes,
# install, and the manual agreeing with --help.
. "$(dirname "$0")/../lib.sh"
pcf_setup
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

test_loads_file_shows_a_running_load_growing() {
	fresh
	mkfifo "$W/feed"
	cat "$W/feed" >"$T" &
	local p=$! line1 line2 r1 r2
	exec 4>"$W/feed"
	printf 'v\n' >&4
	seq 1 1000 >&4
	wait_for "rows to show" 10 grep -q "rows=1000 " "$MNT/.pgcopyfs/loads"
	line1=$(grep "table=public.v " "$MNT/.pgcopyfs/loads")
	seq 1 5000 >&4
	wait_for "more rows to show" 10 grep -q "rows=6000 " "$MNT/.pgcopyfs/loads"
	line2=$(grep "table=public.v " "$MNT/.pgcopyfs/loads")
	expect_match "$line1" "state=copying pid=$p cmd=\"cat $W/feed\" rows=1000 bytes=3895 " \
		"a live record"
	expect_match "$line2" "rows=6000 bytes=[0-9]+ secs=[0-9.]+ rows_per_sec=[0-9]+ mb_per_sec=[0-9.]+ binary_rows=[0-9]+ csv_rows=[0-9]+$" \
		"rows grew; rate and elapsed time"
	python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["table"] == "public.v"][0]
assert r["rows"] == 6000 and r["state"] == "copying" and r["cmd"].startswith("cat "), r
' "$MNT/.pgcopyfs/loads.jsonl" || fail "loads.jsonl"
	exec 4>&-
	wait "$p"
	expect_eq "$(q "SELECT count(*) FROM v")" 6000 "committed"
	expect_eq "$(grep -c "table=public.v " "$MNT/.pgcopyfs/loads")" 0 "no longer live"
	rm -f "$W/feed"
}

test_history_and_errors_after_a_failed_load() {
	q "DROP TABLE IF EXISTS n; CREATE TABLE n (k int PRIMARY KEY)"
	printf 'k\n1\n2\nthree\n' | cat >"$MNT/public/n.csv" 2>/dev/null
	local h e
	h=$(last_history public.n)
	expect_match "$h" '^id=[0-9]+ started=[0-9T:-]+Z table=public.n outcome=failed pid=[0-9]+ cmd=cat rows=0 file_rows=3 binary_rows=2 csv_rows=1 bytes=12 secs=[0-9.]+ errno=EIO sqlstate=22P02 error="invalid input syntax for type integer: \\"three\\"; CONTEXT: COPY n, line 4, column k"$' \
		"the history record"
	e=$(cat "$MNT/.pgcopyfs/errors/public/n.csv")
	expect_eq "$e" "$h" "errors/public/n.csv holds the same record"
	expect_eq "$(ls "$MNT/.pgcopyfs/errors/public" | grep -c '^n.csv$')" 1 "listed"
	python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
assert r["table"] == "public.n" and r["outcome"] == "failed", r
assert r["errno"] == "EIO" and r["sqlstate"] == "22P02", r
assert "line 4, column k" in r["error"], r
assert isinstance(r["rows"], int) and isinstance(r["secs"], float), r
' "$MNT/.pgcopyfs/history.jsonl" || fail "history.jsonl"
	printf 'k\n1\n' | cat >"$MNT/public/n.csv"
	expect_eq "$(cat "$MNT/.pgcopyfs/errors/public/n.csv")" "$e" \
		"a later success leaves the last error in place"
	expect_match "$(last_history public.n)" "outcome=committed .*rows=1 " "history"
	expect_match "$(ls -a "$MNT/.pgcopyfs")" "errors" "listing"
	expect_match "$(echo x 2>&1 >"$MNT/.pgcopyfs/history")" "Permission denied" "read-only"
}

# Names and command lines hold any byte: a table named with a newline and a
# forged record, a writer whose command line holds a LATIN1 byte. Every
# record stays one line, nothing is forged, history.jsonl stays JSON.
test_status_and_log_values_are_escaped() {
	local name forged before
	name=$(printf 'x\nid=999 outcome=committed')
	q "CREATE TABLE public.\"$name\" (k int)"
	forged="$MNT/public/$name.csv"
	wait_for "the odd table" 5 test -e "$forged" || { fail "no file for the odd table"; return; }
	before=$(grep -c . "$PCF_TMP/daemon.log")
	printf 'k\nnot a number\n' | cat >"$forged" 2>/dev/null
	expect_eq "$?" 1 "the bad load into it fails"
	printf 'k\n1\n' | bash -c 'exec -a "$(printf "w\351")" cat' >"$forged"
	expect_eq "$?" 0 "a good load by a writer named w\\xe9"
	expect_eq "$(grep -c '^id=999' "$MNT/.pgcopyfs/history")" 0 "no forged record in history"
	expect_eq "$(grep -c '^id=' "$MNT/.pgcopyfs/history")" "$(wc -l <"$MNT/.pgcopyfs/history")" \
		"one record a line"
	expect_match "$(grep -F 'table="public.x\nid=999' "$MNT/.pgcopyfs/history" | tail -n 1)" \
		'cmd="w\\xe9" ' "the escaped name and command"
	python3 -c '
import json, sys
for line in open(sys.argv[1], "rb"):
    json.loads(line)
' "$MNT/.pgcopyfs/history.jsonl" || fail "history.jsonl is not JSON a line"
	tail -n +"$((before + 1))" "$PCF_TMP/daemon.log" | grep -q '^id=999\|^ outcome=' &&
		fail "a forged line in the log"
	q "DROP TABLE public.\"$name\""
}

# Row data stays out of the log and history wherever the server echoes it:
# a trigger's error (the row in a longer CONTEXT) and a NOTICE per row (the
# first three logged without their context, the rest counted).
test_no_row_data_from_triggers_and_notices() {
	local before
	q "DROP TABLE IF EXISTS trg_t; CREATE TABLE trg_t (amount int, card text);
	   CREATE OR REPLACE FUNCTION trg_check() RETURNS trigger LANGUAGE plpgsql AS
	     'BEGIN RAISE NOTICE ''checked a row''; IF NEW.amount < 0 THEN
	        RAISE EXCEPTION ''negative amount''; END IF; RETURN NEW; END';
	   CREATE TRIGGER trg_check BEFORE INSERT ON trg_t FOR EACH ROW EXECUTE FUNCTION trg_check()"
	# lib.sh's PGOPTIONS keep notices back: this mount gets them.
	PGOPTIONS= pcf_remount
	wait_for "trg_t.csv" 5 test -e "$MNT/public/trg_t.csv"
	before=$(wc -l <"$PCF_TMP/daemon.log")
	{ echo amount,card; for i in $(seq 1 50); do echo "$i,card 4111-1111-1111-$i"; done; } |
		cat >"$MNT/public/trg_t.csv"
	expect_eq "$?" 0 "50 rows, a NOTICE each"
	printf 'amount,card
5,card 4111-1111-1111-0005
-1,card 4111-1111-1111-9999
' |
		cat >"$MNT/public/trg_t.csv" 2>/dev/null
	expect_eq "$?" 1 "the trigger's refusal fails the load"
	expect_match "$(last_history public.trg_t)" 'negative amount.*COPY trg_t, line 3' \
		"history has the reason and the line"
	expect_eq "$(grep -c 4111 "$MNT/.pgcopyfs/history")" 0 "no card number in history"
	expect_eq "$(tail -n +"$((before + 1))" "$PCF_TMP/daemon.log" | grep -c 4111)" 0 \
		"no card number in the log"
	expect_eq "$(tail -n +"$((before + 1))" "$PCF_TMP/daemon.log" | grep -c 'the server says NOTICE')" 5 \
		"three of the 50-row load's notices logged, and the failing load's two"
	tail -n +"$((before + 1))" "$PCF_TMP/daemon.log" | grep -q '50 notices from the server in all' ||
		fail "the rest counted"
	pcf_remount
}

test_debug_logs_open_commit_and_rollback_without_row_data() {
	pcf_remount -o debug
	fresh
	printf 'v\nsecret-row-value-1\n' | cat >"$T"
	printf 'v\n"unterminated secret-row-value-2\n' | cat >"$T" 2>/dev/null
	grep -q "load [0-9]* of public.v opened by pid [0-9]*" "$PCF_TMP/daemon.log" ||
		fail "no open line"
	grep -Eq "load [0-9]+ of public.v by pid [0-9]+: committed, 1 rows, [0-9]+ bytes in [0-9.]+ s" \
		"$PCF_TMP/daemon.log" || fail "no commit line with timing"
	grep -Eq "load [0-9]+ of public.v by pid [0-9]+ \(cat\) rolled back after [0-9.]+ s: EIO" \
		"$PCF_TMP/daemon.log" || fail "no rollback line with timing"
	grep -q "secret-row-value" "$PCF_TMP/daemon.log" && fail "row data in the log"
	pcf_remount
}

test_application_name() {
	fresh
	held_writer "$T" 'v\na\n' app
	expect_eq "$(q "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'pgcopyfs' AND state <> 'idle'")" 1 "default"
	release_writer app
	wait "$HELD_PID"
	PCF_CONNINFO="application_name=nightly" pcf_remount
	held_writer "$T" 'v\nb\n' app
	expect_eq "$(q "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'nightly'")" 2 "the user's own (catalog and load)"
	release_writer app
	wait "$HELD_PID"
	pcf_remount
}

# in_mount_ns SCRIPT: runs SCRIPT (bash) in a private mount namespace in
# which /usr/local/bin holds this build's pgcopyfs, as after an install:
# mount(8) starts helpers with no PATH, so mount.fuse3 finds programs only
# in the default one. Nothing of it is visible outside.
in_mount_ns() {
	mkdir -p "$W/bin"
	ln -sf "$PGCOPYFS_BIN" "$W/bin/pgcopyfs"
	unshare --mount --propagation private bash -c "
		mount --bind '$W/bin' /usr/local/bin || exit 99
		$1"
}

# After umount, waits for the daemon mount.fuse3 started to exit.
UMOUNT_AND_WAIT='umount "$M" && for i in $(seq 100); do
	pgrep -f "pgcopyfs .* $M" >/dev/null || break; sleep 0.05; done'

test_mount_t_fuse_pgcopyfs() {
	mkdir -p "$W/m1"
	fresh
	in_mount_ns "M='$W/m1'
		mount -t fuse.pgcopyfs 'postgresql:///postgres?host=$PGHOST' \"\$M\" \
			-o noauto,_netdev,nofail,header=auto || exit 1
		grep \" \$M \" /proc/mounts >'$W/m1.mounts'
		df \"\$M\" | tail -n 1 >'$W/m1.df'
		printf 'v\nvia mount\n' | cat >\"\$M/public/v.csv\" || exit 2
		$UMOUNT_AND_WAIT"
	expect_eq "$?" 0 "mount -t fuse.pgcopyfs, load, umount"
	expect_match "$(cat "$W/m1.mounts")" "^postgres@.*/postgres $W/m1 fuse.pgcopyfs " \
		"/proc/mounts"
	expect_match "$(cat "$W/m1.df")" "^postgres@" "df shows the database"
	expect_eq "$(q "SELECT v FROM v")" "via mount" "loaded"
}

test_mount_from_an_fstab_line() {
	mkdir -p "$W/m2"
	fresh
	printf '%s %s fuse.pgcopyfs %s 0 0\n' \
		"postgresql:///postgres?host=$PGHOST" "$W/m2" \
		"defaults,_netdev,nofail,x-systemd.automount,header=true" >"$W/fstab"
	in_mount_ns "M='$W/m2'
		mount -T '$W/fstab' \"\$M\" || exit 1
		printf 'v\nvia fstab\n' | cat >\"\$M/public/v.csv\" || exit 2
		printf 'nope\nx\n' | cat >\"\$M/public/v.csv\" 2>/dev/null && exit 3
		grep 'table=public.v ' \"\$M/.pgcopyfs/history\" | tail -n 1 >'$W/m2.history'
		$UMOUNT_AND_WAIT"
	expect_eq "$?" 0 "mount -T fstab, load, umount"
	expect_eq "$(q "SELECT v FROM v")" "via fstab" "loaded"
	expect_match "$(cat "$W/m2.history")" "header=true" \
		"the fstab option header=true reached pgcopyfs"
}

# Daemonized (no -f), messages go to syslog. The mount namespace gets a
# /dev of its own (a tmpfs with the host's fuse, null, zero and urandom bound
# in), where a small listener stands in for the syslog daemon at /dev/log:
# the host's /dev is not touched, with or without a syslog daemon of its own.
test_daemonized_daemon_logs_to_syslog() {
	mkdir -p "$W/m3" "$W/hostdev"
	: >"$W/syslog.out"
	q "DROP TABLE IF EXISTS k; CREATE TABLE k (id int PRIMARY KEY)"
	in_mount_ns "M='$W/m3'
		mount --rbind /dev '$W/hostdev' && mount -t tmpfs pcfdev /dev || exit 98
		for d in fuse null zero urandom; do
			touch /dev/\$d && mount --bind '$W/hostdev/'\$d /dev/\$d || exit 97
		done
		python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(\"/dev/log\")
out = open(sys.argv[1], \"ab\", buffering=0)
while True:
    out.write(s.recv(65536) + b\"\\n\")
' '$W/syslog.out' & L=\$!
		trap 'kill \$L' EXIT
		for i in \$(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
		pgcopyfs 'postgresql:///postgres?host=$PGHOST' \"\$M\" || exit 1
		printf 'id\n1\n1\n' | cat >\"\$M/public/k.csv\" 2>/dev/null && exit 2
		for i in \$(seq 100); do # the listener writes what it got, then goes
			grep -q 'rolled back' '$W/syslog.out' && break; sleep 0.05; done
		fusermount3 -u \"\$M\" || exit 3
		for i in \$(seq 100); do
			pgrep -f \"pgcopyfs .* \$M\" >/dev/null || break; sleep 0.05; done"
	expect_eq "$?" 0 "daemonized mount, failed load, unmount"
	expect_match "$(cat "$W/syslog.out")" \
		'^<27>.* pgcopyfs\[[0-9]+\]: load [0-9]+ of public\.k by pid [0-9]+ \(cat\) rolled back after [0-9.]+ s: EIO: duplicate key value violates unique constraint "k_pkey".*line 3$' \
		"the failure in syslog (daemon.err), one record"
	expect_eq "$(grep -c 'pgcopyfs: ' "$W/syslog.out")" 0 "no doubled program name"
}

test_allow_other_lets_users_load_what_modes_allow() {
	getent group pcfload >/dev/null || groupadd pcfload
	id pcfin >/dev/null 2>&1 || useradd -M -N -g pcfload pcfin
	id pcfout >/dev/null 2>&1 || useradd -M -N pcfout
	local gid
	gid=$(getent group pcfload | cut -d: -f3)
	fresh
	q "DROP TABLE IF EXISTS ro; CREATE TABLE ro (v text);
	   CREATE ROLE limited LOGIN; GRANT INSERT, SELECT ON TABLE v TO limited;
	   GRANT SELECT ON TABLE ro TO limited"
	chmod 755 "$PCF_TMP" "$PCF_TMP/sock"
	# Without table_mode, other users neither read nor load.
	PCF_CONNINFO="user=limited" pcf_remount -o allow_other,gid="$gid"
	expect_eq "$(stat -c '%A' "$T") $(stat -c '%A' "$MNT/public/ro.csv")" \
		"-rw------- -r--------" "allow_other's default modes"
	expect_match "$(runuser -u pcfin -- cat "$MNT/public/ro.csv" 2>&1)" \
		"Permission denied" "no read by another user by default"
	expect_match "$(runuser -u pcfin -- bash -c "printf 'v\nx\n' > '$T'" 2>&1)" \
		"Permission denied" "no load by another user by default"
	# tar's stat spools the export for its open (size_at_stat): not for a
	# user the mode keeps from reading the file (no export, no length), whose
	# stat fails rather than archive the table empty.
	local copies out
	copies=$(grep -c 'COPY "public"."ro" TO STDOUT' "$PCF_TMP/pg.log")
	out=$(runuser -u pcfin -- tar -C "$MNT" -cf - public/ro.csv 2>&1 >/dev/null)
	expect_eq "$?" 2 "tar's exit status: a table another user may not read"
	expect_match "$out" "public/ro.csv: Cannot stat: Permission denied" "tar's message"
	expect_eq "$(runuser -u pcfin -- stat -c %s "$MNT/public/ro.csv")" 0 "stat(1) by that user: size 0, no error"
	expect_eq "$(grep -c 'COPY "public"."ro" TO STDOUT' "$PCF_TMP/pg.log")" "$copies" \
		"no export for a stat the mode refuses to read"
	PCF_CONNINFO="user=limited" pcf_remount -o allow_other,gid="$gid",table_mode=0664
	expect_eq "$(stat -c '%A %g' "$T")" "-rw-rw-r-- $gid" "an INSERT table"
	expect_eq "$(stat -c '%A' "$MNT/public/ro.csv")" "-r--r--r--" "a table without INSERT"
	runuser -u pcfin -- bash -c "printf 'v\nby pcfin\n' | cat > '$T'"
	expect_eq "$?" 0 "a group member loads"
	expect_eq "$(q "SELECT v FROM v")" "by pcfin" "its row"
	expect_eq "$(runuser -u pcfout -- cat "$MNT/public/ro.csv")" "v" "table_mode=0664: every user reads (a header, no rows)"
	expect_eq "$(runuser -u pcfout -- tar -C "$MNT" -cf - public/ro.csv | tar -xOf -)" "v" \
		"table_mode=0664: another user's tar archives the table"
	expect_match "$(runuser -u pcfin -- bash -c "printf 'v\nx\n' | cat > '$MNT/public/ro.csv'" 2>&1)" \
		"Permission denied" "not a table without INSERT"
	expect_match "$(runuser -u pcfout -- bash -c "printf 'v\nx\n' | cat > '$T'" 2>&1)" \
		"Permission denied" "not a user outside the group"
	expect_eq "$(q "SELECT count(*) FROM v")" 1 "nothing else loaded"
	# Each user sees the loads of their own processes only: a failing
	# load by pcfin, whose command line holds a secret.
	runuser -u pcfin -- bash -c "printf 'v\n\\\\.\nx\n' | (exec -a 'loader --password=hunter2' cat) > '$T'" 2>/dev/null
	expect_match "$(runuser -u pcfin -- cat "$MNT/.pgcopyfs/history")" "hunter2" \
		"pcfin sees its own load"
	expect_eq "$(runuser -u pcfout -- cat "$MNT/.pgcopyfs/history" | grep -c .)" 0 \
		"pcfout sees none of pcfin's loads"
	expect_eq "$(runuser -u pcfout -- cat "$MNT/.pgcopyfs/history.jsonl" "$MNT/.pgcopyfs/loads" | grep -c .)" 0 \
		"nor in the other status files"
	expect_eq "$(runuser -u pcfout -- ls -R "$MNT/.pgcopyfs/errors" | grep -c 'v.csv')" 0 \
		"nor in errors/"
	expect_match "$(cat "$MNT/.pgcopyfs/history")" "hunter2" "root sees all"
	pcf_remount
}

test_install_puts_binary_man_page_and_helper_link() {
	local build
	build=$(dirname "$PGCOPYFS_BIN")
	cmake --install "$build" --prefix "$W/inst" >/dev/null
	expect_eq "$?" 0 "cmake --install"
	[ -x "$W/inst/bin/pgcopyfs" ] || fail "no bin/pgcopyfs"
	[ -f "$W/inst/share/man/man1/pgcopyfs.1" ] || fail "no man page"
	expect_match "$(readlink "$W/inst/sbin/mount.fuse.pgcopyfs")" "mount.fuse3$" "helper link"
	man -l "$W/inst/share/man/man1/pgcopyfs.1" >/dev/null 2>&1 ||
		groff -man -Tutf8 "$W/inst/share/man/man1/pgcopyfs.1" >/dev/null 2>&1 ||
		pcf_log "  (no man or groff here to render the page)"
}

test_help_readme_and_man_page_agree() {
	local help opts o
	help=$("$PGCOPYFS_BIN" --help)
	opts=$(printf '%s\n' "$help" | sed -n '/^pgcopyfs options:/,/^$/p' |
		grep -oE -- '-o [a-z_]+' | awk '{print $2}' | sort -u)
	[ "$(echo "$opts" | wc -l)" -ge 12 ] || fail "too few options in --help: $opts"
	for o in $opts; do
		grep -q -- "-o $o" "$ROOT/README.md" || fail "README.md lacks -o $o"
		# As an option of its own (.B \-o name, .BI \-o " name=" ARG),
		# not a word in the text (truncate is in ftruncate too).
		grep -qE -- '\\-o "? ?'"$o"'([=" ]|$)' "$ROOT/doc/pgcopyfs.1" ||
			fail "the man page lacks -o $o"
	done
	for o in $(grep -oE '`-o [a-z_]+' "$ROOT/README.md" | awk '{print $2}' | sort -u); do
		case $o in debug | max_threads) continue ;; esac
		printf '%s\n' "$opts" | grep -qx "$o" || fail "README's -o $o is not in --help"
	done
}

pcf_run_tests
