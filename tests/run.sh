#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds pgcopyfs, runs every test (cmocka unit tests, the fuzz
# corpus, integration tests on throwaway PostgreSQL servers), then does it
# all again in an AddressSanitizer + UndefinedBehaviorSanitizer build,
# fuzzes the row scanner for a minute, and runs the benchmark in its tiny
# mode (that it works, not how fast).
#
#   tests/run.sh            everything (what CI runs)
#   PCF_QUICK=1 tests/run.sh   the plain build only
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh

run_suite() { # BUILD_DIR CMAKE_ARGS...
	local dir=$1
	shift
	cmake -S . -B "$dir" -DBUILD_TESTING=ON "$@" >/dev/null
	cmake --build "$dir" -j2
	(cd "$dir" && ctest --output-on-failure -j2)
}

echo "== plain build (-Wall -Wextra -Werror)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
[ "${PCF_QUICK:-0}" = 1 ] && exit 0

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DPGCOPYFS_SANITIZE=ON

echo "== fuzzing the row scanner and header splitter (60 s)"
tests/fuzz/run.sh 60

# The benchmark is run on purpose (tests/bench/run.sh); CI only checks, with
# tiny counts, that it runs, loads every row and prints its table.
echo "== benchmark smoke test (tests/bench/run.sh --tiny; timings not checked)"
tests/bench/run.sh --tiny | tee build/bench-tiny.txt
grep -q '^posts 50k *pgcopyfs cp ' build/bench-tiny.txt
grep -q '^wide 20k *psql \\copy ' build/bench-tiny.txt
