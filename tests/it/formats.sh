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
   CREATE TABLE twin (LIKE t)"
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

pcf_run_tests
