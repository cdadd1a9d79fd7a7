#!/usr/bin/env bash
# proxy_timeouts.sh - slow and stuck peers cannot hold a connection forever:
#   --web.read-timeout: a request that never finishes arriving gets 408 and is closed;
#   --web.write-timeout: a scraper that never reads its (large) relayed response is closed,
#   and the proxy keeps serving.
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

start_proxy --web.read-timeout=1s --web.write-timeout=2s

# --- a head that never ends: 408 within the timeout plus one housekeeping tick ----------
python3 - "$PROXY_PORT" >"$TEST_TMP/slow.out" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # no blank line: never complete
s.settimeout(10)
t = time.time()
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except socket.timeout:
    pass
print(data.split(b"\r\n")[0].decode() if data else "no answer", "after %.1fs" % (time.time() - t))
EOF
assert_starts_with "$(cat "$TEST_TMP/slow.out")" "HTTP/1.1 408" "answer to a request that never ends"
good_scrape slow_request

# --- a scraper that never reads a 16 MiB answer --------------------------------------------
# A proxy of its own with a read timeout long enough for uploading the 16 MiB push on a
# busy machine: this part is about the write timeout alone.
stop_bg "$PROXY_PID"
start_proxy --web.read-timeout=60s --web.write-timeout=2s
cat >"$TEST_TMP/stuck.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET http://stuck.test:9100/metrics HTTP/1.1\r\nHost: stuck.test:9100\r\n"
          b"X-Prometheus-Scrape-Timeout-Seconds: 30\r\n\r\n")
time.sleep(15)  # never reads; the proxy must give up first
EOF
start_bg stuck python3 "$TEST_TMP/stuck.py" "$PROXY_PORT"
start_poll stuck_poll stuck.test
poll_done stuck_poll
head -c $((16 << 20)) /dev/zero | tr '\0' 'x' >"$TEST_TMP/big.body"
{
    printf 'HTTP/1.1 200 OK\r\nId: %s\r\nContent-Length: %d\r\n\r\n' "$POLL_ID" $((16 << 20))
    cat "$TEST_TMP/big.body"
} >"$TEST_TMP/big.push"
push "$TEST_TMP/big.push"
assert_eq 200 "$HTTP_CODE" "push of the answer the scraper will not read"
closed_for_write() { grep -q 'limit=web.write-timeout' "$TEST_TMP/proxy.log"; }
wait_until 15 "the stuck scraper's connection closed by --web.write-timeout" closed_for_write
good_scrape after_stuck_reader
log "slow and stuck peers were cut off"
exit 0
