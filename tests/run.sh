#!/usr/bin/env bash
# run.sh [layers|unit|integration|e2e|release|fuzz|all|docker] - runs the test
# suites against the build in $VIGIL_BUILD (build/test: sanitizers). The
# layering check comes first; unit tests are one Criterion binary;
# integration and end-to-end tests are bash files, each with its own
# PostgreSQL. The files that say "# Runs on the release build too." (what
# a hostile peer tries: an optimiser changes timing and undefined
# behaviour) run again against $VIGIL_RELEASE_BUILD (build). Prints one
# line per file with its number of checks and "N passed, N failed" at the
# end.
set -uo pipefail
cd "$(dirname "$0")/.."
export VIGIL_BUILD=${VIGIL_BUILD:-build/test}
what=${1:-all}
passed=0
failed=0
failures=()

# The checks a log shows: "ok - " lines of the bash tests, or the tests
# Criterion's summary counts ("Synthesis: Tested: 43 | Passing: 43 ...").
count_checks() {
    local criterion
    criterion=$(sed -n 's/.*Synthesis: Tested: \([0-9]*\) .*/\1/p' "$1" | tail -n 1)
    if [ -n "$criterion" ]; then echo "$criterion"; else grep -c '^ok - ' "$1"; fi
}

run_one() {
    local name=$1; shift
    local log
    log=$(mktemp /tmp/vigil-test-log.XXXXXX)
    local start=$SECONDS
    # A sanitizer's report fails the suite even where the test exited 0
    # (Criterion has counted a test before LeakSanitizer reports at exit).
    if "$@" >"$log" 2>&1 && ! grep -qE 'ERROR: (Leak|Address|Thread)Sanitizer|runtime error:' "$log"; then
        passed=$((passed + 1))
        echo "PASS $name ($((SECONDS - start))s, $(count_checks "$log") checks)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "FAIL $name ($((SECONDS - start))s)"
        grep -E '^(FAIL|    )' "$log" | head -40 | sed 's/^/  /'
        tail -n 20 "$log" | sed 's/^/  | /'
    fi
    rm -f "$log"
}

if [ "$what" = all ] || [ "$what" = layers ]; then
    run_one check-layers bash tools/dev/check-layers.sh
fi
if [ "$what" = all ] || [ "$what" = unit ]; then
    run_one unit-tests "$VIGIL_BUILD/unit-tests" --jobs 2
fi
for suite in integration e2e; do
    if [ "$what" = all ] || [ "$what" = "$suite" ]; then
        for f in $(find "tests/$suite" -name 'test_*.sh' 2>/dev/null | sort); do
            run_one "$f" bash "$f"
        done
    fi
done
if [ "$what" = all ] || [ "$what" = release ]; then
    release=${VIGIL_RELEASE_BUILD:-build}
    for f in $(grep -rlx '# Runs on the release build too\.' tests/integration tests/e2e | sort); do
        run_one "$f ($release)" env VIGIL_BUILD="$release" bash "$f"
    done
fi
# Not part of `all`: `make docker-test` (.ci/run runs it after `make test`).
if [ "$what" = docker ]; then
    run_one tests/docker/test_docker.sh bash tests/docker/test_docker.sh
fi
if [ "$what" = all ] || [ "$what" = fuzz ]; then
    run_one "fuzz (${FUZZ_SECONDS:-40}s)" bash tests/fuzz/run.sh "${FUZZ_SECONDS:-40}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
