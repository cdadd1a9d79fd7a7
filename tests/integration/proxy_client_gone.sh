#!/usr/bin/env bash
# proxy_client_gone.sh - a client killed mid-scrape (issue 13): the proxy (--workers=2)
# answers the waiting scrape 502 once every connection of that client has closed and none
# polled again within --scrape.client-gone-grace, instead of holding Prometheus for the
# scrape's whole timeout.
#   1. our client, then an upstream-like one (testclient.py --upstream-timing), each asked
#      to scrape an exporter that answers after 30 s, with a 60 s scrape timeout: kill -9
#      the client once the exporter has the request. The scrape gets 502 naming the cause,
#      no sooner than the grace and within grace + 4 s (FIGURE client_gone_ms); the
#      counter pushprox_proxy_scrapes_client_gone_total counts each once; a restarted
#      client is scraped fine.
#   2. the negative: a live client whose connections to the proxy are cut mid-scrape (as a
#      load balancer or a NAT might: ss -K, which resets both ends; needs root) polls again
#      within the grace and keeps its scrape: the push arrives and the scrape gets 200.
# Scrapes go to a separate --scrape.listen-address, so cutting the clients' connections
# (every connection to the clients' port) never touches the scraper's.
# tsan: yes
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
require_bin "$PROXY_BIN"
HERE="$ROOT/tests/integration"
GRACE_S=3
SLOW_S=30      # the exporter's answer to a scrape of the killed clients
CUT_SLOW_S=8   # ... of the clients cut off: longer than the grace and the clients' retry
TIMEOUT_S=60   # the scrapes' timeout: what Prometheus would wait without the fast fail
BOUND_MS=$(((GRACE_S + 4) * 1000))

SCRAPE_PORT=$(free_port)
SCRAPE_URL="http://127.0.0.1:$SCRAPE_PORT"
start_proxy --workers=2 --scrape.client-gone-grace="${GRACE_S}s" \
    --scrape.listen-address="127.0.0.1:$SCRAPE_PORT"
EX_PORT=$(free_port)
start_bg exporter python3 "$HERE/client_exporter.py" --port "$EX_PORT"
wait_http "http://127.0.0.1:$EX_PORT/metrics" 20

now_ms() { date +%s%3N; }

# slow_started: how many /slow requests the exporter has begun.
slow_started() {
    curl -fsS --max-time 2 "http://127.0.0.1:$EX_PORT/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["slow"])'
}
slow_more_than() { [ "$(slow_started)" -gt "$1" ] 2>/dev/null; }

gone_total() {
    curl -fsS --max-time 5 "$SCRAPE_URL/metrics" |
        awk '$1 == "pushprox_proxy_scrapes_client_gone_total" {print $2}'
}

# scrape_bg TAG URL: Prometheus's scrape through the proxy, in the background, with the
# scrape timeout TIMEOUT_S; status in TAG.log, body in TAG.body, its end (ms) in TAG.end.
scrape_bg() {
    local tag=$1 url=$2
    start_bg "$tag" bash -c 'curl -sS -x "$1" -o "$2.body" -w "%{http_code}" \
        -H "X-Prometheus-Scrape-Timeout-Seconds: $3" --max-time $(($3 + 30)) "$4"
        date +%s%3N >"$2.end"' _ "$SCRAPE_URL" "$TEST_TMP/$tag" "$TIMEOUT_S" "$url"
    SCRAPE_PID=$BG_PID
}

# kill9 PID: kill -9 a process started by start_bg, reap it and forget it (its status is
# the kill's, not a crash).
kill9() {
    local i
    kill -KILL "$1"
    wait "$1" 2>/dev/null || true
    # shellcheck disable=SC2034 # lib.sh's list: stop_all skips the emptied entry
    i=$(bg_index "$1") && BG_PIDS[i]=""
}

# killed_mid_scrape TAG FQDN CLIENT_PID WANT_TOTAL: the scrape of FQDN's slow exporter
# fails 502 soon after its client is killed.
killed_mid_scrape() {
    local tag=$1 fqdn=$2 pid=$3 want_total=$4 before t0 ms body
    before=$(slow_started)
    scrape_bg "scrape_$tag" "http://$fqdn:$EX_PORT/slow?s=$SLOW_S"
    wait_until 20 "the exporter to get the scrape through $tag" slow_more_than "$before"
    t0=$(now_ms)
    kill9 "$pid"
    log "killed $tag (pid $pid) mid-scrape"
    wait_exit "$SCRAPE_PID" $((GRACE_S + 10))
    ms=$(($(cat "$TEST_TMP/scrape_$tag.end") - t0))
    body=$(cat "$TEST_TMP/scrape_$tag.body")
    assert_eq 502 "$(cat "$TEST_TMP/scrape_$tag.log")" "status of the scrape whose client ($tag) was killed (body: $body)"
    assert_contains "$body" "the client's connections closed before it pushed the answer" \
        "body of the 502"
    assert_contains "$body" "$fqdn" "body of the 502"
    [ "$ms" -ge $((GRACE_S * 1000 - 100)) ] || fail "502 after ${ms} ms: sooner than the ${GRACE_S}s grace"
    [ "$ms" -lt "$BOUND_MS" ] || fail "502 after ${ms} ms, not within ${BOUND_MS} ms"
    echo "FIGURE client_gone_ms=$ms ($tag, --scrape.client-gone-grace=${GRACE_S}s, scrape timeout ${TIMEOUT_S}s)"
    assert_eq "$want_total" "$(gone_total)" "pushprox_proxy_scrapes_client_gone_total"
}

# scraped_fine TAG FQDN: a quick scrape of FQDN's exporter through the proxy answers 200.
scraped_fine() {
    http_code_body GET "http://$2:$EX_PORT/metrics" -x "$SCRAPE_URL" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 20'
    assert_eq 200 "$HTTP_CODE" "scrape through $1 (body: $HTTP_BODY)"
}

start_ours() {
    start_bg "client_$1" "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn=ours.test \
        --scrape.use-localhost --metrics-addr="127.0.0.1:$(free_port)"
    OURS_PID=$BG_PID
}
start_upstream_like() {
    start_bg "upclient_$1" python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" \
        --fqdn up.test --use-localhost --upstream-timing --max-seconds 300
    UP_PID=$BG_PID
}

assert_eq 0 "$(gone_total)" "pushprox_proxy_scrapes_client_gone_total before any scrape"

# --- 1. killed ------------------------------------------------------------------------
start_ours 1
scraped_fine "our client" ours.test
killed_mid_scrape ours ours.test "$OURS_PID" 1
grep -q 'msg="scrape failed: the client.s connections closed".*fqdn=ours.test' \
    "$TEST_TMP/proxy.log" || fail "no log line for the failed scrape"
start_ours 2
scraped_fine "our restarted client" ours.test

start_upstream_like 1
scraped_fine "the upstream-like client" up.test
killed_mid_scrape upstream-like up.test "$UP_PID" 2
start_upstream_like 2
scraped_fine "the restarted upstream-like client" up.test

# --- 2. cut off, and back within the grace ------------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v ss >/dev/null; then
    log "SKIP part 2: cutting connections with ss -K needs root"
    exit 0
fi

# cut_mid_scrape TAG FQDN: a scrape survives its client's connections being reset.
cut_mid_scrape() {
    local tag=$1 fqdn=$2 before cut t0 ms
    before=$(slow_started)
    t0=$(now_ms)
    scrape_bg "cut_$tag" "http://$fqdn:$EX_PORT/slow?s=$CUT_SLOW_S"
    wait_until 20 "the exporter to get the scrape through $tag" slow_more_than "$before"
    # Every connection to the clients' port: the clients' own ends, reset both ways.
    cut=$(ss -K -H -tn state established "( dport = :$PROXY_PORT )" | grep -c . || true)
    log "cut $cut connections to the clients' port mid-scrape ($tag)"
    [ "$cut" -ge 1 ] || fail "ss -K cut no connection"
    wait_exit "$SCRAPE_PID" $((CUT_SLOW_S + 20))
    ms=$(($(cat "$TEST_TMP/cut_$tag.end") - t0))
    assert_eq 200 "$(cat "$TEST_TMP/cut_$tag.log")" \
        "status of the scrape whose client ($tag) was cut off and came back (body: $(cat "$TEST_TMP/cut_$tag.body"))"
    assert_contains "$(cat "$TEST_TMP/cut_$tag.body")" "# " "body of the scrape ($tag)"
    [ "$ms" -ge $((CUT_SLOW_S * 1000)) ] || fail "answered after ${ms} ms: before the exporter did"
    log "scrape through $tag answered 200 after ${ms} ms"
}
cut_mid_scrape ours ours.test
cut_mid_scrape upstream-like up.test
assert_eq 2 "$(gone_total)" "pushprox_proxy_scrapes_client_gone_total after the cut-off clients' scrapes"
scraped_fine "our client after the cut" ours.test
scraped_fine "the upstream-like client after the cut" up.test
