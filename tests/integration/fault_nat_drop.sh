#!/usr/bin/env bash
# fault_nat_drop.sh - (root, ip and nft) a client's NAT mapping dropped silently.
#
# Our client and its exporter run in their own network namespace, joined to this one by a
# veth pair (lb_lib.bash's lb_netns_setup); the proxy listens on this side's address. With
# the client's poll held, every packet in and out of the namespace is dropped (nftables in
# the namespace: no RST, no FIN, no ICMP), as when a NAT box forgets the mapping.
#   1. The proxy's TCP keepalive (--web.tcp-keepalive=K: a probe after K idle, 3 more
#      max(1 s, K/3) apart, TCP_USER_TIMEOUT the same total) fails the dead poll connection
#      DEAD_S = K + 3 x max(1, K/3) after the last packet (2K from 3 s up; 5 s for K = 2 s),
#      and /clients drops the FQDN --registration.timeout later:
#      bound NAT_PROXY_BOUND_S = DEAD_S + registration timeout + 2 s (the 0.2 s checks, slack).
#      The client's own keepalive fails its poll by the same rule: DEAD_S + 1 s.
#   2. A scrape while the client is unreachable is answered 500 at its timeout, naming why.
#   3. The drop is lifted (a new mapping): the client has failed its own poll connection by
#      then (--proxy.tcp-keepalive=K, same scheme) and polls again within
#      NAT_CLIENT_BOUND_S = the client's connect timeout (10 s: a connect in flight when the
#      mapping returns either gets through on a SYN retransmission or times out) +
#      --proxy.retry.max-wait + 1 s slack.
#   4. Scrapes of the FQDN succeed again, answered by its own exporter (the Host it names).
#   5. Dropped again with a poll held, a scrape at once goes into the dead poll: answered
#      500 at its timeout (3 s), and the FQDN is scraped again once the mapping returns.
#   Then the proxy still serves another client.
# Each measured figure is printed as `FIGURE name=value` (seconds).
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lb_lib.bash
. "$(dirname "$0")/lb_lib.bash"

KEEPALIVE_S=2
REGISTRATION_S=1
RETRY_MAX_S=2
intvl=$((KEEPALIVE_S / 3 > 1 ? KEEPALIVE_S / 3 : 1))
DEAD_S=$((KEEPALIVE_S + 3 * intvl))
NAT_PROXY_BOUND_S=$((DEAD_S + REGISTRATION_S + 2))
NAT_CLIENT_BOUND_S=$((10 + RETRY_MAX_S + 1))
FQDN=nat.test

require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"
[ "$(id -u)" = 0 ] || skip "not root: no network namespace"
command -v nft >/dev/null || skip "nft not installed"

NS_PIDS=()
fault_exit() {
    local rc=$? p
    # What runs inside the namespace goes first, then the namespace, then the rest.
    for p in "${NS_PIDS[@]}"; do
        [ -n "$p" ] && stop_bg "$p"
    done
    lb_netns_cleanup
    (exit "$rc")
    stop_all
}
trap fault_exit EXIT
lb_netns_setup 1 || skip "could not make a network namespace with a veth pair"
# lb_netns_setup names the namespace's end (a.b.c.d+2:port); this side is d+1.
ns_ip=${REPLICA_ADDR[1]%:*}
host_ip="${ns_ip%.*}.$((${ns_ip##*.} - 1))"
PROXY_PORT=${REPLICA_ADDR[1]##*:}
PROXY_URL="http://$host_ip:$PROXY_PORT"
start_bg proxy "$PROXY_BIN" --web.listen-address="$host_ip:$PROXY_PORT" --log.level=debug \
    --web.tcp-keepalive="${KEEPALIVE_S}s" --registration.timeout="${REGISTRATION_S}s"
wait_http "$PROXY_URL/-/ready" 20

EXPORTER="$ROOT/tests/integration/client_exporter.py"
EXPORTER_PORT=9100
start_bg exporter ip netns exec "$LB_NETNS" python3 "$EXPORTER" --port "$EXPORTER_PORT"
NS_PIDS+=("$BG_PID")
wait_until 20 "the exporter in the namespace" \
    ip netns exec "$LB_NETNS" curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$EXPORTER_PORT/echo"
start_bg client ip netns exec "$LB_NETNS" "$CLIENT_BIN" --proxy-url="$PROXY_URL" \
    --fqdn="$FQDN" --scrape.use-localhost --metrics-addr= --log.level=debug \
    --proxy.tcp-keepalive="${KEEPALIVE_S}s" --proxy.retry.max-wait="${RETRY_MAX_S}s"
NS_PIDS+=("$BG_PID")

listed() { curl -fsS --max-time 2 "$PROXY_URL/clients" 2>/dev/null | grep -q "\"$FQDN\""; }
not_listed() { ! listed; }
# scrape_ok TAG: one scrape of the FQDN's /echo answered 200 by its own exporter.
scrape_ok() {
    http_code_body GET "http://$FQDN:$EXPORTER_PORT/echo" -x "$PROXY_URL" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
    assert_eq 200 "$HTTP_CODE" "status of scrape $1 (body: $HTTP_BODY)"
    assert_contains "$HTTP_BODY" "echo_host{host=\"$FQDN:$EXPORTER_PORT\"} 1" "body of scrape $1"
}
wait_until 20 "$FQDN listed in /clients" listed
scrape_ok before
# Let the poll be held and idle, so only keepalive can find the connection dead.
sleep 1

# --- 1. the mapping is dropped -------------------------------------------------------
t_drop=$(lb_now)
lb_netns_vanish || fail "nft in namespace $LB_NETNS"
log "every packet in and out of $LB_NETNS dropped"
wait_until $((NAT_PROXY_BOUND_S + 10)) "$FQDN gone from /clients" not_listed
gone=$(lb_elapsed "$t_drop")
echo "FIGURE nat_proxy_drop_s=$gone bound=$NAT_PROXY_BOUND_S"
awk -v m="$gone" -v b="$((NAT_PROXY_BOUND_S * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
    fail "the proxy dropped $FQDN after $gone s, over the bound $NAT_PROXY_BOUND_S s"
grep -q 'reason="connection timed out"' "$TEST_TMP/proxy.log" ||
    fail "the proxy's log does not say the poll connection timed out"
# The client fails its held poll by its own keepalive, within DEAD_S.
client_failed() { grep -q 'msg="poll failed".*timed out' "$TEST_TMP/client.log"; }
wait_until $((DEAD_S + 10)) "the client to fail its dead poll" client_failed
ts=$(grep -m1 'msg="poll failed".*timed out' "$TEST_TMP/client.log" | sed 's/^ts=\([^ ]*\) .*/\1/')
detect=$(awk -v t="$(date -d "$ts" +%s.%N)" -v d="$t_drop" 'BEGIN { printf "%.2f", t - d }')
echo "FIGURE nat_client_detect_s=$detect bound=$((DEAD_S + 1))"
awk -v m="$detect" -v b="$(((DEAD_S + 1) * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
    fail "the client found its poll dead $detect s after the drop, over $((DEAD_S + 1)) s"

# --- 2. a scrape while the client is unreachable: answered at its timeout, naming why ----
start_scrape hole "http://$FQDN:$EXPORTER_PORT/echo" 3
wait_exit "$BG_PID" $((3 + 10))
hole_code=$(cat "$TEST_TMP/hole.log")
log "scrape while unreachable: status $hole_code, body: $(head -c 300 "$TEST_TMP/hole.body")"
assert_eq 500 "$hole_code" "status of a scrape while the client is unreachable"
assert_contains "$(cat "$TEST_TMP/hole.body")" "no answer from the client" "its body"

# --- 3. a new mapping --------------------------------------------------------------------
ip netns exec "$LB_NETNS" nft delete table inet ppxlb_vanish || fail "lifting the drop"
t_lift=$(lb_now)
log "drop lifted"
wait_until $((NAT_CLIENT_BOUND_S + 10)) "$FQDN back in /clients" listed
back=$(lb_elapsed "$t_lift")
echo "FIGURE nat_client_repoll_s=$back bound=$NAT_CLIENT_BOUND_S"
awk -v m="$back" -v b="$((NAT_CLIENT_BOUND_S * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
    fail "the client polled again $back s after the drop was lifted, over the bound $NAT_CLIENT_BOUND_S s"

# --- 4. served again -----------------------------------------------------------------------
for i in 1 2 3; do scrape_ok "after_$i"; done
# --- 5. a scrape handed to a held poll whose mapping is gone ------------------------------
# The client polls again at once after each scrape, so a poll is held now. Drop again and
# scrape at once: the proxy writes the scrape into the dead poll's connection; the scrape
# is answered 500 at its timeout (not held longer), and once the mapping returns the FQDN
# is scraped again.
lb_netns_vanish || fail "nft in namespace $LB_NETNS"
start_scrape dead_poll "http://$FQDN:$EXPORTER_PORT/echo" 3
t_dp=$(lb_now)
wait_exit "$BG_PID" $((3 + 10))
dp=$(lb_elapsed "$t_dp")
log "scrape into the dead poll: status $(cat "$TEST_TMP/dead_poll.log") after $dp s: $(head -c 300 "$TEST_TMP/dead_poll.body")"
echo "FIGURE nat_scrape_into_dead_poll_s=$dp bound=4"
assert_eq 500 "$(cat "$TEST_TMP/dead_poll.log")" "status of a scrape handed to the dead poll"
assert_contains "$(cat "$TEST_TMP/dead_poll.body")" "no answer from the client within 3s" "its body"
awk -v m="$dp" -v b="$((4 * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
    fail "the scrape handed to the dead poll was answered after $dp s"
ip netns exec "$LB_NETNS" nft delete table inet ppxlb_vanish || fail "lifting the drop"
t_lift2=$(lb_now)
scrape_200() {
    http_code_body GET "http://$FQDN:$EXPORTER_PORT/echo" -x "$PROXY_URL" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 2'
    [ "$HTTP_CODE" = 200 ]
}
wait_until $((NAT_CLIENT_BOUND_S + DEAD_S + 10)) "$FQDN scraped again after the second drop" scrape_200
log "scraped again $(lb_elapsed "$t_lift2") s after the second lift"
scrape_ok after_second_drop

# The proxy still serves a client on loopback (through its own address).
start_bg other python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" --fqdn other.test \
    --use-localhost --max-seconds 60
OTHER_PORT=$(free_port)
start_bg other_exporter python3 "$EXPORTER" --port "$OTHER_PORT"
wait_http "http://127.0.0.1:$OTHER_PORT/echo" 20
wait_until 20 "other.test listed" sh -c "curl -fsS --max-time 2 '$PROXY_URL/clients' | grep -q other.test"
http_code_body GET "http://other.test:$OTHER_PORT/echo" -x "$PROXY_URL" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
assert_eq 200 "$HTTP_CODE" "scrape of another client after the fault"
assert_contains "$HTTP_BODY" 'echo_host{host="other.test:' "body of another client's scrape"
log "dropped within $gone s (bound $NAT_PROXY_BOUND_S), polled again $back s after the lift (bound $NAT_CLIENT_BOUND_S)"
exit 0
