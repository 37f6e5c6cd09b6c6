#!/usr/bin/env bash
# The tree: schemas and tables as directories and files, modes from
# privileges, names that cannot be file names, tables appearing and
# vanishing, everything that is not a load refused; and the start-up checks
# that fail before mounting.
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE SCHEMA sales;
   CREATE TABLE public.events (id int, note text);
   CREATE TABLE sales.orders (id int);
   CREATE TABLE sales.parted (k int, v text) PARTITION BY RANGE (k);
   CREATE TABLE sales.parted_1 PARTITION OF sales.parted FOR VALUES FROM (0) TO (100);
   CREATE VIEW public.a_view AS SELECT 1 AS x;
   CREATE TABLE public.\"odd/name%x\" (v text);
   CREATE TABLE public.\".dot\" (v text);
   CREATE SCHEMA empty_schema;
   CREATE ROLE loader LOGIN;
   GRANT USAGE ON SCHEMA sales TO loader;
   GRANT SELECT ON sales.orders TO loader;
   GRANT INSERT ON public.events TO loader;"

test_root_lists_schemas_not_system_ones() {
	# Schemas created a moment ago show within a second (README).
	wait_for "the new schemas" 3 bash -c "[ \"\$(ls '$MNT' | tr '\n' ' ')\" = 'empty_schema public sales ' ]"
	expect_eq "$(ls "$MNT" | tr '\n' ' ')" "empty_schema public sales " "ls /"
	expect_eq "$(ls -a "$MNT" | grep -c pgcopyfs)" 1 "status dir is a dot-dir"
}

test_schema_lists_tables_only() {
	expect_eq "$(ls "$MNT/sales" | tr '\n' ' ')" \
		"orders.csv parted.csv parted_1.csv " "tables, partitioned too"
	expect_eq "$(ls "$MNT/public" | tr '\n' ' ')" \
		"%2Edot.csv events.csv odd%2Fname%25x.csv " "escaped names, no view"
	expect_eq "$(ls "$MNT/empty_schema" | wc -l)" 0 "empty schema"
}

test_escaped_names_load() {
	printf 'v\nslash\n' | cat >"$MNT/public/odd%2Fname%25x.csv"
	expect_eq "$(q 'SELECT v FROM public."odd/name%x"')" "slash" "odd name"
	printf 'v\ndot\n' | cat >"$MNT/public/%2Edot.csv"
	expect_eq "$(q 'SELECT v FROM public.".dot"')" "dot" "dot name"
}

test_partitioned_table_loads() {
	printf 'k,v\n1,a\n99,b\n' | cat >"$MNT/sales/parted.csv"
	expect_eq "$(q "SELECT count(*) FROM sales.parted_1")" 2 "rows routed"
}

test_new_table_usable_at_once_and_dropped_vanishes() {
	q "CREATE TABLE public.fresh (v text)"
	printf 'v\nnew\n' | cat >"$MNT/public/fresh.csv"
	expect_eq "$?" 0 "load into a table created a moment ago"
	expect_eq "$(q "SELECT v FROM fresh")" "new" "row"
	q "DROP TABLE public.fresh"
	wait_for "fresh.csv to vanish" 5 bash -c "! ls '$MNT/public' | grep -q fresh.csv" ||
		fail "dropped table still listed"
	wait_for "fresh.csv stat to fail" 5 bash -c "! stat '$MNT/public/fresh.csv'" ||
		fail "dropped table still stat-able"
}

# cp right after CREATE TABLE, many times over, stat first (cp's own
# stat, then its O_EXCL open): never ENOENT, never EEXIST.
test_cp_right_after_create_table_every_time() {
	local i fails=0 out
	printf 'v\nx\n' >"$W/one.csv"
	for i in $(seq 1 25); do
		stat "$MNT/public/just$i.csv" >/dev/null 2>&1
		q "CREATE TABLE public.just$i (v text)"
		out=$(cp "$W/one.csv" "$MNT/public/just$i.csv" 2>&1) ||
			{ fails=$((fails + 1)); pcf_log "  ($out)"; }
	done
	expect_eq "$fails" 0 "cp failures"
	expect_eq "$(q "SELECT count(*) FROM pg_class WHERE relname LIKE 'just%'")" 25 "tables"
	for i in $(seq 1 25); do q "DROP TABLE public.just$i"; done
}

test_file_modes_follow_insert_and_select_privileges() {
	PCF_CONNINFO="user=loader" pcf_remount
	# Write bits: INSERT; read bits: SELECT (reading streams the table).
	expect_eq "$(stat -c %A "$MNT/public/events.csv")" "--w-------" "INSERT, no SELECT"
	expect_eq "$(stat -c %A "$MNT/sales/orders.csv")" "-r--r--r--" "SELECT, no INSERT"
	expect_eq "$(ls "$MNT/sales" | tr '\n' ' ')" "orders.csv parted.csv parted_1.csv " \
		"tables visible in a schema with USAGE"
	local err
	err=$(printf 'id\n1\n' | cat 2>&1 >"$MNT/sales/orders.csv")
	expect_eq "$?" 1 "write without INSERT fails"
	expect_match "$err" "Permission denied" "EACCES"
	expect_match "$(last_history sales.orders)" "errno=EACCES" "history"
	expect_eq "$(q "SELECT count(*) FROM sales.orders")" 0 "rows"
	printf 'id,note\n1,x\n' | cat >"$MNT/public/events.csv"
	expect_eq "$(q "SELECT note FROM public.events")" "x" "loader loads events"
	pcf_remount
}

test_everything_else_is_refused() {
	local before
	before=$(q "SELECT count(*) FROM pg_class")
	expect_match "$(mkdir "$MNT/public/d" 2>&1)" "Operation not permitted" "mkdir"
	expect_match "$(mkdir "$MNT/newschema" 2>&1)" "Operation not permitted" "mkdir schema"
	local rows_before
	rows_before=$(q "SELECT count(*) FROM public.events")
	expect_status 0 "rm of a table file succeeds (replace-by-unlink)" rm "$MNT/public/events.csv"
	expect_eq "$(q "SELECT count(*) FROM public.events")" "$rows_before" "rm deletes no row"
	test -e "$MNT/public/events.csv" || fail "the table file is still there for others"
	expect_match "$(rmdir "$MNT/sales" 2>&1)" "Operation not permitted" "rmdir"
	expect_match "$(mv "$MNT/public/events.csv" "$MNT/public/x.csv" 2>&1)" \
		"Operation not permitted" "mv"
	expect_status 0 "chmod is accepted" chmod 600 "$MNT/public/events.csv"
	expect_eq "$(stat -c %a "$MNT/public/events.csv")" 644 "and changes nothing"
	expect_status 0 "chmod to the same mode" chmod 644 "$MNT/public/events.csv"
	expect_match "$(ln -s x "$MNT/public/l.csv" 2>&1)" "Operation not permitted" "symlink"
	expect_match "$(cp /etc/hostname "$MNT/public/nosuch.csv" 2>&1)" \
		"No such file or directory" "creating a file that is no table"
	expect_status 0 "a name without .csv is a staged file" cp /etc/hostname "$MNT/public/notcsv"
	expect_status 0 "which is removed like a file" rm "$MNT/public/notcsv"
	expect_match "$(cp /etc/hostname "$MNT/.pgcopyfs/history" 2>&1)" \
		"Permission denied" "status files are read-only"
	expect_match "$(bash -c "echo x > '$MNT/foo'" 2>&1)" \
		"No such file or directory" "a file beside the schemas"
	expect_match "$(bash -c "echo x > '$MNT/foo.csv'" 2>&1)" \
		"No such file or directory" "a .csv file beside the schemas"
	# The daemon's own connection is told apart from the loads'.
	expect_eq "$(q "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'pgcopyfs catalog'")" 1 "the catalog connection's name"
	expect_eq "$(q "SELECT count(*) FROM pg_class")" "$before" "no DDL happened"
	expect_eq "$(cat "$MNT/public/events.csv")" \
		"$(psql -XAtq -c "\\copy public.events TO STDOUT WITH (FORMAT csv, HEADER true)")" \
		"reading gives the table, as COPY TO does"
}

# Start-up: connect and check before mounting; one line, non-zero exit.
start_fails() { # WHAT EXPECTED_REGEX ARGS...
	local what=$1 re=$2 out rc
	shift 2
	out=$("$PGCOPYFS_BIN" "$@" 2>&1)
	rc=$?
	[ "$rc" != 0 ] || fail "$what: exit status 0"
	expect_match "$out" "$re" "$what: message"
	expect_eq "$(printf '%s\n' "$out" | wc -l)" 1 "$what: one line"
	mountpoint -q "$W/m2" && fail "$what: left mounted"
}

test_startup_errors_before_mounting() {
	mkdir -p "$W/m2"
	start_fails "server unreachable" "cannot connect.*No such file" \
		"host=$W/nosock" "$W/m2"
	start_fails "missing database" 'database "nope" does not exist' \
		"dbname=nope" "$W/m2"
	start_fails "missing role" 'role "nobody_here" does not exist' \
		"user=nobody_here" "$W/m2"
	start_fails "bad conninfo" "cannot connect.*invalid" "bogus=1" "$W/m2"
	start_fails "bad mount point" "bad mount point" "" "$W/nonexistent"
	start_fails "bad option" "header= takes auto, true or false" \
		-o header=maybe "" "$W/m2"
	expect_status 2 "no arguments" "$PGCOPYFS_BIN"
}

test_help_and_version() {
	local help
	help=$("$PGCOPYFS_BIN" --help)
	expect_eq "$?" 0 "--help status"
	for o in header= truncate commit= delimiter= quote= escape= null= \
		encoding= connect_timeout= history=; do
		expect_match "$help" "-o $o" "--help lists $o"
	done
	expect_match "$help" "FUSE options" "then libfuse's"
	expect_match "$("$PGCOPYFS_BIN" -V)" "pgcopyfs version [0-9.]+" "-V"
	expect_match "$("$PGCOPYFS_BIN" -V)" "^libpq version [0-9]+\.[0-9]+$" "-V: libpq"
}

test_fsname_shows_database_without_password() {
	expect_match "$(grep " $MNT " /proc/mounts)" \
		"^postgres@.*/postgres $MNT fuse.pgcopyfs " "fsname and subtype"
}

pcf_run_tests
