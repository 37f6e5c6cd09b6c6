#!/usr/bin/env bash
# The pgcopyfs benchmark: how fast, and in how much memory, pgcopyfs loads a
# CSV file next to `psql \copy` (the anchor: the fastest client-side load
# there is) and to the usual Python ways (SQLAlchemy 1.4 ORM and Core,
# psycopg2 copy_from/copy_expert).
#
#   tests/bench/run.sh          posts 1M and 10M rows, 2M wide rows, a 5.8 GB
#                               stream; 3 runs each (the stream: 1); ~30 min
#   tests/bench/run.sh --tiny   the same table with tiny counts and 1 run, in
#                               well under 2 minutes: CI's smoke test, which
#                               checks exit statuses and row counts, never times
#   tests/bench/run.sh --core   posts 1M and 10M by psql \copy, cp, cat and dd
#                               (3 runs each, no Python, no wide table, no
#                               stream), then the last two tables; ~10 min
#   tests/bench/run.sh --formats  posts 1M and wide 2M by psql \copy, cp, and
#                               cp of the other formats (.tsv, .jsonl, .csv.gz,
#                               .csv.zst, .jsonl.zst), 3 runs each, then the
#                               last two tables; ~15 min
#   tests/bench/run.sh --reads  reading tables out: posts 10M and wide 2M by
#                               psql \copy TO STDOUT and cat (and the other
#                               formats) into the same pipe, 3 runs each, then
#                               a 5 GB table (3 runs each way); ~8 min
#   tests/bench/run.sh --convert  binary rows (-o convert=auto, the default)
#                               against -o convert=off: posts 1M, wide 2M and
#                               a table of four text columns (2M rows) by
#                               psql \copy, cp and cat > each way, 3 runs
#                               each, then the last two tables; ~12 min
#   tests/bench/run.sh --fixed  only the last two tables: a load's fixed cost
#                               (one-row loads, also beside 200,000 unrelated
#                               descriptors) and a 10,000-table tree; ~2 min
#
# Every run ends with those two: a one-row load by cp against psql \copy's,
# and mount, ls -R, ls -lR, a cp during ls -lR and stats of found and missing
# names with 10,000 tables.
#
# It installs what is missing (apt-get), builds pgcopyfs (Release) and starts
# a throwaway PostgreSQL in a temporary directory (unix socket only), all
# removed at exit. Runs are interleaved (run 1 of every method, then run 2
# ...) so a slow phase of the machine does not land on one method. Before
# each run the table is truncated, vacuumed and checkpointed, outside the
# timing; after it the row count is checked. Each pgcopyfs run has a fresh
# daemon, so its VmHWM is that run's peak and its CPU that run's.
set -euo pipefail
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/../.." && pwd)

TINY=0 FIXED_ONLY=0 CORE=0 FORMATS=0 READS=0 CONVERT=0
case "${1:-}" in
--tiny) TINY=1 ;;
--convert) CONVERT=1 ;;
--reads) READS=1 ;;
--formats) FORMATS=1 ;;
--fixed) FIXED_ONLY=1 ;;
--core) CORE=1 ;;
"") ;;
*) echo "usage: $0 [--tiny | --core | --formats | --reads | --convert | --fixed]" >&2; exit 2 ;;
esac

# Debian's interpreter: python3-sqlalchemy and python3-psycopg2 install
# there, and a python3 found first in PATH (pyenv, a venv) would not see them.
PY=/usr/bin/python3

if [ "$TINY" = 1 ]; then
	REPS=1
	POSTS_SMALL=50000 POSTS_BIG='' STREAM='' WIDE=20000
	ORM_ROWS=20000 PY_WIDE=20000
	SHARED_BUFFERS=128MB MAX_WAL=1GB MIN_WAL=80MB
else
	REPS=3
	POSTS_SMALL=1000000 POSTS_BIG=10000000 STREAM=270000000 WIDE=2000000
	# The slow Python ways load fewer rows (the table says how many; nothing
	# is extrapolated): per-row ORM adds 100k rows; the other INSERT-based
	# ways take posts' 1M rows but 100k wide rows (at 5k-20k rows/s, the
	# full 2M would take 10 minutes a run and tell nothing more).
	ORM_ROWS=100000 PY_WIDE=100000
	SHARED_BUFFERS=4GB MAX_WAL=32GB MIN_WAL=4GB
fi
# The fixed-cost and tree tables: one-row loads per method, tables.
FIXED_REPS=21 NTABLES=10000 UNRELATED_FDS=200000
[ "$TINY" = 1 ] && FIXED_REPS=3 NTABLES=500 UNRELATED_FDS=2000
if [ "$CORE" = 1 ]; then
	STREAM='' WIDE=1000 PY_WIDE=1000 ORM_ROWS=1000
fi
[ "$FORMATS" = 1 ] && POSTS_BIG='' STREAM=''
# Binary rows: the wide table gains, posts and a table of text must not lose.
TEXTS=2000000
[ "$TINY" = 1 ] && TEXTS=20000
[ "$CONVERT" = 1 ] && POSTS_BIG='' STREAM='' ORM_ROWS=1000 PY_WIDE=1000
# Reads: the tables the issue names, filled by psql \copy, and a 5 GB one.
[ "$READS" = 1 ] && POSTS_SMALL=10000000 POSTS_BIG='' STREAM='' ORM_ROWS=1000 PY_WIDE=1000
BIG_READ_ROWS=25000000 # about 5.1 GB as CSV (READS only)
if [ "$FIXED_ONLY" = 1 ]; then
	POSTS_SMALL=1000 POSTS_BIG='' STREAM='' WIDE=1000 ORM_ROWS=1000 PY_WIDE=1000
	SHARED_BUFFERS=1GB MAX_WAL=4GB MIN_WAL=1GB
fi
SETTINGS=(
	"shared_buffers = $SHARED_BUFFERS"
	"wal_buffers = 64MB"
	"max_wal_size = $MAX_WAL"
	"min_wal_size = $MIN_WAL"
	"checkpoint_timeout = 30min"
	"autovacuum = off"
	"jit = off"
	"fsync = on"
	"synchronous_commit = on"
)

die() {
	echo "run.sh: FAILED: $*" >&2
	exit 1
}

# initdb and postgres refuse root; from /, which postgres may always enter
as_pg() { (cd / && runuser -u postgres -- "$@"); }

## Packages: install only what is missing, and update the lists only then.
pkgs=(build-essential cmake pkg-config libfuse3-dev libpq-dev fuse3
	zlib1g-dev libzstd-dev libyajl-dev gzip zstd
	postgresql postgresql-client python3-sqlalchemy python3-psycopg2 time
	util-linux procps)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "run as root: apt-get must install ${missing[*]}"
	echo "installing: ${missing[*]}"
	# The package must not create and start a cluster of its own.
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		mkdir -p /etc/postgresql-common
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$(id -u)" = 0 ] || die "run as root (the server runs as postgres via runuser)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
HZ=$(getconf CLK_TCK)

## Temporary directory, and everything undone at exit.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pgcopyfs-bench.XXXXXX")
# The stream's table, index and WAL (max_wal_size) take about 60 GB: say so
# now rather than fail with ENOSPC after twenty minutes.
if [ -n "$STREAM" ] && [ "$(df -Pk "$TMP" | awk 'NR == 2 {print $4}')" -lt $((64 << 20)) ]; then
	rmdir "$TMP"
	die "the full run needs 64 GB free in ${TMPDIR:-/tmp} (set TMPDIR elsewhere, or use --tiny)"
fi
chmod 755 "$TMP" # postgres must reach its data directory and socket inside
mkdir -p "$TMP/pg" "$TMP/sock" "$TMP/mnt" "$TMP/data"
chown postgres "$TMP/pg" "$TMP/sock"
MNT=$TMP/mnt
DPID=
cleanup() {
	local status=$?
	set +e
	if [ -n "$DPID" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
		wait "$DPID"
	fi
	if [ "$status" != 0 ]; then
		echo "--- daemon log (tail)" >&2
		tail -n 20 "$TMP/daemon.log" >&2 2>/dev/null
		echo "--- server log (tail)" >&2
		tail -n 20 "$TMP/pg.log" >&2 2>/dev/null
	fi
	[ -f "$TMP/pg/postmaster.pid" ] &&
		as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

## Build: Release, out of the source tree (other builds are left alone).
if ! { cmake -S "$ROOT" -B "$TMP/build" -DCMAKE_BUILD_TYPE=Release \
	-DBUILD_TESTING=OFF && cmake --build "$TMP/build" -j2; } >"$TMP/build.log" 2>&1; then
	cat "$TMP/build.log" >&2
	die "build"
fi
BIN=$TMP/build/pgcopyfs

## Server.
as_pg "$PGBIN/initdb" -D "$TMP/pg" -A trust -U postgres -E UTF8 --locale=C \
	>"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb"; }
{
	echo "listen_addresses = ''"
	echo "unix_socket_directories = '$TMP/sock'"
	printf '%s\n' "${SETTINGS[@]}"
} >>"$TMP/pg/postgresql.conf"
touch "$TMP/pg.log" && chown postgres "$TMP/pg.log"
as_pg "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w -t 120 start >/dev/null ||
	die "the server did not start"
export PGHOST=$TMP/sock PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
unset PGSERVICE PGPASSWORD PGAPPNAME PGOPTIONS

sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@"; }

echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== pgcopyfs $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') (Release); $(sql -c 'SELECT version()' | cut -d, -f1)"
echo "== SQLAlchemy $($PY -c 'import sqlalchemy; print(sqlalchemy.__version__)'), psycopg2 $($PY -c 'import psycopg2; print(psycopg2.__version__.split()[0])')"
echo "== server settings (appended to postgresql.conf; the rest are defaults):"
for s in "${SETTINGS[@]}"; do
	name=${s%% =*}
	printf '   %-20s %s\n' "$name" "$(sql -c "SHOW $name")"
done

sql -c "CREATE TABLE posts (
	id serial PRIMARY KEY,
	message varchar(1028) NOT NULL,
	created_at timestamptz DEFAULT now())" -c "CREATE TABLE wide (
	id int PRIMARY KEY, big bigint NOT NULL, name text NOT NULL,
	ts timestamptz NOT NULL, amount numeric(12,2) NOT NULL,
	flag boolean NOT NULL, uid uuid NOT NULL, score double precision NOT NULL,
	day date NOT NULL, doc jsonb NOT NULL)" -c "CREATE TABLE texts (
	a text NOT NULL, b text NOT NULL, c text NOT NULL, d text NOT NULL)"

## Data: written once. The posts pipeline writes the same bytes as the file.
POSTS_PIPE='{ echo message; seq "$1" | sed "s/^/hello world /"; }'
posts_gen() { bash -c "$POSTS_PIPE" sh "$1"; }
D=$TMP/data
for n in $POSTS_SMALL $ORM_ROWS $POSTS_BIG; do
	[ -e "$D/posts_$n.csv" ] || posts_gen "$n" >"$D/posts_$n.csv"
done
for n in $WIDE $ORM_ROWS $PY_WIDE; do
	[ -e "$D/wide_$n.csv" ] || awk -v n="$n" -f "$BENCH/gen_wide.awk" >"$D/wide_$n.csv"
done
# Four text columns of 10-40 bytes, some quoted (commas, quotes inside).
if [ "$CONVERT" = 1 ] || [ "$TINY" = 1 ]; then
	[ -e "$D/texts_$TEXTS.csv" ] || awk -v n="$TEXTS" 'BEGIN {
		print "a,b,c,d"
		for (i = 1; i <= n; i++)
			printf "name %d,\"%d Main St, Apt %d\",city-%d lorem,\"say \"\"hi\"\" %d\"\n", i, i % 9999, i % 97, i % 1000, i
	}' >"$D/texts_$TEXTS.csv"
fi

# The bytes of posts_gen N, without writing them: "message\n", then
# "hello world " + i + "\n" for i in 1..N.
posts_bytes() {
	local n=$1 bytes=8 lo=1 digits=1 hi
	while [ "$lo" -le "$n" ]; do
		hi=$((lo * 10 - 1))
		[ "$hi" -gt "$n" ] && hi=$n
		bytes=$((bytes + (hi - lo + 1) * (13 + digits)))
		lo=$((lo * 10)) digits=$((digits + 1))
	done
	echo "$bytes"
}
[ "$(posts_bytes "$POSTS_SMALL")" = "$(stat -c %s "$D/posts_$POSTS_SMALL.csv")" ] ||
	die "posts_bytes disagrees with the file"

## One run.
MOUNT_OPT='' # options for the next mount, such as "-o checkpoint=1"
mount_fs() { # [CONNINFO]
	# shellcheck disable=SC2086 # MOUNT_OPT is words
	"$BIN" -f $MOUNT_OPT "${1:-}" "$MNT" 2>>"$TMP/daemon.log" &
	DPID=$!
	for _ in $(seq 400); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	die "pgcopyfs did not mount"
}

unmount_fs() {
	local status=0
	fusermount3 -u "$MNT"
	wait "$DPID" || status=$?
	DPID=
	[ "$status" = 0 ] || die "pgcopyfs exited $status at unmount"
}

daemon_ticks() { awk '{print $14 + $15}' "/proc/$DPID/stat"; } # utime + stime

# run WORKLOAD METHOD TABLE ROWS BYTES KIND COMMAND...
# KIND: "fs" mounts a fresh pgcopyfs around COMMAND (which writes into it),
# "py" is the Python helper (it prints its own seconds), "cl" any client.
RESULTS=$TMP/results.tsv
# measure W M KIND COMMAND...: COMMAND timed (KIND fs: in a fresh mount,
# its daemon's peak RSS and CPU too); sets SECS DKB DCPU CKB CCPU.
measure() {
	local w=$1 m=$2 kind=$3 t0 t1 c0 status=0 cu cs
	shift 3
	DKB=- DCPU=-
	if [ "$kind" = fs ]; then
		mount_fs
		c0=$(daemon_ticks)
	fi
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%M %U %S' -o "$TMP/time.out" "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
	t1=$EPOCHREALTIME
	if [ "$status" != 0 ]; then
		cat "$TMP/err" >&2
		die "$w / $m exited $status: $*"
	fi
	if [ "$kind" = fs ]; then
		DCPU=$(awk -v a="$c0" -v b="$(daemon_ticks)" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
		DKB=$(awk '/^VmHWM:/ {print $2}' "/proc/$DPID/status")
		unmount_fs
	fi
	if [ "$kind" = py ]; then
		SECS=$(tail -n 1 "$TMP/out")
	else
		SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
	fi
	read -r CKB cu cs < <(tail -n 1 "$TMP/time.out")
	CCPU=$(awk -v u="$cu" -v s="$cs" 'BEGIN {printf "%.2f", u + s}')
}

record() { # W M ROWS BYTES: the last measure's line in the results
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$SECS" "$4" \
		"$CKB" "$DKB" "$DCPU" "$CCPU" >>"$RESULTS"
	printf '   %-18s %-26s %10s rows %9s s\n' "$1" "$2" "$3" "$SECS"
}

# run WORKLOAD METHOD TABLE ROWS BYTES KIND COMMAND...
# KIND: "fs" mounts a fresh pgcopyfs around COMMAND (which writes into it),
# "py" is the Python helper (it prints its own seconds), "cl" any client.
run() {
	local w=$1 m=$2 t=$3 rows=$4 bytes=$5 kind=$6 got
	shift 6
	sql -c "TRUNCATE $t RESTART IDENTITY" -c "VACUUM $t" -c "CHECKPOINT"
	measure "$w" "$m" "$kind" "$@"
	got=$(sql -c "SELECT count(*) FROM $t")
	[ "$got" = "$rows" ] || die "$w / $m: $got rows in $t, expected $rows"
	record "$w" "$m" "$rows" "$bytes"
}

label() { # 1000000 -> 1M
	local n=$1
	if [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000))M"; else echo "$((n / 1000))k"; fi
}

# run_read WORKLOAD METHOD ROWS KIND COMMAND...: COMMAND reads a table out
# and prints its line count (a header and ROWS rows): the table is left as
# it is. KIND as for run.
run_read() {
	local w=$1 m=$2 rows=$3 kind=$4 got
	shift 4
	measure "$w" "$m" "$kind" "$@"
	got=$(tail -n 1 "$TMP/out")
	[ "$got" = $((rows + 1)) ] || die "$w / $m: $got lines, expected $((rows + 1))"
	record "$w" "$m" "$rows" -
}

# Reading a table out: psql's \copy TO STDOUT and cat of the table file
# into the same pipe, then the other formats. The table holds its rows
# from the last load of the methods above.
reads() { # TABLE ROWS
	local t=$1 n=$2 w ext
	w="$t $(label "$n") read"
	sql -c "TRUNCATE $t RESTART IDENTITY"
	sql -c "\\copy $t($(head -n 1 "$D/${t}_$n.csv")) from '$D/${t}_$n.csv' with (format csv, header true)"
	sql -c "VACUUM $t" -c "CHECKPOINT"
	run_read "$w" 'psql \copy' "$n" cl bash -c \
		'psql -X -q -v ON_ERROR_STOP=1 -c "\copy $1 TO STDOUT WITH (FORMAT csv, HEADER true)" | wc -l' sh "$t"
	run_read "$w" "pgcopyfs cat" "$n" fs bash -c 'cat "$1" | wc -l' sh "$MNT/public/$t.csv"
	# rsync's way: the whole export spooled at open, then read from disk.
	MOUNT_OPT="-o read_size=exact"
	run_read "$w" "pgcopyfs cat, read_size=exact" "$n" fs bash -c 'cat "$1" | wc -l' sh "$MNT/public/$t.csv"
	MOUNT_OPT=''
	for ext in tsv jsonl csv.gz csv.zst; do
		case $ext in
		*.gz) run_read "$w" "pgcopyfs zcat .$ext" "$n" fs bash -c 'zcat "$1" | wc -l' sh "$MNT/public/$t.$ext" ;;
		*.zst) run_read "$w" "pgcopyfs zstd -dc .$ext" "$n" fs bash -c 'zstd -q -dc "$1" | wc -l' sh "$MNT/public/$t.$ext" ;;
		jsonl) # no header line: one counted for it
			run_read "$w" "pgcopyfs cat .$ext" "$n" fs bash -c '{ echo; cat "$1"; } | wc -l' sh "$MNT/public/$t.$ext" ;;
		*) run_read "$w" "pgcopyfs cat .$ext" "$n" fs bash -c 'cat "$1" | wc -l' sh "$MNT/public/$t.$ext" ;;
		esac
	done
}

# The same rows in the other formats, each by cp into its name: x psql is
# against psql \copy of the CSV (the target: .tsv and compressed CSV at
# 0.95x or better, .jsonl at 0.8x). Converted once, outside the timing.
formats() { # TABLE ROWS CSVFILE
	local t=$1 n=$2 f=$3 w base ext
	w="$t $(label "$n")"
	base=${f%.csv}
	if [ ! -e "$base.jsonl.zst" ]; then
		"$PY" "$BENCH/convert.py" "$f" "$base.tsv" "$base.jsonl"
		gzip -6 -c "$f" >"$base.csv.gz"
		zstd -q -3 -c "$f" >"$base.csv.zst"
		zstd -q -3 -c "$base.jsonl" >"$base.jsonl.zst"
	fi
	for ext in tsv jsonl csv.gz csv.zst jsonl.zst; do
		run "$w" "pgcopyfs cp .$ext" "$t" "$n" "$(stat -c %s "$base.$ext")" fs \
			cp "$base.$ext" "$MNT/public/$t.$ext"
	done
}

# Binary rows against CSV rows (-o convert=off), by cp and cat >, beside
# psql \copy of the same file.
convert_methods() { # TABLE ROWS FILE
	local t=$1 n=$2 f=$3 w dest=$MNT/public/$1.csv size c
	w="$t $(label "$n")"
	size=$(stat -c %s "$f")
	run "$w" 'psql \copy' "$t" "$n" "$size" cl psql -X -q -v ON_ERROR_STOP=1 \
		-c "\\copy $t($(head -n 1 "$f")) from '$f' with (format csv, header true)"
	for c in auto off; do
		MOUNT_OPT="-o convert=$c"
		run "$w" "pgcopyfs cp, convert=$c" "$t" "$n" "$size" fs cp "$f" "$dest"
		run "$w" "pgcopyfs cat >, convert=$c" "$t" "$n" "$size" fs sh -c 'cat "$1" >"$2"' sh "$f" "$dest"
		MOUNT_OPT=''
	done
}

# The methods on one file. FULL=1: the Python INSERT ways too.
methods() { # TABLE ROWS FILE FULL
	local t=$1 n=$2 f=$3 full=$4 w
	local dest=$MNT/public/$t.csv cols size
	w="$t $(label "$n")"
	cols=$(head -n 1 "$f")
	size=$(stat -c %s "$f")
	run "$w" 'psql \copy' "$t" "$n" "$size" cl psql -X -q -v ON_ERROR_STOP=1 \
		-c "\\copy $t($cols) from '$f' with (format csv, header true)"
	run "$w" "pgcopyfs cp" "$t" "$n" "$size" fs cp "$f" "$dest"
	MOUNT_OPT="-o convert=off"
	run "$w" "pgcopyfs cp, convert=off" "$t" "$n" "$size" fs cp "$f" "$dest"
	MOUNT_OPT=''
	if [ "$FORMATS" = 1 ]; then
		formats "$t" "$n" "$f"
		return 0
	fi
	run "$w" "pgcopyfs cat >" "$t" "$n" "$size" fs sh -c 'cat "$1" >"$2"' sh "$f" "$dest"
	if [ "$t" = posts ]; then
		run "$w" "pgcopyfs pipeline >" "$t" "$n" "$size" fs bash -c "$POSTS_PIPE"' >"$2"' sh "$n" "$dest"
		# The cost of a checkpoint: the same stream committed every 10 s
		# and every second (-o checkpoint), against one transaction.
		local c
		for c in 10 1; do
			MOUNT_OPT="-o checkpoint=$c"
			run "$w" "pgcopyfs pipeline ckpt=$c" "$t" "$n" "$size" fs bash -c "$POSTS_PIPE"' >"$2"' sh "$n" "$dest"
			MOUNT_OPT=''
		done
	fi
	run "$w" "pgcopyfs dd bs=1M" "$t" "$n" "$size" fs dd if="$f" of="$dest" bs=1M status=none
	[ "$full" = 1 ] && formats "$t" "$n" "$f"
	[ "$CORE" = 1 ] && return 0 # psql and the file system's ways only
	if [ "$full" = 1 ]; then
		local small=$D/${t}_$ORM_ROWS.csv mid=$f
		[ "$t" = wide ] && mid=$D/wide_$PY_WIDE.csv
		run "$w" "py orm session.add" "$t" "$ORM_ROWS" "$(stat -c %s "$small")" py \
			"$PY" "$BENCH/pymethods.py" orm_add "$t" "$small"
		for pm in bulk_mappings core_values core_executemany; do
			run "$w" "py $pm" "$t" "$(($(wc -l <"$mid") - 1))" "$(stat -c %s "$mid")" py \
				"$PY" "$BENCH/pymethods.py" "$pm" "$t" "$mid"
		done
	fi
	for pm in copy_from copy_expert; do
		run "$w" "py $pm" "$t" "$n" "$size" py "$PY" "$BENCH/pymethods.py" "$pm" "$t" "$f"
	done
}

echo "== methods (seconds: from the file, or nothing for a pipeline, to committed rows):"
cat <<EOF
   psql \\copy           psql -c "\\copy T(COLS) from FILE with (format csv, header true)"
   pgcopyfs cp          cp FILE MOUNT/public/T.csv
   pgcopyfs cat >       cat FILE > MOUNT/public/T.csv
   pgcopyfs pipeline >  { echo message; seq N | sed 's/^/hello world /'; } > MOUNT/public/posts.csv
   ... ckpt=10, ckpt=1  the same pipeline, mounted with -o checkpoint=10 or =1
   pgcopyfs dd bs=1M    dd if=FILE of=MOUNT/public/T.csv bs=1M
   ... read             psql -c "\\copy T TO STDOUT (format csv, header true)" | wc -l, against
                        cat MOUNT/public/T.csv | wc -l (and .tsv, .jsonl; zcat .csv.gz,
                        zstd -dc .csv.zst): a table read out into the same pipe;
                        "read_size=exact": the same cat, mounted so that the open
                        spools the whole export first (what rsync out needs)
   pgcopyfs cp .EXT     cp FILE.EXT MOUNT/public/T.EXT: the same rows as .tsv (COPY's text
                        format), .jsonl (numbers, booleans, a nested doc), gzip -6 and
                        zstd -3 of the CSV, zstd -3 of the JSON lines
   py ...               tests/bench/pymethods.py METHOD T FILE (SQLAlchemy 1.4 + psycopg2, one
                        commit; its seconds leave out interpreter start, imports, reflection)
EOF
[ -z "$STREAM" ] || echo "   posts $(label "$STREAM") stream    the posts pipeline, $(posts_bytes "$STREAM") bytes, into psql \\copy from pstdin, and into MOUNT"
T0=$EPOCHREALTIME
if [ "$FIXED_ONLY" = 0 ]; then
echo "== runs ($REPS of each method, interleaved${STREAM:+; the stream once}):"
# Untimed: the first big load of a fresh cluster creates (zero-fills) its WAL
# segments, later ones recycle them; that cost must not land on run 1's
# first method.
big=$D/posts_${POSTS_BIG:-$POSTS_SMALL}.csv
sql -c "\\copy posts(message) from '$big' with (format csv, header true)"
for rep in $(seq "$REPS"); do
	[ "$CONVERT" = 1 ] || break
	echo "-- run $rep of $REPS"
	convert_methods posts "$POSTS_SMALL" "$D/posts_$POSTS_SMALL.csv"
	convert_methods wide "$WIDE" "$D/wide_$WIDE.csv"
	convert_methods texts "$TEXTS" "$D/texts_$TEXTS.csv"
done
for rep in $(seq "$REPS"); do
	[ "$READS" = 0 ] && [ "$CONVERT" = 0 ] || break
	echo "-- run $rep of $REPS"
	methods posts "$POSTS_SMALL" "$D/posts_$POSTS_SMALL.csv" 1
	[ -z "$POSTS_BIG" ] || methods posts "$POSTS_BIG" "$D/posts_$POSTS_BIG.csv" 0
	[ "$CORE" = 1 ] || methods wide "$WIDE" "$D/wide_$WIDE.csv" 1
done
[ "$TINY" = 1 ] && convert_methods texts "$TEXTS" "$D/texts_$TEXTS.csv"
echo "-- reading tables out"
for rep in $(seq "$REPS"); do
	[ "$CONVERT" = 0 ] || break
	reads posts "${POSTS_BIG:-$POSTS_SMALL}"
	[ "$CORE" = 1 ] || reads wide "$WIDE"
done
if [ "$READS" = 1 ]; then
	# 5 GB out of the server, made there (no file of it on disk): each row
	# an id and 192 characters of md5 text. Unlogged: its WAL would tell
	# nothing about reading. Interleaved runs, as above.
	echo "-- a 5 GB table"
	sql -c "CREATE UNLOGGED TABLE big5 (id bigint, payload text)"
	sql -c "INSERT INTO big5 SELECT i, repeat(md5(i::text), 6) FROM generate_series(1, $BIG_READ_ROWS) i"
	sql -c "VACUUM big5" -c "CHECKPOINT"
	w="big5 $(label "$BIG_READ_ROWS") read"
	for rep in $(seq "$REPS"); do
		run_read "$w" 'psql \copy' "$BIG_READ_ROWS" cl bash -c \
			'psql -X -q -v ON_ERROR_STOP=1 -c "\copy big5 TO STDOUT WITH (FORMAT csv, HEADER true)" | wc -l' sh
		run_read "$w" "pgcopyfs cat" "$BIG_READ_ROWS" fs bash -c 'cat "$1" | wc -l' sh "$MNT/public/big5.csv"
	done
	sql -c "DROP TABLE big5"
fi
if [ -n "$STREAM" ]; then
	# 5.8 GB that neither side needs on disk: generated as it is loaded.
	# Once: it takes minutes. The files are done with; their disk goes to
	# the table and its WAL.
	echo "-- the stream"
	rm -f "$D"/*.csv
	w="posts $(label "$STREAM") stream"
	bytes=$(posts_bytes "$STREAM")
	# pgcopyfs goes first: a load this size outgrows the WAL the runs above
	# left, so the first one pays for new segments, the second one not.
	run "$w" "pgcopyfs pipeline >" posts "$STREAM" "$bytes" fs bash -c "$POSTS_PIPE"' >"$2"' sh "$STREAM" "$MNT/public/posts.csv"
	run "$w" 'psql \copy' posts "$STREAM" "$bytes" cl bash -c "$POSTS_PIPE"' |
		psql -X -q -v ON_ERROR_STOP=1 -c "\copy posts(message) from pstdin with (format csv, header true)"' sh "$STREAM"
	# An endless stream's memory: the same, committed every second.
	MOUNT_OPT="-o checkpoint=1"
	run "$w" "pgcopyfs pipeline ckpt=1" posts "$STREAM" "$bytes" fs bash -c "$POSTS_PIPE"' >"$2"' sh "$STREAM" "$MNT/public/posts.csv"
	MOUNT_OPT=''
fi
fi # FIXED_ONLY

## A load's fixed cost, and a big tree. Printed as they are measured.
now_ms() { awk -v t="$EPOCHREALTIME" 'BEGIN {printf "%.3f", t * 1000}'; }
median() { sort -n | awk '{v[NR] = $1} END {printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# timed_ms CMD...: CMD's wall time in ms (it must succeed).
timed_ms() {
	local t0 t1
	t0=$(now_ms)
	"$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; die "$*"; }
	t1=$(now_ms)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

fixed_cost() {
	local one=$D/one.csv i n=0 psql_ms=() cp_ms=() busy_ms=() holder
	printf 'v\nx\n' >"$one"
	sql -c "CREATE TABLE IF NOT EXISTS one (v text)" -c "TRUNCATE one"
	mount_fs
	for i in $(seq "$FIXED_REPS"); do
		psql_ms+=("$(timed_ms psql -X -q -v ON_ERROR_STOP=1 \
			-c "\\copy one(v) from '$one' with (format csv, header true)")")
		cp_ms+=("$(timed_ms cp "$one" "$MNT/public/one.csv")")
		n=$((n + 2))
		[ "$(sql -c "SELECT count(*) FROM one")" = "$n" ] ||
			die "fixed cost: the rows were not there at once after cp"
	done
	# Unrelated descriptors: processes holding UNRELATED_FDS of them, as
	# many per process as the hard limit allows.
	"$PY" - "$UNRELATED_FDS" "$TMP/holder.ready" <<-'PYH' &
	import os, resource, signal, sys, time
	# SIGTERM ends it through the finally below, which ends the children.
	signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
	n = int(sys.argv[1])
	per = min(n, resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100)
	resource.setrlimit(resource.RLIMIT_NOFILE, (per + 100,) * 2)
	kids = []
	while n > 0:
	    k = min(per, n)
	    n -= k
	    r, w = os.pipe()
	    pid = os.fork()
	    if pid == 0:
	        os.close(r)
	        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(k)]
	        os.write(w, b"x")
	        time.sleep(3600)
	        os._exit(0)
	    os.close(w)
	    os.read(r, 1)
	    kids.append(pid)
	open(sys.argv[2], "w").close()
	try:
	    time.sleep(3600)
	finally:
	    for pid in kids:
	        os.kill(pid, 9)
	PYH
	holder=$!
	for _ in $(seq 600); do [ -e "$TMP/holder.ready" ] && break; sleep 0.1; done
	[ -e "$TMP/holder.ready" ] || die "fixed cost: the descriptor holders did not start"
	for i in $(seq "$FIXED_REPS"); do
		busy_ms+=("$(timed_ms cp "$one" "$MNT/public/one.csv")")
		n=$((n + 1))
	done
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	[ "$(sql -c "SELECT count(*) FROM one")" = "$n" ] || die "fixed cost: rows missing"
	unmount_fs
	echo
	echo "== a load's fixed cost: one-row files, median of $FIXED_REPS, ms"
	printf '   %-50s %8s\n' "psql \\copy (its process start included)" \
		"$(printf '%s\n' "${psql_ms[@]}" | median)"
	printf '   %-50s %8s\n' "pgcopyfs cp" "$(printf '%s\n' "${cp_ms[@]}" | median)"
	printf '   %-50s %8s\n' "pgcopyfs cp, $UNRELATED_FDS unrelated descriptors open" \
		"$(printf '%s\n' "${busy_ms[@]}" | median)"
}

tree_scale() {
	local i lsr=() lslr=() cps=() lsloop stats
	sql -c "CREATE DATABASE many"
	# One transaction each: 10,000 in one would run out of lock slots.
	seq "$NTABLES" | sed 's/.*/CREATE TABLE t& (v text);/' | sql -d many -f - >/dev/null
	printf 'v\nx\n' >"$D/one.csv"
	local t0 t1
	t0=$(now_ms)
	mount_fs "dbname=many"
	t1=$(now_ms)
	for i in 1 2 3; do
		lsr+=("$(timed_ms ls -R "$MNT")")
		lslr+=("$(timed_ms ls -lR "$MNT")")
	done
	rm -f "$TMP/ls.stop"
	bash -c 'while [ ! -e "$2" ]; do ls -lR "$1" >/dev/null 2>&1; done' _ "$MNT" "$TMP/ls.stop" &
	lsloop=$!
	for i in $(seq "$FIXED_REPS"); do
		cps+=("$(timed_ms cp "$D/one.csv" "$MNT/public/t1.csv")")
	done
	touch "$TMP/ls.stop"
	wait "$lsloop" 2>/dev/null || true
	[ "$(sql -d many -c "SELECT count(*) FROM t1")" = "$FIXED_REPS" ] ||
		die "tree: rows missing in t1"
	stats=$("$PY" - "$MNT/public" "$NTABLES" <<-'PYS'
	import os, sys, time
	d, n = sys.argv[1], int(sys.argv[2])
	def per_stat(names):
	    t = time.monotonic()
	    for name in names:
	        try:
	            os.stat(os.path.join(d, name))
	        except FileNotFoundError:
	            pass
	    return (time.monotonic() - t) / len(names) * 1e6
	found = per_stat(["t%d.csv" % (i % n + 1) for i in range(2000)])
	missing = per_stat(["nosuch%d.csv" % i for i in range(2000)])
	again = per_stat(["nosuch%d.csv" % i for i in range(2000)])  # kept a second
	print("%.0f %.0f %.0f" % (found, missing, again))
	PYS
	)
	unmount_fs
	echo
	echo "== $NTABLES tables (one schema): ms, median of 3 (cp: of $FIXED_REPS)"
	printf '   %-50s %8s\n' "mount (start to mounted)" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
	printf '   %-50s %8s\n' "ls -R" "$(printf '%s\n' "${lsr[@]}" | median)"
	printf '   %-50s %8s\n' "ls -lR" "$(printf '%s\n' "${lslr[@]}" | median)"
	printf '   %-50s %8s\n' "a one-row cp during ls -lR loops" \
		"$(printf '%s\n' "${cps[@]}" | median)"
	read -r s_found s_missing s_again <<<"$stats"
	printf '   %-50s %8s\n' "stat of a table file (us, 2000 of them)" "$s_found"
	printf '   %-50s %8s\n' "stat of a missing name (us, 2000 of them)" "$s_missing"
	printf '   %-50s %8s\n' "the same missing names again (us, within 1 s)" "$s_again"
}

if [ "$FIXED_ONLY" = 0 ]; then
echo
echo "== results: s = median seconds of the runs; x psql = rows/s over psql \\copy's"
echo "   on the same data in this run; RSS = peak resident set (daemon: VmHWM of a"
echo "   fresh daemon per run; client: the writer or Python process, /usr/bin/time %M);"
echo "   daemon CPU = its utime+stime during the run, and as % of the run's wall time"
echo "   (median of the runs' percentages); client CPU = the writer's or psql's or"
echo "   Python's user+system seconds (/usr/bin/time; a pipeline's: all its processes)"
echo
"$PY" "$BENCH/pymethods.py" report "$RESULTS"
fi
fixed_cost
tree_scale
echo
awk -v a="$T0" -v b="$EPOCHREALTIME" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
	'BEGIN {printf "benchmark took %.0f s; load average now %s\n", b - a, l}'
echo "reproduce: tests/bench/run.sh"
