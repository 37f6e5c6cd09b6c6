#!/usr/bin/env bash
# Binary rows (-o convert=auto, the default; fs/convert.c, fs/binrow.c):
# every load stores exactly what psql \copy of the same CSV stores, and
# fails where it fails, with the same line and column.
# * The differential corpus (tests/tools/typed_csv.py): for each converted
#   type, thousands of values with its edge cases, loaded through the mount
#   and through psql \copy under three TimeZone/DateStyle settings; the
#   tables compare equal row for row (t::text) and binary rows were sent.
# * Stretches of binary and CSV COPY in one transaction: the line numbers
#   of the server's errors stay the file's, in either kind of stretch.
# * Line ends: CRLF files convert; a line end of another style fails as in
#   psql, at the same line.
# * Header column lists, defaults, -o truncate, checkpoints, typmods,
#   columns of types not converted, -o convert=off; loads and history
#   count the rows each way.
. "$(dirname "$0")/../lib.sh"
pcf_setup
P=$MNT/public
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
# Whether the server takes a value for a type (the corpus keeps those).
q "CREATE FUNCTION pcf_takes(v text, typ text) RETURNS bool LANGUAGE plpgsql AS \$\$
   BEGIN EXECUTE format('SELECT CAST(\$1 AS %s)', typ) USING v; RETURN true;
   EXCEPTION WHEN others THEN RETURN false; END \$\$"
TYPES="int2 int4 int8 float4 float8 numeric bool uuid text varchar bpchar name date timestamp timestamptz json jsonb bytea"

# rows_text TABLE: every row as text, in id order, as one md5.
rows_md5() { q "SELECT count(*) || ' ' || md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x.id), '')) FROM $1 x"; }

# psql_load TABLE FILE [OPTS]: psql \copy, its stderr's ERROR line, or "".
psql_load() {
	psql -X -q -v ON_ERROR_STOP=1 -c "\\copy $1 FROM '$2' WITH (FORMAT csv${3:+, $3})" 2>&1 >/dev/null |
		grep -E '^(psql:.*)?ERROR|CONTEXT' | sed -E 's/^psql:[^:]*:[0-9]+: //' | tr '\n' ' '
}

# The server's CONTEXT "COPY t, line N[, column c]" of the last failure
# (the mount's errors file holds PostgreSQL's message).
mount_error() { cat "$MNT/.pgcopyfs/errors/public/$1.csv" 2>/dev/null; }

test_differential_corpus() {
	python3 "$TOOLS/typed_csv.py" 7 "$W/corpus" || { fail "generator"; return; }
	local setting t
	for setting in "UTC|ISO, MDY" "America/New_York|SQL, DMY" "Asia/Kolkata|German"; do
		q "ALTER ROLE CURRENT_USER SET TimeZone = '${setting%%|*}';
		   ALTER ROLE CURRENT_USER SET DateStyle = '${setting#*|}'"
		for t in $TYPES; do
			# The lines the server takes under this setting.
			q "DROP TABLE IF EXISTS stage, via_mount, via_psql;
			   CREATE TABLE stage (id int, v text)"
			psql -X -q -c "\\copy stage FROM '$W/corpus/$t.csv' WITH (FORMAT csv)" ||
				{ fail "$t: staging"; continue; }
			q "CREATE TABLE via_mount (id int, v $t); CREATE TABLE via_psql (LIKE via_mount)"
			local ok
			ok=$(q "SELECT string_agg(id::text, ' ') FROM stage WHERE v IS NULL OR pcf_takes(v, '$t')")
			# Whole records (a quoted value may hold a line break).
			python3 - "$W/corpus/$t.csv" "$W/$t.ok.csv" "$ok" <<-'PY'
			import sys
			keep = set(sys.argv[3].split())
			with open(sys.argv[1], newline="") as f:
			    data = f.read()
			out, inq, start = [], False, 0
			for i, c in enumerate(data):
			    if c == '"':
			        inq = not inq
			    elif c == "\n" and not inq:
			        line = data[start:i + 1]
			        if line.split(",", 1)[0] in keep:
			            out.append(line)
			        start = i + 1
			with open(sys.argv[2], "w", newline="") as f:
			    f.write("".join(out))
			PY
			psql -X -q -c "\\copy via_psql FROM '$W/$t.ok.csv' WITH (FORMAT csv)" ||
				{ fail "$t: psql refused the kept lines"; continue; }
			cp "$W/$t.ok.csv" "$P/via_mount.csv" || { fail "$t ($setting): cp: $(mount_error via_mount)"; continue; }
			expect_eq "$(rows_md5 via_mount)" "$(rows_md5 via_psql)" "$t ($setting): the rows"
			local h
			h=$(last_history public.via_mount)
			local bin=${h#*binary_rows=}
			bin=${bin%% *}
			[ "${bin:-0}" -gt 1000 ] || fail "$t ($setting): only ${bin:-0} binary rows ($h)"
		done
	done
	q "ALTER ROLE CURRENT_USER RESET TimeZone; ALTER ROLE CURRENT_USER RESET DateStyle"
}

# .tsv (COPY's text format): psql's own text output of each type's
# corpus, and lines with the format's escapes, through the mount and psql.
test_tsv_like_psql() {
	local t
	[ -e "$W/corpus/int4.csv" ] || python3 "$TOOLS/typed_csv.py" 7 "$W/corpus"
	for t in int8 float8 numeric bool uuid text timestamptz jsonb bytea; do
		q "DROP TABLE IF EXISTS src, via_mount, via_psql;
		   CREATE TABLE src (id int, v $t); CREATE TABLE via_mount (LIKE src);
		   CREATE TABLE via_psql (LIKE src)"
		# the corpus's lines the server takes, as psql writes them out
		python3 - "$W/corpus/$t.csv" "$W/$t.some.csv" <<-'PY'
		import sys
		data = open(sys.argv[1], newline="").read()
		out, inq, start = [], False, 0
		for i, c in enumerate(data):
		    if c == '"':
		        inq = not inq
		    elif c == "\n" and not inq:
		        out.append(data[start:i + 1])
		        start = i + 1
		open(sys.argv[2], "w", newline="").write("".join(out))
		PY
		psql -X -q -c "CREATE TEMP TABLE x (id int, v text)" \
			-c "\\copy x FROM '$W/$t.some.csv' WITH (FORMAT csv)" \
			-c "INSERT INTO src SELECT id, CAST(v AS $t) FROM x WHERE v IS NULL OR pcf_takes(v, '$t')" \
			-c "\\copy src TO '$W/$t.tsv' WITH (FORMAT text, HEADER true)" >/dev/null ||
			{ fail "$t: making the .tsv"; continue; }
		psql -X -q -c "\\copy via_psql FROM '$W/$t.tsv' WITH (FORMAT text, HEADER true)" ||
			{ fail "$t: psql"; continue; }
		cp "$W/$t.tsv" "$P/via_mount.tsv" || { fail "$t: cp .tsv: $(mount_error via_mount)"; continue; }
		expect_eq "$(rows_md5 via_mount)" "$(rows_md5 via_psql)" "$t .tsv: the rows"
		expect_match "$(last_history public.via_mount)" "binary_rows=[0-9]{3,} " "$t .tsv: binary rows"
	done
	# The text format's escapes, NULL and a backslash N, an escaped tab
	q "DROP TABLE IF EXISTS via_mount, via_psql; CREATE TABLE via_mount (id int, v text, n numeric);
	   CREATE TABLE via_psql (LIKE via_mount)"
	{
		printf 'id\tv\tn\n'
		for i in $(seq 1 2000); do
			printf '%d\ta\\tb\\nc\\101\\x41\\q\\\td %d\t%d.5\n' "$i" "$i" "$i"
		done
		printf '2001\t\\N\t\\N\n2002\t\\\\N\t1\n2003\t\t2\n'
	} >"$W/esc.tsv"
	psql -X -q -c "\\copy via_psql FROM '$W/esc.tsv' WITH (FORMAT text, HEADER true)"
	cp "$W/esc.tsv" "$P/via_mount.tsv" || fail "escapes: $(mount_error via_mount)"
	expect_eq "$(rows_md5 via_mount)" "$(rows_md5 via_psql)" "escapes: the rows"
	expect_match "$(last_history public.via_mount)" "binary_rows=2003 csv_rows=0" "escapes: binary rows"
	# a bad value past a binary stretch: the file's line
	awk 'NR == 1500 { $0 = "1500\tx\tnot a number" } { print }' "$W/esc.tsv" >"$W/bad.tsv"
	expect_status 1 "a bad .tsv line" cp "$W/bad.tsv" "$P/via_mount.tsv" 2>/dev/null
	expect_match "$(mount_error via_mount)" 'invalid input syntax for type numeric.*COPY via_mount, line 1500, column n' "the .tsv's line"
}

# .jsonl: jsonl.c's rows become binary tuples the same way; the table is
# what the same file stores under -o convert=off (jsonl.c's own rows, which
# formats.sh holds to psql's). Key sets that change, blank lines, {} rows,
# values only the server reads, and a bad value's line.
jsonl_file() { # FILE ROWS [BAD_LINE]
	python3 - "$@" <<-'PY'
	import json, random, sys, uuid
	path, n = sys.argv[1], int(sys.argv[2])
	bad = int(sys.argv[3]) if len(sys.argv) > 3 else 0
	rnd = random.Random(5)
	with open(path, "w") as f:
	    for k in range(1, n + 1):
	        if k % 997 == 0:
	            f.write("\n")  # a blank line
	            continue
	        if k % 1499 == 0:
	            f.write('{"id": %d}\n' % k)  # one key: the defaults
	            continue
	        row = {"id": k, "i": rnd.randint(-1000, 1000), "t": "t\u00e9xt %d\t\"q\"" % k,
	               "n": "%d.%02d" % (rnd.randint(0, 9999), rnd.randint(0, 99)),
	               "ts": "2024-%02d-%02d 10:00:00+02" % (rnd.randint(1, 12), rnd.randint(1, 28)),
	               "d": "2024-01-%02d" % rnd.randint(1, 28), "b": rnd.random() < .5,
	               "f": rnd.random() * 1e6, "u": str(uuid.UUID(int=rnd.getrandbits(128))),
	               "j": {"k": k, "a": [1, None, "x"]}}
	        if k % 2500 == 0:
	            row["i"] = " 7"  # only the server reads it
	        if k == bad:
	            row["n"] = "not a number"
	        keys = list(row)
	        if 3000 <= k < 4000:
	            keys = keys[:5]  # another key set for a while
	        if k % 2 == 0:
	            keys.reverse()
	        f.write(json.dumps({key: row[key] for key in keys}) + "\n")
	PY
}

test_jsonl_like_convert_off() {
	make_wide
	jsonl_file "$W/w.jsonl" 8000
	cp "$W/w.jsonl" "$P/w.jsonl" || { fail "cp .jsonl: $(mount_error w)"; return; }
	local h
	h=$(last_history public.w)
	expect_match "$h" "outcome=committed" "committed"
	local bin
	bin=$(history_count "$h" binary_rows)
	[ "${bin:-0}" -gt 4000 ] || fail "binary rows: $h"
	q "INSERT INTO w2 SELECT * FROM w; TRUNCATE w"
	pcf_remount -o convert=off || return
	cp "$W/w.jsonl" "$P/w.jsonl" || fail "convert=off: $(mount_error w)"
	expect_match "$(last_history public.w)" "binary_rows=0 " "convert=off: no binary rows"
	pcf_remount || return
	expect_eq "$(rows_md5 w)" "$(rows_md5 w2)" "the rows, either way"
	# A bad value in a binary stretch: the file's line.
	q "TRUNCATE w"
	jsonl_file "$W/bad.jsonl" 8000 5003
	expect_status 1 "cp of a bad .jsonl" cp "$W/bad.jsonl" "$P/w.jsonl" 2>/dev/null
	expect_match "$(mount_error w)" 'invalid input syntax for type numeric.*COPY w, line 5003, column n' "the .jsonl's line"
	expect_eq "$(count w)" 0 "nothing committed"
}

# A table of every converted type, rows that switch between binary and
# CSV (values only the server reads: " 5", "1e3", "yes " ...).
make_wide() {
	q "DROP TABLE IF EXISTS w, w2; CREATE TABLE w (id int8 PRIMARY KEY, i int4, t text,
	     n numeric, ts timestamptz, d date, b bool, f float8, u uuid, j jsonb);
	   CREATE TABLE w2 (LIKE w INCLUDING ALL)"
}

# wide_file FILE ROWS ODD: ROWS rows; every ODD-th row has an i only the
# server reads (" 7"), and rows 5000-5020 all do.
wide_file() {
	python3 - "$@" <<-'PY'
	import random, sys, uuid
	path, n, odd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	rnd = random.Random(3)
	with open(path, "w") as f:
	    f.write("id,i,t,n,ts,d,b,f,u,j\n")
	    for k in range(1, n + 1):
	        i = str(rnd.randint(-1000, 1000))
	        if (odd and k % odd == 0) or 5000 <= k <= 5020:
	            i = " " + i
	        f.write('%d,%s,"text %d, ""q""",%d.%02d,2024-%02d-%02d %02d:00:00+02,2024-01-%02d,%s,%r,%s,"{""k"": %d}"\n' % (
	            k, i, k, rnd.randint(0, 99999), rnd.randint(0, 99), rnd.randint(1, 12),
	            rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(1, 28),
	            rnd.choice("tf"), rnd.random() * 1e6, uuid.UUID(int=rnd.getrandbits(128)), k))
	PY
}

history_count() { # HISTORY_LINE KEY
	local v=${1#*$2=}
	echo "${v%% *}"
}

test_segments_store_what_psql_stores() {
	make_wide
	wide_file "$W/w.csv" 20000 3000
	cp "$W/w.csv" "$P/w.csv" || { fail "cp: $(mount_error w)"; return; }
	psql -X -q -c "\\copy w2 FROM '$W/w.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(rows_md5 w)" "$(rows_md5 w2)" "the rows"
	local h
	h=$(last_history public.w)
	expect_eq "$(history_count "$h" file_rows)" 20000 "file rows"
	local bin csv
	bin=$(history_count "$h" binary_rows)
	csv=$(history_count "$h" csv_rows)
	expect_eq "$((bin + csv))" 20000 "binary + csv rows ($h)"
	# the odd rows, the run 5000-5020, and the rows before each switch back
	[ "$csv" -ge 27 ] && [ "$bin" -ge 10000 ] || fail "binary $bin, csv $csv"
	# The COPYs the server ran: both formats, in one transaction.
	grep -q 'FROM STDIN WITH (FORMAT binary)' "$PCF_TMP/pg.log" || fail "no binary COPY"
}

# bad_at FILE LINE VALUE: FILE with line LINE's i replaced by VALUE.
bad_at() {
	awk -v n="$2" -v v="$3" -F, 'BEGIN { OFS = "," } NR == n { $2 = v } { print }' "$1"
}

test_errors_name_the_files_line() {
	make_wide
	wide_file "$W/w.csv" 12000 0
	local at want got
	# a bad value in a binary stretch (after the switch back at 5021), in
	# the CSV run 5000-5020, right after it, and on the first row
	for at in 9000 5010 5023 2; do
		bad_at "$W/w.csv" "$at" "x$at" >"$W/bad.csv"
		q "TRUNCATE w, w2"
		want=$(psql_load w2 "$W/bad.csv" "HEADER true")
		expect_status 1 "cp of a bad line $at" cp "$W/bad.csv" "$P/w.csv" 2>/dev/null
		got=$(mount_error w)
		expect_match "$want" "line $at, column i" "psql's message names line $at"
		expect_match "$got" "invalid input syntax for type integer: \\\\?\"x$at\\\\?\"" "the server's message (line $at)"
		expect_match "$got" "COPY w, line $at, column i\"" "the file's line and column (line $at)"
		expect_eq "$(count w)" 0 "nothing committed (line $at)"
	done
	# A row the server refuses for a constraint, in a binary stretch:
	# the same line as psql's.
	q "TRUNCATE w, w2"
	awk -F, 'BEGIN { OFS = "," } NR == 7001 { $1 = 17 } { print }' "$W/w.csv" >"$W/dup.csv"
	want=$(psql_load w2 "$W/dup.csv" "HEADER true")
	expect_status 1 "cp of a duplicate key" cp "$W/dup.csv" "$P/w.csv" 2>/dev/null
	got=$(mount_error w)
	expect_match "$want" "line 7001" "psql: line 7001"
	expect_match "$got" "duplicate key value violates unique constraint" "the server's message"
	expect_match "$got" "COPY w, line 7001" "the file's line"
	expect_eq "$(count w)" 0 "nothing committed (duplicate)"
}

test_line_ends() {
	make_wide
	wide_file "$W/w.csv" 3000 0
	sed 's/$/\r/' "$W/w.csv" >"$W/crlf.csv"
	cp "$W/crlf.csv" "$P/w.csv" || fail "cp of a CRLF file: $(mount_error w)"
	psql -X -q -c "\\copy w2 FROM '$W/crlf.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(rows_md5 w)" "$(rows_md5 w2)" "CRLF: the rows"
	expect_match "$(last_history public.w)" "binary_rows=(2[0-9]{3}|3000) " "CRLF rows went binary"
	# One \r\n line in a \n file, and one \n line in a \r\n file: both
	# refused by psql at that line; so by the mount.
	local f want got
	for f in mixed1 mixed2; do
		q "TRUNCATE w, w2"
		if [ $f = mixed1 ]; then
			awk 'NR == 1500 { printf "%s\r\n", $0; next } { print }' "$W/w.csv" >"$W/$f.csv"
		else
			awk 'NR == 1500 { print; next } { printf "%s\r\n", $0 }' "$W/w.csv" >"$W/$f.csv"
		fi
		want=$(psql_load w2 "$W/$f.csv" "HEADER true")
		expect_status 1 "$f: cp" cp "$W/$f.csv" "$P/w.csv" 2>/dev/null
		got=$(mount_error w)
		expect_match "$want" "line 1500" "$f: psql refuses line 1500"
		expect_match "$got" "(unquoted|literal) (carriage return|newline) found in data" "$f: the server's reason"
		expect_match "$got" "line 1500" "$f: the file's line"
		expect_eq "$(count w)" 0 "$f: nothing committed"
	done
}

test_header_lists_defaults_and_typmods() {
	q "DROP TABLE IF EXISTS h, h2; CREATE TABLE h (id serial, a varchar(5), b numeric(6,2),
	     c char(3), d timestamp(0), e text DEFAULT 'dflt', g int GENERATED ALWAYS AS (id * 2) STORED);
	   CREATE TABLE h2 (id serial, a varchar(5), b numeric(6,2), c char(3), d timestamp(0),
	     e text DEFAULT 'dflt', g int GENERATED ALWAYS AS (id * 2) STORED)"
	python3 - "$W/h.csv" <<-'PY'
	import sys
	with open(sys.argv[1], "w") as f:
	    f.write("d,c,b,a\n")
	    for k in range(4000):
	        f.write("2024-01-01 10:00:%02d.%d,x%d,%d.%03d,%s\n" % (k % 60, k % 10, k % 10, k % 999, k % 1000, "abc"[: k % 4]))
	PY
	cp "$W/h.csv" "$P/h.csv" || fail "cp: $(mount_error h)"
	psql -X -q -c "\\copy h2 (d, c, b, a) FROM '$W/h.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(q "SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM h")" \
		"$(q "SELECT md5(string_agg(h2::text, ',' ORDER BY id)) FROM h2")" "header list, typmods, defaults, generated"
	expect_match "$(last_history public.h)" "binary_rows=4000 csv_rows=0" "all binary"
	# Past a typmod: the server's message, the file's line.
	printf 'a\nabc\nabcdef\n' >"$W/long.csv"
	expect_status 1 "a value too long" cp "$W/long.csv" "$P/h.csv" 2>/dev/null
	expect_match "$(mount_error h)" 'value too long for type character varying\(5\).*COPY h, line 3, column a"' "varchar(5)"
	printf 'b\n1.5\n12345.678\n' >"$W/big.csv"
	expect_status 1 "a numeric too big" cp "$W/big.csv" "$P/h.csv" 2>/dev/null
	expect_match "$(mount_error h)" 'numeric field overflow.*COPY h, line 3, column b"' "numeric(6,2)"
	# Every column without a header: the generated one is not COPY's.
	q "CREATE TABLE nh (a int, b text, g int GENERATED ALWAYS AS (a + 1) STORED)"
	printf '1,x\n2,y\n' | cat >"$P/nh.csv" || fail "no header, generated column"
	expect_eq "$(q "SELECT string_agg(nh::text, ' ' ORDER BY a) FROM nh")" "(1,x,2) (2,y,3)" "no header"
	expect_match "$(last_history public.nh)" "binary_rows=2 " "no header: binary"
}

test_types_not_converted_go_as_csv() {
	q "CREATE DOMAIN posint AS int CHECK (VALUE > 0);
	   CREATE TABLE nc (a int, iv interval); CREATE TABLE nd (a posint, b text)"
	printf 'a,iv\n1,1 day\n2,2 hours\n' >"$W/nc.csv"
	cp "$W/nc.csv" "$P/nc.csv" || fail "interval: $(mount_error nc)"
	expect_eq "$(q "SELECT string_agg(iv::text, ',' ORDER BY a) FROM nc")" "1 day,02:00:00" "interval rows"
	expect_match "$(last_history public.nc)" 'binary_rows=0 csv_rows=2 .*not_binary="column iv is of type interval"' "said why"
	printf '1,a\n-1,b\n' >"$W/nd.csv"
	expect_status 1 "a domain's check" cp "$W/nd.csv" "$P/nd.csv" 2>/dev/null
	expect_match "$(mount_error nd)" 'value for domain posint violates check constraint.*line 2' "the domain's message"
}

test_truncate_and_checkpoints() {
	make_wide
	wide_file "$W/w.csv" 6000 1000
	pcf_remount -o truncate,checkpoint=0.2 || return
	q "INSERT INTO w (id) VALUES (-1)"
	# A slow writer: checkpoints commit whole rows, binary ones included.
	python3 - "$W/w.csv" "$P/w.csv" <<-'PY' || fail "slow writer"
	import sys, time
	lines = open(sys.argv[1], "rb").read().splitlines(keepends=True)
	with open(sys.argv[2], "wb", buffering=0) as f:
	    f.write(b"".join(lines[:2001]))
	    time.sleep(0.6)
	    f.write(b"".join(lines[2001:4001]))
	    time.sleep(0.6)
	    f.write(b"".join(lines[4001:]))
	PY
	psql -X -q -c "\\copy w2 FROM '$W/w.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(rows_md5 w)" "$(rows_md5 w2)" "checkpointed load, truncated first"
	local h
	h=$(last_history public.w)
	expect_match "$h" "outcome=committed" "committed"
	expect_match "$h" "checkpoints=[1-9]" "checkpoints ran ($h)"
	pcf_remount || return
}

# timestamptz without an offset: the session's TimeZone decides; binary
# only when that is UTC (the server says which, ParameterStatus).
test_timestamptz_without_offset_in_utc_only() {
	local tz
	q "DROP TABLE IF EXISTS tz, tz2; CREATE TABLE tz (id int, at timestamptz); CREATE TABLE tz2 (LIKE tz)"
	python3 - "$W/tz.csv" <<-'PY'
	import sys
	with open(sys.argv[1], "w") as f:
	    for k in range(1, 3001):
	        f.write("%d,2024-%02d-%02d %02d:30:00\n" % (k, k % 12 + 1, k % 28 + 1, k % 24))
	PY
	for tz in UTC Etc/UTC America/New_York Asia/Kolkata; do
		q "ALTER ROLE CURRENT_USER SET TimeZone = '$tz'; TRUNCATE tz, tz2"
		cp "$W/tz.csv" "$P/tz.csv" || fail "$tz: cp: $(mount_error tz)"
		psql -X -q -c "\\copy tz2 FROM '$W/tz.csv' WITH (FORMAT csv)"
		expect_eq "$(q "SELECT md5(string_agg(at::text || '@' || extract(epoch FROM at), ',' ORDER BY id)) FROM tz")" \
			"$(q "SELECT md5(string_agg(at::text || '@' || extract(epoch FROM at), ',' ORDER BY id)) FROM tz2")" "$tz: the instants"
		case $tz in
		*UTC) expect_match "$(last_history public.tz)" "binary_rows=3000 csv_rows=0" "$tz: binary" ;;
		*) expect_match "$(last_history public.tz)" "binary_rows=0 csv_rows=3000" "$tz: CSV" ;;
		esac
	done
	q "ALTER ROLE CURRENT_USER RESET TimeZone"
}

# Compressed files decompress into the same stage.
test_compressed_files_convert() {
	make_wide
	wide_file "$W/w.csv" 3000 0
	gzip -c "$W/w.csv" >"$W/w.csv.gz"
	cp "$W/w.csv.gz" "$P/w.csv.gz" || fail "cp .csv.gz: $(mount_error w)"
	expect_match "$(last_history public.w)" "binary_rows=3000 csv_rows=0" ".csv.gz"
	psql -X -q -c "\\copy w2 FROM '$W/w.csv' WITH (FORMAT csv, HEADER true)"
	expect_eq "$(rows_md5 w)" "$(rows_md5 w2)" ".csv.gz: the rows"
	q "TRUNCATE w"
	jsonl_file "$W/w.jsonl" 3000
	zstd -q -c "$W/w.jsonl" >"$W/w.jsonl.zst"
	cp "$W/w.jsonl.zst" "$P/w.jsonl.zst" || fail "cp .jsonl.zst: $(mount_error w)"
	expect_match "$(last_history public.w)" "binary_rows=[0-9]{4} " ".jsonl.zst"
}

test_convert_off() {
	make_wide
	wide_file "$W/w.csv" 2000 0
	pcf_remount -o convert=off || return
	local seen
	seen=$(wc -l <"$PCF_TMP/pg.log")
	cp "$W/w.csv" "$P/w.csv" || fail "cp: $(mount_error w)"
	expect_match "$(last_history public.w)" 'binary_rows=0 csv_rows=2000 .*not_binary="-o convert=off"' "convert=off"
	! tail -n +"$((seen + 1))" "$PCF_TMP/pg.log" | grep -q 'FROM STDIN WITH (FORMAT binary)' ||
		fail "a binary COPY under convert=off"
	pcf_remount || return
	q "TRUNCATE w"
	cp "$W/w.csv" "$P/w.csv" || fail "cp: $(mount_error w)"
	expect_match "$(last_history public.w)" 'binary_rows=2000 csv_rows=0' "convert=auto"
}

test_live_loads_show_the_counts() {
	make_wide
	wide_file "$W/w.csv" 3000 0
	held_writer "$P/w.csv" "$(head -n 500 "$W/w.csv" | sed 's/%/%%/g')\n" live
	grep -F "table=public.w " "$MNT/.pgcopyfs/loads" | grep -Eq "binary_rows=[1-9][0-9]* csv_rows=0" ||
		fail "loads: $(cat "$MNT/.pgcopyfs/loads")"
	release_writer live
	wait "$HELD_PID"
}

pcf_run_tests
