#!/usr/bin/env bash
# Formats programs really write, each streamed with CSV's guarantees:
# * <t>.tsv: COPY's text format (tab-delimited, backslash escapes, \N),
#   the header rules of CSV; mysql -B-like output with quotes, tabs and
#   \N inside values loads as psql \copy (FORMAT text) loads it.
# * every format through cp, cat >, a pipeline, and writes of 1, 7, 4095
#   and 65537 bytes, compared with psql \copy of the same input (md5 of
#   the table).
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE TABLE t (id int, v text, n numeric);
   CREATE TABLE twin (LIKE t);
   CREATE TABLE j (id int, v text, n numeric, d text DEFAULT 'dflt', doc jsonb, ok boolean);
   CREATE TABLE jtwin (LIKE j)"
P=$MNT/public
wait_for "t.csv" 5 test -e "$P/t.csv"

# The table's rows, as one md5: equal contents, whatever the order.
table_md5() { q "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM $1 x"; }

# same_as_psql NAME FILE COPYOPTS: the md5 of t (just loaded from FILE by
# pgcopyfs) equals twin's, loaded by psql \copy with COPYOPTS.
same_as_psql() {
	q "TRUNCATE twin"
	psql -XAtq -v ON_ERROR_STOP=1 -c "\\copy twin FROM '$2' WITH ($3)" >/dev/null ||
		{ fail "$1: psql \\copy refused the input"; return; }
	expect_eq "$(q "SELECT count(*) FROM t")" "$(q "SELECT count(*) FROM twin")" "$1: rows"
	expect_eq "$(table_md5 t)" "$(table_md5 twin)" "$1: md5 of the table"
}

# load_every_way FILE NAME COPYOPTS [REF]: FILE into $P/NAME by cp, cat >,
# a pipeline, and dd writes of 1, 7, 4095 and 65537 bytes, each compared
# with psql \copy of REF (default: FILE itself) with COPYOPTS.
load_every_way() {
	local f=$1 name=$2 opts=$3 ref=${4:-$1} how
	for how in cp cat pipe 1 7 4095 65537; do
		q "TRUNCATE t"
		case $how in
		cp) cp "$f" "$P/$name" ;;
		cat) cat "$f" >"$P/$name" ;;
		pipe) cat "$f" | cat | cat >"$P/$name" ;;
		*) dd if="$f" of="$P/$name" bs="$how" status=none ;;
		esac
		expect_eq "$?" 0 "$name by $how: the writer's status"
		same_as_psql "$name by $how" "$ref" "$opts"
	done
}

# mysql -B-like rows: tab-separated, backslash escapes for tab, newline
# and backslash, \N for NULL, quotes and commas plain.
gen_tsv() { # ROWS [header]
	python3 - "$@" <<-'PY'
	import random, sys
	random.seed(7)
	n = int(sys.argv[1])
	out = sys.stdout
	if len(sys.argv) > 2:
	    out.write("id\tv\tn\n")
	pieces = ['"', "'", ",", "\t", "\n", "\\", "é", "日本", "😀", "a b", "\r", ";"]
	def esc(s):
	    return (s.replace("\\", "\\\\").replace("\t", "\\t")
	             .replace("\n", "\\n").replace("\r", "\\r"))
	for i in range(1, n + 1):
	    if i % 11 == 0:
	        v = "\\N"
	    else:
	        v = esc("".join(random.choice(pieces) for _ in range(random.randint(0, 12))))
	    num = "\\N" if i % 13 == 0 else f"{i * 1.5}"
	    out.write(f"{i}\t{v}\t{num}\n")
	PY
}

test_tsv_every_way_like_psql() {
	gen_tsv 3000 header >"$W/t.tsv"
	load_every_way "$W/t.tsv" t.tsv "FORMAT text, HEADER true"
	expect_eq "$(q "SELECT count(*) FROM t WHERE v IS NULL")" 272 "\\N is NULL"
	expect_eq "$(q "SELECT v FROM t WHERE id = 1")" \
		"$(q "SELECT v FROM twin WHERE id = 1")" "escapes decoded"
	expect_eq "$(q "SELECT count(*) FROM t WHERE v LIKE '%' || chr(9) || '%'")" \
		"$(q "SELECT count(*) FROM twin WHERE v LIKE '%' || chr(9) || '%'")" "tabs inside values"
}

test_tsv_quote_does_not_merge_lines() {
	# The report: a value starting with " opened a CSV quote and merged
	# three lines into one row.
	q "TRUNCATE t"
	printf '1\t"quoted start\t1\n2\tplain\t2\n3\tend"\t3\n' >"$P/t.tsv"
	expect_eq "$?" 0 "the load"
	expect_eq "$(q "SELECT string_agg(v, '|' ORDER BY id) FROM t")" '"quoted start|plain|end"' "three rows, quotes kept"
}

test_tsv_header_rules() {
	q "TRUNCATE t"
	printf 'v\tid\none\t1\ntwo\t2\n' >"$P/t.tsv"
	expect_eq "$?" 0 "a header naming columns in another order"
	expect_eq "$(q "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t")" "1=one,2=two" "columns by the header"
	q "TRUNCATE t"
	printf '5\tno header\t1\n' >"$P/t.tsv"
	expect_eq "$?" 0 "no header: line 1 is data"
	expect_eq "$(q "SELECT v FROM t")" "no header" "line 1's row"
	q "TRUNCATE t"
	printf 'id\tv\r\n1\ta\r\n2\tb\r\n' >"$P/t.tsv"
	expect_eq "$?" 0 "CRLF with a header"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY id) FROM t")" "a,b" "CRLF rows"
}

test_tsv_errors_name_the_files_line() {
	q "TRUNCATE t"
	local out
	out=$(printf 'id\tv\n1\ta\nx\tb\n' 2>&1 >"$P/t.tsv")
	expect_eq "$?" 1 "a bad row fails the writer"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" \
		'integer: .*x.*COPY t, line 3, column id' \
		"the file's line 3 (the header is line 1)"
	out=$(printf '1\ta\n2\tb\\.\n3\tc\n' 2>&1 >"$P/t.tsv")
	expect_eq "$?" 1 "a \\. before a line end is refused"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" 'line 2 holds \\\\. right before its line end' "the marker's line"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
}

test_compressed_csv_every_way() {
	python3 -c '
import random
random.seed(3)
print("id,v,n")
for i in range(1, 20001):
    print(f"{i},\"row {i} {random.random()}, quoted\",{i}.5")' >"$W/c.csv"
	gzip -c "$W/c.csv" >"$W/c.csv.gz"
	zstd -q -c "$W/c.csv" >"$W/c.csv.zst"
	load_every_way "$W/c.csv.gz" t.csv.gz "FORMAT csv, HEADER true" "$W/c.csv"
	load_every_way "$W/c.csv.zst" t.csv.zst "FORMAT csv, HEADER true" "$W/c.csv"
}

test_compressed_by_magic_bytes() {
	q "TRUNCATE t"
	gzip -c "$W/c.csv" | cat >"$P/t.csv"
	expect_eq "$?" 0 "gzip into t.csv"
	expect_eq "$(q "SELECT count(*) FROM t")" 20000 "gzip recognised by its magic bytes"
	q "TRUNCATE t"
	zstd -q -c "$W/c.csv" | dd of="$P/t.csv" bs=3 status=none
	expect_eq "$?" 0 "zstd into t.csv, 3 bytes a write"
	expect_eq "$(q "SELECT count(*) FROM t")" 20000 "zstd recognised by its magic bytes"
	q "TRUNCATE t"
	printf '\037x,1,2\n' | cat >"$P/t.csv"
	expect_eq "$?" 1 "a first byte like gzip's, then not: plain (and a bad row)"
	pcf_remount -o decompress=off
	gzip -c "$W/c.csv" | cat >"$P/t.csv" 2>/dev/null
	expect_eq "$?" 1 "-o decompress=off: gzip bytes are data (refused)"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
	pcf_remount
}

test_gzip_members_and_broken_streams() {
	q "TRUNCATE t"
	{ head -n 5001 "$W/c.csv" | gzip -c; tail -n +5002 "$W/c.csv" | gzip -c; } >"$W/members.gz"
	expect_eq "$(zcat "$W/members.gz" | wc -l)" 20001 "zcat reads both members"
	cp "$W/members.gz" "$P/t.csv.gz"
	expect_eq "$?" 0 "two gzip members"
	expect_eq "$(q "SELECT count(*) FROM t")" 20000 "every row of both members"
	local size out
	q "TRUNCATE t"
	size=$(stat -c %s "$W/c.csv.gz")
	head -c $((size - 10)) "$W/c.csv.gz" >"$W/trunc.gz"
	out=$(cp "$W/trunc.gz" "$P/t.csv.gz" 2>&1)
	expect_eq "$?" 1 "a truncated .gz fails the writer"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" "the gzip data ends early \(truncated\): nothing committed" "the cause"
	size=$(stat -c %s "$W/c.csv.zst")
	head -c $((size / 2)) "$W/c.csv.zst" >"$W/trunc.zst"
	out=$(cp "$W/trunc.zst" "$P/t.csv.zst" 2>&1)
	expect_eq "$?" 1 "a truncated .zst fails the writer"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" "the zstd data ends early \(truncated\)" "the cause"
	python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[-6] ^= 0xff  # in the CRC-32: every byte inflates, the check fails
open(sys.argv[2], "wb").write(d)' "$W/c.csv.gz" "$W/corrupt.gz"
	out=$(cp "$W/corrupt.gz" "$P/t.csv.gz" 2>&1)
	expect_eq "$?" 1 "a corrupt .gz fails the writer"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" "corrupt gzip data: incorrect data check" "the cause"
	out=$(cp "$W/c.csv" "$P/t.csv.gz" 2>&1)
	expect_eq "$?" 1 "plain bytes under .gz"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/t.csv")" "not gzip data" "the cause"
	{ cat "$W/c.csv.gz"; echo garbage; } >"$W/garbage.gz"
	out=$(cp "$W/garbage.gz" "$P/t.csv.gz" 2>&1)
	expect_eq "$?" 1 "trailing garbage after the gzip data"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
}

# JSON lines and the same rows as CSV (a missing key written as the
# default, 'dflt'): unicode escapes, surrogate pairs, nested objects into
# jsonb, numbers in exponent form, keys in another order on every line.
gen_jsonl() { # ROWS JSONL CSV
	python3 - "$@" <<-'PY'
	import json, random, sys, csv
	random.seed(11)
	n, jpath, cpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
	words = ["plain", "é", "日本語", "😀", 'quo"te', "back\\slash", "tab\there",
	         "new\nline", "cr\rx", "ctl\x01", "comma,", "\\N", "", " "]
	with open(jpath, "w") as jf, open(cpath, "w", newline="") as cf:
	    w = csv.writer(cf, lineterminator="\n", quoting=csv.QUOTE_ALL)
	    for i in range(1, n + 1):
	        v = "".join(random.choice(words) for _ in range(random.randint(0, 4)))
	        num = random.choice(["1.5e3", "-2E-2", "12345678901234567890.5", "0", "-0", str(i)])
	        doc = {"k": i, "tags": ["a", v], "nested": {"x": None, "y": [1.10, True]}}
	        row = {"id": i, "v": v if i % 17 else None, "n": num, "doc": doc, "ok": i % 2 == 0}
	        if i % 5:
	            row["d"] = "given " + str(i)
	        items = list(row.items())
	        random.shuffle(items)
	        parts = []
	        for k, val in items:
	            if k == "n":
	                parts.append(json.dumps(k) + ":" + val)  # the number as written
	            else:
	                parts.append(json.dumps(k) + ":" + json.dumps(val, ensure_ascii=(i % 3 == 0)))
	        jf.write("{" + ", ".join(parts) + "}\n")
	        w.writerow([i, "" if row["v"] is None else row["v"], num,
	                    row.get("d", "dflt"), json.dumps(doc), "t" if row["ok"] else "f"])
	PY
}

# same_jsonl NAME: j against jtwin (loaded by psql \copy from $W/j.csv).
same_jsonl() {
	expect_eq "$(q "SELECT count(*) FROM j")" "$(q "SELECT count(*) FROM jtwin")" "$1: rows"
	expect_eq "$(table_md5 j)" "$(table_md5 jtwin)" "$1: md5 of the table"
}

test_jsonl_every_way_like_psql() {
	gen_jsonl 2000 "$W/j.jsonl" "$W/j.csv"
	q "TRUNCATE jtwin"
	psql -XAtq -v ON_ERROR_STOP=1 -c "\\copy jtwin FROM '$W/j.csv' WITH (FORMAT csv)" >/dev/null
	q "UPDATE jtwin SET v = NULL WHERE id % 17 = 0"
	local how
	for how in cp cat pipe 1 7 4095 65537; do
		q "TRUNCATE j"
		case $how in
		cp) cp "$W/j.jsonl" "$P/j.jsonl" ;;
		cat) cat "$W/j.jsonl" >"$P/j.jsonl" ;;
		pipe) cat "$W/j.jsonl" | cat | cat >"$P/j.ndjson" ;;
		*) dd if="$W/j.jsonl" of="$P/j.jsonl" bs="$how" status=none ;;
		esac
		expect_eq "$?" 0 "jsonl by $how: the writer's status"
		same_jsonl "jsonl by $how"
	done
	expect_eq "$(q "SELECT count(*) FROM j WHERE d = 'dflt'")" 400 "a missing key gets the column's default"
	expect_eq "$(q "SELECT n FROM j WHERE id = (SELECT min(id) FROM j WHERE n = 1500)")" 1500 "1.5e3 as numeric"
	zstd -q -c "$W/j.jsonl" >"$W/j.jsonl.zst"
	q "TRUNCATE j"
	cp "$W/j.jsonl.zst" "$P/j.jsonl.zst"
	expect_eq "$?" 0 "jsonl.zst"
	same_jsonl "jsonl.zst"
	q "TRUNCATE j"
	gzip -c "$W/j.jsonl" | cat >"$P/j.jsonl"
	expect_eq "$?" 0 "gzip'd JSON lines by their magic bytes"
	same_jsonl "jsonl by magic bytes"
}

test_jsonl_values() {
	q "TRUNCATE j"
	printf '%s\n' '{"id":1,"v":"\u00e9\ud83d\ude00","n":1e3,"doc":{"a":[1,2.50,"x\"y"]},"ok":true}' \
		'{"ok":false,"id":2,"v":null,"n":-0.0,"doc":[]}' \
		'' \
		'{"ID":3, "v":"tab\there\\back", "doc":"[1, 2]"}  ' >"$P/j.jsonl"
	expect_eq "$?" 0 "the load"
	expect_eq "$(q "SELECT v FROM j WHERE id = 1")" "é😀" "unicode escapes and a surrogate pair"
	expect_eq "$(q "SELECT n FROM j WHERE id = 1")" 1000 "1e3 into numeric"
	expect_eq "$(q "SELECT doc::text FROM j WHERE id = 1")" '{"a": [1, 2.50, "x\"y"]}' "a nested object into jsonb"
	expect_eq "$(q "SELECT v IS NULL AND NOT ok AND d = 'dflt' FROM j WHERE id = 2")" t "null, false, a missing key's default"
	expect_eq "$(q "SELECT v FROM j WHERE id = 3")" "$(printf 'tab\there\\back')" "escapes in a string, a key spelled in another case"
	expect_eq "$(q "SELECT doc::text FROM j WHERE id = 3")" "[1, 2]" "a JSON string into jsonb: its text, as JSON"
}

test_jsonl_errors_name_the_line() {
	local out
	q "TRUNCATE j"
	out=$(printf '{"id":1}\n{"id":2,"color":"red"}\n' 2>&1 >"$P/j.jsonl")
	expect_eq "$?" 1 "an unknown key fails the load"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'line 2: key .*color.* names no column of public.j' "naming the key and the line"
	expect_eq "$(q "SELECT count(*) FROM j")" 0 "nothing committed"
	out=$(printf '{"id":1}\n{"id":2,"v":"x"\n{"id":3}\n' 2>&1 >"$P/j.jsonl")
	expect_eq "$?" 1 "a broken line"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'line 2: not JSON' "its line"
	out=$(printf '{"id":1}\n[1,2]\n' 2>&1 >"$P/j.jsonl")
	expect_eq "$?" 1 "an array"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'line 2: not a JSON object' "its line"
	out=$(printf '{"id":1}\n{"id":2,"v":"\\ud800x"}\n' 2>&1 >"$P/j.jsonl")
	expect_eq "$?" 1 "a lone surrogate"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'line 2: .*ud800 is half of a UTF-16 surrogate pair' "its line"
	# The server's error, numbered as the file: after a blank line and a
	# change of keys (each a new COPY) the line is still the file's.
	out=$(printf '{"id":1}\n\n{"id":2,"v":"a"}\n{"v":"b","id":3}\n{"id":"x","v":"c"}\n' 2>&1 >"$P/j.jsonl")
	expect_eq "$?" 1 "a bad value"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'integer: .*x.*COPY j, line 5, column id' "the file's line 5"
	expect_eq "$(q "SELECT count(*) FROM j")" 0 "nothing committed"
	pcf_remount -o json_unknown=ignore
	printf '{"id":1,"color":"red","extra":{"deep":[1]}}\n{"id":2}\n{"color":"blue"}\n' >"$P/j.jsonl"
	expect_eq "$?" 0 "-o json_unknown=ignore"
	expect_eq "$(q "SELECT string_agg(coalesce(id::text, d), ',' ORDER BY id) FROM j")" "1,2,dflt" \
		"the known keys load; an object of unknown keys only is a row of defaults"
	pcf_remount
}

test_jsonl_empty_object_is_a_row_of_defaults() {
	q "TRUNCATE j"
	printf '{"id":1,"v":"a"}\n{}\n{"v":"b","id":2}\n{}\n' >"$P/j.jsonl"
	expect_eq "$?" 0 "{} between rows"
	expect_eq "$(q "SELECT count(*) FROM j WHERE id IS NULL AND d = 'dflt'")" 2 "two rows of defaults"
	expect_eq "$(q "SELECT count(*) FROM j")" 4 "and the others"
	expect_match "$(grep -F 'table=public.j ' "$MNT/.pgcopyfs/history" | tail -n 1)" \
		'outcome=committed .*rows=4 file_rows=4' "history counts them"
	q "CREATE TABLE jn (id int NOT NULL, v text)"
	wait_for "jn.csv" 5 test -e "$P/jn.csv"
	local out
	out=$(printf '{"id":1}\n{}\n' 2>&1 >"$P/jn.jsonl")
	expect_eq "$?" 1 "{} for a NOT NULL column without a default"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/jn.csv")" 'line 2 .*null value in column .*id' "the line and the server's reason"
	expect_eq "$(q "SELECT count(*) FROM jn")" 0 "nothing committed"
}

test_formats_in_drop_folders_and_renames() {
	q "TRUNCATE j"
	printf '{"id":1}\n{"id":2}\n' | gzip -c >"$W/part.jsonl.gz"
	cp "$W/part.jsonl.gz" "$P/j.d/part-0001.jsonl.gz"
	expect_eq "$?" 0 "a .jsonl.gz file in the drop folder"
	printf '{"id":3}\n' >"$P/j.d/part-0002.ndjson"
	expect_eq "$?" 0 "an .ndjson file in the drop folder"
	expect_eq "$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM j")" "1,2,3" "each loaded by its name's format"
	q "TRUNCATE t"
	printf 'id\tv\n1\t"a"\n' >"$W/r.tsv"
	rsync "$W/r.tsv" "$P/t.tsv"
	expect_eq "$?" 0 "rsync onto t.tsv (a temp file renamed onto it)"
	expect_eq "$(q "SELECT v FROM t")" '"a"' "loaded as the text format"
	q "TRUNCATE t"
	printf '1\tb\\.\n' >"$W/bad.tsv"
	rsync "$W/bad.tsv" "$P/t.tsv" 2>/dev/null
	expect_eq "$?" 23 "a rename onto t.tsv returns the load's failure"
	expect_eq "$(q "SELECT count(*) FROM t")" 0 "nothing committed"
}

test_jsonl_truncate_and_key_changes() {
	pcf_remount -o truncate
	q "TRUNCATE j; INSERT INTO j (id) VALUES (100), (101)"
	printf '{"id":1,"v":"a"}\n{"id":2}\n{"v":"c","id":3,"n":1}\n' >"$P/j.jsonl"
	expect_eq "$?" 0 "-o truncate, three key sets (three COPYs, FREEZE after the TRUNCATE)"
	expect_eq "$(q "SELECT string_agg(id || ':' || coalesce(v, '-'), ',' ORDER BY id) FROM j")" "1:a,2:-,3:c" "the old rows replaced"
	pcf_remount
	q "TRUNCATE j"
	: >"$P/j.jsonl"
	expect_eq "$?" 0 "an empty file"
	printf '\n\n' >"$P/j.jsonl"
	expect_eq "$?" 0 "blank lines only"
	expect_eq "$(q "SELECT count(*) FROM j")" 0 "no rows"
	expect_match "$(grep -F 'table=public.j ' "$MNT/.pgcopyfs/history" | tail -n 1)" \
		'outcome=committed .*rows=0 file_rows=0 .*file=/public/j.jsonl' "history"
}

test_checkpoints_in_other_formats() {
	pcf_remount -o checkpoint=1
	q "TRUNCATE j; TRUNCATE t"
	local w i seen=0
	setsid bash -c 'i=0; while :; do i=$((i+1)); echo "{\"id\":$i,\"v\":\"row $i\"}"; sleep 0.1; done' >"$P/j.jsonl" &
	w=$!
	for i in $(seq 1 40); do
		sleep 0.1
		[ "$(q "SELECT count(*) FROM j")" -gt 0 ] && { seen=1; break; }
	done
	expect_eq "$seen" 1 "JSON rows visible while the writer runs"
	sleep 1.2
	kill -KILL -- -"$w"
	wait "$w"
	sleep 0.3
	local n
	n=$(q "SELECT count(*) FROM j")
	[ "$n" -ge 10 ] || fail "the checkpoints' rows stay after SIGKILL: $n"
	expect_eq "$(q "SELECT count(*) = max(id) FROM j")" t "rows 1..N, each once"
	setsid bash -c 'printf "id\tv\n"; i=0; while :; do i=$((i+1)); printf "%d\tx\\\\\ty %d\n" $i $i; sleep 0.1; done' >"$P/t.tsv" &
	w=$!
	sleep 2.5
	kill -TERM -- -"$w"
	wait "$w"
	sleep 0.3
	n=$(q "SELECT count(*) FROM t")
	[ "$n" -ge 10 ] || fail "text-format rows checkpointed: $n"
	expect_eq "$(q "SELECT count(*) FROM t WHERE v = 'x' || chr(9) || 'y ' || id")" "$n" "escapes intact across checkpoints"
	# A bad JSON row after a checkpoint: its line is the file's.
	q "TRUNCATE j"
	(printf '{"id":1}\n{"id":2}\n'; sleep 1.6; printf '{"id":3}\n{"id":"x"}\n') | cat >"$P/j.jsonl" 2>/dev/null
	expect_eq "$?" 1 "a bad row after a checkpoint"
	expect_match "$(cat "$MNT/.pgcopyfs/errors/public/j.csv")" 'COPY j, line 4, column id' "the file's line 4"
	expect_eq "$(q "SELECT count(*) FROM j")" 2 "the checkpoint's rows stay"
	pcf_remount
}

pcf_run_tests
