#!/usr/bin/env bash
# fault_memory.sh - memory under a flood of the largest requests the limits allow.
#
# With --push.max-size=4MiB and --push.max-buffered=8MiB, 30 clients announce 4 MiB pushes
# at once and send them slowly: two fit the budget, the rest are answered 503 at once; 300
# slow heads of up to --http.max-header-bytes are held at most --web.max-idle-connections
# per worker. The proxy's RSS stays under the bound the limits give, every refusal is
# counted, the budget comes back to zero, and a good scrape follows.
# tsan: no
. "$(dirname "$0")/lib.sh"

start_proxy --workers=2 --push.max-size=4MiB --push.max-buffered=8MiB \
    --http.max-header-bytes=16KiB --web.max-idle-connections=64 --log.level=info
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PROXY_PID/status"; }
base=$(rss_kib)

python3 - "$PROXY_PORT" >"$TEST_TMP/flood.out" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
pushes, heads = [], []
for i in range(30):  # 4 MiB pushes, announced and then trickled
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 << 20))
    s.sendall(b"HTTP/1.1 200 OK\r\n" + b"x" * (512 << 10))
    pushes.append(s)
for i in range(300):  # heads of 15 KiB that never end
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (15 << 10))
    heads.append(s)
time.sleep(2)
refused = 0
for s in pushes:
    s.setblocking(False)
    try:
        d = s.recv(4096)
        if d.startswith(b"HTTP/1.1 503"):
            refused += 1
    except BlockingIOError:
        pass  # not answered: still taking bytes
    except ConnectionResetError:
        pass  # answered and closed, but the answer was lost to the reset: not counted
print("refused_pushes=%d" % refused, flush=True)
time.sleep(1)
for s in pushes + heads:
    s.close()
PY
peak=$(rss_kib)
log "flood: $(cat "$TEST_TMP/flood.out"); RSS before ${base} KiB, during ${peak} KiB"
refused=$(sed -n 's/refused_pushes=//p' "$TEST_TMP/flood.out")
[ "$refused" -ge 26 ] || fail "only $refused of 30 pushes over the 8 MiB budget were refused"
# The bound: the push budget (8 MiB), plus each worker's 64 unready connections with a
# 16 KiB head and a 64 KiB read (2 x 64 x 80 KiB = 10 MiB), plus connection structs and
# the base: 8 + 10 + 2 MiB over what the proxy had before.
bound=$((base + (8 + 10 + 2) * 1024))
[ "$peak" -le "$bound" ] || fail "RSS ${peak} KiB during the flood, over the bound ${bound} KiB"

budget_back() {
    curl -fsS "$PROXY_URL/metrics" | grep -q '^pushprox_proxy_push_buffered_bytes 0$'
}
wait_until 10 "the push budget back to zero" budget_back
m=$(curl -fsS "$PROXY_URL/metrics")
assert_contains "$m" 'pushprox_proxy_limit_rejections_total{limit="push.max-buffered"}' "counted refusals"
hits=$(printf '%s\n' "$m" | awk '$1 == "pushprox_proxy_limit_rejections_total{limit=\"push.max-buffered\"}" {print $2}')
[ "${hits%.*}" -ge 26 ] || fail "push.max-buffered rejections: $hits"
good_scrape after_flood
log "memory stayed bounded under the flood"
