#!/usr/bin/env bash
# bench_modes.sh - the bench's other ways of driving a server: upstream-like clients and
# plain GETs (no proxy), both checked for what they must do and must not hide.
#
# 1. --client-mode=upstream against the proxy (--workers 2): 200 clients, 3,000 scrapes;
#    every scrape answered with its client's body, every push accepted, and the clients
#    dialled connections while scraping (each one's push connection: >= 1 per client that
#    was scraped, at most the bound of 4 per client).
# 2. The same with --client.scrape-delay=200ms in a closed loop of 8 scrapers: no scrape
#    can be answered faster than the simulated exporter, so p50 >= 200 ms.
# 3. --scrape.plain-path against a static nginx serving a 20,000-byte file, open loop:
#    every GET answered; asked for a --body-size the file does not have, every answer is
#    a body error (the check can fail).
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_BIN="$BUILD/pushprox-bench"
require_bin "$PROXY_BIN"
require_bin "$BENCH_BIN"

RESULT="$TEST_TMP/result.json"
field() {
    python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$RESULT" "$1"
}

# run_bench NAME ARGS...: runs the bench to its end (bounded), its JSON in $RESULT.
run_bench() {
    local name=$1
    shift
    start_bg "$name" "$BENCH_BIN" --json --no-progress --log.level=warn "$@"
    wait_exit "$BG_PID" 120
    BENCH_RC=$EXIT_RC
    grep -a '^{' "$TEST_TMP/$name.log" >"$RESULT" || true
    [ -s "$RESULT" ] || fail "$name: pushprox-bench printed no JSON (exit $BENCH_RC)"
}

start_proxy --workers 2 --log.level=warn

# 1. Upstream-like clients.
CLIENTS=200
SCRAPES=3000
run_bench upstream --proxy.address="127.0.0.1:$PROXY_PORT" --clients=$CLIENTS --scrapers=16 \
    --scrapes=$SCRAPES --duration=0 --body-size=2KB --idle=0s --client-mode=upstream --strict
assert_eq upstream "$(field client_mode)" "client mode"
assert_eq $CLIENTS "$(field registered)" "clients registered"
assert_eq 0 "$(field errors_total)" "errors of any kind"
assert_eq $SCRAPES "$(field scrapes_ok)" "scrapes answered correctly"
assert_eq $SCRAPES "$(field pushes_ok)" "pushes accepted"
assert_eq 0 "$BENCH_RC" "pushprox-bench exit status"
opened=$(field conns_opened_scrape)
# Every client scraped at least once dials its push connection; 3,000 scrapes over 200
# clients reach nearly all of them.
[ "$opened" -ge $((CLIENTS / 2)) ] && [ "$opened" -le $((CLIENTS * 4 + SCRAPES)) ] ||
    fail "connections opened while scraping: $opened (expected >= $((CLIENTS / 2)))"
log "upstream mode: $SCRAPES scrapes, $opened connections opened, $(field conns_closed_extra) closed after use"

# 2. The exporter's delay shows in the latency.
run_bench delay --proxy.address="127.0.0.1:$PROXY_PORT" --clients=50 --scrapers=8 \
    --scrapes=80 --duration=0 --body-size=1KB --idle=0s --client-mode=upstream \
    --client.scrape-delay=200ms --strict
assert_eq 0 "$(field errors_total)" "errors with a scrape delay"
assert_eq 80 "$(field scrapes_ok)" "scrapes answered with a scrape delay"
p50=$(field latency_ms.p50)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 200 else 1)' "$p50" ||
    fail "p50 $p50 ms with a 200 ms exporter delay"
log "scrape delay 200ms: p50 $p50 ms"

# 3. Plain GETs against a static nginx.
command -v nginx >/dev/null || skip "nginx not installed (parts 1 and 2 passed)"
N=$TEST_TMP/nginx
NPORT=$(free_port)
mkdir -p "$N/www" "$N/tmp" "$N/conf"
chmod a+rx "$TEST_TMP" "$N" "$N/www"
head -c 20000 /dev/zero | tr '\0' 'x' >"$N/www/metrics"
chmod a+r "$N/www/metrics"
sed -e "s#@PREFIX@#$N#g" -e "s#@PORT@#$NPORT#g" "$ROOT/bench/nginx-origin.conf" >"$N/conf/nginx.conf"
start_bg nginx nginx -p "$N" -c "$N/conf/nginx.conf" -e "$N/error.log"
wait_until 20 "nginx listening" curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$NPORT/metrics"

run_bench plain --proxy.address="127.0.0.1:$NPORT" --clients=0 --scrapers=8 --rate=500 \
    --duration=2s --body-size=20KB --idle=0s --scrape.plain-path=/metrics --strict
assert_eq plain "$(field client_mode)" "mode"
assert_eq 0 "$(field errors_total)" "plain GET errors"
assert_eq 0 "$BENCH_RC" "pushprox-bench exit status (plain)"
ok=$(field scrapes_ok)
[ "$ok" -ge 900 ] || fail "plain GETs answered: $ok of about 1000 scheduled"

run_bench plain-wrong --proxy.address="127.0.0.1:$NPORT" --clients=0 --scrapers=4 \
    --scrapes=20 --duration=0 --body-size=1KB --idle=0s --scrape.plain-path=/metrics
assert_eq 0 "$(field scrapes_ok)" "answers of the wrong length judged ok"
assert_eq 20 "$(field errors.body)" "body errors for the wrong length"
log "PASS"
