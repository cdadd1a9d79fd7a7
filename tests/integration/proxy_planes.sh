#!/usr/bin/env bash
# proxy_planes.sh - two planes: --web.listen-address for clients (polls, pushes) and
# --scrape.listen-address for Prometheus (scrapes, /clients, /metrics). Each refuses the
# other's routes with 403 and a text naming the right flag; health is on both; a scrape
# goes in on one plane and its poll and push on the other.
# tsan: yes
. "$(dirname "$0")/lib.sh"

SCRAPE_PORT=$(free_port)
start_proxy --workers=2 --scrape.listen-address="127.0.0.1:$SCRAPE_PORT"
SCRAPE_URL="http://127.0.0.1:$SCRAPE_PORT"
wait_http "$SCRAPE_URL/-/ready" 20
wait_http "$SCRAPE_URL/metrics" 20

http_code_body GET "$PROXY_URL/clients"
assert_eq 403 "$HTTP_CODE" "/clients on the client plane"
assert_contains "$HTTP_BODY" "--scrape.listen-address" "/clients on the client plane"
http_code_body GET "$PROXY_URL/metrics"
assert_eq 403 "$HTTP_CODE" "/metrics on the client plane"
http_code_body GET "http://node1.test:9100/metrics" -x "$PROXY_URL" -H 'X-Prometheus-Scrape-Timeout-Seconds: 1'
assert_eq 403 "$HTTP_CODE" "a scrape on the client plane"
assert_contains "$HTTP_BODY" "a scrape is not served on this listener" "a scrape on the client plane"
http_code_body POST "$SCRAPE_URL/poll" --data-binary node1.test
assert_eq 403 "$HTTP_CODE" "a poll on the scrape plane"
http_code_body POST "$SCRAPE_URL/push" --data-binary x
assert_eq 403 "$HTTP_CODE" "a push on the scrape plane"

# The whole path across both planes.
start_poll poll1 node1.test
start_bg scrape1 curl -sS -x "$SCRAPE_URL" -o "$TEST_TMP/scrape1.body" -w '%{http_code}' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' http://node1.test:9100/metrics
SCRAPE_PID=$BG_PID
poll_done poll1
make_response "$TEST_TMP/push1" "$POLL_ID" "planes 1"
push "$TEST_TMP/push1"
assert_eq 200 "$HTTP_CODE" "push on the client plane"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape1.log")" "scrape on the scrape plane"
assert_eq "planes 1" "$(cat "$TEST_TMP/scrape1.body")" "scrape on the scrape plane"
assert_contains "$(curl -fsS "$SCRAPE_URL/clients")" '"node1.test"' "/clients on the scrape plane"
assert_contains "$(cat "$TEST_TMP/proxy.log")" "flag=scrape.listen-address" "the log names both listeners"
log "each plane serves its routes and refuses the other's"
