#!/usr/bin/env bash
# The core promise: whatever cp, cat, dd, tee or a program writes to a
# table's file lands in the table, committed once at the last close, with
# the header rules, CSV quoting and line ends handled.
. "$(dirname "$0")/../lib.sh"
pcf_setup

test_cp_with_header_loads_every_row() {
	make_posts
	{ echo message; seq 1 1000 | sed 's/^/hello world /'; } >"$W/p.csv"
	expect_status 0 "cp" cp "$W/p.csv" "$MNT/public/posts.csv"
	expect_eq "$(count posts)" 1000 "rows"
	expect_eq "$(q "SELECT message FROM posts WHERE id = 1000")" \
		"hello world 1000" "last row"
	expect_eq "$(q "SELECT count(*) FROM posts WHERE created_at IS NULL")" 0 \
		"defaults filled"
	expect_match "$(last_history public.posts)" \
		"outcome=committed .*rows=1000 " "history line"
}

test_cat_redirect_and_append() {
	make_posts
	printf 'message\na\nb\n' | cat >"$MNT/public/posts.csv"
	expect_eq "$?" 0 "cat > status"
	printf 'message\nc\n' | cat >>"$MNT/public/posts.csv"
	expect_eq "$?" 0 "cat >> status"
	expect_eq "$(q "SELECT string_agg(message, ',' ORDER BY id) FROM posts")" \
		"a,b,c" "rows of both loads, appended"
}

test_builtin_printf_redirect() {
	make_posts
	printf 'message\nhello world 1\n' >"$MNT/public/posts.csv"
	expect_eq "$(q "SELECT message FROM posts")" "hello world 1" "row"
}

test_dd_tee_and_program_output() {
	make_posts
	{ echo message; seq 1 5000 | sed 's/^/m/'; } >"$W/d.csv"
	expect_status 0 "dd" dd if="$W/d.csv" of="$MNT/public/posts.csv" \
		bs=1M status=none
	expect_eq "$(count posts)" 5000 "dd rows"
	seq 1 300 | sed 's/^/t/' | { echo message; cat; } |
		tee "$MNT/public/posts.csv" >/dev/null
	expect_eq "$?" 0 "tee status"
	expect_eq "$(count posts)" 5300 "tee rows"
	{ echo message; seq 1 100000 | sed 's/^/hello world /'; } \
		>"$MNT/public/posts.csv"
	expect_eq "$?" 0 "pipeline status"
	expect_eq "$(count posts)" 105300 "pipeline rows"
}

test_every_byte_arrives_intact() {
	q "DROP TABLE IF EXISTS blobs; CREATE TABLE blobs (n int, t text)"
	python3 - "$W/b.csv" <<-'PY'
	import csv, random, sys
	random.seed(7)
	alphabet = 'abc, "\n\r\t;é€😀'
	with open(sys.argv[1], 'w', newline='', encoding='utf-8') as f:
	    w = csv.writer(f, lineterminator='\r\n')
	    w.writerow(['n', 't'])
	    for i in range(20000):
	        w.writerow([i, ''.join(random.choice(alphabet) for _ in range(random.randint(1, 40)))])
	PY
	expect_status 0 "cp" cp "$W/b.csv" "$MNT/public/blobs.csv"
	local want got
	want=$(python3 -c '
import csv, hashlib, sys
rows = list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))[1:]
print(len(rows), hashlib.md5("\x1e".join(r[1] for r in rows).encode()).hexdigest())' "$W/b.csv")
	got=$(q "SELECT count(*) || ' ' || md5(string_agg(t, chr(30) ORDER BY n)) FROM blobs")
	expect_eq "$got" "$want" "count and md5 of every field"
}

test_quoted_newlines_crlf_and_no_final_newline() {
	q "DROP TABLE IF EXISTS q; CREATE TABLE q (a text, b text)"
	printf 'a,b\r\n"x\r\ny","say ""hi"""\r\nlast,row' | cat >"$MNT/public/q.csv"
	expect_eq "$?" 0 "status"
	expect_eq "$(q "SELECT count(*) FROM q")" 2 "rows"
	expect_eq "$(q "SELECT b FROM q WHERE a = 'last'")" "row" "unterminated last row"
	expect_eq "$(q "SELECT a = E'x\r\ny' FROM q WHERE b = 'say \"hi\"'")" "t" \
		"embedded CRLF and doubled quotes"
}

test_header_auto_any_order_and_subset() {
	q "DROP TABLE IF EXISTS t3; CREATE TABLE t3 (a int, b text DEFAULT 'dflt', c int)"
	printf 'c,a\n3,1\n' | cat >"$MNT/public/t3.csv"
	expect_eq "$(q "SELECT a || b || c FROM t3")" "1dflt3" "reordered subset"
	printf '7,x,9\n' | cat >"$MNT/public/t3.csv"
	expect_eq "$(q "SELECT b FROM t3 WHERE a = 7")" "x" "no header: table order"
}

test_header_true_and_false() {
	q "DROP TABLE IF EXISTS h; CREATE TABLE h (name text)"
	pcf_remount -o header=true
	printf 'nope\nx\n' | cat >"$MNT/public/h.csv"
	expect_eq "$?" 1 "unknown column under header=true"
	expect_match "$(last_history public.h)" 'error=.*\\"nope\\".*not a column' \
		"names the column"
	printf 'name\nx\n' | cat >"$MNT/public/h.csv"
	expect_eq "$(q "SELECT string_agg(name, ',') FROM h")" "x" "header=true row"
	pcf_remount -o header=false
	printf 'name\ny\n' | cat >"$MNT/public/h.csv"
	expect_eq "$(q "SELECT string_agg(name, ',' ORDER BY name) FROM h")" \
		"name,x,y" "header=false takes the first line as data"
	pcf_remount
}

test_dialect_and_encoding_options() {
	q "DROP TABLE IF EXISTS d; CREATE TABLE d (a text, b text)"
	pcf_remount -o "delimiter=;,quote=',null=NA,encoding=LATIN1"
	printf "a;b\n'x;y';NA\ncaf\xe9;''\n" | cat >"$MNT/public/d.csv"
	expect_eq "$?" 0 "status"
	expect_eq "$(q "SELECT a || '|' || coalesce(b, 'null') FROM d ORDER BY a")" \
		"café|
x;y|null" "delimiter, quote, NULL string, LATIN1 bytes"
	pcf_remount -o delimiter=tab
	printf 'a\tb\n1\t2\n' | cat >"$MNT/public/d.csv"
	expect_eq "$(q "SELECT b FROM d WHERE a = '1'")" "2" "tab"
	pcf_remount
}

test_empty_opens_load_nothing() {
	make_posts
	expect_status 0 "cp /dev/null" cp /dev/null "$MNT/public/posts.csv"
	expect_status 0 "touch" touch "$MNT/public/posts.csv"
	expect_status 0 ": >" bash -c ": > '$MNT/public/posts.csv'"
	expect_eq "$(count posts)" 0 "rows"
	expect_match "$(last_history public.posts)" "outcome=empty" "history"
}

test_bad_row_commits_nothing_and_says_why() {
	make_posts
	printf 'message\nok\n' | cat >"$MNT/public/posts.csv"
	printf 'id,message\n5,fine\nx,bad\n' | cat >"$MNT/public/posts.csv"
	expect_eq "$?" 1 "cat exit status"
	cp "$W/nonexistent" /dev/null 2>/dev/null
	expect_eq "$(count posts)" 1 "nothing of the failed load"
	local h
	h=$(last_history public.posts)
	expect_match "$h" "outcome=failed" "outcome"
	expect_match "$h" "errno=EIO sqlstate=22P02" "errno and SQLSTATE"
	expect_match "$h" 'line 3, column id"$' "line and column"
	grep -q 'line 3, column id' "$PCF_TMP/daemon.log" ||
		fail "the daemon log lacks the message"
}

test_failed_open_file_stays_failed() {
	make_posts
	local codes
	codes=$(python3 - "$MNT/public/posts.csv" <<-'PY'
	import errno, os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	os.write(fd, b"message\na\n")
	def code(f):
	    try:
	        f(); return 0
	    except OSError as e:
	        return e.errno
	results = [
	    code(lambda: os.pwrite(fd, b"b\n", 100)),   # a gap
	    code(lambda: os.write(fd, b"c\n")),          # poisoned
	    code(lambda: os.fsync(fd)),
	    code(lambda: os.close(fd)),
	]
	print(" ".join(errno.errorcode.get(r, "0") for r in results))
	PY
	)
	# The gap fails the load; every later call on the descriptor says so.
	expect_eq "$codes" "EINVAL EINVAL EINVAL EINVAL" "the gap, then every call"
	expect_eq "$(count posts)" 0 "rows"
	expect_match "$(last_history public.posts)" "errno=EINVAL" "history"
}

test_otrunc_appends_by_default() {
	make_posts
	printf 'message\na\n' | cat >"$MNT/public/posts.csv"
	printf 'message\nb\n' | cat >"$MNT/public/posts.csv"
	expect_eq "$(count posts)" 2 "second > appended"
}

test_truncate_option_replaces_atomically() {
	make_posts
	q "INSERT INTO posts (message) VALUES ('old1'), ('old2')"
	pcf_remount -o truncate
	printf 'message\nnew\n' | cat >>"$MNT/public/posts.csv"
	expect_eq "$(count posts)" 3 ">> still appends under -o truncate"
	printf 'message\nfresh1\nfresh2\n' | cat >"$MNT/public/posts.csv"
	expect_eq "$(q "SELECT string_agg(message, ',' ORDER BY id) FROM posts")" \
		"fresh1,fresh2" "> replaced the rows"
	# In one transaction, quoted, with FREEZE (the server's own log).
	grep -q 'statement: TRUNCATE TABLE ONLY "public"."posts"' "$PCF_TMP/pg.log" ||
		fail "no TRUNCATE in the server log"
	# (binary rows under -o convert=auto, the default)
	grep -Eq 'statement: COPY "public"."posts" \("message"\) FROM STDIN WITH \(FORMAT (csv, HEADER true|binary), FREEZE true\)' \
		"$PCF_TMP/pg.log" || fail "no COPY ... FREEZE in the server log"
	printf 'id,message\nx,bad\n' | cat >"$MNT/public/posts.csv"
	expect_eq "$?" 1 "failed replacing load"
	expect_eq "$(q "SELECT string_agg(message, ',' ORDER BY id) FROM posts")" \
		"fresh1,fresh2" "a failed replace leaves the old rows"
	expect_status 0 ": >" bash -c ": > '$MNT/public/posts.csv'"
	expect_eq "$(count posts)" 2 "an empty > deletes nothing"
	pcf_remount
}

test_line_with_backslash_dot_is_refused() {
	q "DROP TABLE IF EXISTS bs; CREATE TABLE bs (v text)"
	# PostgreSQL 15 ends CSV data at a line \. and drops what follows:
	# pgcopyfs refuses the file, naming the line; split anywhere.
	printf 'v\na\n\\.\nb\n' | cat >"$MNT/public/bs.csv" 2>/dev/null
	expect_eq "$?" 1 "the writer fails"
	expect_eq "$(q "SELECT count(*) FROM bs")" 0 "nothing committed"
	expect_match "$(last_history public.bs)" 'outcome=failed .*errno=EIO .*line 3 holds only \\\\\.' "history names the line"
	python3 - "$MNT/public/bs.csv" <<-'PY' 2>/dev/null
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY)
	for part in (b"v\na\n", b"\\", b".", b"\r", b"\nb\n"):
	    os.write(fd, part)
	os.close(fd)
	PY
	expect_eq "$?" 1 "the writer fails, the marker split over four writes"
	expect_eq "$(q "SELECT count(*) FROM bs")" 0 "nothing committed"
	# A quoted \. and one at the very end are values (COPY loads them).
	printf 'v\n"\\."\nx\n\\.' | cat >"$MNT/public/bs.csv"
	expect_eq "$?" 0 "a quoted \\. and a last line \\. load"
	expect_eq "$(q "SELECT string_agg(v, '|' ORDER BY v) FROM bs")" '\.|\.|x' "as values"
}

# Headers as people write them: any case, spaces around names; a name two
# columns share but for case fails, naming it; a first line taken as data
# that the server refuses says why it was no header.
test_headers_as_people_write_them() {
	q "DROP TABLE IF EXISTS contacts; CREATE TABLE contacts (name text, email text);
	   DROP TABLE IF EXISTS twins; CREATE TABLE twins (\"Id\" int, id int)"
	wait_for "contacts.csv" 5 test -e "$MNT/public/contacts.csv"
	printf 'Name,Email\nann,a@x\n' | cat >"$MNT/public/contacts.csv"
	expect_eq "$?" 0 "Name,Email"
	printf ' EMAIL , name \nb@x,bob\n' | cat >"$MNT/public/contacts.csv"
	expect_eq "$?" 0 "spaced, upper case, reordered"
	expect_eq "$(q "SELECT string_agg(name || '=' || email, ' ' ORDER BY name) FROM contacts")" \
		"ann=a@x bob=b@x" "no header line became a row"
	printf 'ID\n1\n' | cat >"$MNT/public/twins.csv" 2>/dev/null
	expect_eq "$?" 1 "an ambiguous header fails"
	expect_match "$(last_history public.twins)" 'header.s \\"ID\\" names more than one column' \
		"naming the name"
	printf 'Id,id\n1,2\n' | cat >"$MNT/public/twins.csv"
	expect_eq "$(q 'SELECT "Id"::text || id FROM twins')" 12 "exact names pick their columns"
	q "DROP TABLE IF EXISTS nums; CREATE TABLE nums (n int)"
	wait_for "nums.csv" 5 test -e "$MNT/public/nums.csv"
	printf 'count\n1\n' | cat >"$MNT/public/nums.csv" 2>/dev/null
	expect_eq "$?" 1 "a header naming no column is data, and bad data"
	expect_match "$(last_history public.nums)" 'line 1.*line 1 was taken as data, not as a header: \\"count\\" names no column of public.nums' \
		"the message says why line 1 was no header"
}

# Encodings and BOMs: a LATIN1 header is compared after conversion; in a
# LATIN1 file the bytes EF BB BF are text, not a BOM; a file holding only a
# UTF-8 BOM loads nothing and succeeds, as COPY does.
test_latin1_headers_and_boms() {
	q "DROP TABLE IF EXISTS menu; CREATE TABLE menu (café text, prix int)"
	pcf_remount -o encoding=LATIN1
	wait_for "menu.csv" 5 test -e "$MNT/public/menu.csv"
	printf 'café,prix\nthé,3\n' | iconv -f UTF-8 -t LATIN1 | cat >"$MNT/public/menu.csv"
	expect_eq "$?" 0 "a LATIN1 header"
	expect_eq "$(q "SELECT string_agg(café || '=' || prix, ' ') FROM menu")" "thé=3" \
		"taken as the header, the row converted"
	printf '\xef\xbb\xbfa,1\n' | cat >"$MNT/public/menu.csv"
	expect_eq "$?" 0 "EF BB BF in a LATIN1 file"
	expect_eq "$(q "SELECT count(*) FROM menu WHERE café = 'ï»¿a'")" 1 "kept as text"
	pcf_remount
	printf '\xef\xbb\xbf' | cat >"$MNT/public/menu.csv"
	expect_eq "$?" 0 "a file holding only a BOM"
	expect_match "$(last_history public.menu)" "outcome=committed .*rows=0 " "nothing loaded"
}

# The failing value in the message as the file has it: spaces and a tab
# kept (escaped in history), not collapsed.
test_failing_value_shown_as_written() {
	q "DROP TABLE IF EXISTS iv; CREATE TABLE iv (n int)"
	wait_for "iv.csv" 5 test -e "$MNT/public/iv.csv"
	printf 'n\n"1  2\t3"\n' | cat >"$MNT/public/iv.csv" 2>/dev/null
	expect_eq "$?" 1 "a bad integer"
	expect_match "$(last_history public.iv)" 'integer: \\"1  2\\t3\\"' \
		"two spaces and an escaped tab, as written"
}

# A BEFORE INSERT trigger that returns NULL keeps rows out (routing to
# child tables, de-duplication): the load succeeds like psql \copy's, and
# history has the server's count and the file's.
test_trigger_returning_null_is_not_a_failure() {
	q "DROP TABLE IF EXISTS routed CASCADE; DROP TABLE IF EXISTS routed_kept;
	   CREATE TABLE routed (v text);
	   CREATE TABLE routed_kept () INHERITS (routed);
	   CREATE OR REPLACE FUNCTION route() RETURNS trigger LANGUAGE plpgsql AS
	     'BEGIN IF NEW.v LIKE ''keep%'' THEN INSERT INTO routed_kept VALUES (NEW.v); END IF;
	      RETURN NULL; END';
	   CREATE TRIGGER route BEFORE INSERT ON routed FOR EACH ROW EXECUTE FUNCTION route()"
	wait_for "routed.csv" 5 test -e "$MNT/public/routed.csv"
	printf 'v\nkeep 1\ndrop 2\nkeep 3\ndrop 4\n' | cat >"$MNT/public/routed.csv"
	expect_eq "$?" 0 "the writer succeeds"
	expect_eq "$(q "SELECT count(*) FROM ONLY routed_kept")" 2 "the routed rows"
	expect_eq "$(q "SELECT count(*) FROM ONLY routed")" 0 "none in the parent"
	expect_match "$(last_history public.routed)" "outcome=committed .*rows=0 file_rows=4 " \
		"history: the server's count and the file's"
}

pcf_run_tests
