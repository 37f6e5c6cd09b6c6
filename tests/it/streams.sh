#!/usr/bin/env bash
# Program output that does not come all at once: a producer silent for
# longer than the server's idle_in_transaction_session_timeout, before its
# first byte, inside its first line and between rows, still loads (the
# transaction begins with the first whole line, and a running COPY is not
# idle).
. "$(dirname "$0")/../lib.sh"
pcf_setup

q "CREATE TABLE s (v text);
   ALTER DATABASE postgres SET idle_in_transaction_session_timeout = '1s'"
P=$MNT/public
wait_for "s.csv" 5 test -e "$P/s.csv"
pcf_remount # the loads' new connections take the setting

test_idle_producer_outlives_idle_in_transaction_timeout() {
	q "TRUNCATE s"
	(sleep 1.5; printf 'v'; sleep 1.5; echo; sleep 1.5; echo a; sleep 1.5
	 printf 'b'; sleep 1.5; echo) >"$P/s.csv"
	expect_eq "$?" 0 "the producer's load"
	expect_eq "$(q "SELECT string_agg(v, ',' ORDER BY v) FROM s")" "a,b" "every row"
	expect_match "$(last_history public.s)" "outcome=committed .*rows=2 " "history"
}

test_the_timeout_is_real() {
	# The same setting ends a transaction left idle: the test's premise.
	local out
	out=$({ echo "BEGIN;"; sleep 1.5; echo "SELECT 1;"; } |
		psql -X -q -v ON_ERROR_STOP=1 2>&1)
	expect_match "$out" "idle-in-transaction timeout" "psql's idle transaction is ended"
}

pcf_run_tests
