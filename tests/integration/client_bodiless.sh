#!/usr/bin/env bash
# client_bodiless.sh - answers without a body, end to end: our proxy, our client and an
# exporter (client_exporter.py) that answers 304 and 204 with a Content-Length and no
# body, and HEAD with the length GET would have. Each scrape through the proxy must get
# its status at once (not when the scrape times out: a push that promises a body which
# never comes leaves the proxy, and Prometheus, waiting); the answer to HEAD is relayed
# with Content-Length: 0; no push or scrape error is counted; and the client's keep-alive
# connection to the exporter stays in step (one connection for every scrape, and a GET
# after them gets the metrics).
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
require_bin "$PROXY_BIN"
HERE="$ROOT/tests/integration"
FQDN=node1.pushprox.test

start_proxy
PY_PORT=$(free_port)
CM_PORT=$(free_port)
start_bg exporter python3 "$HERE/client_exporter.py" --port "$PY_PORT"
wait_http "http://127.0.0.1:$PY_PORT/metrics" 20
start_bg client "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn="$FQDN" --scrape.use-localhost \
    --metrics-addr="127.0.0.1:$CM_PORT" --log.level=debug
wait_http "http://127.0.0.1:$CM_PORT/metrics" 20
registered() { curl -fsS --max-time 2 "$PROXY_URL/clients" | grep -q "$FQDN"; }
wait_until 20 "the client in /clients" registered

client_metric() { # client_metric NAME: a sample value from the client's /metrics
    curl -fsS --max-time 5 "http://127.0.0.1:$CM_PORT/metrics" |
        awk -v n="$1" '$1 == n { print $2 }'
}
exporter_connections() {
    curl -fsS --max-time 5 "http://127.0.0.1:$PY_PORT/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])'
}

# The scrape timeout is long; an answer must come well before it.
TIMEOUT_S=20
QUICK_S=$((5 * WAIT_SCALE))
SCRAPE_HDR="$TEST_TMP/scrape.hdr"
scrape_quickly() { # scrape_quickly WHAT METHOD PATH WANT_CODE [CURL ARGS...]
    local what=$1 method=$2 path=$3 want=$4 start secs
    shift 4
    start=$(date +%s)
    http_code_body "$method" "http://$FQDN:$PY_PORT$path" -x "$PROXY_URL" -D "$SCRAPE_HDR" \
        -H "X-Prometheus-Scrape-Timeout-Seconds: $TIMEOUT_S" "$@"
    secs=$(($(date +%s) - start))
    assert_eq "$want" "$HTTP_CODE" "$what: status"
    [ "$secs" -le "$QUICK_S" ] ||
        fail "$what: the answer took ${secs}s (scrape timeout ${TIMEOUT_S}s): a body was awaited"
    log "$what: $HTTP_CODE in ${secs}s"
}

conns_before=$(exporter_connections)

log "304 with a Content-Length"
scrape_quickly "304" GET /notmodified 304
assert_eq "" "$HTTP_BODY" "304: body"
assert_contains "$(cat "$SCRAPE_HDR")" 'ETag: "v1"' "304: headers relayed"

log "204 with a Content-Length"
scrape_quickly "204" GET /nocontent 204
assert_eq "" "$HTTP_BODY" "204: body"

log "HEAD, answered with the length GET would have"
scrape_quickly "HEAD" HEAD /metrics 200 --head
assert_contains "$(tr -d '\r' <"$SCRAPE_HDR")" "Content-Length: 0" "HEAD: length relayed"

log "a GET after them gets the metrics"
scrape_quickly "GET" GET /metrics 200
assert_contains "$HTTP_BODY" "client_test_metric 42" "GET: body"

assert_eq 0 "$(client_metric pushprox_client_push_errors_total)" "push errors"
assert_eq 0 "$(client_metric pushprox_client_scrape_errors_total)" "scrape errors"
# This /stats request is one connection; the client's four scrapes must have shared one.
conns_after=$(exporter_connections)
assert_eq 2 "$((conns_after - conns_before))" "new exporter connections (client's + /stats)"
log "bodiless answers pass through at once"
