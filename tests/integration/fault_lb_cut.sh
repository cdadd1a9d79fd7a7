#!/usr/bin/env bash
# fault_lb_cut.sh - a load balancer that cuts idle polls.
#
# HAProxy in front of the proxy with `timeout server 2s` (a generic LB config, not
# deploy/'s), our client and an upstream-like client (testclient.py --upstream-timing)
# polling through it; Prometheus (curl) scrapes the proxy directly, as from inside the
# network. Two proxies side by side, each behind its own HAProxy backend:
#   A. --poll.max-hold off: HAProxy cuts every idle poll after 2 s (504). Over 5 idle
#      rounds of 3 s each client has at least 3 polls cut, makes each again, and the
#      scrape after each round succeeds with its own exporter's answer.
#   B. --poll.max-hold=1s, under the LB's timeout (the proxy answers each idle poll when
#      its hold ends, on a timer of its own): no poll is cut at all (no 504); idle polls
#      are answered 408 and made again (at least 3 per client), and the scrapes succeed.
# HAProxy's log (one line per request) is what counts the cuts and the 408s:
# `FIGURE lb_cut_polls=N` and `FIGURE lb_maxhold_cuts=0 lb_maxhold_408=N`.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"
command -v haproxy >/dev/null || skip "haproxy not installed"
EXPORTER="$ROOT/tests/integration/client_exporter.py"
LB_TIMEOUT_S=2
ROUNDS=5

# Two proxies: A without --poll.max-hold, B with 1 s.
PORT_A=$(free_port)
start_bg proxy_a "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT_A" --log.level=info
wait_http "http://127.0.0.1:$PORT_A/-/ready" 20
PORT_B=$(free_port)
start_bg proxy_b "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT_B" --log.level=info \
    --poll.max-hold=1s
wait_http "http://127.0.0.1:$PORT_B/-/ready" 20

LB_A=$(free_port)
LB_B=$(free_port)
cat >"$TEST_TMP/haproxy.cfg" <<EOF
global
    log stdout format raw local0 info
defaults
    mode http
    log global
    # The poll's body is its FQDN: buffered, so the log can name it.
    option http-buffer-request
    log-format "%b %ST %HM %HU %[var(txn.body)] %Ta"
    timeout connect 1s
    timeout client 30s
    timeout server ${LB_TIMEOUT_S}s
frontend a
    bind 127.0.0.1:$LB_A
    http-request set-var(txn.body) req.body if { path /poll }
    default_backend a
frontend b
    bind 127.0.0.1:$LB_B
    http-request set-var(txn.body) req.body if { path /poll }
    default_backend b
backend a
    server pa 127.0.0.1:$PORT_A
backend b
    server pb 127.0.0.1:$PORT_B
EOF
haproxy -c -q -f "$TEST_TMP/haproxy.cfg" || fail "haproxy -c"
start_bg haproxy haproxy -db -f "$TEST_TMP/haproxy.cfg"
wait_http "http://127.0.0.1:$LB_A/-/ready" 20
wait_http "http://127.0.0.1:$LB_B/-/ready" 20

EXPORTER_PORT=$(free_port)
start_bg exporter python3 "$EXPORTER" --port "$EXPORTER_PORT"
wait_http "http://127.0.0.1:$EXPORTER_PORT/echo" 20
for side in a b; do
    lb=$LB_A
    [ "$side" = b ] && lb=$LB_B
    start_bg "ours_$side" "$CLIENT_BIN" --proxy-url="http://127.0.0.1:$lb" \
        --fqdn="ours-$side.test" --scrape.use-localhost --metrics-addr= --log.level=debug
    start_bg "upstream_$side" python3 "$TESTCLIENT" client --proxy-url "http://127.0.0.1:$lb" \
        --fqdn "up-$side.test" --use-localhost --upstream-timing --max-seconds 300
done

# scrape_ok PORT FQDN TAG: a scrape of FQDN's exporter, directly at the proxy on PORT.
scrape_ok() {
    http_code_body GET "http://$2:$EXPORTER_PORT/echo" -x "http://127.0.0.1:$1" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
    assert_eq 200 "$HTTP_CODE" "status of scrape $3 of $2 (body: $HTTP_BODY)"
    assert_contains "$HTTP_BODY" "echo_host{host=\"$2:$EXPORTER_PORT\"} 1" "body of scrape $3 of $2"
}
# polls BACKEND STATUS [FQDN]: HAProxy's count of polls (of FQDN) through BACKEND that
# ended with STATUS.
polls() { grep -c "^$1 $2 POST /poll ${3:-}" "$TEST_TMP/haproxy.log"; }

for side in a b; do
    port=$PORT_A
    [ "$side" = b ] && port=$PORT_B
    for f in "ours-$side.test" "up-$side.test"; do
        wait_until 20 "$f listed" sh -c "curl -fsS --max-time 2 http://127.0.0.1:$port/clients | grep -q '\"$f\"'"
        scrape_ok "$port" "$f" start
    done
done

# Idle rounds: no scrape for longer than the LB's timeout, then a scrape of each FQDN.
for r in $(seq 1 "$ROUNDS"); do
    sleep $((LB_TIMEOUT_S + 1))
    for side in a b; do
        port=$PORT_A
        [ "$side" = b ] && port=$PORT_B
        scrape_ok "$port" "ours-$side.test" "round_$r"
        scrape_ok "$port" "up-$side.test" "round_$r"
    done
done

cut_a=$(polls a 504)
ok_a=$(polls a 200)
cut_b=$(polls b 504)
expired_b=$(polls b 408)
log "A (no --poll.max-hold): $cut_a polls cut (504), $ok_a answered with a scrape"
log "B (--poll.max-hold=1s): $cut_b polls cut (504), $expired_b answered 408"
echo "FIGURE lb_cut_polls=$cut_a rounds=$ROUNDS clients=2"
echo "FIGURE lb_maxhold_cuts=$cut_b lb_maxhold_408=$expired_b"
# At least 3 cuts per client, and every poll re-made: each round's scrapes above were
# answered, by a poll made after the cut. Behind B, none cut and at least 3 408s each.
for c in ours up; do
    n=$(polls a 504 "$c-a.test")
    log "A: $n polls of $c-a.test cut"
    [ "$n" -ge 3 ] || fail "only $n polls of $c-a.test cut by HAProxy (want >= 3)"
    n=$(polls b 408 "$c-b.test")
    log "B: $n polls of $c-b.test answered 408"
    [ "$n" -ge 3 ] || fail "only $n polls of $c-b.test answered 408 (want >= 3)"
done
assert_eq 0 "$cut_b" "polls cut by HAProxy behind proxy B (--poll.max-hold=1s)"
# Our client saw the LB's 504s (and only behind A) and kept polling.
grep -q 'status=504' "$TEST_TMP/ours_a.log" || fail "our client behind A never logged a 504"
! grep -q 'status=504' "$TEST_TMP/ours_b.log" || fail "our client behind B got a 504"
log "cut polls were made again and scraped; with --poll.max-hold under the LB's timeout none was cut"
exit 0
