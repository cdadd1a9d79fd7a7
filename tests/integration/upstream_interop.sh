#!/usr/bin/env bash
# upstream_interop.sh - wire compatibility with the real upstream Go PushProx, both ways,
# with a real prometheus-node-exporter:
#   A) upstream's pushprox-client polling OUR pushprox-proxy;
#   B) OUR pushprox-client polling upstream's pushprox-proxy.
# Each way: /clients lists the client; 20 scrapes through the proxy answer 200 with
# node_exporter_build_info; gzip passes through (Content-Encoding: gzip, body inflates);
# a scrape of a closed port comes back at once as a 500 carrying the client's error
# text (in A this is upstream's "HTTP/0.0 500" push without Content-Length).
# B also runs two of our clients on one FQDN against upstream's single poll slot: scrapes
# still work, the 408 evictions are not counted as poll errors, and they do not spin.
#
# Needs prebuilt upstream binaries: UPSTREAM_PUSHPROX_DIR=<dir> holding pushprox-proxy and
# pushprox-client (built from github.com/prometheus-community/PushProx; nothing of upstream
# is in this repo). Without it the scenario skips (exit 77), so CI never needs upstream.
# Owner: the QA (interop) helper.
# tsan: no
. "$(dirname "$0")/lib.sh"

[ -n "${UPSTREAM_PUSHPROX_DIR:-}" ] || skip "UPSTREAM_PUSHPROX_DIR not set (prebuilt upstream PushProx binaries)"
UP_PROXY_BIN="$UPSTREAM_PUSHPROX_DIR/pushprox-proxy"
UP_CLIENT_BIN="$UPSTREAM_PUSHPROX_DIR/pushprox-client"
[ -x "$UP_PROXY_BIN" ] || skip "$UP_PROXY_BIN not found"
[ -x "$UP_CLIENT_BIN" ] || skip "$UP_CLIENT_BIN not found"
require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"
command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter not installed"

# Upstream's client scrapes the URL host as given, so the FQDN must resolve: localhost.
FQDN=localhost
NE_PORT=$(free_port)
DEAD_PORT=$(free_port) # nothing listens here

start_bg node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.loadavg --collector.meminfo
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20

# clients_has PROXY_URL: /clients is a JSON list of target groups naming $FQDN
# (upstream writes "labels": null, we write {}; only the targets matter).
clients_has() {
    curl -fsS --max-time 5 "$1/clients" 2>/dev/null | python3 -c '
import json, sys
groups = json.load(sys.stdin)
sys.exit(0 if any(sys.argv[1] in g.get("targets", []) for g in groups) else 1)' "$FQDN"
}

# scrape_ok PROXY_URL: one scrape through the proxy answered 200 with the node exporter.
scrape_ok() {
    http_code_body GET "http://$FQDN:$NE_PORT/metrics" -x "$1" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
    [ "$HTTP_CODE" = 200 ] && [[ $HTTP_BODY == *node_exporter_build_info* ]]
}

# check_way NAME PROXY_URL: the scrape checks shared by both directions.
check_way() {
    local name=$1 px=$2 i hdr code
    wait_until 20 "$name: /clients lists $FQDN" clients_has "$px"
    # The first scrape may race the client's first poll; after that every one must work.
    wait_until 20 "$name: first scrape through the proxy" scrape_ok "$px"
    for i in $(seq 20); do
        scrape_ok "$px" || fail "$name: scrape $i: status $HTTP_CODE, body [$(head -c 300 <<<"$HTTP_BODY")]"
    done
    log "$name: 21 scrapes answered 200 with node_exporter_build_info"

    # (curl to a file: the gzip body has NUL bytes, which a shell variable cannot hold)
    code=$(curl -sS --max-time 30 -x "$px" -D "$TEST_TMP/$name-gz.hdr" -o "$TEST_TMP/$name-gz.body" \
        -w '%{http_code}' -H 'Accept-Encoding: gzip' -H 'X-Prometheus-Scrape-Timeout-Seconds: 5' \
        "http://$FQDN:$NE_PORT/metrics") || true
    assert_eq 200 "$code" "$name: status of the gzip scrape"
    hdr=$(tr -d '\r' <"$TEST_TMP/$name-gz.hdr")
    assert_contains "$hdr" "Content-Encoding: gzip" "$name: headers of the gzip scrape"
    gzip -dc <"$TEST_TMP/$name-gz.body" | grep -q node_exporter_build_info ||
        fail "$name: the gzip body does not inflate to the node exporter's metrics"

    # A scrape error: the client pushes a 500 with its error text, relayed at once
    # (well before the 20 s scrape timeout, after which the proxy answers on its own).
    http_code_body GET "http://$FQDN:$DEAD_PORT/metrics" -x "$px" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 20'
    assert_eq 500 "$HTTP_CODE" "$name: status of a scrape of a closed port"
    assert_contains "$HTTP_BODY" "refused" "$name: body of a scrape of a closed port (the client's error)"
}

# --- A: upstream client -> our proxy ------------------------------------------------
start_proxy
start_bg upstream-client "$UP_CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$PROXY_URL" \
    --metrics-addr="127.0.0.1:$(free_port)"
UP_CLIENT_PID=$BG_PID
check_way "upstream-client->our-proxy" "$PROXY_URL"
stop_bg "$UP_CLIENT_PID"

# --- B: our client -> upstream proxy ------------------------------------------------
UP_PORT=$(free_port)
UP_URL="http://127.0.0.1:$UP_PORT"
start_bg upstream-proxy "$UP_PROXY_BIN" --web.listen-address="127.0.0.1:$UP_PORT"
wait_http "$UP_URL/metrics" 20
CM1=$(free_port)
start_bg our-client-1 "$CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$UP_URL" \
    --metrics-addr="127.0.0.1:$CM1"
wait_http "http://127.0.0.1:$CM1/metrics" 20
check_way "our-client->upstream-proxy" "$UP_URL"

# Two of our clients on one FQDN: upstream keeps one poll slot, so each new poll expires
# the other's with 408. That is routine (not a poll error) and must not become a tight
# loop: bound the 408 rate very loosely (a spin would be thousands a second).
# upstream_408s: upstream proxy's count of 408 answers to /poll.
upstream_408s() {
    curl -fsS --max-time 5 "$UP_URL/metrics" |
        awk '/^pushprox_http_requests_total\{code="408",path="\/poll"\}/ {n = $2} END {print n + 0}'
}
CM2=$(free_port)
start_bg our-client-2 "$CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$UP_URL" \
    --metrics-addr="127.0.0.1:$CM2"
wait_http "http://127.0.0.1:$CM2/metrics" 20
t0=$SECONDS
n0=$(upstream_408s)
for i in $(seq 20); do
    scrape_ok "$UP_URL" || fail "two clients: scrape $i: status $HTTP_CODE"
done
more_408s() { [ "$(upstream_408s)" -gt "$n0" ]; }
wait_until 10 "a 408 from upstream's single poll slot" more_408s
n1=$(upstream_408s)
secs=$((SECONDS - t0 + 1))
log "two clients on one FQDN: $((n1 - n0)) polls expired with 408 in ~${secs}s"
[ $((n1 - n0)) -le $((secs * 200)) ] || fail "two clients on one FQDN: $((n1 - n0)) 408s in ~${secs}s: polls spin"
for cm in "$CM1" "$CM2"; do
    errs=$(curl -fsS --max-time 5 "http://127.0.0.1:$cm/metrics" |
        awk '/^pushprox_client_poll_errors_total / {print $2}')
    assert_eq 0 "$errs" "pushprox_client_poll_errors_total of the client on :$cm (408 is routine)"
done
log "PASS"
