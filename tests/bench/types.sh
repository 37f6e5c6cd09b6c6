#!/usr/bin/env bash
# What COPY's binary format saves the server, type by type (issue: faster
# than psql \copy by sending binary rows). For each type, a table of 8
# columns of it is filled on the server, written out by the server itself
# as CSV and as binary (COPY ... TO 'file'), and loaded back from each
# file (COPY ... FROM 'file', server-side: no client, no network), three
# runs each, interleaved. The ratio is how much faster the binary load is:
# the most a converting client could gain for that type.
#
#   tests/bench/types.sh [ROWS]     default 500000 rows of 8 columns; ~5 min
#
# Uses tests/lib.sh's throwaway server (fsync off, as the tests).
set -uo pipefail
ROWS=${1:-500000}
. "$(dirname "$0")/../lib.sh"
pg_start || exit 1
trap 'pg_stop; rm -rf "$PCF_TMP"' EXIT
psql -Xq -c "ALTER SYSTEM SET log_statement = 'none'" -c "SELECT pg_reload_conf()" >/dev/null
D=$PCF_TMP/work
chown postgres "$D"

# TYPE|EXPR: the value of column @k (1..8) of row i.
types=(
	"int2|((i * 31 + @k) % 30000)::int2"
	"int4|((i::bigint * 7919 + @k) % 2000000000)::int4"
	"int8|i::bigint * 1000003 + @k"
	"float4|(i * 0.37 + @k)::float4"
	"float8|i::float8 / 7 + @k"
	"numeric|round(i::numeric / 7 + @k, 6)"
	"bool|(i + @k) % 2 = 0"
	"text|md5(i::text || @k)"
	"date|date '2000-01-01' + (i + @k) % 20000"
	"timestamp|timestamp '2000-01-01' + (i * 37 + @k) * interval '1 second'"
	"timestamptz|timestamptz '2000-01-01 00:00:00+00' + (i * 37 + @k) * interval '1 second'"
	"uuid|md5(i::text || @k)::uuid"
	"jsonb|jsonb_build_object('a', i, 'b', @k, 'c', md5(i::text))"
	"bytea|decode(md5(i::text || @k), 'hex')"
)
secs() { # SQL: its wall time, s
	local t0=$EPOCHREALTIME
	psql -Xq -v ON_ERROR_STOP=1 -c "$1" >/dev/null || exit 1
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}'
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf '%-12s %10s %10s %10s %8s %8s\n' type "csv MB" "binary MB" "csv s" "binary s" "x"
for entry in "${types[@]}"; do
	t=${entry%%|*} expr=${entry#*|} cols='' sel=''
	for k in 1 2 3 4 5 6 7 8; do
		cols+="${cols:+, }c$k $t"
		sel+="${sel:+, }${expr//@k/$k}"
	done
	psql -Xq -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS src, dst" \
		-c "CREATE UNLOGGED TABLE src ($cols)" -c "CREATE UNLOGGED TABLE dst ($cols)" \
		-c "INSERT INTO src SELECT $sel FROM generate_series(1, $ROWS) i" \
		-c "COPY src TO '$D/t.csv' (FORMAT csv)" -c "COPY src TO '$D/t.bin' (FORMAT binary)" >/dev/null || exit 1
	csv=() bin=()
	for rep in 1 2 3; do
		psql -Xq -c "TRUNCATE dst" -c "CHECKPOINT" >/dev/null
		csv+=("$(secs "COPY dst FROM '$D/t.csv' (FORMAT csv)")")
		psql -Xq -c "TRUNCATE dst" -c "CHECKPOINT" >/dev/null
		bin+=("$(secs "COPY dst FROM '$D/t.bin' (FORMAT binary)")")
	done
	[ "$(psql -XAtc "SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM dst) x")" = 0 ] ||
		{ echo "types.sh: $t: the binary load differs" >&2; exit 1; }
	c=$(printf '%s\n' "${csv[@]}" | median) b=$(printf '%s\n' "${bin[@]}" | median)
	printf '%-12s %10.1f %10.1f %10s %8s %8.2f\n' "$t" \
		"$(($(stat -c %s "$D/t.csv") / 1000))e-3" "$(($(stat -c %s "$D/t.bin") / 1000))e-3" \
		"$c" "$b" "$(awk -v c="$c" -v b="$b" 'BEGIN {print c / b}')"
done
