#!/usr/bin/env bash
# Reading a table file streams the table out, byte for byte what psql's
# COPY ... TO STDOUT gives: .csv (HEADER true, the mount's dialect), .tsv
# (the text format), .jsonl (row_to_json per row), and .gz/.zst of any of
# them compressed as they stream. One snapshot per open,
# committed rows only; the read bits are the SELECT privilege; an early
# close ends the server's COPY at once; a read a little behind the stream
# is served from a window, one further back fails with ESPIPE.
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE TABLE r (id int, v text, n numeric, doc jsonb);
   INSERT INTO r SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE
     'row ' || i || E' \"quoted\", comma\\nnew line\\ttab é 😀 \\\\ back' END,
     i * 1.5, jsonb_build_object('i', i, 'a', jsonb_build_array(1, 'x'))
   FROM generate_series(1, 20000) i;
   CREATE TABLE big (id int, v text);
   INSERT INTO big SELECT i, 'hello world ' || i FROM generate_series(1, 2000000) i;
   CREATE SCHEMA other; CREATE TABLE other.r (LIKE r);
   CREATE ROLE ins_only LOGIN; GRANT USAGE ON SCHEMA public TO ins_only;
   GRANT INSERT ON r TO ins_only"
P=$MNT/public
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
wait_for "r.csv" 5 test -e "$P/r.csv"

copy_to() { # TABLE OPTIONS: psql's own COPY TO output
	psql -XAtq -v ON_ERROR_STOP=1 -c "\\copy $1 TO STDOUT WITH ($2)"
}

test_csv_tsv_jsonl_byte_for_byte() {
	copy_to r "FORMAT csv, HEADER true" >"$W/want.csv"
	copy_to r "FORMAT text, HEADER true" >"$W/want.tsv"
	psql -XAtq -c "SELECT row_to_json(x) FROM r x" >"$W/want.jsonl"
	expect_status 0 "cat r.csv" cmp "$W/want.csv" <(cat "$P/r.csv")
	expect_status 0 "cat r.tsv" cmp "$W/want.tsv" <(cat "$P/r.tsv")
	expect_status 0 "cat r.jsonl" cmp "$W/want.jsonl" <(cat "$P/r.jsonl")
	expect_eq "$(md5sum <"$P/r.csv")" "$(md5sum <"$W/want.csv")" "md5sum"
	expect_eq "$(wc -l <"$P/r.csv")" "$(wc -l <"$W/want.csv")" "wc -l"
	expect_eq "$(grep -c 'row 1999' "$P/r.csv")" "$(grep -c 'row 1999' "$W/want.csv")" "grep"
	expect_status 0 "diff" diff -q "$W/want.csv" "$P/r.csv"
	# cmp -s says "differ" from two regular files' sizes, before it reads
	# (size_at_open names cmp: its open spools)
	expect_status 0 "cmp -s, the table first" cmp -s "$P/r.csv" "$W/want.csv"
	expect_status 0 "cmp -s, the table second" cmp -s "$W/want.csv" "$P/r.csv"
	expect_status 1 "cmp -s of another table's bytes" cmp -s "$W/want.tsv" "$P/r.csv"
	expect_eq "$(tail -n 5 "$P/r.csv" | md5sum)" "$(tail -n 5 "$W/want.csv" | md5sum)" "tail -n 5"
	expect_eq "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$P/r.csv")" 20001 \
		"python csv.reader: the header and every row"
	cp "$P/r.csv" "$W/copy.csv"
	expect_status 0 "cp out of the mount" cmp "$W/want.csv" "$W/copy.csv"
}

# The tools people read files with, each against psql's own COPY TO
# output: less (to the end and back to the start, past the window: less
# keeps what it read of a file whose size is 0), sqlite3's .import and
# pandas.read_csv.
test_less_sqlite3_pandas() {
	local out
	q "DROP TABLE IF EXISTS lt; CREATE TABLE lt AS
	   SELECT i, 'value ' || i AS v, i * 0.5 AS h FROM generate_series(1, 200000) i"
	wait_for "lt.csv" 5 test -e "$P/lt.csv"
	copy_to lt "FORMAT csv, HEADER true" >"$W/lt.csv"
	out=$(timeout 60 "$TOOLS/ptykeys.py" Ggq less -X "$P/lt.csv")
	expect_eq "$?" 0 "less G g q exits 0"
	expect_match "$out" $'\n200000,value 200000,100000.0\n' "less G: the last row"
	expect_match "$out" $'skipping\\.\\.\\..*\ni,v,h\n1,value 1,0.5\n' "less g after G: the header and the first row again"
	expect_eq "$(grep -c 'lt.csv at byte' "$PCF_TMP/daemon.log")" 0 "no read behind the window"
	rm -f "$W/lt.db"
	expect_eq "$(sqlite3 "$W/lt.db" ".import --csv $P/lt.csv lt" \
		"SELECT count(*), sum(i), sum(h), max(v) FROM lt")" \
		"$(q "SELECT count(*), sum(i), sum(h), max(v) FROM lt")" "sqlite3 .import: every row and value"
	copy_to r "FORMAT csv, HEADER true" >"$W/r.want"
	out=$(/usr/bin/python3 - "$P/r.csv" "$W/r.want" <<-'PY' 2>&1
	import sys
	import pandas as pd
	got, want = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
	print(got.shape, got.equals(want))
	PY
	)
	expect_eq "$out" "(20000, 4) True" "pandas.read_csv of r.csv is that of psql's COPY TO"
}

# rsync out of the mount into $W/rs: r.csv ($W/r.want), the schema other,
# and the compressed name COMP, which UNPACK opens and which holds COPY TO
# with the options FORM. Each is COPY TO's bytes.
expect_rsync_copies() {
	local comp=$1 unpack=$2 form=$3
	rsync "$P/r.csv" "$W/rs/one.csv"
	expect_eq "$?" 0 "rsync of one table file"
	expect_status 0 "rsync's copy is COPY TO's" cmp "$W/r.want" "$W/rs/one.csv"
	rsync -a "$MNT/other/" "$W/rs/other/" && rsync -a "$P/$comp" "$W/rs/"
	expect_eq "$?" 0 "rsync -a of a schema, and of $comp"
	expect_status 0 "rsync -a: the schema's table" cmp <(copy_to other.r "FORMAT csv, HEADER true") "$W/rs/other/r.csv"
	expect_status 0 "rsync of $comp: COPY TO's, compressed" cmp <(copy_to r "$form") <($unpack "$W/rs/$comp")
}

# What perl sees of FILE: the size fstat gives after its open, and the
# bytes it then reads.
fstat_and_len() {
	perl -e 'open(my $f, "<", $ARGV[0]) or die "$!\n"; my $size = (stat($f))[7];
local $/; my $d = <$f>; print "$size ", length($d), "\n"' "$1"
}

# The default (-o read_size=auto): a read open by a program that copies
# the size fstat of the file it opened gives (rsync's sender, scp, curl
# -T, cmp, node: -o size_at_open=) spools the export
# first, so that size is its length; every other open streams with size 0. Under read_size=stream
# rsync copies 0 bytes and exits 0, which is why auto is the default.
test_rsync_in_the_default_mount() {
	local out
	copy_to r "FORMAT csv, HEADER true" >"$W/r.want"
	rm -rf "$W/rs" && mkdir -p "$W/rs"
	expect_eq "$(stat -c %s "$P/r.csv")" 0 "the size before an open"
	out=$(fstat_and_len "$P/r.csv")
	expect_eq "$out" "0 $(stat -c %s "$W/r.want")" "perl's open streams: fstat 0, every byte read"
	expect_rsync_copies r.tsv.zst "zstd -q -dc" "FORMAT text, HEADER true"
	# rsync again over its own copy: the same bytes, nothing left behind
	rsync -a "$P/r.csv" "$W/rs/one.csv"
	expect_status 0 "rsync over its own copy" cmp "$W/r.want" "$W/rs/one.csv"
	expect_eq "$(psql -XAtc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'")" 0 \
		"no read backend left after rsync"
	pcf_remount -o size_at_open=perl
	out=$(fstat_and_len "$P/r.csv")
	expect_eq "$out" "$(stat -c %s "$W/r.want") $(stat -c %s "$W/r.want")" \
		"-o size_at_open=perl: perl's fstat after its open is the length"
	pcf_remount -o read_size=stream
	rsync "$P/r.csv" "$W/rs/stream.csv"
	expect_eq "$?:$(stat -c %s "$W/rs/stream.csv")" "0:0" \
		"-o read_size=stream: rsync copies the size it is shown, 0"
	pcf_remount
}

# Python's shutil.copyfile (copy2, copytree), Java's Files.copy and
# Node's fs.copyFile copy with sendfile, which the kernel answers from the
# page cache up to the inode's size: from a streamed open (size 0) they
# copy 0 bytes and exit 0. Python and Java stat the file just before they
# open it: they are in the default size_after_stat (python*, java; a Java
# thread of its own name by its leader's), so that stat marks the file and
# their open spools; Node opens, then fstats: size_at_open (node*). The
# kernel is told the length before the open returns (Java sends with no
# fstat after its open): every byte. A Python program that only stats
# (polling a file's size) exports nothing.
test_sendfile_copiers_in_the_default_mount() {
	copy_to r "FORMAT csv, HEADER true" >"$W/r.want"
	rm -rf "$W/sf" && mkdir -p "$W/sf"
	python3 -c 'import shutil, sys
shutil.copyfile(sys.argv[1] + "/r.csv", sys.argv[2] + "/py.csv")
shutil.copy2(sys.argv[1] + "/r.csv.gz", sys.argv[2] + "/py2.csv.gz")
shutil.copytree(sys.argv[3], sys.argv[2] + "/tree")' "$P" "$W/sf" "$MNT/other"
	expect_eq "$?" 0 "python3 shutil.copyfile, copy2, copytree"
	expect_status 0 "shutil.copyfile: COPY TO's bytes" cmp "$W/r.want" "$W/sf/py.csv"
	expect_status 0 "shutil.copy2 of r.csv.gz: gzip of COPY TO's" cmp "$W/r.want" <(zcat "$W/sf/py2.csv.gz")
	expect_status 0 "shutil.copytree of a schema" cmp <(copy_to other.r "FORMAT csv, HEADER true") "$W/sf/tree/r.csv"
	cat >"$W/Cp.java" <<-'EOF'
	import java.nio.file.*;
	public class Cp {
	    public static void main(String[] a) throws Exception {
	        Thread t = new Thread(() -> {
	            try {
	                Files.copy(Paths.get(a[0]), Paths.get(a[1]));
	            } catch (Exception e) {
	                throw new RuntimeException(e);
	            }
	        }, "copier");
	        t.start();
	        t.join();
	    }
	}
	EOF
	timeout 120 java "$W/Cp.java" "$P/r.csv" "$W/sf/java.csv"
	expect_eq "$?" 0 "java: Files.copy on a thread named copier"
	expect_status 0 "Files.copy: COPY TO's bytes" cmp "$W/r.want" "$W/sf/java.csv"
	# table to table: shutil stats the source, then the target, then opens
	# the source (a mark per file, not one per process)
	q "DROP TABLE IF EXISTS sf_copy; CREATE TABLE sf_copy (LIKE r)"
	wait_for "sf_copy.csv" 5 test -e "$P/sf_copy.csv"
	python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$P/r.csv" "$P/sf_copy.csv"
	expect_eq "$?" 0 "shutil.copyfile of a table file onto another"
	expect_status 0 "the target table's rows are the source's" cmp "$W/r.want" <(copy_to sf_copy "FORMAT csv, HEADER true")
	# two processes' marks at once: one stats and waits, one copies, then
	# the first opens what it stat'ed (its mark, still its own)
	python3 -c 'import os, sys, time
os.stat(sys.argv[1]); time.sleep(0.8)
print(len(open(sys.argv[1], "rb").read()))' "$P/r.csv" >"$W/sf/late.out" &
	local late=$! copies
	sleep 0.3
	python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$P/r.csv" "$W/sf/beside.csv"
	expect_status 0 "shutil.copyfile beside another process's mark" cmp "$W/r.want" "$W/sf/beside.csv"
	wait "$late"
	expect_eq "$?:$(cat "$W/sf/late.out")" "0:$(stat -c %s "$W/r.want")" "the first process's read after its stat"
	copies=$(grep -c 'COPY "public"."r" TO STDOUT' "$PCF_TMP/pg.log")
	expect_eq "$(python3 -c 'import os, sys
print(set(os.stat(sys.argv[1]).st_size for _ in range(20)))' "$P/r.csv")" "{0}" "os.stat 20 times: size 0"
	expect_eq "$(grep -c 'COPY "public"."r" TO STDOUT' "$PCF_TMP/pg.log")" "$copies" \
		"a Python program's stats alone export nothing"
	if command -v node >/dev/null; then
		node -e 'require("fs").copyFileSync(process.argv[1], process.argv[2])' "$P/r.csv" "$W/sf/node.csv"
		expect_eq "$?" 0 "node: fs.copyFileSync"
		expect_status 0 "fs.copyFileSync: COPY TO's bytes" cmp "$W/r.want" "$W/sf/node.csv"
	else
		pcf_log "  (node: skipped, not installed)"
	fi
	pcf_remount -o read_size=stream
	python3 -c 'import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$P/r.csv" "$W/sf/stream.csv"
	expect_eq "$?:$(stat -c %s "$W/sf/stream.csv")" "0:0" \
		"-o read_size=stream: shutil.copyfile's sendfile takes size 0 for the end"
	pcf_remount
}

# Spreadsheets open a table file and take fstat's size for its length:
# gnumeric's ssconvert (libgsf: mmap, then read that many bytes) and
# LibreOffice (soffice.bin) would import an empty sheet. Both are in
# size_at_open's default: their opens spool, and a sheet of the table's
# plain values converts back to COPY TO's bytes.
test_spreadsheets_open_the_table() {
	q "DROP TABLE IF EXISTS sheet; CREATE TABLE sheet AS
	   SELECT i, md5(i::text) AS v FROM generate_series(1, 2000) i"
	copy_to sheet "FORMAT csv, HEADER true" >"$W/sheet.want"
	rm -rf "$W/sh" && mkdir -p "$W/sh"
	timeout -k 10 120 ssconvert "$P/sheet.csv" "$W/sh/ss.csv" >"$W/sh/ss.out" 2>&1
	expect_eq "$?" 0 "ssconvert of the table file ($(cat "$W/sh/ss.out"))"
	expect_status 0 "ssconvert: the sheet is COPY TO's rows" cmp "$W/sheet.want" "$W/sh/ss.csv"
	timeout -k 10 180 soffice "-env:UserInstallation=file://$W/lo-profile" --headless \
		--convert-to csv --outdir "$W/sh/lo" "$P/sheet.csv" >"$W/sh/lo.out" 2>&1
	expect_eq "$?" 0 "soffice --convert-to csv of the table file ($(cat "$W/sh/lo.out"))"
	expect_status 0 "soffice: the sheet is COPY TO's rows" cmp "$W/sheet.want" "$W/sh/lo/sheet.csv"
}

# -o read_size=exact: the open spools the export, and the open file's
# size is its length, so tools that copy st_size bytes after their open
# (rsync, whose sender fstats the file it opened) copy the table; reads
# come from the spool at any offset; a full spool fails the open with
# ENOSPC. The size before an open stays 0.
test_read_size_exact_for_rsync() {
	local out
	copy_to r "FORMAT csv, HEADER true" >"$W/r.want"
	pcf_remount -o read_size=exact
	expect_eq "$(stat -c %s "$P/r.csv")" 0 "the size before an open"
	out=$(python3 -c 'import os, sys
f = open(sys.argv[1], "rb")
size = os.fstat(f.fileno()).st_size
f.seek(size - 100)
tail = f.read()
f.seek(0)
print(size, len(f.read()), len(tail))' "$P/r.csv")
	expect_eq "$out" "$(stat -c %s "$W/r.want") $(stat -c %s "$W/r.want") 100" \
		"fstat after the open: the length; a seek to near the end and back"
	rm -rf "$W/rs" && mkdir -p "$W/rs"
	expect_rsync_copies r.csv.gz zcat "FORMAT csv, HEADER true"
	expect_status 0 "cat still" cmp "$W/r.want" <(cat "$P/r.csv")
	expect_status 0 "tar (size_at_stat) under read_size=exact too" \
		cmp "$W/r.want" <(tar -C "$MNT" -cf - public/r.csv | tar -xOf -)
	mkdir -p "$W/rspool"
	if mount -t tmpfs -o size=256k tmpfs "$W/rspool" 2>/dev/null; then
		pcf_remount -o read_size=exact,spool="$W/rspool"
		expect_match "$(cat "$P/r.csv" 2>&1 >/dev/null)" "No space left on device" \
			"a spool too small for the table: the open's ENOSPC"
		wait_for "no read backend left after the failed open" 5 bash -c \
			"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'\") = 0 ]" ||
			fail "a read backend left after the spool filled"
		pcf_remount
		umount "$W/rspool"
	else
		pcf_log "  (the full spool: skipped, no small tmpfs here)"
		pcf_remount
	fi
}

# tar, bsdtar and cpio -o take a file's size from their stat before the
# open, and open no file of size 0 (they archived every table empty and
# exited 0). Their stats spool the export (-o size_at_stat=), the size is
# its length, and their opens read that spool: an archive of a schema
# holds every table byte for byte, and no read backend is left. A stat
# whose spool fails fails (tar exits 2 naming the file and the error); a
# table the role may not SELECT stats as 0 and its open says EACCES.
test_archivers_take_the_size_at_their_stat() {
	local t k dir=$W/arch
	q "DROP SCHEMA IF EXISTS arch CASCADE; CREATE SCHEMA arch;
	   CREATE TABLE arch.a AS SELECT * FROM r; CREATE TABLE arch.e (i int);
	   CREATE TABLE arch.b AS SELECT * FROM big WHERE id <= 200000"
	wait_for "arch/b.csv" 5 test -e "$MNT/arch/b.csv"
	rm -rf "$dir" && mkdir -p "$dir/gnu" "$dir/bsd" "$dir/cpio"
	for t in a b e; do
		copy_to "arch.$t" "FORMAT csv, HEADER true" >"$dir/$t.want"
	done
	tar -C "$MNT" -cf "$dir/gnu.tar" arch
	expect_eq "$?" 0 "tar -c of a schema"
	tar -C "$dir/gnu" -xf "$dir/gnu.tar"
	bsdtar -C "$MNT" -cf "$dir/bsd.tar" arch
	expect_eq "$?" 0 "bsdtar -c of a schema"
	bsdtar -C "$dir/bsd" -xf "$dir/bsd.tar"
	(cd "$MNT" && find arch -type f | cpio --quiet -o) >"$dir/c.cpio"
	expect_eq "$?" 0 "cpio -o of a schema"
	(cd "$dir/cpio" && cpio --quiet -id) <"$dir/c.cpio"
	for t in a b e; do
		for k in gnu bsd cpio; do
			expect_status 0 "$k: arch/$t.csv is COPY TO's bytes" \
				cmp "$dir/$t.want" "$dir/$k/arch/$t.csv"
		done
	done
	expect_eq "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'")" \
		0 "no read backend left after the archives"
	expect_eq "$(stat -c %s "$MNT/arch/a.csv")" 0 "stat's size is 0 for everyone else"
	tar -C "$MNT" -czf "$dir/gnu.tgz" arch/a.csv
	expect_status 0 "tar -z: the table" cmp "$dir/a.want" <(tar -xzOf "$dir/gnu.tgz")
	if mkdir -p "$dir/spool" && mount -t tmpfs -o size=256k tmpfs "$dir/spool" 2>/dev/null; then
		# tar -cf /dev/null stats every file and reads none: each stat's
		# spool goes when the next one is made (one kept per process), so
		# a spool that holds one table archives a schema of two
		q "CREATE TABLE arch.c AS SELECT * FROM arch.b"
		mount -o remount,size=$(($(stat -c %s "$dir/b.want") * 3 / 2)) "$dir/spool"
		pcf_remount -o spool="$dir/spool"
		tar -C "$MNT" -cf /dev/null arch 2>"$dir/null.err"
		expect_eq "$?:$(cat "$dir/null.err")" "0:" "tar -cf /dev/null of two tables, room for one"
		tar -C "$MNT" -cf "$dir/bc.tar" arch/b.csv arch/c.csv
		expect_status 0 "tar of both, one at a time: c.csv" \
			cmp "$dir/b.want" <(tar -xOf "$dir/bc.tar" arch/c.csv)
		q "DROP TABLE arch.c"
		mount -o remount,size=256k "$dir/spool"
		pcf_remount -o spool="$dir/spool"
		tar -C "$MNT" -cf "$dir/full.tar" arch/b.csv 2>"$dir/full.err"
		expect_eq "$?" 2 "tar's exit status when the stat's spool fills"
		expect_match "$(cat "$dir/full.err")" "arch/b.csv: Cannot stat: No space left on device" \
			"tar names the file and the error"
		expect_match "$(cat "$PCF_TMP/daemon.log")" "stat of arch.b for its size failed: spooling the read of arch.b: No space left" \
			"the log says why"
		pcf_remount
		umount "$dir/spool"
	else
		pcf_log "  (the full spool: skipped, no small tmpfs here)"
	fi
	q "GRANT USAGE ON SCHEMA arch TO ins_only; GRANT INSERT ON arch.a TO ins_only"
	PCF_CONNINFO="user=ins_only" pcf_remount
	tar -C "$MNT" -cf "$dir/noperm.tar" arch/a.csv 2>"$dir/noperm.err"
	expect_eq "$?" 2 "tar of a table without SELECT"
	expect_match "$(cat "$dir/noperm.err")" "arch/a.csv: Cannot open: Permission denied" "tar's message"
	PCF_CONNINFO='' pcf_remount
}

test_compressed_names_compress() {
	copy_to r "FORMAT csv, HEADER true" >"$W/want.csv"
	psql -XAtq -c "SELECT row_to_json(x) FROM r x" >"$W/want.jsonl"
	expect_status 0 "zcat r.csv.gz is cat r.csv" cmp "$W/want.csv" <(zcat "$P/r.csv.gz")
	expect_status 0 "zstd -dc r.jsonl.zst" cmp "$W/want.jsonl" <(zstd -q -dc "$P/r.jsonl.zst")
	expect_status 0 "gzip -t" gzip -t "$P/r.tsv.gz"
	expect_eq "$(zcat "$P/big.csv.gz" | wc -l)" 2000001 "a big table through gzip"
	expect_eq "$(zcat "$P/big.csv.gz" | head -n 2 | tail -n 1)" "1,hello world 1" "and its first row, closing early"
	wait_for "the server's COPY to end" 5 bash -c \
		"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'\") = 0 ]" ||
		fail "a reader's backend left after an early close"
}

test_the_mounts_dialect() {
	pcf_remount -o delimiter=';' -o null=NULL
	copy_to r "FORMAT csv, HEADER true, DELIMITER ';', NULL 'NULL'" >"$W/want2.csv"
	expect_status 0 "delimiter and null as mounted" cmp "$W/want2.csv" <(cat "$P/r.csv")
	pcf_remount
}

test_table_to_table() {
	cp "$P/r.csv" "$MNT/other/r.csv"
	expect_eq "$?" 0 "cp of one table file onto another"
	expect_eq "$(q "SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM other.r) d")" 0 "no row differs"
	expect_eq "$(q "SELECT count(*) FROM other.r")" 20000 "every row"
}

test_early_close_ends_the_copy() {
	local first
	# Another reader of big cut short a moment ago: the next read still
	# starts at the table's start (no synchronized scan joins mid-table).
	head -c 100000 "$P/big.csv" >/dev/null
	first=$(head -n 3 "$P/big.csv")
	expect_eq "$first" "$(printf 'id,v\n1,hello world 1\n2,hello world 2')" "head -n 3"
	wait_for "the server's COPY to end" 5 bash -c \
		"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'\") = 0 ]" ||
		fail "a reader's backend left after head: $(q "SELECT state, query FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'")"
	# head -n 5 of a 10M-row table: its first rows at once, not the
	# table's (a bound, with one more try if a first run was only slow).
	q "CREATE TABLE IF NOT EXISTS huge AS SELECT i, 'hello world ' || i AS v
	   FROM generate_series(1, 10000000) i"
	wait_for "huge.csv" 5 test -e "$P/huge.csv"
	local t0 ms out try
	for try in 1 2; do
		t0=$(date +%s%N)
		out=$(head -n 5 "$P/huge.csv")
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ "$ms" -le 200 ] && break
	done
	expect_eq "$out" "$(printf 'i,v\n1,hello world 1\n2,hello world 2\n3,hello world 3\n4,hello world 4')" \
		"head -n 5 of a 10M-row table"
	[ "$ms" -le 200 ] || fail "head -n 5 of a 10M-row table took $ms ms (bound: 200 ms)"
	pcf_log "  (head -n 5 of 10M rows: $ms ms)"
	wait_for "the server's COPY of huge to end" 5 bash -c \
		"[ \$(psql -XAtc \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgcopyfs read'\") = 0 ]" ||
		fail "a reader's backend left after head of huge"
	q "DROP TABLE huge"
}

test_one_snapshot_committed_rows_only() {
	q "CREATE TABLE s (v text); INSERT INTO s VALUES ('committed')"
	wait_for "s.csv" 5 test -e "$P/s.csv"
	held_writer "$P/s.csv" 'v\nin progress\n' snap
	expect_eq "$(cat "$P/s.csv")" "$(printf 'v\ncommitted')" "a load in progress is not seen"
	release_writer snap
	wait "$HELD_PID"
	expect_eq "$(cat "$P/s.csv")" "$(printf 'v\ncommitted\nin progress')" "after its commit it is"
	# An open sees the rows of its start, whatever commits meanwhile.
	python3 - "$P/s.csv" "$PCF_TMP/sock" <<-'PY'
	import subprocess, sys
	f = open(sys.argv[1], "rb", buffering=0)
	subprocess.run(["psql", "-h", sys.argv[2], "-U", "postgres", "-XAtqc",
	                "INSERT INTO s VALUES ('later')"], check=True)
	data = f.read()
	assert b"later" not in data, data
	PY
	expect_eq "$?" 0 "one snapshot per open"
}

test_window_behind_the_stream() {
	perl -e '
	use Errno qw(ESPIPE);
	sysopen(my $fd, $ARGV[0], 0) or die "open: $!\n";
	sysread($fd, my $a, 300000) == 300000 or die "short first read\n";
	sysseek($fd, 100000, 0);
	sysread($fd, my $b, 50000);
	$b eq substr($a, 100000, 50000) or die "a read behind the stream, from the window\n";
	sysseek($fd, 0, 0);
	sysread($fd, my $c, 1 << 20) for 1 .. 40;
	sysseek($fd, 0, 0);
	defined sysread($fd, my $d, 10) and die "a read far behind the stream must fail\n";
	$! == ESPIPE or die "a read far behind the stream: $! (want ESPIPE)\n";
	' "$P/big.csv"
	expect_eq "$?" 0 "window served, ESPIPE beyond it"
	# Python streams too when it opens with no stat first (size_at_stat
	# names python* for shutil, which stats, then copies)
	python3 - "$P/big.csv" <<-'PY'
	import errno, os, sys
	fd = os.open(sys.argv[1], os.O_RDONLY)
	a = os.read(fd, 300000)
	os.lseek(fd, 100000, 0)
	assert os.read(fd, 50000) == a[100000:150000], "a read behind the stream, from the window"
	os.lseek(fd, 0, 0)
	for _ in range(40):
	    os.read(fd, 1 << 20)
	os.lseek(fd, 0, 0)
	try:
	    os.read(fd, 10)
	    sys.exit("a read far behind the stream must fail")
	except OSError as e:
	    assert e.errno == errno.ESPIPE, e
	PY
	expect_eq "$?" 0 "python's os.open: window served, ESPIPE beyond it"
}

test_read_bits_are_select() {
	PCF_CONNINFO="user=ins_only" pcf_remount
	expect_match "$(stat -c %A "$P/r.csv")" '^--w-------$' "INSERT without SELECT: write bits only"
	expect_match "$(cat "$P/r.csv" 2>&1)" "Permission denied" "reading without SELECT: EACCES"
	PCF_CONNINFO='' pcf_remount
	expect_match "$(stat -c %A "$P/r.csv")" '^-rw-r--r--$' "with both"
}

pcf_run_tests
