#!/usr/bin/env bash
# fault_silent_connections.sh - connections that send nothing, or a head one byte a second,
# at the descriptor limit: good clients are still served.
#
# --web.idle-timeout closes a connection that sends no request; --web.max-idle-connections
# bounds, per worker, the connections without a complete head, closing the one that waited
# longest. A flood of silent and slowloris sockets far over the descriptor limit cannot
# keep a poll or a scrape from getting through.
# tsan: yes
. "$(dirname "$0")/lib.sh"

START_NOFILE=300 start_proxy --workers=2 --log.level=info --web.max-idle-connections=50 \
    --web.idle-timeout=2s
unset START_NOFILE

# 1. One silent connection is closed by the idle timeout (2 s, checked each second).
python3 "$TESTCLIENT" hold --port "$PROXY_PORT" --count 5 --seconds $((5 * WAIT_SCALE)) \
    >"$TEST_TMP/idle.out"
log "idle: $(cat "$TEST_TMP/idle.out")"
assert_contains "$(cat "$TEST_TMP/idle.out")" "closed_by_server=5" "silent connections past --web.idle-timeout"

# 2. A flood: 600 silent and 600 slowloris sockets, twice the proxy's descriptors.
start_bg silent python3 "$TESTCLIENT" hold --port "$PROXY_PORT" --count 600 --seconds 15
SILENT_PID=$BG_PID
start_bg slow python3 "$TESTCLIENT" hold --port "$PROXY_PORT" --count 600 --seconds 15 --slowloris
SLOW_PID=$BG_PID
wait_until 20 "the idle limit to be hit" grep -q 'limit=web.max-idle-connections' "$TEST_TMP/proxy.log"
# Good clients get through, three times over, while it lasts.
for i in 1 2 3; do
    good_scrape "during_flood_$i"
done
wait_exit "$SILENT_PID" 60
wait_exit "$SLOW_PID" 60
log "silent: $(cat "$TEST_TMP/silent.log")"
log "slowloris: $(cat "$TEST_TMP/slow.log")"

http_code_body GET "$PROXY_URL/metrics"
hits=$(printf '%s\n' "$HTTP_BODY" |
    awk '$1 == "pushprox_proxy_limit_rejections_total{limit=\"web.max-idle-connections\"}" {print $2}')
[ -n "$hits" ] && [ "${hits%.*}" -ge 1 ] || fail "web.max-idle-connections rejections: [$hits]"
good_scrape after_flood
log "silent and slow peers cut off; good clients served throughout"
