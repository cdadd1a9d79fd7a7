#!/usr/bin/env bash
# run.sh - run every integration scenario (tests/integration/*.sh but lib.sh and run.sh)
# in sorted order, each under a time limit, and print one PASS/FAIL/SKIP line per scenario
# and a closing "N passed, N failed, N skipped" line. Exits non-zero if any failed.
#
# Environment: BUILD (binaries, default build), SAN (""/asan/tsan; with tsan only scenarios
# carrying a line "# tsan: yes" run), SCENARIO_TIMEOUT (seconds, default 300),
# ONLY (a glob of scenario names to run, e.g. ONLY='proxy_b*').
# A scenario exits 0 (pass), 77 (skip, e.g. a binary not built yet), anything else: fail.
set -u

here=$(cd "$(dirname "$0")" && pwd)
export BUILD=${BUILD:-build}
export SAN=${SAN:-}
limit=${SCENARIO_TIMEOUT:-300}
only=${ONLY:-*}

passed=0
failed=0
skipped=0
failed_names=()

for script in "$here"/*.sh; do
    name=$(basename "$script" .sh)
    case $name in lib | run) continue ;; esac
    # shellcheck disable=SC2254 # $only is a glob on purpose
    case $name in $only) ;; *) continue ;; esac
    if [ "$SAN" = tsan ] && ! grep -q '^# tsan: yes' "$script"; then
        continue
    fi
    echo "=== RUN  $name (BUILD=$BUILD SAN=${SAN:-none})"
    start=$(date +%s)
    rc=0
    timeout --kill-after=15 "$limit" bash "$script" || rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
    0)
        echo "--- PASS $name (${secs}s)"
        passed=$((passed + 1))
        ;;
    77)
        echo "--- SKIP $name (${secs}s)"
        skipped=$((skipped + 1))
        ;;
    124 | 137)
        echo "--- FAIL $name (timed out after ${limit}s)"
        failed=$((failed + 1))
        failed_names+=("$name")
        ;;
    *)
        echo "--- FAIL $name (exit $rc, ${secs}s)"
        failed=$((failed + 1))
        failed_names+=("$name")
        ;;
    esac
done

if [ "$failed" -gt 0 ]; then
    echo "failed scenarios: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
