#!/usr/bin/env bash
# Runs the whole suite: every unit-test binary of the plain build and of the
# ASan+UBSan build, of the portable AVX2 build when given, then the
# end-to-end scripts against ./ptrain. Prints one line per suite and a
# closing "N passed, N failed" line; exits non-zero if anything failed.
# Usage: scripts/run-tests.sh PLAIN_BUILD_DIR SAN_BUILD_DIR [PORTABLE_BUILD_DIR]
set -u
plain=${1:-build}
san=${2:-build-san}
portable=${3:-}
passed=0
failed=0
failures=()

run() { # name, command...
    local name=$1
    shift
    local log start end
    log=$(mktemp)
    start=$(date +%s.%N)
    if "$@" >"$log" 2>&1; then
        end=$(date +%s.%N)
        printf '  ok    %-34s %6.1fs\n' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
        passed=$((passed + 1))
    else
        end=$(date +%s.%N)
        printf '  FAIL  %-34s %6.1fs\n' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
        sed 's/^/        /' "$log" | tail -n 40
        failed=$((failed + 1))
        failures+=("$name")
    fi
    rm -f "$log"
}

# ASan inside OpenMP programs: libgomp keeps its thread pool until exit,
# which LeakSanitizer sees as reachable, not leaked; report real leaks only.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "unit tests ($plain):"
for t in "$plain"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
echo "unit tests under ASan+UBSan ($san):"
for t in "$san"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t") [san]" "$t"
done
if [ -n "$portable" ]; then
    echo "unit tests of the portable build, AVX2 ($portable):"
    for t in "$portable"/tests/test_*; do
        [ -x "$t" ] && run "$(basename "$t") [avx2]" "$t"
    done
fi
echo "end-to-end:"
for s in tests/e2e*.sh; do
    [ -f "$s" ] && run "$(basename "$s")" bash "$s" ./ptrain
done
[ -f tests/bench_smoke.sh ] && run bench_smoke.sh bash tests/bench_smoke.sh "$plain"

echo
if [ "$failed" -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
