#!/usr/bin/env bash
# proxy_concurrency.sh - many clients, many concurrent scrapers, every scrape checked.
#
# The proxy runs with --workers 4 on a free loopback port; pushprox-bench simulates 1,000
# clients (one long-poll each, from 127.0.0.2..9) and 64 concurrent keep-alive scrapers
# sending 20,000 absolute-URI scrapes of random fqdns. Every answer must be a 200 whose
# body names the fqdn scraped; every Id must reach one client once and answer one scrape
# once. The bench exits non-zero on any misrouted/lost/duplicate scrape (--strict: on any
# error at all); its JSON is checked here as well so a failure says which kind.
# Each client's connection moves, at its first poll, to the worker that owns its FQDN
# (--poll.move-to-owner): with 4 workers about 3 in 4 of them, and each at most once;
# /metrics must say so. So does Prometheus's (the scrapers') connection, for each scrape
# of an FQDN another worker owns (--scrape.move-to-owner): about 3 in 4 scrapes. Shorter
# runs then check the paths they replace: client connections staying put while scrapes
# move, and nothing moving at all.
# Small bodies keep it well under 3 minutes under TSan.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_BIN="$BUILD/pushprox-bench"
require_bin "$PROXY_BIN"
require_bin "$BENCH_BIN"

CLIENTS=1000
SCRAPES=20000
SCRAPERS=64
BODY=512
case $SAN in
tsan | asan) THREADS=2 ;;
*) THREADS=2 ;;
esac

field() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = d
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$RESULT" "$1"
}

# moved [scrapes]: how many client connections (or scrapes) moved to their FQDN's worker.
moved() {
    local metric=pushprox_proxy_connections_moved_total
    [ "${1:-}" = scrapes ] && metric=pushprox_proxy_scrapes_moved_total
    curl -fsS "$PROXY_URL/metrics" | awk -v m="$metric" '$1 == m {print $2}'
}

# run_bench SCRAPES: the bench against the running proxy; every scrape must come back right.
run_bench() {
    local scrapes=$1 rc
    RESULT="$TEST_TMP/bench-$PROXY_PORT.json"
    # A stall shows as lost scrapes after scrape.timeout + grace, not as a hung test.
    start_bg bench "$BENCH_BIN" --proxy.address="127.0.0.1:$PROXY_PORT" --proxy-pid="$PROXY_PID" \
        --clients=$CLIENTS --scrapers=$SCRAPERS --scrapes="$scrapes" --duration=0 \
        --body-size=$BODY --threads=$THREADS --scrape.timeout=20s --grace=5s \
        --registration.wait=$((30 * WAIT_SCALE))s --idle=0s --strict --json --no-progress \
        --log.level=warn
    BENCH_PID=$BG_PID
    # The bench writes its JSON to its log (stdout and stderr together); wait for it to exit.
    wait_exit "$BENCH_PID" 150
    rc=$EXIT_RC
    grep -a '^{' "$TEST_TMP/bench.log" >"$RESULT" || true
    [ -s "$RESULT" ] || fail "pushprox-bench printed no JSON result (exit $rc)"
    log "bench: $(field scrapes_ok) ok of $(field scrapes_sent) sent, errors $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$RESULT")"
    assert_eq "$CLIENTS" "$(field registered)" "clients registered"
    assert_eq 0 "$(field errors.misrouted)" "misrouted scrapes"
    assert_eq 0 "$(field errors.lost)" "lost scrapes"
    assert_eq 0 "$(field errors.duplicate)" "duplicate scrapes"
    assert_eq 0 "$(field errors_total)" "errors of any kind"
    assert_eq "$scrapes" "$(field scrapes_sent)" "scrapes sent"
    assert_eq "$scrapes" "$(field scrapes_ok)" "scrapes answered correctly"
    assert_eq "$scrapes" "$(field pushes_ok)" "pushes accepted"
    assert_eq 0 "$rc" "pushprox-bench exit status"
}

start_proxy --workers 4 --log.level=info
run_bench $SCRAPES
# The proxy survived all that and still answers.
wait_http "$PROXY_URL/metrics" 10
n=$(moved)
log "connections moved to their FQDN's worker: $n of $CLIENTS clients"
[ -n "$n" ] || fail "/metrics has no pushprox_proxy_connections_moved_total"
[ "$n" -ge $((CLIENTS / 2)) ] && [ "$n" -le "$CLIENTS" ] ||
    fail "expected about 3/4 of $CLIENTS connections moved (at least half, at most all), got $n"
n=$(moved scrapes)
log "scrapes whose connection moved to their FQDN's worker: $n of $SCRAPES"
[ -n "$n" ] || fail "/metrics has no pushprox_proxy_scrapes_moved_total"
[ "$n" -ge $((SCRAPES / 2)) ] && [ "$n" -le "$SCRAPES" ] ||
    fail "expected about 3/4 of $SCRAPES scrapes moved (at least half, at most all), got $n"
stop_bg "$PROXY_PID"

start_proxy --workers 4 --log.level=info --poll.move-to-owner=false
run_bench $((SCRAPES / 4))
assert_eq 0 "$(moved)" "connections moved with --poll.move-to-owner=false"
n=$(moved scrapes)
[ "$n" -ge $((SCRAPES / 8)) ] ||
    fail "expected about 3/4 of $((SCRAPES / 4)) scrapes moved with clients' connections staying put, got $n"
stop_bg "$PROXY_PID"

start_proxy --workers 4 --log.level=info --poll.move-to-owner=false --scrape.move-to-owner=false
run_bench $((SCRAPES / 4))
assert_eq 0 "$(moved)" "connections moved with --poll.move-to-owner=false"
assert_eq 0 "$(moved scrapes)" "scrapes moved with --scrape.move-to-owner=false"
log "PASS"
