#!/usr/bin/env bash
# From a fresh Debian 12 machine to rows in a table, in one command:
# installs what is missing, builds pgcopyfs, starts a throwaway PostgreSQL
# (a temporary directory, unix socket only), mounts it, loads examples, shows
# the rows and the load history, and unmounts. Nothing is left behind.
#
#   examples/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh --run # the tests install the rest
cmake -S . -B build >/dev/null
cmake --build build -j2 --target pgcopyfs >/dev/null

. tests/lib.sh      # pg_start: the throwaway server; sets PGHOST and friends
set -e
pg_start
MNT=$PCF_TMP/mnt
trap 'fusermount3 -u "$MNT" 2>/dev/null || true; pg_stop; rm -rf "$PCF_TMP"' EXIT

run() { printf '\n$ %s\n' "$*"; "$@"; }

run psql -X -q -c "CREATE TABLE posts (
	id serial PRIMARY KEY,
	message varchar(1028) NOT NULL,
	created_at timestamptz DEFAULT now())"

# "" connects the way psql does: PG* variables, ~/.pgpass, services.
run build/pgcopyfs "" "$MNT"
run ls -l "$MNT" "$MNT/public"
run cp examples/posts.csv "$MNT/public/posts.csv"
run psql -X -c "SELECT id, message FROM posts ORDER BY id"

# A bad row: the load fails as a whole and says why.
printf '\n$ printf "id,message\\n1,dup\\n" | cat > %s\n' "$MNT/public/posts.csv"
printf 'id,message\n1,dup\n' | cat >"$MNT/public/posts.csv" || echo "(exit status $?)"
run cat "$MNT/.pgcopyfs/history"

# The blog posts' workload: a million rows from a pipeline.
run examples/blog_posts.sh "$MNT"

run fusermount3 -u "$MNT"
