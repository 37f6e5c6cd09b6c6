#!/usr/bin/env bash
# Holders of one open file that the close rule must see whatever shape they
# take: many processes writing through one inherited descriptor (xargs -P,
# background subshells) while the CPU is busy; the same file opened through
# a bind mount of the mount; an open file that outlives a lazy unmount; and a
# slow stream whose bad row must reach the writer within about a second.
#
#   PCF_HOLDERS_N=20     rows each of the 4 parallel writers writes per run
#   PCF_HOLDERS_REPS=200 runs of each many-writers shape
#   PCF_HOLDERS_ONLY=RE  run only the tests whose names match RE
. "$(dirname "$0")/../lib.sh"
pcf_setup

N=${PCF_HOLDERS_N:-20}
REPS=${PCF_HOLDERS_REPS:-200}
BIND=$PCF_TMP/bind

# Every background process a test starts is killed by its pid, whatever
# path the script leaves by; the bind mount goes before the mount itself
# (a bind mount left behind would keep the daemon serving after
# fusermount3 -u, and pcf_cleanup's wait for it would never return).
BG_PIDS=()
track() { BG_PIDS+=("$@"); }
stop_tracked() {
	local p
	for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${BG_PIDS[@]}"; do
		wait_for "pid $p to end" 5 pid_gone "$p" || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
}
holders_cleanup() {
	stop_cpu_load
	stop_tracked
	if mountpoint -q "$BIND" 2>/dev/null; then
		umount "$BIND" 2>/dev/null || umount -l "$BIND"
	fi
	# A test that failed half-way may leave the mount lazily unmounted and
	# its daemon serving a holder: pcf_cleanup's wait must not hang on it.
	if [ -n "$PCF_DAEMON_PID" ] && ! mountpoint -q "$MNT" 2>/dev/null &&
		! wait_for "the daemon to exit" 10 pid_gone "$PCF_DAEMON_PID"; then
		kill -TERM "$PCF_DAEMON_PID" 2>/dev/null
		wait_for "the daemon to stop" 10 pid_gone "$PCF_DAEMON_PID" ||
			kill -KILL "$PCF_DAEMON_PID" 2>/dev/null
	fi
}
trap 'holders_cleanup; pcf_cleanup' EXIT

# A process is gone when kill -0 fails (this shell reaped it; wait still
# returns its status) or it is a zombie.
pid_gone() {
	! kill -0 "$1" 2>/dev/null ||
		[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

# run60 CODE ARGS...: bash -c CODE with ARGS as $1..., killed (its whole
# process group: timeout makes one) after 60 s.
run60() {
	local code=$1
	shift
	timeout -k 5 60 bash -c "$code" _ "$@"
}

# Both cores busy for the whole test: stress-ng, or two busy loops, each with
# a hard time limit of its own in case this script is killed.
CPU_PIDS=()
start_cpu_load() {
	if command -v stress-ng >/dev/null; then
		stress-ng --cpu 2 --timeout "$1" --quiet >/dev/null 2>&1 &
		CPU_PIDS+=($!)
	else
		pcf_log "  (stress-ng is missing: two busy loops instead)"
		timeout "$1" sh -c 'while :; do :; done' &
		CPU_PIDS+=($!)
		timeout "$1" sh -c 'while :; do :; done' &
		CPU_PIDS+=($!)
	fi
}
stop_cpu_load() {
	local p
	for p in "${CPU_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${CPU_PIDS[@]}"; do
		wait_for "the CPU load $p to end" 10 pid_gone "$p" || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	CPU_PIDS=()
}

# The history: the highest record id so far, and the records of one table
# (schema.table) newer than an id.
max_id() {
	awk '{ id = substr($1, 4) + 0; if (id > m) m = id } END { print m + 0 }' \
		"$MNT/.pgcopyfs/history"
}
records_since() {
	awk -v t=" table=$1 " -v since="$2" \
		'index($0, t) && substr($1, 4) + 0 > since' "$MNT/.pgcopyfs/history"
}
has_records() { [ -n "$(records_since "$@")" ]; }

# one_record TABLE SINCE REGEX WHAT: exactly one new record, matching REGEX.
one_record() {
	local recs n
	recs=$(records_since "$1" "$2")
	n=$(printf '%s\n' "$recs" | grep -c .)
	expect_eq "$n" 1 "$4: new history records of $1 ($(printf '%s' "$recs" | tr '\n' '|'))" &&
		expect_match "$recs" "$3" "$4"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

make_table() { # NAME: a two-int-column table, new and empty
	q "DROP TABLE IF EXISTS $1; CREATE TABLE $1 (a int, b int)"
}

# many_writers WHAT CODE: runs CODE (bash -c, $1 = the file of public.s)
# REPS times; each run must exit 0, print nothing on stderr and make exactly
# one history record of public.s, committed with all 4*N rows. The first few
# runs that do not are shown; all are counted.
many_writers() {
	local what=$1 code=$2 r st recs before t0 t1 bad=0 late=0 why
	local want=$((4 * N)) file=$MNT/public/s.csv
	make_table s
	start_cpu_load 300
	t0=$(now)
	for ((r = 1; r <= REPS; r++)); do
		before=$(max_id)
		run60 "$code" "$file" 2>"$W/err"
		st=$?
		recs=$(records_since public.s "$before")
		if [ -z "$recs" ]; then
			# A commit left to RELEASE comes after the writer's exit.
			wait_for "the record of run $r" 5 has_records public.s "$before"
			recs=$(records_since public.s "$before")
			[ -n "$recs" ] && late=$((late + 1))
		fi
		why=
		[ "$st" = 0 ] || why="$why exit=$st"
		[ -s "$W/err" ] && why="$why stderr='$(head -c 200 "$W/err" | tr '\n' ' ')'"
		[ "$(printf '%s\n' "$recs" | grep -c .)" = 1 ] ||
			why="$why records=$(printf '%s\n' "$recs" | grep -c .)"
		printf '%s' "$recs" | grep -q " outcome=committed .*rows=$want " ||
			why="$why record='$(printf '%s' "$recs" | tr '\n' '|' | cut -c1-300)'"
		if [ -n "$why" ]; then
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && pcf_log "  $what: run $r:$why"
		fi
	done
	t1=$(now)
	stop_cpu_load
	pcf_log "  $what: $REPS runs of 4 x $N rows in $(elapsed "$t0" "$t1") s" \
		"under CPU load; $late committed only after the writer exited"
	expect_eq "$bad" 0 "$what: runs that did not commit all rows exactly once"
	expect_eq "$(q "SELECT count(*) FROM s")" $((REPS * want)) "$what: rows in s"
	expect_eq "$(q "SELECT count(*) FROM (SELECT a, b FROM s GROUP BY a, b
		HAVING count(*) = $REPS) x")" "$want" "$what: every (writer, row) once a run"
	expect_eq "$(grep -c 'table=public.s ' "$MNT/.pgcopyfs/loads")" 0 \
		"$what: no load left open"
}

# A. Many processes share one open file.
test_a1_xargs_P4_writers_share_one_open_file() {
	many_writers "xargs -P4" \
		"seq 4 | xargs -P4 -I{} sh -c 'for i in \$(seq $N); do /bin/echo {},\$i; done' >\"\$1\""
}

test_a2_background_subshells_share_one_descriptor() {
	many_writers "background subshells" \
		"{ for i in 1 2 3 4; do ( for j in \$(seq $N); do /bin/echo \$i,\$j; done ) & done; wait; } >\"\$1\""
}

# B. The same file through a bind mount of the mount, and, for comparison,
# through the mount itself: the same outcomes.
bind_mount() {
	mkdir -p "$BIND"
	mount --bind "$MNT" "$BIND" || { fail "mount --bind"; return 1; }
}
bind_umount() {
	umount "$BIND" || { fail "umount $BIND"; umount -l "$BIND"; }
}

test_b1_cp_through_a_bind_mount() {
	local root before out
	seq 1000 | awk '{ print $1 "," $1 * 2 }' >"$W/f.csv"
	bind_mount || return
	for root in "$MNT" "$BIND"; do
		make_table t
		before=$(max_id)
		out=$(timeout 60 cp "$W/f.csv" "$root/public/t.csv" 2>&1)
		expect_eq "$?" 0 "$root: cp's status ($out)"
		expect_eq "$(count t)" 1000 "$root: rows"
		one_record public.t "$before" " outcome=committed .*rows=1000 " "$root: one commit"
	done
	bind_umount
}

test_b2_writer_failing_through_a_bind_mount() {
	local root how before out
	seq 100 | awk '{ print $1 "," $1 }' >"$W/f.csv"
	bind_mount || return
	for root in "$MNT" "$BIND"; do
		# The shell holds the file and fails after its child cat wrote it
		# all and closed: cat's close is not the last one.
		for how in "exit 1" "kill -9 \$\$"; do
			make_table t
			before=$(max_id)
			out=$(run60 "sh -c 'cat \"\$1\"; $how' _ \"\$1\" >\"\$2\" || echo failed" \
				"$W/f.csv" "$root/public/t.csv" 2>"$W/err")
			expect_eq "$out" failed "$root, $how: the shell saw the failure"
			expect_eq "$(count t)" 0 "$root, $how: no rows"
			one_record public.t "$before" " outcome=failed .*errno=ECANCELED" \
				"$root, $how: history"
		done
	done
	bind_umount
}

test_b3_shell_holds_through_a_bind_mount_while_children_write() {
	local root before st
	bind_mount || return
	for root in "$MNT" "$BIND"; do
		make_table t
		before=$(max_id)
		run60 '{ /bin/echo 1,1; sleep 0.5; /bin/echo 2,2; } >"$1"' \
			"$root/public/t.csv" 2>"$W/err"
		st=$?
		expect_eq "$st" 0 "$root: status ($(head -c 200 "$W/err"))"
		expect_eq "$(q "SELECT string_agg(a || ':' || b, ',' ORDER BY a) FROM t")" \
			"1:1,2:2" "$root: both rows"
		one_record public.t "$before" " outcome=committed .*rows=2 " \
			"$root: one commit, not at the first /bin/echo's exit"
	done
	bind_umount
}

# C. A lazy unmount while a load runs: the open file keeps working, its
# holder's exit status decides, and the daemon exits once nothing holds the
# mount.
test_c_lazy_unmount_while_a_load_runs() {
	local status holder log0 dpid
	for status in 1 0; do
		make_table t
		log0=$(wc -l <"$PCF_TMP/daemon.log")
		rm -f "$W/holder.pid"
		run60 'echo $$ >"$3"; exec 3>"$1"; /bin/echo 1,1 >&3; sleep 2
			/bin/echo 2,2 >&3; exit "$2"' \
			"$MNT/public/t.csv" "$status" "$W/holder.pid" 2>"$W/err" &
		holder=$!
		track "$holder"
		wait_for "the first row" 10 grep -q "table=public.t .*rows=1 " \
			"$MNT/.pgcopyfs/loads" || fail "status $status: no load with a row"
		expect_status 0 "status $status: fusermount3 -uz" fusermount3 -uz "$MNT"
		mountpoint -q "$MNT" && fail "status $status: still mounted"
		pcf_log "  status $status: after the lazy unmount the holder's fd 3 reads" \
			"$(readlink "/proc/$(cat "$W/holder.pid")/fd/3" 2>&1)"
		wait "$holder"
		expect_eq "$?" "$status" \
			"status $status: the holder's exit status ($(head -c 200 "$W/err"))"
		BG_PIDS=()
		if [ "$status" = 1 ]; then
			expect_eq "$(count t)" 0 "status 1: nothing committed"
			wait_for "the daemon to log the rollback" 5 bash -c \
				"tail -n +$((log0 + 1)) '$PCF_TMP/daemon.log' | grep -q 'of public.t .*ECANCELED'" ||
				fail "status 1: no ECANCELED rollback of public.t in the daemon's log"
		else
			expect_eq "$(q "SELECT string_agg(a || ':' || b, ',' ORDER BY a) FROM t")" \
				"1:1,2:2" "status 0: both rows committed"
		fi
		dpid=$PCF_DAEMON_PID
		if ! wait_for "the daemon to exit after the lazy unmount" 10 pid_gone "$dpid"; then
			fail "status $status: the daemon $dpid still runs 10 s after its last file closed"
			kill -TERM "$dpid"
			wait_for "the daemon to stop" 10 pid_gone "$dpid" || kill -KILL "$dpid"
		fi
		# pcf_unmount finds no mount to unmount and reaps the daemon.
		pcf_remount || { fail "cannot mount again"; return; }
		expect_eq "$PCF_DAEMON_STATUS" 0 "status $status: the daemon's exit status"
	done
	make_table t
	printf '3,3\n' | cat >"$MNT/public/t.csv"
	expect_eq "$(count t)" 1 "the new mount loads"
}

# D. A slow stream learns of a bad row quickly: within about a second, at a
# write, not at the close.
test_d1_slow_external_writer_gets_eio_soon_after_a_bad_row() {
	local out dt
	q "DROP TABLE IF EXISTS d; CREATE TABLE d (a int)"
	out=$(timeout 60 python3 - "$MNT/public/d.csv" <<-'PY'
	import errno, os, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY)
	bad = None
	for i in range(1, 31):
	    if i == 3:
	        bad = time.monotonic()
	    try:
	        os.write(fd, b"x\n" if i == 3 else b"%d\n" % i)
	    except OSError as e:
	        print("row=%d %s %.3f" % (i, errno.errorcode[e.errno],
	                                  time.monotonic() - bad), end=" ")
	        try:
	            os.close(fd)
	            print("close ok")
	        except OSError as e:
	            print("close", errno.errorcode[e.errno])
	        sys.exit(0)
	    time.sleep(1)
	print("no error")
	PY
	)
	pcf_log "  the failing write: $out"
	expect_match "$out" "^row=[345] EIO [0-9.]+ close EIO$" \
		"EIO on a write at the latest 2 writes after the bad row, and at close"
	dt=$(printf '%s' "$out" | awk '{ print $3 }')
	awk -v d="${dt:-99}" 'BEGIN { exit !(d <= 2.5) }' ||
		fail "the failing write came ${dt:-never} s after the bad one (> 2.5 s)"
	expect_eq "$(count d)" 0 "no rows"
	expect_match "$(last_history public.d)" \
		'errno=EIO .*invalid input syntax for type integer: \\"x\\".*line 3' "history"
}

test_d2_slow_shell_loop_into_cat_fails_early() {
	local t0 t1 out
	q "DROP TABLE IF EXISTS d; CREATE TABLE d (a int)"
	t0=$(now)
	out=$(run60 'for i in $(seq 10); do
			if [ "$i" = 3 ]; then echo x; else echo "$i"; fi; sleep 1
		done | cat >"$1"; echo "${PIPESTATUS[*]}"' "$MNT/public/d.csv" 2>&1)
	t1=$(now)
	pcf_log "  the loop into cat ended after $(elapsed "$t0" "$t1") s:" \
		"$(printf '%s' "$out" | tr '\n' '|')"
	expect_match "$out" "[^0-9]1$" "cat's status is 1"
	awk -v d="$(elapsed "$t0" "$t1")" 'BEGIN { exit !(d < 6) }' ||
		fail "the pipeline took $(elapsed "$t0" "$t1") s (>= 6 s)"
	expect_eq "$(count d)" 0 "no rows"
}

if [ -n "${PCF_HOLDERS_ONLY:-}" ]; then
	for t in $(declare -F | awk '{ print $3 }' | grep '^test_' |
		grep -Ev -- "$PCF_HOLDERS_ONLY"); do
		unset -f "$t"
	done
fi

pcf_run_tests
