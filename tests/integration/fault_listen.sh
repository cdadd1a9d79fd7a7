#!/usr/bin/env bash
# fault_listen.sh - a second proxy on the same port refuses to start; port 0 gives every
# worker one port, which the log names.
# tsan: yes
. "$(dirname "$0")/lib.sh"

start_proxy --workers=2

# A second proxy on the same address must not join the first one's SO_REUSEPORT group.
rc=0
timeout 20 "$PROXY_BIN" --web.listen-address="127.0.0.1:$PROXY_PORT" --workers=2 \
    >"$TEST_TMP/second.log" 2>&1 || rc=$?
log "second proxy: exit $rc: $(cat "$TEST_TMP/second.log")"
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a second proxy on port $PROXY_PORT started (exit $rc)"
assert_contains "$(cat "$TEST_TMP/second.log")" "address already in use" "the second proxy's error"
# The first one still answers everything alone.
good_scrape after_second
[ "$(ss -Hltn "sport = :$PROXY_PORT" | wc -l)" = 2 ] || fail "listeners on $PROXY_PORT: $(ss -Hltnp "sport = :$PROXY_PORT")"

# Port 0: one port, chosen by the kernel, shared by both workers and named in the log.
start_bg proxy0 "$PROXY_BIN" --web.listen-address=127.0.0.1:0 --workers=2 --log.level=info
P0_PID=$BG_PID
wait_until 20 "the port-0 proxy to log its port" grep -q 'msg=listening' "$TEST_TMP/proxy0.log"
line=$(grep -m1 'msg=listening' "$TEST_TMP/proxy0.log")
port=$(printf '%s\n' "$line" | sed -n 's/.* port=\([0-9]*\).*/\1/p')
[ -n "$port" ] && [ "$port" != 0 ] || fail "the log does not name the port: [$line]"
n=$(ss -Hltn "sport = :$port" | wc -l)
assert_eq 2 "$n" "listening sockets on port $port (one per worker)"
# shellcheck disable=SC2034 # read by lib.sh's good_scrape
PROXY_URL="http://127.0.0.1:$port"
good_scrape port_zero
stop_bg "$P0_PID"
log "double start refused; port 0 shared and named"
