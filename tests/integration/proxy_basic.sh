#!/usr/bin/env bash
# proxy_basic.sh - the PushProx protocol at the curl level, against pushprox-proxy alone.
#
# /clients when empty and after a poll; a scrape (absolute URI through the proxy) reaching
# a waiting poll in proxy form with an Id; the push relayed to the scraper without Id and
# X-Prometheus-Scrape-Timeout-Seconds; a scrape that waits for the next poll; chunked,
# length-less and gzip inner responses; a second push of the same Id; a scrape for an FQDN
# nobody polls; the proxy's own /metrics.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

start_proxy

# --- the series upstream creates at zero exist before any request ----------------------
http_code_body GET "$PROXY_URL/metrics"
for series in 'pushprox_http_requests_total{code="200",path="/push"} 0' \
    'pushprox_http_requests_total{code="500",path="/push"} 0' \
    'pushprox_http_requests_total{code="200",path="/poll"} 0' \
    'pushprox_http_requests_total{code="408",path="/poll"} 0' \
    'pushprox_http_requests_total{code="200",path="/clients"} 0' \
    'promhttp_metric_handler_requests_total{code="503"} 0' 'pushprox_proxy_clients 0' \
    'process_virtual_memory_max_bytes ' 'process_network_receive_bytes_total '; do
    assert_contains "$HTTP_BODY" "$series" "a fresh proxy's /metrics"
done
FQDN=node1.test

# --- /clients, empty ------------------------------------------------------------------
http_code_body GET "$PROXY_URL/clients" -D "$TEST_TMP/clients.hdr"
assert_eq 200 "$HTTP_CODE" "GET /clients status"
assert_eq "[]" "$HTTP_BODY" "GET /clients body with no client"
assert_contains "$(tr -d '\r' <"$TEST_TMP/clients.hdr" | tr 'A-Z' 'a-z')" \
    "content-type: application/json" "GET /clients headers"

# --- a poll registers the FQDN ----------------------------------------------------------
start_poll poll1 "$FQDN"
clients_has_fqdn() {
    curl -fsS --max-time 2 "$PROXY_URL/clients" 2>/dev/null >"$TEST_TMP/clients.json" &&
        python3 - "$TEST_TMP/clients.json" "$1" <<'EOF'
import json, sys
groups = json.load(open(sys.argv[1]))
sys.exit(0 if any(sys.argv[2] in g.get("targets", []) and isinstance(g.get("labels"), dict)
                  for g in groups) else 1)
EOF
}
wait_until 20 "$FQDN in /clients as an http_sd target group" clients_has_fqdn "$FQDN"

# --- a scrape reaches the waiting poll, in proxy form, with an Id ----------------------
URL1="http://$FQDN:9100/metrics?collect%5B%5D=cpu"
start_scrape scrape1 "$URL1" 10
poll_done poll1
assert_eq "GET $URL1 HTTP/1.1" "$(printf '%s\n' "$POLL_REQ" | head -n1)" "request line given to the poll"
assert_contains "$POLL_REQ" $'\nX-Prometheus-Scrape-Timeout-Seconds: 10' "request given to the poll"
assert_contains "$POLL_REQ" $'\nUser-Agent: Prometheus/2.42.0' "request given to the poll"
ID1=$POLL_ID
case $ID1 in *" "*) fail "Id contains a space: [$ID1]" ;; esac

# --- the push is relayed without Id and X-Prometheus-Scrape-Timeout-Seconds ------------
BODY1="test_metric{fqdn=\"$FQDN\",id=\"$ID1\"} 1
"
make_response "$TEST_TMP/push1" "$ID1" "$BODY1" "X-Custom: kept" "X-Prometheus-Scrape-Timeout-Seconds: 10"
push "$TEST_TMP/push1"
assert_eq 200 "$HTTP_CODE" "status of a push with a waiting Id (body: $HTTP_BODY)"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape1.log")" "status relayed to the scraper"
printf '%s' "$BODY1" >"$TEST_TMP/body1.expected"
cmp -s "$TEST_TMP/body1.expected" "$TEST_TMP/scrape1.body" ||
    fail "body relayed to the scraper: expected [$BODY1], got [$(cat "$TEST_TMP/scrape1.body")]"
HDR1=$(tr -d '\r' <"$TEST_TMP/scrape1.hdr" | tr 'A-Z' 'a-z')
assert_contains "$HDR1" "x-custom: kept" "headers relayed to the scraper"
assert_contains "$HDR1" "content-type: text/plain; version=0.0.4" "headers relayed to the scraper"
assert_not_contains "$HDR1" $'\nid:' "headers relayed to the scraper"
assert_not_contains "$HDR1" "x-prometheus-scrape-timeout-seconds" "headers relayed to the scraper"

# --- the same Id again is refused ------------------------------------------------------
push "$TEST_TMP/push1"
assert_eq 500 "$HTTP_CODE" "status of a second push of the same Id"
assert_starts_with "$HTTP_BODY" "Error pushing:" "body of a second push of the same Id"

# --- a scrape that arrives before the poll waits for it --------------------------------
# (and the inner response may be chunked: the scraper gets the decoded body)
URL2="http://$FQDN:9100/metrics"
start_scrape scrape2 "$URL2" 20
start_poll poll2 "$FQDN"
poll_done poll2
assert_eq "GET $URL2 HTTP/1.1" "$(printf '%s\n' "$POLL_REQ" | head -n1)" "request line given to poll2"
{
    printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n'
    printf 'Id: %s\r\nX-Prometheus-Scrape-Timeout: 19\r\n\r\n' "$POLL_ID"
    printf '6\r\nchunk1\r\n7\r\n chunk2\r\n0\r\n\r\n'
} >"$TEST_TMP/push2"
push "$TEST_TMP/push2"
assert_eq 200 "$HTTP_CODE" "status of a chunked push (body: $HTTP_BODY)"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape2.log")" "status of a scrape relayed from a chunked push"
assert_eq "chunk1 chunk2" "$(cat "$TEST_TMP/scrape2.body")" "body relayed from a chunked push"

# --- an inner response without Content-Length ends with the push body ------------------
start_poll poll3 "$FQDN"
start_scrape scrape3 "$URL2" 20
poll_done poll3
{
    printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n'
    printf 'Id: %s\r\nX-Prometheus-Scrape-Timeout: 19\r\n\r\n' "$POLL_ID"
    printf 'exporter is starting'
} >"$TEST_TMP/push3"
push "$TEST_TMP/push3"
assert_eq 200 "$HTTP_CODE" "status of a push whose inner response has no length (body: $HTTP_BODY)"
wait_exit "$SCRAPE_PID" 30
assert_eq 503 "$(cat "$TEST_TMP/scrape3.log")" "status relayed from a length-less push"
assert_eq "exporter is starting" "$(cat "$TEST_TMP/scrape3.body")" "body relayed from a length-less push"

# --- upstream's client writes its own errors as "HTTP/0.0 500", body to the end ----------
start_poll poll3b "$FQDN"
start_scrape scrape3b "$URL2" 20
poll_done poll3b
{
    printf 'HTTP/0.0 500 Internal Server Error\r\nId: %s\r\n' "$POLL_ID"
    printf 'X-Prometheus-Scrape-Timeout: 19\r\n\r\n'
    printf 'failed to scrape: connection refused'
} >"$TEST_TMP/push3b"
push "$TEST_TMP/push3b"
assert_eq 200 "$HTTP_CODE" "status of an upstream-style HTTP/0.0 error push (body: $HTTP_BODY)"
wait_exit "$SCRAPE_PID" 30
assert_eq 500 "$(cat "$TEST_TMP/scrape3b.log")" "status relayed from an HTTP/0.0 push"
assert_eq "failed to scrape: connection refused" "$(cat "$TEST_TMP/scrape3b.body")" \
    "body relayed from an HTTP/0.0 push"

# --- gzip passes through unchanged -----------------------------------------------------
start_poll poll4 "$FQDN"
start_scrape scrape4 "$URL2" 20
poll_done poll4
printf 'gz_metric{fqdn="%s"} 42\n' "$FQDN" | gzip -c >"$TEST_TMP/gz.bin"
{
    printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n'
    printf 'Id: %s\r\nX-Prometheus-Scrape-Timeout: 19\r\n' "$POLL_ID"
    printf 'Content-Length: %d\r\n\r\n' "$(stat -c %s "$TEST_TMP/gz.bin")"
    cat "$TEST_TMP/gz.bin"
} >"$TEST_TMP/push4"
push "$TEST_TMP/push4"
assert_eq 200 "$HTTP_CODE" "status of a gzip push (body: $HTTP_BODY)"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape4.log")" "status of a gzip scrape"
cmp -s "$TEST_TMP/gz.bin" "$TEST_TMP/scrape4.body" || fail "gzip body was changed on the way"
assert_contains "$(tr -d '\r' <"$TEST_TMP/scrape4.hdr" | tr 'A-Z' 'a-z')" \
    "content-encoding: gzip" "headers of a gzip scrape"

# --- a scrape for an FQDN nobody polls times out with 500 ------------------------------
URL5="http://nobody.test:9100/metrics"
http_code_body GET "$URL5" -x "$PROXY_URL" -H 'X-Prometheus-Scrape-Timeout-Seconds: 1'
assert_eq 500 "$HTTP_CODE" "status of a scrape nobody answers"
assert_starts_with "$HTTP_BODY" "Error scraping \"$URL5\"" "body of a scrape nobody answers"

# --- an IPv6 literal FQDN (rancher-style --fqdn=$(HOST_IP)) end to end -----------------
start_poll poll6 "fd00:0::1"
# curl's poll reaches the proxy a moment after it starts: wait for it to be listed at all.
wait_until 10 "the IPv6 client to be listed" clients_has_fqdn "[fd00::1]"
http_code_body GET "$PROXY_URL/clients"
assert_contains "$HTTP_BODY" '{"targets":["[fd00::1]"],"labels":{' "/clients lists an IPv6 client bracketed"
start_scrape scrape6 "http://[fd00::1]:9100/metrics" 20
poll_done poll6
assert_contains "$POLL_REQ" "GET http://[fd00::1]:9100/metrics HTTP/1.1" "the poll answer for an IPv6 client"
make_response "$TEST_TMP/push6" "$POLL_ID" "v6 1"
push "$TEST_TMP/push6"
assert_eq 200 "$HTTP_CODE" "push for an IPv6 client"
wait_exit "$SCRAPE_PID" 30
assert_eq "v6 1" "$(cat "$TEST_TMP/scrape6.body")" "scrape of an IPv6 client"

# --- a scrape without a Host header: the poll gets the URL's authority as Host ---------
# (that path once searched the head's URL past its end: found by fuzz_proxy_inproc)
start_poll poll7 "$FQDN"
start_bg scrape7 curl -sS -x "$PROXY_URL" -H 'Host:' -o "$TEST_TMP/scrape7.body" -w '%{http_code}' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' "http://$FQDN:9107/nohost"
SCRAPE_PID=$BG_PID
poll_done poll7
assert_contains "$POLL_REQ" $'\nHost: '"$FQDN:9107"$'\n' "Host given to the poll of a scrape without one"
make_response "$TEST_TMP/push7" "$POLL_ID" "nohost 1"
push "$TEST_TMP/push7"
assert_eq 200 "$HTTP_CODE" "push for a scrape without a Host header"
wait_exit "$SCRAPE_PID" 30
assert_eq "nohost 1" "$(cat "$TEST_TMP/scrape7.body")" "scrape without a Host header"
# Names that can never match a scrape are refused at the poll, saying why.
http_code_body POST "$PROXY_URL/poll" --data-binary "node1:9100"
assert_eq 400 "$HTTP_CODE" "a poll for host:port"
assert_contains "$HTTP_BODY" "port" "a poll for host:port"

# --- the proxy's own metrics -----------------------------------------------------------
http_code_body GET "$PROXY_URL/metrics"
assert_eq 200 "$HTTP_CODE" "GET /metrics status"
for m in pushprox_http_requests_total pushproxy_proxied_requests_total \
    pushprox_http_duration_seconds_bucket pushprox_proxy_clients pushprox_proxy_polls_waiting \
    pushprox_proxy_scrape_duration_seconds_count pushprox_proxy_inbox_depth \
    process_resident_memory_bytes; do
    assert_contains "$HTTP_BODY" "$m" "proxy /metrics"
done
assert_contains "$HTTP_BODY" 'pushprox_http_requests_total{code="200",path="/push"}' "proxy /metrics"
# The exposition must be valid for Prometheus' own checker.
if command -v promtool >/dev/null; then
    printf '%s\n' "$HTTP_BODY" >"$TEST_TMP/metrics.txt"
    promtool check metrics <"$TEST_TMP/metrics.txt" >"$TEST_TMP/promtool.out" 2>&1 ||
        fail "promtool check metrics: $(cat "$TEST_TMP/promtool.out")"
fi
log "all protocol checks passed"
exit 0
