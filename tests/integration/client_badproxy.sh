#!/usr/bin/env bash
# client_badproxy.sh - a "proxy" that answers polls with garbage in turn: a truncated
# answer then close, an oversized Content-Length, a 200 without a request, a request
# without Id, a 500 page, an immediate close, and a slow-drip answer. The client must count
# each as a poll error, back off, keep its memory bounded and stay responsive (its
# /metrics answers throughout), and exit 0 on SIGTERM.
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
PX_PORT=$(free_port)
CM_PORT=$(free_port)
cat >"$TEST_TMP/badproxy.py" <<'PY'
import socket, sys, threading, time
modes = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nGET http://h:1/ HTTP/1.1\r\n",  # cut short
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",                        # too large
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",                             # not a request
    b"HTTP/1.1 200 OK\r\nContent-Length: 39\r\n\r\nGET http://h:1/ HTTP/1.1\r\nHost: h\r\n\r\n",  # no Id
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
    b"",                                                                                # close
    b"NOT HTTP AT ALL\r\n\r\n",
]
n = [0]
def serve(c):
    try:
        c.recv(65536)
        m = modes[n[0] % len(modes)]
        n[0] += 1
        c.sendall(m)
        time.sleep(0.05)
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
start_bg badproxy python3 "$TEST_TMP/badproxy.py" "$PX_PORT"
start_bg client "$CLIENT_BIN" --proxy-url="http://127.0.0.1:$PX_PORT" --fqdn=node1.test \
    --metrics-addr="127.0.0.1:$CM_PORT" --proxy.retry.initial-wait=20ms \
    --proxy.retry.max-wait=50ms --log.level=info
CLIENT_PID=$BG_PID
wait_http "http://127.0.0.1:$CM_PORT/metrics" 20

poll_errors() {
    curl -fsS --max-time 5 "http://127.0.0.1:$CM_PORT/metrics" |
        awk '$1 == "pushprox_client_poll_errors_total" { print $2 }'
}
many_errors() { [ "$(poll_errors)" -ge 70 ]; }
wait_until 60 "70 poll errors (ten rounds of seven bad answers)" many_errors
rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$CLIENT_PID/status")
log "client RSS after $(poll_errors) bad poll answers: ${rss_kb} kB"
[ "$rss_kb" -lt $((64 * 1024 * WAIT_SCALE)) ] || fail "client RSS grew to ${rss_kb} kB"
for what in "poll answer is not a usable scrape request" "proxy refused the poll" "poll failed"; do
    grep -q "$what" "$TEST_TMP/client.log" || fail "no [$what] in the client log"
done
kill -0 "$CLIENT_PID" || fail "client died"
log "PASS"
