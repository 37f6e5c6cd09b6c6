#!/usr/bin/env bash
# After the close: a writer that closes the table file and THEN fails (exits
# non-zero, or dies by a signal, within close_wait seconds of the close)
# commits nothing, and the history says ECANCELED "after closing the file";
# one that exits 0 is committed before its parent's wait() returns; one still
# running close_wait seconds after its close is committed then; an fsync()
# before the close commits at the close. The writers are the real programs
# that do this: coreutils closing stdout in an exit handler, curl and wget on
# a cut transfer, zstd on a truncated archive, Python's with, Java's
# try-with-resources, perl, awk.
. "$(dirname "$0")/../lib.sh"
pcf_setup

# The real interpreter, not a pyenv shim (500 runs of it in the loop).
PY=$(python3 -c 'import sys; print(sys.executable)')
CLOSE_WAIT=2 # the default of -o close_wait

{
	echo v
	for i in $(seq 1 50); do echo "good $i"; done
} >"$W/good.csv"
GOOD_ROWS=50
rm -f "$W/missing.csv"

mk() { q "DROP TABLE IF EXISTS $1; CREATE TABLE $1 (v text)"; }

# cnt TABLE: its row count, from psql itself, not Debian's pg_wrapper (a
# perl script that costs 30 ms and more a run).
cnt() { "$PGBIN/psql" -X -A -t -q -c "SELECT count(*) FROM $1"; }
cnt_is() { [ "$(cnt "$1")" = "$2" ]; }

vals() { q "SELECT coalesce(string_agg(v, ',' ORDER BY v), '') FROM $1"; }

# w TABLE SHELL-TEXT: runs SHELL-TEXT in a bash of its own, with T (the
# table's file), W and PY in its environment, bounded to 60 s. The text
# ends in `exec prog ... > "$T"` so that the writer is the only holder of
# the file: `timeout prog > "$T"` would make timeout hold it too, and its
# exit would be the last close. The writer's stderr goes to $W/stderr.
# Sets ST to the exit status, and remembers the table's last history line
# so that expect_history can wait for the new one.
w() {
	T=$MNT/public/$1.csv
	HIST_BEFORE=$(last_history "public.$1")
	T=$T W=$W PY=$PY timeout -k 5 60 bash -c "$2" 2>"$W/stderr"
	ST=$?
}

# expect_history TABLE REGEX WHAT: the history line of the load w started
# (waits up to 5 s for it to be written) matches REGEX.
expect_history() {
	local i line
	for ((i = 0; i < 100; i++)); do
		line=$(last_history "public.$1")
		[ "$line" != "$HIST_BEFORE" ] && break
		sleep 0.05
	done
	if [ "$line" = "$HIST_BEFORE" ]; then
		fail "$3: no new history line for public.$1 within 5 s"
		return 1
	fi
	expect_match "$line" "$2" "$3"
}

# expect_st WANT WHAT: ST against WANT (a number, or "nonzero").
expect_st() {
	local err
	err=$(tr '\n' ' ' <"$W/stderr" | head -c 300)
	if [ "$1" = nonzero ]; then
		[ "$ST" != 0 ] || fail "$2: exit status: expected non-zero, got 0"
	else
		expect_eq "$ST" "$1" "$2: exit status (stderr: $err)"
	fi
}

# failed_after_close TABLE STATUS WHAT: the writer w just ran failed after
# its close: its status, no rows the moment wait() returned, the history.
failed_after_close() {
	expect_st "$2" "$3"
	expect_eq "$(cnt "$1")" 0 "$3: rows once wait() returned"
	expect_history "$1" "outcome=failed .*errno=ECANCELED .*after closing the file" \
		"$3: history"
}

# committed TABLE ROWS WHAT: the writer w just ran exited 0 and every row
# is visible the moment wait() returned.
committed() {
	expect_st 0 "$3"
	expect_eq "$(cnt "$1")" "$2" "$3: rows the moment wait() returned"
	expect_history "$1" "outcome=committed .*rows=$2 " "$3: history"
}

# A coreutils program that writes the good file's rows, closes stdout in
# its exit handler (close_stdout) and exits non-zero because the second file
# is missing; and the same program on the good file alone.
coreutil() {
	local name=$1 status=$2 cmd=$3
	mk "cu_${name}_fail"
	w "cu_${name}_fail" "exec $cmd \"\$W/good.csv\" \"\$W/missing.csv\" >\"\$T\""
	failed_after_close "cu_${name}_fail" "$status" "$cmd good missing"
	mk "cu_${name}_ok"
	w "cu_${name}_ok" "exec $cmd \"\$W/good.csv\" >\"\$T\""
	committed "cu_${name}_ok" "$GOOD_ROWS" "$cmd good"
}

test_coreutils_cat() { coreutil cat 1 "cat"; }
test_coreutils_sed() { coreutil sed 2 "sed -n p"; }
test_coreutils_grep() { coreutil grep 2 "grep -h ''"; }
test_coreutils_head() { coreutil head 1 "head -q -n 1000"; }
test_coreutils_tail() { coreutil tail 1 "tail -q -n 1000"; }
test_coreutils_cut() { coreutil cut 1 "cut -c1-"; }

# A small HTTP server on 127.0.0.1: /part announces Content-Length: 100000
# and sends only the header line and some whole rows, then closes; any
# other path sends the whole file. Sets HTTP_PID and URL.
http_start() {
	rm -f "$W/port"
	"$PY" - "$W/port" "$1" <<-'PY' 2>>"$W/http.log" &
	import os, socket, sys
	portfile, full = sys.argv[1], open(sys.argv[2], "rb").read()
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", 0))
	s.listen(16)
	with open(portfile + ".tmp", "w") as f:
	    f.write(str(s.getsockname()[1]))
	os.rename(portfile + ".tmp", portfile)
	while True:
	    c, _ = s.accept()
	    req = b""
	    while b"\r\n\r\n" not in req:
	        b = c.recv(4096)
	        if not b:
	            break
	        req += b
	    path = req.split(b" ")[1] if req.count(b" ") >= 2 else b"/"
	    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n"
	    if path == b"/part":
	        body = full[: full.rindex(b"\n", 0, len(full) // 2) + 1]
	        head += b"Content-Length: 100000\r\n\r\n"
	    else:
	        body = full
	        head += b"Content-Length: %d\r\n\r\n" % len(full)
	    try:
	        c.sendall(head + body)
	        c.shutdown(socket.SHUT_WR)
	    except OSError:
	        pass
	    c.close()
	PY
	HTTP_PID=$!
	wait_for "the HTTP server" 10 test -s "$W/port" || return 1
	URL=http://127.0.0.1:$(cat "$W/port")
}

http_stop() {
	kill "$HTTP_PID" 2>/dev/null
	wait "$HTTP_PID" 2>/dev/null
}

web_csv() {
	{
		echo v
		seq 1 5000 | sed 's/^/web /'
	} >"$W/web.csv"
}

test_curl_cut_transfer() {
	command -v curl >/dev/null || { fail "curl is missing (tests/install-deps.sh)"; return; }
	web_csv
	http_start "$W/web.csv" || { fail "no HTTP server"; return; }
	mk web_curl_fail
	w web_curl_fail "exec curl -sS -o \"\$T\" $URL/part"
	failed_after_close web_curl_fail 18 "curl -o, transfer cut"
	mk web_curl_ok
	w web_curl_ok "exec curl -sS -o \"\$T\" $URL/full"
	committed web_curl_ok 5000 "curl -o, whole transfer"
	http_stop
}

test_wget_cut_transfer() {
	command -v wget >/dev/null || { fail "wget is missing (tests/install-deps.sh)"; return; }
	web_csv
	http_start "$W/web.csv" || { fail "no HTTP server"; return; }
	mk web_wget_fail
	# --tries=1: wget would otherwise reconnect and ask for the rest.
	w web_wget_fail "exec wget -q --tries=1 -O \"\$T\" $URL/part"
	failed_after_close web_wget_fail 4 "wget -O, transfer cut"
	mk web_wget_ok
	w web_wget_ok "exec wget -q --tries=1 -O \"\$T\" $URL/full"
	committed web_wget_ok 5000 "wget -O, whole transfer"
	http_stop
}

zstd_files() {
	{
		echo v
		seq 1 200000 | sed 's/^/zst /'
	} >"$W/big.csv"
	zstd -q -f "$W/big.csv" -o "$W/big.zst"
	# Half of the archive: its first blocks decode (whole rows and a cut
	# one), then "premature end".
	head -c $(($(stat -c %s "$W/big.zst") / 2)) "$W/big.zst" >"$W/broken.zst"
}

test_zstd_truncated_archive() {
	command -v zstd >/dev/null || { fail "zstd is missing (tests/install-deps.sh)"; return; }
	zstd_files
	mk zst_dc_fail
	w zst_dc_fail 'exec zstd -q -dc "$W/broken.zst" >"$T"'
	failed_after_close zst_dc_fail 1 "zstd -dc broken > T"
	mk zst_dc_ok
	w zst_dc_ok 'exec zstd -q -dc "$W/big.zst" >"$T"'
	committed zst_dc_ok 200000 "zstd -dc good > T"
	# -o: zstd unlinks the existing file first (EPERM here, ignored),
	# creates it, writes, closes, sets times and mode, and on the error
	# unlinks it again (EPERM) before exiting 1.
	mk zst_o_fail
	w zst_o_fail 'exec zstd -q -d -f -o "$T" "$W/broken.zst"'
	failed_after_close zst_o_fail 1 "zstd -d -f -o T broken"
	mk zst_o_ok
	w zst_o_ok 'exec zstd -q -d -f -o "$T" "$W/big.zst"'
	committed zst_o_ok 200000 "zstd -d -f -o T good"
}

# py TABLE CODE-AFTER-THE-WITH-BLOCK: a Python program that writes the
# header and 100 rows in `with open(T, "w")` and then runs the code.
py() {
	w "$1" "exec \"\$PY\" -c '
import os, signal, sys
with open(sys.argv[1], \"w\") as f:
    f.write(\"v\\n\" + \"\".join(\"py %d\\n\" % i for i in range(100)))
$2
' \"\$T\""
}

test_python_with_block_then_exception() {
	mk py_raise
	py py_raise 'raise RuntimeError("after the with block")'
	failed_after_close py_raise 1 "with block, then an exception"
}

test_python_with_block_then_exit_0() {
	mk py_ok
	py py_ok 'sys.exit(0)'
	committed py_ok 100 "with block, then exit 0"
	mk py_ok_end
	py py_ok_end 'pass'
	committed py_ok_end 100 "with block, then the end of the program"
}

# One process that loads many tables, closes them all, then fails (an ETL
# script): none of them commits; the same exiting 0: all of them, visible
# when wait() returns. 40 files: more than any fixed number of loads
# waiting on one process's exit.
many_tables() { # STATUS
	python3 - "$MNT/public" "$1" <<-'PY'
	import sys
	d, status = sys.argv[1], int(sys.argv[2])
	files = [open("%s/many%d.csv" % (d, i), "w") for i in range(40)]
	for i, f in enumerate(files):
	    f.write("v\n%d\n%d\n" % (i, i))
	for f in files:
	    f.close()
	sys.exit(status)
	PY
}

test_one_process_many_tables_then_failure() {
	local i sql="" total
	for i in $(seq 0 39); do sql="$sql DROP TABLE IF EXISTS many$i; CREATE TABLE many$i (v text);"; done
	q "$sql"
	many_tables 3
	expect_eq "$?" 3 "the ETL script exits 3"
	total=$(q "SELECT $(for i in $(seq 0 39); do printf '(SELECT count(*) FROM many%d)+' "$i"; done)0")
	expect_eq "$total" 0 "no table got a row"
	many_tables 0
	expect_eq "$?" 0 "the ETL script exits 0"
	total=$(q "SELECT $(for i in $(seq 0 39); do printf '(SELECT count(*) FROM many%d)+' "$i"; done)0")
	expect_eq "$total" 80 "every table's rows, once wait() returned"
	expect_eq "$(grep -c 'cannot follow' "$PCF_TMP/daemon.log")" 0 \
		"every load waited for the exit (none committed at its close)"
}

test_python_killed_by_sigint_after_with_block() {
	mk py_sigint
	py py_sigint 'signal.signal(signal.SIGINT, signal.SIG_DFL); os.kill(os.getpid(), signal.SIGINT)'
	failed_after_close py_sigint 130 "with block, then killed by SIGINT"
	# An uncaught KeyboardInterrupt: Python 3.8+ re-kills itself with SIGINT.
	mk py_kbi
	py py_kbi 'raise KeyboardInterrupt'
	failed_after_close py_kbi 130 "with block, then KeyboardInterrupt"
	# Exit status 2 from sys.exit after the with block.
	mk py_exit2
	py py_exit2 'sys.exit(2)'
	failed_after_close py_exit2 2 "with block, then sys.exit(2)"
}

test_java_try_with_resources_then_exception() {
	if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
		pcf_log "  skip [$PCF_CURRENT]: no javac"
		return
	fi
	mkdir -p "$W/java"
	cat >"$W/java/Load.java" <<-'JAVA'
	import java.io.FileWriter;
	import java.io.IOException;

	public class Load {
	    public static void main(String[] args) throws IOException {
	        try (FileWriter w = new FileWriter(args[0])) {
	            w.write("v\n");
	            for (int i = 0; i < 100; i++)
	                w.write("java " + i + "\n");
	        }
	        if (args[1].equals("fail"))
	            throw new RuntimeException("after the try block");
	    }
	}
	JAVA
	javac -d "$W/java" "$W/java/Load.java" || { fail "javac"; return; }
	mk java_fail
	w java_fail 'exec java -cp "$W/java" Load "$T" fail'
	failed_after_close java_fail 1 "try-with-resources, then an exception"
	mk java_ok
	w java_ok 'exec java -cp "$W/java" Load "$T" ok'
	committed java_ok 100 "try-with-resources, then the end of main"
}

test_perl_close_then_die() {
	local prog='open(my $f, ">", $ENV{T}) or die "open: $!";
		print $f "v\n", map { "perl $_\n" } 1 .. 100;
		close($f) or die "close: $!";'
	mk perl_fail
	# die exits with $! when it is set (25, ENOTTY, here), else 255.
	w perl_fail "exec perl -e '$prog die \"after close\\n\"'"
	failed_after_close perl_fail nonzero "perl close, then die"
	mk perl_ok
	w perl_ok "exec perl -e '$prog'"
	committed perl_ok 100 "perl close, then the end"
}

test_awk_close_then_exit_1() {
	local awk n=0
	for awk in gawk mawk; do
		command -v "$awk" >/dev/null || continue
		n=$((n + 1))
		mk "awk_${awk}_fail"
		w "awk_${awk}_fail" "exec $awk -v T=\"\$T\" '{ print > T } END { close(T); exit 1 }' \"\$W/good.csv\""
		failed_after_close "awk_${awk}_fail" 1 "$awk print > T, close(T), exit 1"
		mk "awk_${awk}_ok"
		w "awk_${awk}_ok" "exec $awk -v T=\"\$T\" '{ print > T } END { close(T) }' \"\$W/good.csv\""
		committed "awk_${awk}_ok" "$GOOD_ROWS" "$awk print > T, close(T)"
	done
	[ "$n" -gt 0 ] || fail "neither gawk nor mawk"
}

test_truncate_mode_keeps_old_rows_when_the_writer_fails_after_close() {
	pcf_remount -o truncate || { fail "remount -o truncate"; pcf_remount; return; }
	mk trunc
	printf 'v\nold1\nold2\nold3\n' >"$W/old.csv"
	w trunc 'exec cp "$W/old.csv" "$T"'
	committed trunc 3 "the old rows"
	w trunc 'exec cat "$W/good.csv" "$W/missing.csv" >"$T"'
	failed_after_close_keeping trunc
	w trunc 'exec cp "$W/good.csv" "$T"'
	committed trunc "$GOOD_ROWS" "cp good replaces them"
	expect_eq "$(q "SELECT count(*) FROM trunc WHERE v LIKE 'old%'")" 0 "old rows gone"
	pcf_remount || fail "remount without options"
}

failed_after_close_keeping() {
	expect_st 1 "cat good missing > T under -o truncate"
	expect_eq "$(cnt "$1")" 3 "old rows still there once wait() returned"
	expect_eq "$(vals "$1")" "old1,old2,old3" "old rows' content"
	expect_history "$1" "outcome=failed .*errno=ECANCELED .*after closing the file" \
		"history"
}

# The commit rule must cost the good writers nothing: every load of these
# shapes, 500 times in a row each, is visible the moment its command
# returned. Reports the misses and the time per shape.
LOOP_N=${PCF_LOOP_N:-500}

loop_shape() {
	local name=$1 shape=$2 i got want misses=0 bad=0 t0 t1 ta tw=0
	mk "loop_$name"
	T=$MNT/public/loop_$name.csv
	t0=${EPOCHREALTIME/./}
	for ((i = 1; i <= LOOP_N; i++)); do
		ta=${EPOCHREALTIME/./}
		case $shape in
		cp) timeout -k 5 60 cp "$W/loop.csv" "$T" ;;
		cat) timeout -k 5 60 bash -c 'exec cat "$1" >"$2"' _ "$W/loop.csv" "$T" ;;
		py) timeout -k 5 60 "$PY" -S -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write(open(sys.argv[2]).read())
' "$T" "$W/loop.csv" ;;
		dd) timeout -k 5 60 dd if="$W/loop.csv" of="$T" bs=64k status=none ;;
		esac
		[ $? = 0 ] || bad=$((bad + 1))
		tw=$((tw + ${EPOCHREALTIME/./} - ta))
		got=$(cnt "loop_$name")
		want=$((i * 10))
		if [ "$got" != "$want" ]; then
			misses=$((misses + 1))
			[ "$misses" -le 3 ] && pcf_log "  $name run $i: count $got, expected $want"
		fi
	done 2>>"$W/loop.err"
	t1=${EPOCHREALTIME/./}
	# A load that was only late shows up here; a lost one does not.
	wait_for "the last loads of loop_$name" 5 cnt_is "loop_$name" $((LOOP_N * 10))
	got=$(cnt "loop_$name")
	pcf_log "  loop $name: $LOOP_N runs in $(((t1 - t0) / 1000)) ms ($((tw / 1000)) ms in the writers), $misses misses, $bad non-zero exits, $((LOOP_N * 10 - got)) rows missing at the end"
	expect_eq "$bad" 0 "$name: writers that exited non-zero"
	expect_eq "$misses" 0 "$name: runs whose rows were not all visible once the command returned"
	expect_eq "$got" $((LOOP_N * 10)) "$name: rows at the end"
}

test_loop_no_regression_for_good_writers() {
	{
		echo v
		seq 1 10 | sed 's/^/loop /'
	} >"$W/loop.csv"
	local t0=$SECONDS
	loop_shape cp cp
	loop_shape cat cat
	loop_shape py py
	loop_shape dd dd
	pcf_log "  loop total: $((SECONDS - t0)) s"
}

# long_closer TABLE FSYNC: in the background, a Python program writes the
# header and 100 rows, [fsyncs,] closes, writes the time of the close (µs)
# to $W/closed, sleeps 6 s and exits 0. Sets LONG_PID.
long_closer() {
	rm -f "$W/closed" "$W/closed.tmp"
	T=$MNT/public/$1.csv
	HIST_BEFORE=$(last_history "public.$1")
	timeout -k 5 60 "$PY" - "$T" "$W/closed" "$2" <<-'PY' &
	import os, sys, time
	with open(sys.argv[1], "w") as f:
	    f.write("v\n" + "".join("long %d\n" % i for i in range(100)))
	    if sys.argv[3] == "fsync":
	        f.flush()
	        os.fsync(f.fileno())
	t = time.time()
	with open(sys.argv[2] + ".tmp", "w") as m:
	    m.write("%d" % (t * 1e6))
	os.rename(sys.argv[2] + ".tmp", sys.argv[2])
	time.sleep(6)
	PY
	LONG_PID=$!
	wait_for "the program's close" 20 test -s "$W/closed"
}

test_long_lived_closer_is_committed_after_close_wait() {
	mk long_wait
	long_closer long_wait nofsync || { fail "no close"; return; }
	local closed seen=0 now got=
	closed=$(cat "$W/closed")
	# Poll until the rows show; a query started up to close_wait + 1 s
	# after the close may see them. The time is taken once the query that
	# saw them has returned: it is an upper bound of the commit's time.
	while :; do
		now=${EPOCHREALTIME/./}
		[ $((now - closed)) -gt $(((CLOSE_WAIT + 1) * 1000000)) ] && break
		got=$(cnt long_wait)
		[ "$got" = 100 ] && { seen=1; now=${EPOCHREALTIME/./}; break; }
		sleep 0.02
	done
	local ms=$(((now - closed) / 1000))
	pcf_log "  rows seen ${ms} ms after the close"
	expect_eq "$seen" 1 "rows visible within $((CLOSE_WAIT + 1)) s of the close (count $got after ${ms} ms)"
	expect_eq "$(kill -0 "$LONG_PID" 2>/dev/null && echo running)" running \
		"the program still runs when its rows show"
	[ "$ms" -ge 1500 ] ||
		fail "the commit did not wait for close_wait: rows seen ${ms} ms after the close (expected >= 1500 ms)"
	wait "$LONG_PID"
	ST=$?
	expect_eq "$ST" 0 "the program's exit status"
	expect_eq "$(cnt long_wait)" 100 "rows after the program exited"
	expect_history long_wait "outcome=committed .*rows=100 " "history"
}

test_long_lived_closer_with_fsync_is_committed_at_the_close() {
	mk long_fsync
	long_closer long_fsync fsync || { fail "no close"; return; }
	local closed now got
	closed=$(cat "$W/closed")
	got=$(cnt long_fsync)
	now=${EPOCHREALTIME/./}
	expect_eq "$got" 100 "rows visible as soon as the close returned ($(((now - closed) / 1000)) ms after it)"
	expect_eq "$(kill -0 "$LONG_PID" 2>/dev/null && echo running)" running \
		"the program still runs"
	wait "$LONG_PID"
	ST=$?
	expect_eq "$ST" 0 "the program's exit status"
	expect_eq "$(cnt long_fsync)" 100 "rows after the program exited"
	expect_history long_fsync "outcome=committed .*rows=100 " "history"
}

test_bad_row_still_fails_the_close() {
	q "DROP TABLE IF EXISTS bad; CREATE TABLE bad (id int, v text)"
	printf 'id,v\n1,a\nx,b\n3,c\n' >"$W/bad.csv"
	w bad 'exec cp "$W/bad.csv" "$T"'
	expect_st 1 "cp bad.csv"
	expect_match "$(cat "$W/stderr")" "Input/output error" "cp's message"
	expect_eq "$(cnt bad)" 0 "rows"
	expect_history bad "outcome=failed .*errno=EIO .*line 3" "history"
}

pcf_run_tests
