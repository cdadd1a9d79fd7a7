#!/usr/bin/env bash
# proxy_polls.sh - the life of polls and of entries in /clients.
#
# With --poll.max-hold an idle poll is answered 408 (and the client is still listed);
# beyond --poll.max-per-fqdn the oldest waiting poll gets 408 and the others still serve
# scrapes; a scrape's timeout is capped by --scrape.max-timeout; with hold-forever polls a
# connected but idle client stays in /clients past --registration.timeout (upstream drops
# it), and once its connection is gone it leaves /clients.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# metric NAME: the value of an unlabelled sample on the proxy's /metrics (empty if absent).
metric() {
    curl -fsS --max-time 3 "$PROXY_URL/metrics" 2>/dev/null | awk -v n="$1" '$1 == n {print $2}'
}
polls_waiting_is() { [ "$(metric pushprox_proxy_polls_waiting)" = "$1" ]; }
listed() { curl -fsS --max-time 2 "$PROXY_URL/clients" 2>/dev/null | grep -q "\"$1\""; }
not_listed() { ! listed "$1"; }

# --- proxy A: short holds, two polls per FQDN, short scrape cap ---------------------------
start_proxy --poll.max-hold=2s --poll.max-per-fqdn=2 --scrape.max-timeout=2s \
    --registration.timeout=1m

# An idle poll is answered 408 after --poll.max-hold (bounded wait: far beyond 2 s).
start_poll idle1 hold.test
wait_exit "$POLL_PID" 30
assert_eq 408 "$(cat "$TEST_TMP/idle1.log")" "status of an idle poll after --poll.max-hold"
listed hold.test || fail "hold.test left /clients right after its poll was answered 408"

# Three polls for one FQDN with --poll.max-per-fqdn=2: the oldest is answered 408.
# (--poll.max-hold=2s would answer them all; use a second proxy without it.)
stop_bg "$PROXY_PID"
start_proxy --poll.max-per-fqdn=2 --scrape.max-timeout=2s --registration.timeout=1m
start_poll evict1 many.test
P1=$POLL_PID
wait_until 20 "first poll waiting" polls_waiting_is 1
start_poll evict2 many.test
P2=$POLL_PID
wait_until 20 "second poll waiting" polls_waiting_is 2
start_poll evict3 many.test
P3=$POLL_PID
wait_exit "$P1" 30
assert_eq 408 "$(cat "$TEST_TMP/evict1.log")" "status of the oldest poll beyond --poll.max-per-fqdn"
wait_until 20 "two polls waiting after the eviction" polls_waiting_is 2
# The two others still serve scrapes, one each (whichever the proxy picks first).
waiting_pids=("$P2" "$P3")
waiting_names=(evict2 evict3)
one_exited() { ! kill -0 "${waiting_pids[0]}" 2>/dev/null || ! kill -0 "${waiting_pids[1]}" 2>/dev/null; }
for n in 1 2; do
    start_scrape "evict_scrape$n" "http://many.test:9100/metrics" 10
    wait_until 30 "a waiting poll answered with scrape $n" one_exited
    k=0
    kill -0 "${waiting_pids[0]}" 2>/dev/null && k=1
    POLL_PID=${waiting_pids[$k]}
    poll_done "${waiting_names[$k]}"
    # The answered poll is done: both slots now name the one still waiting.
    waiting_pids[k]=${waiting_pids[1 - k]}
    waiting_names[k]=${waiting_names[1 - k]}
    make_response "$TEST_TMP/evict_push$n" "$POLL_ID" "evict_metric $n"
    push "$TEST_TMP/evict_push$n"
    assert_eq 200 "$HTTP_CODE" "push for scrape $n after an eviction"
    wait_exit "$SCRAPE_PID" 30
    assert_eq 200 "$(cat "$TEST_TMP/evict_scrape$n.log")" "scrape $n after an eviction"
    assert_eq "evict_metric $n" "$(cat "$TEST_TMP/evict_scrape$n.body")" "body of scrape $n"
done

# A scrape asking for 60 s is capped to --scrape.max-timeout=2s: it fails well before 60 s.
start_scrape capped "http://nobody.test:9100/metrics" 60
wait_exit "$SCRAPE_PID" 30
assert_eq 500 "$(cat "$TEST_TMP/capped.log")" "status of a scrape capped by --scrape.max-timeout"
assert_starts_with "$(cat "$TEST_TMP/capped.body")" 'Error scraping "' "body of a capped scrape"

# --- proxy B: idle clients stay listed while connected -------------------------------------
stop_bg "$PROXY_PID"
start_proxy --registration.timeout=1s
start_poll alive alive.test
wait_until 20 "alive.test in /clients" listed alive.test
# Let --registration.timeout (1 s) pass several times over; the poll is still open, so
# the client must still be listed. (Letting time pass is the point here, not a wait.)
sleep 4
listed alive.test || fail "an idle client with a poll open left /clients after --registration.timeout"
# Its connection goes away: it leaves /clients (bounded wait).
stop_bg "$POLL_PID"
wait_until 30 "alive.test gone from /clients after its connection closed" not_listed alive.test
# A poll pipelined behind a push, then the connection closes: the proxy must see the close
# (reading resumes while the pipelined poll waits) and drop the client.
python3 - "$PROXY_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
push = b"HTTP/1.1 200 OK\r\nId: 0.0.1.00\r\nContent-Length: 0\r\n\r\n"
s.sendall(b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(push), push) +
          b"POST /poll HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\npipelined.test")
time.sleep(1)  # the push is answered and the pipelined poll registered
s.close()
PY
wait_until 30 "pipelined.test gone from /clients after its connection closed" not_listed pipelined.test
[ "$(ss -Htn state close-wait "sport = :$PROXY_PORT" | wc -l)" = 0 ] ||
    fail "connections left in CLOSE-WAIT: $(ss -Htn state close-wait "sport = :$PROXY_PORT")"

log "poll holds, evictions, timeout caps and /clients liveness behave"
exit 0
