#!/usr/bin/env bash
# The server or the daemon fails: a terminated backend, a restarted or
# stopped server, a server that does not answer, a full disk, a killed
# daemon, an unmount during a load. Nothing is committed, the writer gets an
# error in bounded time, and the mount (or a new one) works afterwards.
. "$(dirname "$0")/../lib.sh"
pcf_setup

# Streams rows into FILE until a write or the close fails; prints the errno
# name and how long after WHEN the failure came. Marks $W/streaming first.
start_streamer() {
	rm -f "$W/streaming" "$W/streamer.out"
	python3 - "$1" "$W/streaming" >"$W/streamer.out" 2>&1 <<-'PY' &
	import errno, os, sys, time
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"v\n")
	chunk = b"row\n" * 16384
	marked = False
	try:
	    for _ in range(100000):
	        os.write(fd, chunk)
	        if not marked:
	            open(sys.argv[2], "w").close()
	            marked = True
	        time.sleep(0.01)
	    os.close(fd)
	    print("no error")
	except OSError as e:
	    print(errno.errorcode[e.errno], time.time())
	PY
	STREAMER=$!
	wait_for "the streamer" 10 test -e "$W/streaming"
}

# Waits for the streamer and checks it failed with ERRNO within SECS.
expect_streamer_failed() {
	local errno=$1 secs=$2 since=$3 out
	wait "$STREAMER"
	out=$(cat "$W/streamer.out")
	expect_match "$out" "^$errno " "the writer's error"
	local t=${out#* }
	[ "${t%.*}" -le $((${since%.*} + secs)) ] 2>/dev/null ||
		fail "error came later than ${secs}s: $out (since $since)"
}

test_backend_terminated_mid_load() {
	fresh
	start_streamer "$T"
	local now
	now=$(date +%s)
	q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	   WHERE application_name = 'pgcopyfs' AND state <> 'idle'" >/dev/null
	expect_streamer_failed ECONNRESET 5 "$now"
	expect_eq "$(rows)" 0 "nothing committed"
	expect_match "$(last_history public.v)" "errno=ECONNRESET" "history"
	printf 'v\nafter\n' | cat >"$T"
	expect_eq "$(rows)" 1 "the next load works"
}

test_server_restarted_mid_load() {
	fresh
	start_streamer "$T"
	local now
	now=$(date +%s)
	pg_ctl restart -m fast
	expect_streamer_failed ECONNRESET 10 "$now"
	expect_eq "$(rows)" 0 "nothing committed"
	printf 'v\nafter\n' | cat >"$T"
	expect_eq "$?" 0 "the next load works"
	expect_eq "$(rows)" 1 "its row"
	# The catalog connection came back by itself.
	q "CREATE TABLE after_restart (v text)"
	wait_for "a new table to show" 5 test -e "$MNT/public/after_restart.csv" ||
		fail "the tree did not recover"
}

test_server_down_at_open() {
	fresh
	pg_ctl stop -m fast
	local out start
	start=$(date +%s)
	out=$(printf 'v\nx\n' | cat 2>&1 >"$T")
	expect_eq "$?" 1 "open fails"
	expect_match "$out" "Connection refused" "ECONNREFUSED"
	[ $(($(date +%s) - start)) -le 5 ] || fail "took longer than 5 s"
	expect_status 0 "ls still answers" ls "$MNT/public"
	pg_ctl_start
	printf 'v\nback\n' | cat >"$T"
	expect_eq "$(rows)" 1 "works again once the server is back"
}

test_connect_timeout_bounds_a_silent_server() {
	# A TCP proxy to the server that can turn silent: new connections are
	# accepted and never answered, like a host that went away.
	python3 - "$PGHOST/.s.PGSQL.5432" "$W/proxy" <<-'PY' &
	import os, socket, sys, threading
	target, flag = sys.argv[1], sys.argv[2]
	ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(64)
	open(flag + ".port", "w").write(str(ls.getsockname()[1]))
	def pump(a, b):
	    try:
	        while (d := a.recv(65536)):
	            b.sendall(d)
	    except OSError:
	        pass
	    finally:
	        a.close(); b.close()
	held = []
	while True:
	    c, _ = ls.accept()
	    if os.path.exists(flag + ".silent"):
	        held.append(c)
	        continue
	    u = socket.socket(socket.AF_UNIX); u.connect(target)
	    threading.Thread(target=pump, args=(c, u), daemon=True).start()
	    threading.Thread(target=pump, args=(u, c), daemon=True).start()
	PY
	local proxy=$!
	wait_for "the proxy" 10 test -s "$W/proxy.port"
	PCF_CONNINFO="host=127.0.0.1 port=$(cat "$W/proxy.port")" \
		pcf_remount -o connect_timeout=2
	fresh
	printf 'v\nvia proxy\n' | cat >"$T"
	expect_eq "$(rows)" 1 "loads through the proxy"
	: >"$W/proxy.silent"
	local out start took
	start=$(date +%s)
	out=$(printf 'v\nx\n' | cat 2>&1 >"$T")
	took=$(($(date +%s) - start))
	expect_match "$out" "Connection timed out" "ETIMEDOUT"
	[ "$took" -ge 1 ] && [ "$took" -le 6 ] || fail "took ${took}s, not about 2"
	expect_match "$(last_history public.v)" "errno=ETIMEDOUT" "history"
	rm -f "$W/proxy.silent"
	pcf_remount
	kill "$proxy"
}

test_disk_full_gives_enospc() {
	mkdir -p "$W/ts"
	if ! mount -t tmpfs -o size=8M tmpfs "$W/ts" 2>/dev/null; then
		pcf_log "  (skipped: cannot mount a small tmpfs here)"
		return
	fi
	chown postgres "$W/ts" 2>/dev/null
	q "CREATE TABLESPACE tiny LOCATION '$W/ts'"
	q "CREATE TABLE full_t (v text) TABLESPACE tiny"
	python3 -c '
import sys
sys.stdout.write("v\n")
for i in range(400000):
    sys.stdout.write("row number %d with some padding to fill pages\n" % i)
' | cat >"$MNT/public/full_t.csv" 2>"$W/full.err"
	expect_eq "$?" 1 "the load failed"
	expect_match "$(cat "$W/full.err")" "No space left on device" "ENOSPC for the writer"
	expect_match "$(last_history public.full_t)" "errno=ENOSPC sqlstate=53100" "history"
	expect_eq "$(q "SELECT count(*) FROM full_t")" 0 "nothing committed"
	q "DROP TABLE full_t"
	q "DROP TABLESPACE tiny"
	umount "$W/ts"
}

test_unmount_during_a_load_refuses_cleanly() {
	fresh
	held_writer "$T" 'v\na\n' u
	local p=$HELD_PID out
	out=$(fusermount3 -u "$MNT" 2>&1)
	expect_eq "$?" 1 "fusermount3 -u refuses"
	expect_match "$out" "busy" "Device or resource busy"
	release_writer u
	wait "$p"
	expect_eq "$?" 0 "the load went on"
	expect_eq "$(rows)" 1 "and committed"
}

# Where fusermount3's auto_unmount helper is, when it did not unmount: it
# waits for EOF on its socket to the daemon, then opens the mount point
# and unmounts on ENOTCONN.
auto_unmount_diagnosis() {
	local h=$1
	pcf_log "  auto_unmount helper: ${h:-none found at the kill}"
	ps -eo pid,ppid,pgid,stat,wchan:32,args | grep -E 'fusermount|pgcopyfs|PID' | grep -v grep >&2
	[ -n "$h" ] && [ -d "/proc/$h" ] || return 0
	cat "/proc/$h/stack" >&2 2>/dev/null
	ls -l "/proc/$h/fd" >&2
	local ino
	for ino in $(ls -l "/proc/$h/fd" | sed -n 's/.*socket:\[\([0-9]*\)\]/\1/p'); do
		ss -xp | grep -w "$ino" >&2
	done
}

test_daemon_killed_mid_load() {
	local opt
	for opt in auto_unmount plain; do
		if [ "$opt" = auto_unmount ]; then pcf_remount -o auto_unmount; else pcf_remount; fi
		fresh
		start_streamer "$T"
		local helper
		helper=$(pgrep -P "$PCF_DAEMON_PID" -x fusermount3)
		kill -9 "$PCF_DAEMON_PID"
		wait "$PCF_DAEMON_PID" 2>/dev/null
		PCF_DAEMON_PID=
		wait "$STREAMER"
		expect_match "$(cat "$W/streamer.out")" "^(ENOTCONN|ECONNABORTED) " \
			"$opt: the writer's error"
		wait_for "the server to roll back" 10 bash -c \
			"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs'\") = 0 ]" ||
			fail "$opt: pgcopyfs sessions left"
		expect_eq "$(rows)" 0 "$opt: nothing committed"
		if [ "$opt" = auto_unmount ]; then
			# The mount table, not mountpoint(1): a dead mount's stat
			# fails, which mountpoint takes for "unmounted".
			wait_for "the automatic unmount" 20 bash -c "! grep -qs ' $MNT fuse' /proc/self/mounts" ||
				{ fail "auto_unmount: still mounted"; auto_unmount_diagnosis "$helper"; fusermount3 -u -z "$MNT"; }
		else
			expect_status 0 "fusermount3 -u after a crash" fusermount3 -u "$MNT"
		fi
		pcf_mount || fail "$opt: cannot mount again"
	done
	printf 'v\nagain\n' | cat >"$T"
	expect_eq "$(rows)" 1 "a new mount loads"
}

test_daemon_stopped_with_sigterm_mid_load() {
	fresh
	held_writer "$T" 'v\na\n' term
	local writer=$HELD_PID daemon=$PCF_DAEMON_PID
	kill -TERM "$daemon"
	wait "$daemon"
	expect_eq "$?" 0 "the daemon stops cleanly (and without leaks)"
	PCF_DAEMON_PID=
	release_writer term
	wait "$writer"
	expect_eq "$?" 1 "the writer's close fails"
	expect_eq "$(rows)" 0 "nothing committed"
	mountpoint -q "$MNT" && fail "still mounted"
	pcf_mount || fail "cannot mount again"
}

pcf_run_tests
