#!/usr/bin/env bash
# fault_accept_burst.sh - a poll accepted in the same burst as a flood of silent
# connections larger than --web.max-idle-connections is served, not closed.
#
# The proxy is stopped (SIGSTOP) while a good client connects and sends its poll, then 60
# silent sockets connect behind it: all 61 wait in the kernel's accept queue, in that
# order. On SIGCONT the worker accepts them in one turn, before it has read any. Closing
# the longest-waiting connection would close the good poll (its request unread in its
# socket) for the sake of the silent ones accepted after it; the proxy refuses the newest
# instead. One worker, so a single accept queue keeps the order.
# tsan: yes
. "$(dirname "$0")/lib.sh"

command -v ss >/dev/null || skip "ss is not installed (Debian: iproute2)"
MAX_IDLE=10
FLOOD=60
start_proxy --workers=1 --log.level=info --web.max-idle-connections=$MAX_IDLE \
    --web.idle-timeout=30s

# established COUNT: connections to the proxy's port that the kernel has completed.
established() {
    [ "$(ss -Htn state established "( dport = :$PROXY_PORT )" | wc -l)" -ge "$1" ]
}

kill -STOP "$PROXY_PID"
start_poll good_poll_burst good.test
wait_until 10 "the poll's connection" established 1
sleep 0.2 # curl writes its request right after connecting; it then sits in the socket
start_bg flood python3 "$TESTCLIENT" hold --port "$PROXY_PORT" --count $FLOOD --seconds 6
FLOOD_PID=$BG_PID
wait_until 10 "$FLOOD silent connections" established $((FLOOD + 1))
kill -CONT "$PROXY_PID"

start_scrape good_scrape_burst http://good.test:9100/metrics 20
good_scrape_finish burst

wait_exit "$FLOOD_PID" 30
log "flood: $(cat "$TEST_TMP/flood.log")"
# Everything past the limit was refused: the burst was larger than it.
http_code_body GET "$PROXY_URL/metrics"
hits=$(printf '%s\n' "$HTTP_BODY" |
    awk '$1 == "pushprox_proxy_limit_rejections_total{limit=\"web.max-idle-connections\"}" {print $2}')
[ -n "$hits" ] && [ "${hits%.*}" -ge $((FLOOD + 1 - MAX_IDLE)) ] ||
    fail "web.max-idle-connections rejections: [$hits], want >= $((FLOOD + 1 - MAX_IDLE))"
grep -q 'msg="new connection closed: limit reached"' "$TEST_TMP/proxy.log" ||
    fail "no 'new connection closed' in the proxy's log"
log "a poll accepted before $FLOOD silent connections in one burst was served"
