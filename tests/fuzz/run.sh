#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - builds the libFuzzer target with clang in
# build-fuzz/ (at the top of the tree; PCF_FUZZ_BUILD overrides) and fuzzes
# for SECONDS (default 60), starting from the seeds in tests/fuzz/corpus/.
#
# New interesting inputs go to build-fuzz/corpus/, not to the committed
# seeds. A crash is written to tests/fuzz/crashes/ and kept there: commit it
# and the fuzz_regress CTest test replays it from then on. Exits non-zero
# when the fuzzer found a crash (or the build failed).
set -euo pipefail

secs=${1:-60}
case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${PCF_FUZZ_BUILD:-$root/build-fuzz}
crashes=$here/crashes

CC=${PCF_FUZZ_CC:-clang} cmake -S "$root" -B "$build" -DPGCOPYFS_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_scan -j"$(nproc)"

mkdir -p "$build/corpus" "$crashes"
status=0
# The first corpus directory receives what the fuzzer finds; the seeds are
# only read. -artifact_prefix puts crash-*, leak-*, timeout-* and oom-*
# files next to this script.
"$build/tests/fuzz/fuzz_scan" -max_total_time="$secs" -timeout=10 \
	-artifact_prefix="$crashes/" -print_final_stats=1 \
	"$build/corpus" "$here/corpus" || status=$?

# crashes/ stays only when it holds something.
rmdir "$crashes" 2>/dev/null || true
if [ "$status" -ne 0 ]; then
	echo "fuzz_scan failed (exit $status); inputs kept in $crashes:" >&2
	ls -l "$crashes" >&2 || true
fi
exit "$status"
