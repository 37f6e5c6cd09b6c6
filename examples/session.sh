#!/usr/bin/env bash
# Everyday pgcopyfs, as a shell session you can run against a mount:
#   examples/session.sh MOUNTPOINT
# (examples/quickstart.sh makes a throwaway one.) Each step is printed
# before it runs.
set -uo pipefail
M=${1:?usage: $0 MOUNTPOINT}
run() { printf '\n$ %s\n' "$*"; eval "$@"; }

run "psql -Xq -c 'CREATE TABLE IF NOT EXISTS events (at timestamptz, kind text, n int)'"

# A file, by cp. The header names the columns.
printf 'at,kind,n\n2026-11-21 10:00,login,1\n2026-11-21 10:01,logout,1\n' >/tmp/events.csv
run "cp /tmp/events.csv $M/public/events.csv && echo committed"

# A program's output, redirected: committed when the program exits 0.
run "{ echo kind,n; for i in 1 2 3; do echo click,\$i; done; } > $M/public/events.csv"

# A progress bar for a big file (pv is in Debian's pv package).
if command -v pv >/dev/null; then
	run "pv -f /tmp/events.csv > $M/public/events.csv"
fi

# A failed load: nothing committed, a non-zero status, the reason with its
# line in the status files.
run "printf 'kind,n\nclick,many\n' | cat > $M/public/events.csv || echo \"failed: \$?\""
run "cat $M/.pgcopyfs/errors/public/events.csv"
run "tail -n 3 $M/.pgcopyfs/history"
run "tail -n 1 $M/.pgcopyfs/history.jsonl"

# What is loading now (empty when nothing is); watch makes it a display.
run "cat $M/.pgcopyfs/loads"
run "psql -X -c 'SELECT kind, count(*) FROM events GROUP BY kind ORDER BY 1'"
