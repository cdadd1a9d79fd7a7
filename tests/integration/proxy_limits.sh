#!/usr/bin/env bash
# proxy_limits.sh - the count limits refuse work with a clear status, a log line naming
# the limit and a pushprox_proxy_limit_rejections_total count, and the proxy serves on:
#   --scrape.max-queued-per-fqdn  a scrape beyond the queue of an unpolled FQDN: 503
#   --scrape.max-in-flight        a scrape beyond the worker's slots: 503
#   --web.max-connections         a connection beyond the worker's table: closed at once
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# One worker, so every connection and scrape meets the same limits. Two queued scrapes
# per FQDN, three scrapes in flight, six connections (the checks below use at most five
# at a time, the good scrape three of them).
start_proxy --workers=1 --scrape.max-queued-per-fqdn=2 --scrape.max-in-flight=3 \
    --web.max-connections=6

limit_count() { # limit_count LIMIT: the proxy's rejection count for that limit
    curl -fsS --max-time 5 "$PROXY_URL/metrics" |
        awk -v l="limit=\"$1\"" 'index($0, "pushprox_proxy_limit_rejections_total{" l "}") == 1 {print $2}'
}

# --- the queue of an FQDN nobody polls ------------------------------------------------------
start_scrape q1 "http://queued.test:9100/metrics" 8
start_scrape q2 "http://queued.test:9100/metrics" 8
queued_two() { grep -c 'scrape sent.*fqdn=queued.test' "$TEST_TMP/proxy.log" | grep -qx 2; }
wait_until 10 "two scrapes queued for queued.test" queued_two
http_code_body GET "http://queued.test:9100/metrics" -x "$PROXY_URL" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 3'
assert_eq 503 "$HTTP_CODE" "a third scrape for queued.test"
assert_contains "$HTTP_BODY" "--scrape.max-queued-per-fqdn" "the 503's body"
assert_contains "$(cat "$TEST_TMP/proxy.log")" "limit=scrape.max-queued-per-fqdn" "the proxy's log"
assert_eq 1 "$(limit_count scrape.max-queued-per-fqdn)" "rejections counted"
wait_exit "$SCRAPE_PID" 30 # q2 times out: 500
assert_eq 500 "$(cat "$TEST_TMP/q2.log")" "a queued scrape that no poll took"

# --- slots in flight ------------------------------------------------------------------------
start_scrape s1 "http://slot1.test:9100/metrics" 8
start_scrape s2 "http://slot2.test:9100/metrics" 8
start_scrape s3 "http://slot3.test:9100/metrics" 8
three_sent() { [ "$(grep -c 'scrape sent.*fqdn=slot' "$TEST_TMP/proxy.log")" -ge 3 ]; }
wait_until 10 "three scrapes in flight" three_sent
http_code_body GET "http://slot4.test:9100/metrics" -x "$PROXY_URL" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 3'
assert_eq 503 "$HTTP_CODE" "a fourth scrape in flight"
assert_contains "$(cat "$TEST_TMP/proxy.log")" "limit=scrape.max-in-flight" "the proxy's log"
assert_eq 1 "$(limit_count scrape.max-in-flight)" "rejections counted"
wait_exit "$SCRAPE_PID" 30
good_scrape after_slots

# --- connections ----------------------------------------------------------------------------
# Six idle connections fill the table; the seventh is closed at once; when one goes, a new
# connection is served again.
cat >"$TEST_TMP/conns.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
time.sleep(0.5)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(5)
try:
    extra.sendall(b"GET /clients HTTP/1.1\r\nHost: x\r\n\r\n")
    got = extra.recv(100)
except OSError:
    got = b""
print("seventh:", "closed" if not got else got.split(b"\r\n")[0].decode())
held.pop().close()
time.sleep(0.5)
again = socket.create_connection(("127.0.0.1", port))
again.settimeout(5)
again.sendall(b"GET /clients HTTP/1.1\r\nHost: x\r\n\r\n")
print("after one closed:", again.recv(100).split(b"\r\n")[0].decode())
EOF
python3 "$TEST_TMP/conns.py" "$PROXY_PORT" >"$TEST_TMP/conns.out" 2>&1
assert_contains "$(cat "$TEST_TMP/conns.out")" "seventh: closed" "a connection over the limit"
assert_contains "$(cat "$TEST_TMP/conns.out")" "after one closed: HTTP/1.1 200" \
    "a connection once one is free"
assert_contains "$(cat "$TEST_TMP/proxy.log")" "limit=web.max-connections" "the proxy's log"
good_scrape after_connections
log "every limit refused with its status, log line and count"
exit 0
