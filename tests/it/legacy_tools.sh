#!/usr/bin/env bash
# Real programs that save the way editors and libraries do, through a temp
# file of their own naming and a rename onto the target: Java's
# Files.createTempFile + Files.move(ATOMIC_MOVE) and Files.newBufferedWriter
# into a drop folder, gnumeric's ssconvert (libgsf: .gsf-save-XXXXXX, then
# rename), LibreOffice's soffice --convert-to csv (.~lock.NAME#, luNNNN.tmp,
# then rename, with a copy fallback when the rename fails). Each one loads
# every row exactly once when it succeeds, and a bad row commits nothing.
#
# Needs openjdk-17-jdk-headless, gnumeric and libreoffice-calc-nogui
# (tests/install-deps.sh installs them); a missing one fails its tests.
#
# What the tools write (seen with strace, Debian 12: OpenJDK 17, gnumeric
# 1.12.55 / libgsf 1.14.50, LibreOffice 7.4):
# * ssconvert and soffice write the sheet's first row as it is (so a header
#   row of column names stays a header), quote a field only when it needs it
#   (a comma, a quote doubled), end lines with LF, write no BOM, an empty
#   cell as an empty unquoted field (NULL), and 2.50 as 2.5.
# * ssconvert creates .gsf-save-XXXXXX (O_EXCL, 0600) beside the target,
#   renames it onto the target, then chmods/chowns the target back to the
#   mode and owner it had (unchanged: accepted). When the rename fails it
#   exits 1 ("Input/output error") and leaves its temp file behind.
# * soffice creates .~lock.NAME# and luNNNNNN.tmp, tries O_CREAT|O_EXCL on
#   the target (EEXIST), renames the temp file onto it, reopens the target
#   O_RDWR writing nothing (an empty load), removes its lock. When the rename
#   fails it copies the target to a backup in its profile, copies the temp
#   file into the target (open O_RDWR, ftruncate, write, close: the same bad
#   row fails that close), copies the backup back (an empty load), opens and
#   fsyncs the target, prints "Error: ... impl_store ... failed" and exits 0,
#   which pgcopyfs turns into exit status 1 (a failed close's process is
#   held at its exit, README "Commit on close").
. "$(dirname "$0")/../lib.sh"
pcf_setup

# need TOOL PACKAGE: fails the test (never skips) when TOOL is missing.
need() {
	command -v "$1" >/dev/null && return 0
	fail "$1 is not installed: tests/install-deps.sh installs $2"
	return 1
}

# java's single-file source launch needs the JDK's compiler, not just a JRE.
need_jdk() {
	need java openjdk-17-jdk-headless && need javac openjdk-17-jdk-headless
}

# table NAME: a fresh public.NAME (id int, name text, amount numeric).
table() {
	q "DROP TABLE IF EXISTS public.$1; CREATE TABLE public.$1 (id int, name text, amount numeric)"
}

# The outcomes of public.NAME's loads in the history, oldest first.
outcomes() {
	grep -F "table=public.$1 " "$MNT/.pgcopyfs/history" |
		grep -o ' outcome=[a-z]*' | sed 's/ outcome=//' | tr '\n' ' ' | sed 's/ $//'
}

# Rows loaded once each: count, distinct ids, sum of ids.
once() { q "SELECT count(*), count(DISTINCT id), coalesce(sum(id), 0) FROM public.$1"; }

# The spreadsheet tests' rows: quoting, an empty cell, a number with a
# trailing zero.
SHEET_CSV='id,name,amount
1,alpha,2.50
2,"b, c",
3,"say ""hi""",1000000
4,,-0.125
'
SHEET_ROWS='1|alpha|2.5
2|b, c|<null>
3|say "hi"|1000000
4|<null>|-0.125'
SHEET_BAD_CSV='id,name,amount
5,epsilon,1
notanint,zeta,2
'
sheet_rows() {
	q "SELECT id, coalesce(name, '<null>'), coalesce(amount::text, '<null>')
		FROM public.$1 ORDER BY id"
}

mkdir -p "$W/java"
# StageMove DIR PREFIX SUFFIX TARGET ROWS [BAD_AT]: Files.createTempFile in
# DIR (SUFFIX "-" is null, Java's ".tmp"), ROWS rows (row BAD_AT's id not an
# integer), then Files.move onto TARGET with ATOMIC_MOVE (rename(2)).
cat >"$W/java/StageMove.java" <<'JAVA'
import java.io.BufferedWriter;
import java.nio.file.*;

public class StageMove {
    public static void main(String[] a) throws Exception {
        String suffix = a[2].equals("-") ? null : a[2];
        int rows = Integer.parseInt(a[4]);
        int bad = a.length > 5 ? Integer.parseInt(a[5]) : -1;
        Path tmp = Files.createTempFile(Paths.get(a[0]), a[1], suffix);
        System.out.println(tmp.getFileName());
        try (BufferedWriter w = Files.newBufferedWriter(tmp)) {
            w.write("id,name\n");
            for (int i = 1; i <= rows; i++)
                w.write((i == bad ? "x" + i : Integer.toString(i)) + ",java " + i + "\n");
        }
        Files.move(tmp, Paths.get(a[3]), StandardCopyOption.ATOMIC_MOVE);
    }
}
JAVA
# DropWrite FILE ROWS [BAD_AT]: Files.newBufferedWriter (CREATE,
# TRUNCATE_EXISTING, WRITE) straight onto FILE, closed by try-with-resources.
cat >"$W/java/DropWrite.java" <<'JAVA'
import java.io.BufferedWriter;
import java.nio.file.*;

public class DropWrite {
    public static void main(String[] a) throws Exception {
        int rows = Integer.parseInt(a[1]);
        int bad = a.length > 2 ? Integer.parseInt(a[2]) : -1;
        try (BufferedWriter w = Files.newBufferedWriter(Paths.get(a[0]))) {
            w.write("id,name\n");
            for (int i = 1; i <= rows; i++)
                w.write((i == bad ? "x" + i : Integer.toString(i)) + ",drop " + i + "\n");
        }
    }
}
JAVA

# jrun PROG ARGS...: java's single-file source launch, stdout in $W/j.out,
# stderr in $W/j.err; returns java's exit status.
jrun() {
	local prog=$1
	shift
	timeout -k 10 120 java "$W/java/$prog.java" "$@" >"$W/j.out" 2>"$W/j.err"
}

test_java_temp_file_then_atomic_move_onto_the_table() {
	need_jdk || return
	table jmove
	jrun StageMove "$MNT/public" jmove - "$MNT/public/jmove.csv" 1000
	expect_eq "$?" 0 "java exit status ($(tail -n 3 "$W/j.err"))"
	local tmp
	tmp=$(cat "$W/j.out")
	expect_match "$tmp" '^jmove[0-9]+\.tmp$' "createTempFile's name (no .csv: a staged file)"
	expect_eq "$(once jmove)" "1000|1000|500500" "every row once"
	expect_eq "$(outcomes jmove)" "committed" "one load, committed"
	expect_match "$(last_history public.jmove)" " rows=1000 file_rows=1000 " "history rows"
	test ! -e "$MNT/public/$tmp" || fail "the temp file $tmp is still there"
}

test_java_bad_row_fails_the_move_and_commits_nothing() {
	need_jdk || return
	table jbad
	# A dot-name temp file this time: ".jbad.csv.<random>".
	jrun StageMove "$MNT/public" .jbad.csv. "" "$MNT/public/jbad.csv" 1000 500
	expect_eq "$?" 1 "java exit status (an exception from Files.move)"
	expect_match "$(cat "$W/j.err")" \
		"^Exception in thread \"main\" java.nio.file.FileSystemException: .*/\.jbad\.csv\.[0-9]+ -> .*/jbad\.csv: Input/output error" \
		"the exception"
	expect_match "$(cat "$W/j.err")" "at java.base/java.nio.file.Files.move" "thrown by Files.move"
	expect_eq "$(once jbad)" "0|0|0" "nothing committed"
	expect_eq "$(outcomes jbad)" "failed" "one load, failed"
	expect_match "$(last_history public.jbad)" \
		" rows=0 file_rows=1000 .* errno=EIO sqlstate=22P02 .*x500.*line 501, column id" "history"
	# The staged file stays, whole, for a retry or a look; rm removes it.
	local tmp
	tmp=$(cat "$W/j.out")
	expect_match "$tmp" '^\.jbad\.csv\.[0-9]+$' "createTempFile's name"
	expect_eq "$(wc -l <"$MNT/public/$tmp")" 1001 "the staged file's lines"
	expect_eq "$(sed -n 501p "$MNT/public/$tmp")" "x500,java 500" "its bad line"
	expect_status 0 "rm of the staged file" rm "$MNT/public/$tmp"
	test ! -e "$MNT/public/$tmp" || fail "the staged file survived rm"
}

# createTempFile(dir, "export", ".csv") names a .csv file that is no table:
# ENOENT, as any such name, so Java says NoSuchFileException at once.
test_java_temp_file_named_csv_is_refused() {
	need_jdk || return
	local before
	before=$(wc -l <"$MNT/.pgcopyfs/history")
	jrun StageMove "$MNT/public" export .csv "$MNT/public/jmove.csv" 10
	expect_eq "$?" 1 "java exit status"
	expect_match "$(cat "$W/j.err")" \
		"java.nio.file.NoSuchFileException: .*/public/export[0-9]+\.csv" "the exception"
	expect_match "$(cat "$W/j.err")" "at java.base/java.nio.file.Files.createTempFile" \
		"thrown by createTempFile"
	expect_eq "$(wc -l <"$MNT/.pgcopyfs/history")" "$before" "no load"
	expect_eq "$(ls -A "$MNT/public" | grep -c '^export')" 0 "no file left"
}

test_java_writes_its_own_name_into_the_drop_folder() {
	need_jdk || return
	table jdrop
	jrun DropWrite "$MNT/public/jdrop.d/export-2026-12-02.csv" 500
	expect_eq "$?" 0 "java exit status ($(tail -n 3 "$W/j.err"))"
	expect_eq "$(once jdrop)" "500|500|125250" "every row once"
	expect_eq "$(outcomes jdrop)" "committed" "one load, committed"
	expect_match "$(last_history public.jdrop)" " rows=500 file_rows=500 " "history rows"
	# A second file under another name is a second load.
	jrun DropWrite "$MNT/public/jdrop.d/export-2026-12-03.csv" 10
	expect_eq "$?" 0 "second java exit status"
	expect_eq "$(once jdrop)" "510|500|125305" "both files' rows, once each"
	expect_eq "$(outcomes jdrop)" "committed committed" "two loads"
	# A bad row fails the close in try-with-resources: IOException, exit 1.
	jrun DropWrite "$MNT/public/jdrop.d/export-bad.csv" 100 50
	expect_eq "$?" 1 "java exit status with a bad row"
	expect_match "$(head -n 1 "$W/j.err")" \
		'^Exception in thread "main" java.io.IOException: Input/output error' "the exception"
	expect_match "$(cat "$W/j.err")" "at java.io.BufferedWriter.close|at java.base/java.io.BufferedWriter.close" \
		"thrown by the close"
	expect_eq "$(once jdrop)" "510|500|125305" "nothing more committed"
	expect_eq "$(outcomes jdrop)" "committed committed failed" "the third failed"
	expect_match "$(last_history public.jdrop)" "errno=EIO .*line 51, column id" "history"
}

# Files.createTempFile inside the drop folder, then ATOMIC_MOVE onto a name
# of the folder. A non-dot temp name is itself a load: createTempFile's own
# open and close write nothing (empty), the rewrite is a load waiting for
# its commit, and the rename commits it. A dot temp name is staged and
# loads at the rename.
test_java_temp_file_in_drop_folder_then_move() {
	need_jdk || return
	table jdm
	jrun StageMove "$MNT/public/jdm.d" batch .part "$MNT/public/jdm.d/final.csv" 300
	expect_eq "$?" 0 "java exit status, non-dot temp ($(tail -n 3 "$W/j.err"))"
	expect_match "$(cat "$W/j.out")" '^batch[0-9]+\.part$' "temp name"
	expect_eq "$(once jdm)" "300|300|45150" "every row once"
	expect_eq "$(outcomes jdm)" "empty committed" "createTempFile's empty open, then one load"
	jrun StageMove "$MNT/public/jdm.d" .batch .part "$MNT/public/jdm.d/final2.csv" 300
	expect_eq "$?" 0 "java exit status, dot temp ($(tail -n 3 "$W/j.err"))"
	expect_match "$(cat "$W/j.out")" '^\.batch[0-9]+\.part$' "temp name"
	expect_eq "$(once jdm)" "600|300|90300" "every row of both, once"
	expect_eq "$(outcomes jdm)" "empty committed committed" "one more load"
	test ! -e "$MNT/public/jdm.d/$(cat "$W/j.out")" || fail "the dot temp file is still there"
}

# ssconvert FROM TO with a timeout; stdout+stderr in $W/ss.out.
ssrun() {
	timeout -k 10 120 ssconvert "$@" >"$W/ss.out" 2>&1
}

test_ssconvert_saves_a_spreadsheet_as_the_table() {
	need ssconvert gnumeric || return
	table ss
	mkdir -p "$W/ss"
	printf '%s' "$SHEET_CSV" >"$W/ss/ss-src.csv"
	ssrun "$W/ss/ss-src.csv" "$W/ss/ss.xlsx" || { fail "making ss.xlsx: $(cat "$W/ss.out")"; return; }
	ssrun "$W/ss/ss.xlsx" "$MNT/public/ss.csv"
	expect_eq "$?" 0 "ssconvert exit status ($(cat "$W/ss.out"))"
	expect_eq "$(sheet_rows ss)" "$SHEET_ROWS" "rows and values"
	expect_eq "$(outcomes ss)" "committed" "one load, committed"
	expect_match "$(last_history public.ss)" " rows=4 file_rows=4 " "history: the header row was a header"
	expect_eq "$(ls -A "$MNT/public" | grep -c '^\.gsf-save-')" 0 "no temp file left"
	expect_eq "$(stat -c %a "$MNT/public/ss.csv")" 644 "the mode ssconvert put back"
	# From its own format too, a second load of the same rows.
	ssrun "$W/ss/ss-src.csv" "$W/ss/ss.gnumeric" || { fail "making ss.gnumeric"; return; }
	ssrun "$W/ss/ss.gnumeric" "$MNT/public/ss.csv"
	expect_eq "$?" 0 "ssconvert from .gnumeric"
	expect_eq "$(q "SELECT count(*), count(DISTINCT id) FROM ss")" "8|4" "twice the rows"
	expect_eq "$(outcomes ss)" "committed committed" "two loads"
}

test_ssconvert_bad_value_fails_and_commits_nothing() {
	need ssconvert gnumeric || return
	table ssbad
	mkdir -p "$W/ss"
	printf '%s' "$SHEET_BAD_CSV" >"$W/ss/ssbad-src.csv"
	ssrun "$W/ss/ssbad-src.csv" "$W/ss/ssbad.gnumeric" || { fail "making ssbad.gnumeric"; return; }
	ssrun "$W/ss/ssbad.gnumeric" "$MNT/public/ssbad.csv"
	expect_eq "$?" 1 "ssconvert exit status"
	expect_match "$(cat "$W/ss.out")" "Input/output error" "ssconvert's message"
	expect_eq "$(once ssbad)" "0|0|0" "nothing committed"
	expect_eq "$(outcomes ssbad)" "failed" "one load, failed"
	expect_match "$(last_history public.ssbad)" \
		" rows=0 file_rows=2 .* errno=EIO sqlstate=22P02 .*notanint.*line 3, column id" "history"
	# libgsf leaves its temp file when the rename fails: a staged file,
	# holding exactly what ssconvert wrote.
	local left
	left=$(ls -A "$MNT/public" | grep '^\.gsf-save-')
	expect_eq "$(printf '%s\n' "$left" | grep -c .)" 1 "ssconvert's temp file left behind"
	if [ -n "$left" ]; then
		expect_eq "$(cat "$MNT/public/$left")" "$(printf '%s' "$SHEET_BAD_CSV")" "its bytes"
		expect_status 0 "rm of it" rm "$MNT/public/$left"
	fi
	expect_eq "$(ls -A "$MNT/public" | grep -c '^\.gsf-save-')" 0 "gone after rm"
}

# soffice with a profile of its own in $W (none in ~, none shared with a
# concurrent run); stdout+stderr in $W/lo.out.
lorun() {
	timeout -k 10 180 soffice "-env:UserInstallation=file://$W/lo-profile" \
		--headless "$@" >"$W/lo.out" 2>&1
}

# lo_sheet NAME CSV: $W/lo/NAME.ods, made by soffice from CSV.
lo_sheet() {
	mkdir -p "$W/lo-src" "$W/lo"
	printf '%s' "$2" >"$W/lo-src/$1.csv"
	lorun --convert-to ods --outdir "$W/lo" "$W/lo-src/$1.csv" && test -s "$W/lo/$1.ods" ||
		{ fail "making $1.ods: $(cat "$W/lo.out")"; return 1; }
}

lo_leftovers() {
	ls -A "$MNT/public" | grep -E '^(\.~lock\..*#|lu.*\.tmp)$' | tr '\n' ' '
}

test_soffice_converts_a_sheet_into_the_table() {
	need soffice libreoffice-calc-nogui || return
	table lo
	lo_sheet lo "$SHEET_CSV" || return
	lorun --convert-to csv --outdir "$MNT/public" "$W/lo/lo.ods"
	expect_eq "$?" 0 "soffice exit status ($(cat "$W/lo.out"))"
	expect_match "$(cat "$W/lo.out")" "convert .*/lo\.ods -> $MNT/public/lo\.csv using filter" "soffice says"
	expect_eq "$(sheet_rows lo)" "$SHEET_ROWS" "rows and values"
	# The rename's load, then soffice's reopen of the target writing nothing.
	expect_eq "$(outcomes lo)" "committed empty" "loads"
	expect_match "$(grep -F 'table=public.lo ' "$MNT/.pgcopyfs/history" | grep committed)" \
		" rows=4 file_rows=4 " "history rows"
	expect_eq "$(lo_leftovers)" "" "no lock or temp file left"
}

# LibreOffice 7.4 reports the failed save on stderr and exits 0: only the
# table and the history tell. The assertion on its exit status says what it
# does, not what it should do.
test_soffice_bad_value_commits_nothing() {
	need soffice libreoffice-calc-nogui || return
	table lobad
	lo_sheet lobad "$SHEET_BAD_CSV" || return
	lorun --convert-to csv --outdir "$MNT/public" "$W/lo/lobad.ods"
	# LibreOffice itself ignores the failed store and would exit 0; its
	# failed close is followed to its exit, which pgcopyfs turns into 1.
	expect_eq "$?" 1 "soffice exits 1 (its exit(0) after a failed close)"
	expect_match "$(cat "$W/lo.out")" \
		"Error: Please verify input parameters\.\.\. \(SfxBaseModel::impl_store <file://$MNT/public/lobad\.csv> failed: 0x11b" \
		"soffice's error message"
	expect_eq "$(once lobad)" "0|0|0" "nothing committed"
	# The rename's load (EIO), the copy fallback's load of the same bytes
	# (EIO at its close), the restore of its (empty) backup, an open+fsync.
	expect_eq "$(outcomes lobad)" "failed failed empty empty" "loads"
	expect_eq "$(grep -F 'table=public.lobad ' "$MNT/.pgcopyfs/history" | grep failed |
		grep -c ' rows=0 file_rows=2 .*errno=EIO sqlstate=22P02 .*line 3, column id')" 2 \
		"both failures: the bad value"
	expect_eq "$(lo_leftovers)" "" "no lock or temp file left"
}

pcf_run_tests
