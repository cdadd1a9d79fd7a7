#!/usr/bin/env bash
# proxy_drain.sh - /-/healthy and /-/ready; SIGTERM drains: ready turns 503 at once, held
# polls keep waiting for --shutdown.delay and are then let go with 408 and
# "Connection: close", a new poll is let go at once, a scrape in flight still gets its push
# relayed, and the proxy exits 0 once nothing is in flight.
# tsan: yes
. "$(dirname "$0")/lib.sh"

start_proxy --workers=2 --shutdown.delay=2s --shutdown.timeout=20s

http_code_body GET "$PROXY_URL/-/healthy"
assert_eq 200 "$HTTP_CODE" "/-/healthy"
http_code_body GET "$PROXY_URL/-/ready"
assert_eq 200 "$HTTP_CODE" "/-/ready before SIGTERM"
http_code_body POST "$PROXY_URL/-/ready"
assert_eq 405 "$HTTP_CODE" "POST /-/ready"

# A scrape in flight: its poll has been answered, its push not yet made.
start_poll busy_poll busy.test
start_scrape busy_scrape "http://busy.test:9100/metrics" 30
poll_done busy_poll
BUSY_ID=$POLL_ID
# An idle client holding a poll (headers kept, to see Connection: close).
start_bg idle_poll curl -sS -D "$TEST_TMP/idle_poll.hdr" -o "$TEST_TMP/idle_poll.out" \
    -w '%{http_code}' -X POST --data-binary idle.test "$PROXY_URL/poll"
IDLE_PID=$BG_PID
# A function, so each try reads /clients anew (a <(curl) would be read once, on the first).
idle_listed() { curl -fsS "$PROXY_URL/clients" | grep -q idle.test; }
wait_until 10 "the idle poll to be listed" idle_listed

kill -TERM "$PROXY_PID"
t0=$SECONDS
wait_until 5 "/-/ready to answer 503" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$PROXY_URL/-/ready')\" = 503 ]"
http_code_body GET "$PROXY_URL/-/healthy"
assert_eq 200 "$HTTP_CODE" "/-/healthy while draining"
# Within --shutdown.delay the idle poll is still held.
sleep 1
kill -0 "$IDLE_PID" 2>/dev/null || fail "the idle poll was let go before --shutdown.delay"
wait_exit "$IDLE_PID" 10
assert_eq 408 "$(cat "$TEST_TMP/idle_poll.log")" "the idle poll let go by the drain"
assert_contains "$(tr -d '\r' <"$TEST_TMP/idle_poll.hdr")" "Connection: close" "the let-go poll's answer"
[ $((SECONDS - t0)) -ge 2 ] || fail "polls let go after $((SECONDS - t0))s, before --shutdown.delay=2s"
# A poll that comes now is let go at once.
http_code_body POST "$PROXY_URL/poll" --data-binary late.test --max-time 5
assert_eq 408 "$HTTP_CODE" "a poll during the drain"
# A scrape that no poll will come for here any more is refused at once, not held until its
# timeout (which would hold the drain as long).
t1=$SECONDS
http_code_body GET "http://late.test:9100/metrics" -x "$PROXY_URL" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 30' --max-time 10
assert_eq 503 "$HTTP_CODE" "a scrape for an unpolled FQDN during the drain"
assert_contains "$HTTP_BODY" "shutting down" "a scrape for an unpolled FQDN during the drain"
[ $((SECONDS - t1)) -le 2 ] || fail "the scrape during the drain took $((SECONDS - t1))s"
kill -0 "$PROXY_PID" 2>/dev/null || fail "the proxy exited with a scrape in flight"

# The scrape in flight is still answered, then the proxy exits 0.
make_response "$TEST_TMP/busy_push" "$BUSY_ID" "busy 1"
push "$TEST_TMP/busy_push"
assert_eq 200 "$HTTP_CODE" "push of the scrape in flight during the drain"
wait_exit "$SCRAPE_PID" 20
assert_eq 200 "$(cat "$TEST_TMP/busy_scrape.log")" "the scrape in flight during the drain"
assert_eq "busy 1" "$(cat "$TEST_TMP/busy_scrape.body")" "the scrape in flight during the drain"
wait_exit "$PROXY_PID" 10
assert_eq 0 "$EXIT_RC" "exit status after the drain"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'msg="drained: every scrape answered"' "proxy log"

# --shutdown.timeout bounds a drain that cannot finish; a second signal stops at once.
start_proxy --shutdown.timeout=1s
start_poll stuck_poll stuck.test
start_scrape stuck_scrape "http://stuck.test:9100/metrics" 60
poll_done stuck_poll
kill -TERM "$PROXY_PID"
wait_exit "$PROXY_PID" 10
assert_eq 0 "$EXIT_RC" "exit status after --shutdown.timeout"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'limit=shutdown.timeout' "proxy log after a cut drain"
wait_exit "$SCRAPE_PID" 10
log "health, ready and the drain behave"
