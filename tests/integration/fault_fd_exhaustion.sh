#!/usr/bin/env bash
# fault_fd_exhaustion.sh - the proxy runs out of file descriptors and comes back.
#
# With 256 open files and two workers, a bad actor opens 400 connections three times over,
# holds them and lets them go. The proxy must not spin while full (libuv's own accept loop
# calls back with EMFILE for ever once another loop took its spare descriptor), must say so
# in a bounded number of log lines with a count, count it on /metrics, serve a client that
# was already connected, serve new ones once descriptors free up, and stop on SIGTERM.
# tsan: yes
. "$(dirname "$0")/lib.sh"

START_NOFILE=256 start_proxy --workers=2 --log.level=info --web.max-idle-connections=100000
unset START_NOFILE

# A client already connected, holding a poll while the proxy is full.
start_poll held_poll good.test
HELD_POLL_PID=$POLL_PID

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PROXY_PID/stat"; }

start_bg flood python3 "$TESTCLIENT" hold --port "$PROXY_PORT" --count 400 --seconds 4 --rounds 3
FLOOD_PID=$BG_PID
# Wait until it is full (the first pause is logged), then measure CPU over three seconds.
wait_until 20 "the proxy to run out of descriptors" grep -q 'accepting paused' "$TEST_TMP/proxy.log"
t0=$(cpu_ticks)
sleep 3
t1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
cpu_ms=$(((t1 - t0) * 1000 / hz))
log "proxy CPU while out of descriptors: ${cpu_ms} ms in 3000 ms"
# A spinning worker burns a whole core (3000 ms here); idle it uses almost nothing.
[ "$cpu_ms" -lt $((600 * WAIT_SCALE)) ] || fail "the proxy spins while out of descriptors: ${cpu_ms} ms of CPU in 3 s"

wait_exit "$FLOOD_PID" $((60))
log "flood: $(tr '\n' ' ' <"$TEST_TMP/flood.log")"

# Bounded logs: at most one line per worker per second (plus one each), with a count.
lines=$(grep -c 'accepting paused' "$TEST_TMP/proxy.log")
log "'accepting paused' lines: $lines"
[ "$lines" -ge 1 ] || fail "no log line said accepting paused"
[ "$lines" -le $((2 * (SECONDS + 2))) ] || fail "$lines 'accepting paused' lines in ${SECONDS}s: not rate-limited"
assert_contains "$(grep -m1 'accepting paused' "$TEST_TMP/proxy.log")" "pauses=" "the pause log line"

# Counted.
http_code_body GET "$PROXY_URL/metrics"
assert_eq 200 "$HTTP_CODE" "/metrics after the flood"
paused=$(printf '%s\n' "$HTTP_BODY" | awk '$1 == "pushprox_proxy_accept_paused_total" {print $2}')
[ -n "$paused" ] && [ "${paused%.*}" -ge 1 ] || fail "pushprox_proxy_accept_paused_total is [$paused]"

# The client that held its poll through it all gets its scrape; a new one is served too.
POLL_PID=$HELD_POLL_PID
start_scrape held_scrape "http://good.test:9100/metrics" 20
poll_done held_poll
make_response "$TEST_TMP/held_push" "$POLL_ID" "held 1"
push "$TEST_TMP/held_push"
assert_eq 200 "$HTTP_CODE" "push of the held poll's scrape"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/held_scrape.log")" "scrape through the poll held while full"
good_scrape after_flood

# And it stops on SIGTERM, cleanly.
rc=0
stop_pid "$PROXY_PID" 10 || rc=$?
# shellcheck disable=SC2034 # read by lib.sh's stop_all: reaped, not to be signalled again
BG_PIDS[0]=""
assert_eq 0 "$rc" "exit status of the proxy on SIGTERM after running out of descriptors"
log "no spin, bounded logs, counted, recovered, stopped"
