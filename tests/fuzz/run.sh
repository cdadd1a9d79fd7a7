#!/usr/bin/env bash
# run.sh - runs every libFuzzer target built in $FUZZ_BUILD (make fuzz-build) for
# FUZZ_SECONDS each, one after another, and says per target how many inputs it ran, the
# coverage it reached, and any crash (with the file that reproduces it). Exits 1 if any
# target crashed (or failed to run), else 0.
#
# For target fuzz_<name>: the seeds tests/fuzz/corpus/<name>/ are copied into the scratch
# corpus $FUZZ_BUILD/corpus/<name>/ (which keeps what earlier runs found; the tree stays
# clean); tests/fuzz/<name>.dict is the dictionary if there is one; tests/fuzz/<name>.options
# holds extra libFuzzer flags (one a line, # comments). Crash files go to
# $FUZZ_BUILD/artifacts/<name>/, the full output to $FUZZ_BUILD/logs/<name>.log.
# Reproduce a crash: $FUZZ_BUILD/fuzz_<name> <crash file>.
#
# Environment: FUZZ_BUILD (default build/fuzz), FUZZ_SECONDS (default 300), ONLY (a glob
# of target names, e.g. ONLY='http_*'), FUZZ_ARGS (more libFuzzer flags for every target).
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-build/fuzz}
case $build in /*) ;; *) build="$root/$build" ;; esac
secs=${FUZZ_SECONDS:-300}
only=${ONLY:-*}
# Per input: a parse of a few KiB takes microseconds, so 10 s means a hang.
per_input_timeout=10
# ASan's quarantine and libFuzzer's corpus stay far below this; a leak does not.
rss_limit_mb=2048

failed=0
ran=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    # shellcheck disable=SC2254 # $only is a glob on purpose
    case $name in $only) ;; *) continue ;; esac
    corpus="$build/corpus/$name"
    artifacts="$build/artifacts/$name"
    log="$build/logs/$name.log"
    mkdir -p "$corpus" "$artifacts" "$build/logs"
    if [ -d "$here/corpus/$name" ]; then
        cp -f "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
    fi
    args=(-max_total_time="$secs" -print_final_stats=1 -timeout="$per_input_timeout"
        -rss_limit_mb="$rss_limit_mb" -artifact_prefix="$artifacts/")
    [ -f "$here/$name.dict" ] && args+=(-dict="$here/$name.dict")
    if [ -f "$here/$name.options" ]; then
        while IFS= read -r line; do
            case $line in '' | '#'*) continue ;; esac
            args+=("$line")
        done <"$here/$name.options"
    fi
    # shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags
    args+=(${FUZZ_ARGS:-})
    echo "=== fuzz_$name: ${secs}s from $(find "$corpus" -type f | wc -l) inputs (${args[*]})"
    start=$(date +%s)
    rc=0
    "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    ran=$((ran + 1))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n1 | grep -o '[0-9]*$')
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse|RELOAD)' "$log" | tail -n1)
    cov=$(printf '%s\n' "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*$')
    ft=$(printf '%s\n' "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*$')
    corp=$(printf '%s\n' "$last" | grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' | sed 's/corp: //')
    crashes=$(grep -o 'Test unit written to .*' "$log" | sed 's/Test unit written to //')
    echo "    executions: ${execs:-?} in ${took}s; cov: ${cov:-?} ft: ${ft:-?}; corpus: ${corp:-?}"
    if [ "$rc" -ne 0 ] || [ -n "$crashes" ]; then
        failed=$((failed + 1))
        echo "--- CRASH fuzz_$name (exit $rc); log: $log"
        grep -m3 -E 'fuzz check failed|ERROR: (Address|Leak)Sanitizer|ERROR: libFuzzer' "$log" |
            sed 's/^/    /'
        grep -m1 -E 'runtime error|SUMMARY' "$log" | sed 's/^/    /'
        for f in $crashes; do
            echo "    crash file: $f"
            echo "    reproduce:  $bin $f"
        done
    else
        echo "--- OK    fuzz_$name"
    fi
done

if [ "$ran" -eq 0 ]; then
    echo "no fuzz targets in $build (make fuzz-build)"
    exit 1
fi
echo "$ran targets, $failed crashed"
[ "$failed" -eq 0 ]
