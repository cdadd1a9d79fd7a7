#!/usr/bin/env bash
# client_upstream.sh - pushprox-client against a stand-in of upstream's Go proxy
# (client_upstream_proxy.py: one poll slot per FQDN, 408 to the older poll, 500 on an
# unknown push Id), with a real prometheus-node-exporter and a second exporter
# (client_exporter.py). Checks: both exporters scraped through the proxy; a slow
# exporter does not delay another; exporter down, timeout, too large and allowlist
# refusals come back as a 500 naming the cause; gzip passes through byte for byte;
# chunked answers are re-framed; keep-alive to exporters is reused; garbage poll
# answers are counted and backed off; 408 eviction is routine; the proxy killed and
# restarted is found again within the backoff bound; SIGTERM lets a scrape in flight
# finish and exits 0.
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter not installed"
HERE="$ROOT/tests/integration"

FQDN=node1.pushprox.test   # does not resolve: the client scrapes it with --scrape.use-localhost
PX_PORT=$(free_port)
NE_PORT=$(free_port)
PY_PORT=$(free_port)
DOWN_PORT=$(free_port)
DENY_PORT=$(free_port)
CM_PORT=$(free_port)
PROXY="http://127.0.0.1:$PX_PORT"
MAX_WAIT_MS=1000

start_fake_proxy() {
    start_bg upstream-proxy python3 "$HERE/client_upstream_proxy.py" --port "$PX_PORT" \
        --counters "$TEST_TMP/counters.json" "$@"
    PX_PID=$BG_PID
    wait_http "$PROXY/clients" 20
}

counter() { # counter NAME: an event count of the fake proxy
    python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get(sys.argv[2], 0))
except Exception: print(0)' "$TEST_TMP/counters.json" "$1"
}

client_metric() { # client_metric NAME: a sample value from the client's /metrics
    curl -fsS --max-time 5 "http://127.0.0.1:$CM_PORT/metrics" |
        awk -v n="$1" '$1 == n { print $2 }'
}

scrape() { # scrape URL [TIMEOUT_S] [CURL ARGS...]: through the proxy; sets HTTP_CODE/HTTP_BODY
    local url=$1 t=${2:-10}
    shift 2 || shift $#
    http_code_body GET "$url" -x "$PROXY" -H "X-Prometheus-Scrape-Timeout-Seconds: $t" "$@"
}

start_fake_proxy --bad-polls 3
start_bg node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg
start_bg exporter python3 "$HERE/client_exporter.py" --port "$PY_PORT"
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20
wait_http "http://127.0.0.1:$PY_PORT/metrics" 20

start_bg client "$CLIENT_BIN" --proxy-url="$PROXY" --fqdn="$FQDN" --scrape.use-localhost \
    --metrics-addr="127.0.0.1:$CM_PORT" --log.level=debug \
    --proxy.retry.initial-wait=200ms --proxy.retry.max-wait=${MAX_WAIT_MS}ms \
    --scrape.allow="$NE_PORT" --scrape.allow="$PY_PORT" --scrape.allow="$DOWN_PORT/metrics" \
    --scrape.max-size=1MiB
CLIENT_PID=$BG_PID
wait_http "http://127.0.0.1:$CM_PORT/metrics" 20

log "garbage poll answers are poll errors, backed off, and the client gets past them"
bad_polls_counted() { [ "$(client_metric pushprox_client_poll_errors_total)" = 3 ]; }
wait_until 20 "3 poll errors for 3 garbage answers" bad_polls_counted
grep -q 'poll answer is not a usable scrape request' "$TEST_TMP/client.log" ||
    fail "no log line for the garbage poll answer"

log "node_exporter through the proxy"
scrape "http://$FQDN:$NE_PORT/metrics"
assert_eq 200 "$HTTP_CODE" "node_exporter scrape"
assert_contains "$HTTP_BODY" "node_load1" "node_exporter body"

log "second exporter through the proxy"
scrape "http://$FQDN:$PY_PORT/metrics"
assert_eq 200 "$HTTP_CODE" "second exporter scrape"
assert_contains "$HTTP_BODY" "client_test_metric 42" "second exporter body"

log "a slow exporter does not delay another one"
curl -sS -o "$TEST_TMP/slow.body" -w '%{http_code}' -x "$PROXY" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' --max-time 30 \
    "http://$FQDN:$PY_PORT/slow?s=6" >"$TEST_TMP/slow.code" 2>/dev/null &
SLOW_PID=$!
slow_started() { grep -q '/slow?s=6' "$TEST_TMP/client.log"; }
wait_until 10 "the slow scrape to reach the client" slow_started
for i in 1 2 3; do
    scrape "http://$FQDN:$NE_PORT/metrics"
    assert_eq 200 "$HTTP_CODE" "fast scrape $i while a slow one runs"
done
kill -0 "$SLOW_PID" 2>/dev/null || fail "the slow scrape ended before the fast ones: not concurrent"
rc=0; wait "$SLOW_PID" || rc=$? # bounded by curl --max-time
assert_eq 0 "$rc" "slow curl exit"
assert_eq 200 "$(cat "$TEST_TMP/slow.code")" "slow scrape status"

log "exporter down: 500 naming the cause"
scrape "http://$FQDN:$DOWN_PORT/metrics"
assert_eq 500 "$HTTP_CODE" "scrape of a closed port"
assert_contains "$HTTP_BODY" "connection refused" "down exporter error"
assert_contains "$HTTP_BODY" ":$DOWN_PORT/metrics" "down exporter error names the URL"

log "allowlist: an unlisted port and an unlisted path are refused"
scrape "http://$FQDN:$DENY_PORT/metrics"
assert_eq 500 "$HTTP_CODE" "scrape of an unlisted port"
assert_contains "$HTTP_BODY" "not allowed by --scrape.allow" "allowlist refusal"
scrape "http://$FQDN:$DOWN_PORT/admin"
assert_eq 500 "$HTTP_CODE" "scrape of an unlisted path"
assert_contains "$HTTP_BODY" "not allowed by --scrape.allow" "allowlist refusal (path)"

log "target host must be the client's FQDN"
scrape "http://other.pushprox.test:$NE_PORT/metrics" 2
assert_eq 500 "$HTTP_CODE" "scrape for another host"
assert_contains "$HTTP_BODY" "Error scraping" "proxy timeout for a host nobody polls"

log "gzip passes through byte for byte"
curl -fsS -o "$TEST_TMP/direct.gz" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PY_PORT/metrics"
scrape "http://$FQDN:$PY_PORT/metrics" 10 -H 'Accept-Encoding: gzip' -D "$TEST_TMP/gz.headers"
cp "$TEST_TMP/body" "$TEST_TMP/proxied.gz"
assert_eq 200 "$HTTP_CODE" "gzip scrape"
cmp -s "$TEST_TMP/direct.gz" "$TEST_TMP/proxied.gz" || fail "gzip body changed on the way"
grep -qi '^Content-Encoding: gzip' "$TEST_TMP/gz.headers" || fail "Content-Encoding lost"
scrape "http://$FQDN:$NE_PORT/metrics" 10 -H 'Accept-Encoding: gzip' -D "$TEST_TMP/negz.headers"
assert_eq 200 "$HTTP_CODE" "node_exporter gzip scrape"
grep -qi '^Content-Encoding: gzip' "$TEST_TMP/negz.headers" || fail "node_exporter gzip lost"
gzip -dc <"$TEST_TMP/body" | grep -q node_load1 || fail "node_exporter gzip body is not valid gzip"

log "chunked exporter answer is collected and pushed whole"
scrape "http://$FQDN:$PY_PORT/chunked"
assert_eq 200 "$HTTP_CODE" "chunked scrape"
assert_contains "$HTTP_BODY" "client_test_metric 42" "chunked body"

log "too large: 500 that says so"
scrape "http://$FQDN:$PY_PORT/big?n=2000000"
assert_eq 500 "$HTTP_CODE" "too large scrape"
assert_contains "$HTTP_BODY" "response too large" "too large error"

log "exporter timeout is reported by the client"
scrape "http://$FQDN:$PY_PORT/slow?s=4" 1
assert_eq 500 "$HTTP_CODE" "timed-out scrape"
timeout_logged() { grep -q 'timeout after 1.000s' "$TEST_TMP/client.log"; }
wait_until 10 "the client's timeout error" timeout_logged

log "keep-alive: exporter connections are reused"
for i in 1 2 3 4 5 6; do
    scrape "http://$FQDN:$PY_PORT/metrics"
    assert_eq 200 "$HTTP_CODE" "repeat scrape $i"
done
stats=$(curl -fsS "http://127.0.0.1:$PY_PORT/stats")
conns=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["connections"])' "$stats")
reqs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$stats")
log "second exporter: $conns connections for $reqs requests"
[ "$conns" -lt $((reqs - 4)) ] || fail "exporter connections not reused: $conns for $reqs requests"

log "client metrics"
m=$(curl -fsS "http://127.0.0.1:$CM_PORT/metrics")
for name in pushprox_client_scrape_errors_total pushprox_client_push_errors_total \
    pushprox_client_poll_errors_total pushprox_client_scrapes_in_flight \
    "pushprox_client_scrape_duration_seconds_count{port=\"$NE_PORT\"}" \
    process_resident_memory_bytes process_cpu_seconds_total; do
    assert_contains "$m" "$name" "client /metrics"
done
[ "$(client_metric pushprox_client_scrape_errors_total)" -ge 5 ] || fail "scrape errors not counted"

log "proxy killed and restarted: the client is back within the backoff bound"
stop_bg "$PX_PID"
errs_before=$(client_metric pushprox_client_poll_errors_total)
more_errors() { [ "$(client_metric pushprox_client_poll_errors_total)" -gt "$errs_before" ]; }
wait_until 10 "poll errors while the proxy is down" more_errors
sleep 2 # let the backoff grow to its cap (not an assertion)
rm -f "$TEST_TMP/counters.json"
start_fake_proxy
polled_again() { [ "$(counter polls)" -ge 1 ]; }
wait_until 10 "a poll at the restarted proxy" polled_again
# From the moment the proxy listened to the first poll it saw (python's start-up excluded).
ms=$(($(counter first_polls_ms) - $(counter listening_ms)))
log "client polled the restarted proxy after ${ms}ms (max-wait ${MAX_WAIT_MS}ms)"
[ "$ms" -le $((MAX_WAIT_MS + 1500 * WAIT_SCALE)) ] || fail "client came back after ${ms}ms"
scrape "http://$FQDN:$NE_PORT/metrics"
assert_eq 200 "$HTTP_CODE" "scrape after the proxy restart"

log "a second poller for the same FQDN: upstream evicts with 408, which is routine"
errs_before=$(client_metric pushprox_client_poll_errors_total)
start_bg client2 "$CLIENT_BIN" --proxy-url="$PROXY" --fqdn="$FQDN" --scrape.use-localhost \
    --metrics-addr= --log.level=debug
CLIENT2_PID=$BG_PID
expired() { [ "$(counter polls_expired)" -ge 4 ]; }
wait_until 20 "408 evictions" expired
for i in 1 2 3; do
    scrape "http://$FQDN:$NE_PORT/metrics"
    assert_eq 200 "$HTTP_CODE" "scrape $i during evictions"
done
assert_eq "$errs_before" "$(client_metric pushprox_client_poll_errors_total)" "poll errors after 408s"
stop_bg "$CLIENT2_PID"
# Upstream's one slot may still hold client2's dead poll, which eats the next scrape (as
# upstream's proxy would); wait until client1 holds the slot again.
scrape_ok() { scrape "http://$FQDN:$NE_PORT/metrics" 2; [ "$HTTP_CODE" = 200 ]; }
wait_until 30 "client1 to own the poll slot again" scrape_ok

log "SIGTERM: a scrape in flight finishes, then the client exits 0"
curl -sS -o "$TEST_TMP/term.body" -w '%{http_code}' -x "$PROXY" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' --max-time 30 \
    "http://$FQDN:$PY_PORT/slow?s=2" >"$TEST_TMP/term.code" 2>/dev/null &
TERM_CURL=$!
term_started() { grep -q '/slow?s=2' "$TEST_TMP/client.log"; }
wait_until 10 "the scrape to reach the client" term_started
kill -TERM "$CLIENT_PID"
rc=0; wait "$TERM_CURL" || rc=$? # bounded by curl --max-time
assert_eq 0 "$rc" "curl during shutdown"
assert_eq 200 "$(cat "$TEST_TMP/term.code")" "scrape in flight during shutdown"
rc=0
wait_until 15 "client exit" pid_exited "$CLIENT_PID"
stop_bg "$CLIENT_PID"
grep -q 'msg=stopped' "$TEST_TMP/client.log" || fail "client did not stop cleanly"
log "PASS"
