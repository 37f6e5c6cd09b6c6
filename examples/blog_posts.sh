#!/usr/bin/env bash
# The blog posts' workload, the pgcopyfs way: a million 'hello world {i}'
# rows into posts(id serial primary key, message varchar(1028) not null,
# created_at timestamptz default now()), straight from a pipeline, with a
# "message" header so id and created_at take their defaults.
#
#   examples/blog_posts.sh MOUNTPOINT [ROWS]
# with pgcopyfs mounted on MOUNTPOINT and psql reaching the same database.
set -euo pipefail
mnt=${1:?usage: $0 MOUNTPOINT [ROWS]}
rows=${2:-1000000}

psql -X -q -c "CREATE TABLE IF NOT EXISTS posts (
	id serial PRIMARY KEY,
	message varchar(1028) NOT NULL,
	created_at timestamptz DEFAULT now())"

# The pipeline's exit status 0 means every row is committed.
TIMEFORMAT="loaded $rows rows in %R s"
time { echo message; seq "$rows" | sed 's/^/hello world /'; } >"$mnt/public/posts.csv"
psql -X -c "SELECT count(*), min(id), max(id), max(message) FROM posts"
