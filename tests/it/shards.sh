#!/usr/bin/env bash
# Foreign tables are table files too: a postgres_fdw table on a second
# throwaway cluster (the shard), and a partitioned table with a local and a
# foreign partition. A cp into them lands on the shard, as psql \copy does;
# a bad row fails the whole load on both sides.
. "$(dirname "$0")/../lib.sh"
pcf_setup

SHARD=$PCF_TMP/shard
SHARD_SOCK=$PCF_TMP/sock3
shard_stop() {
	[ -f "$SHARD/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$SHARD" -m immediate -w stop >/dev/null 2>&1
	return 0
}
trap 'shard_stop; pcf_cleanup' EXIT
sq() { psql -X -A -t -q -v ON_ERROR_STOP=1 -h "$SHARD_SOCK" -p 5434 -c "$1"; }

mkdir -p "$SHARD" "$SHARD_SOCK"
chown postgres "$SHARD" "$SHARD_SOCK"
touch "$PCF_TMP/shard.log" && chown postgres "$PCF_TMP/shard.log"
as_pg "$PGBIN/initdb" -D "$SHARD" -A trust -U postgres -E UTF8 --locale=C \
	>"$PCF_TMP/shard-initdb.log" 2>&1 || { cat "$PCF_TMP/shard-initdb.log" >&2; exit 1; }
cat >>"$SHARD/postgresql.conf" <<-CONF
listen_addresses = ''
unix_socket_directories = '$SHARD_SOCK'
port = 5434
fsync = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$SHARD" -l "$PCF_TMP/shard.log" -w -t 60 start >/dev/null ||
	{ cat "$PCF_TMP/shard.log" >&2; exit 1; }
sq "CREATE TABLE remote_events (id int PRIMARY KEY, what text NOT NULL);
    CREATE TABLE remote_part (id int NOT NULL, region text NOT NULL)"
q "CREATE EXTENSION postgres_fdw;
   CREATE SERVER shard FOREIGN DATA WRAPPER postgres_fdw
     OPTIONS (host '$SHARD_SOCK', port '5434', dbname 'postgres');
   CREATE USER MAPPING FOR postgres SERVER shard OPTIONS (user 'postgres');
   CREATE FOREIGN TABLE fevents (id int, what text)
     SERVER shard OPTIONS (table_name 'remote_events');
   CREATE TABLE sales (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
   CREATE TABLE sales_local PARTITION OF sales FOR VALUES IN ('here');
   CREATE FOREIGN TABLE sales_far PARTITION OF sales FOR VALUES IN ('there')
     SERVER shard OPTIONS (table_name 'remote_part')"

test_foreign_table_is_a_file() {
	wait_for "fevents.csv" 5 test -e "$MNT/public/fevents.csv" ||
		fail "no fevents.csv in $(ls "$MNT/public" | tr '\n' ' ')"
	expect_eq "$(stat -c %A "$MNT/public/fevents.csv")" "-rw-r--r--" "writable"
	printf 'id,what\n1,a\n2,b\n3,c\n' | cat >"$MNT/public/fevents.csv"
	expect_eq "$?" 0 "cp into the foreign table"
	expect_eq "$(sq "SELECT string_agg(id || what, ' ' ORDER BY id) FROM remote_events")" \
		"1a 2b 3c" "the rows are on the shard"
	expect_match "$(last_history public.fevents)" "outcome=committed .*rows=3" "history"
}

test_bad_row_into_foreign_table_loads_nothing() {
	printf 'id,what\n10,x\n11,\n' | cat >"$MNT/public/fevents.csv" 2>/dev/null
	expect_eq "$?" 1 "the writer fails (NOT NULL on the shard)"
	expect_eq "$(sq "SELECT count(*) FROM remote_events WHERE id >= 10")" 0 \
		"nothing on the shard"
	expect_match "$(last_history public.fevents)" "outcome=failed .*errno=EIO" "history"
}

test_partitioned_table_with_a_foreign_partition() {
	local n
	for n in sales sales_local sales_far; do
		test -e "$MNT/public/$n.csv" || fail "no $n.csv"
	done
	printf 'id,region\n1,here\n2,there\n3,there\n' | cat >"$MNT/public/sales.csv"
	expect_eq "$?" 0 "cp into the partitioned table"
	expect_eq "$(q "SELECT count(*) FROM sales_local")" 1 "the local partition's row"
	expect_eq "$(sq "SELECT count(*) FROM remote_part")" 2 "the foreign partition's rows"
}

# Deferred unique keys on the shard fail at the remote COMMIT, which
# postgres_fdw sends at the local COMMIT.
sq "CREATE TABLE remote_def (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE remote_a (id int UNIQUE DEFERRABLE INITIALLY DEFERRED, region text);
    CREATE TABLE remote_b (id int, region text)"
q "CREATE FOREIGN TABLE fdef (id int) SERVER shard OPTIONS (table_name 'remote_def');
   CREATE SERVER shard_b FOREIGN DATA WRAPPER postgres_fdw
     OPTIONS (host '$SHARD_SOCK', port '5434', dbname 'postgres');
   CREATE USER MAPPING FOR postgres SERVER shard_b OPTIONS (user 'postgres');
   CREATE TABLE two (id int, region text) PARTITION BY LIST (region);
   CREATE FOREIGN TABLE two_a PARTITION OF two FOR VALUES IN ('a')
     SERVER shard OPTIONS (table_name 'remote_a');
   CREATE FOREIGN TABLE two_b PARTITION OF two FOR VALUES IN ('b')
     SERVER shard_b OPTIONS (table_name 'remote_b')"

test_commit_failure_on_the_only_shard_commits_nothing() {
	wait_for "fdef.csv" 5 test -e "$MNT/public/fdef.csv"
	printf 'id\n1\n1\n' | cat >"$MNT/public/fdef.csv" 2>/dev/null
	expect_eq "$?" 1 "the writer fails (the shard's COMMIT)"
	expect_eq "$(sq "SELECT count(*) FROM remote_def")" 0 "nothing on the shard"
	expect_match "$(last_history public.fdef)" "outcome=failed .*rows=0 .*errno=EIO" \
		"one remote transaction: a plain failure"
}

test_commit_failure_across_two_shards_is_in_doubt() {
	# Two foreign servers: two remote transactions, committed one after
	# the other. Whichever goes first, history must not claim 0 rows.
	wait_for "two.csv" 5 test -e "$MNT/public/two.csv"
	printf 'id,region\n1,a\n1,a\n2,b\n' >"$W/two.csv"
	# The COMMIT waits for cp's exit: its exit(0) becomes status 1.
	cp "$W/two.csv" "$MNT/public/two.csv"
	expect_eq "$?" 1 "the writer fails"
	local h
	h=$(last_history public.two)
	expect_match "$h" "outcome=unknown " "the outcome is unknown"
	expect_match "$h" " rows=3 file_rows=3 " "the rows the server took, not 0"
	expect_match "$h" "errno=EREMOTEIO .*some may have committed" "and why"
	expect_eq "$(sq "SELECT count(*) FROM remote_a")" 0 "the failing shard has nothing"
}

pcf_run_tests
