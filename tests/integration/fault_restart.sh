#!/usr/bin/env bash
# fault_restart.sh - the proxy restarted under 1,000 clients.
#
# 1,000 simulated clients (pushprox-bench: each holds a poll and answers its scrapes with a
# body naming its FQDN and the scrape's Id; it reconnects 100 ms after losing the proxy,
# SIM_CLIENT_RETRY_MS), plus 5 of our clients and 5 upstream-like ones (testclient.py
# --upstream-timing) with a real exporter; the bench scrapes 2 a second throughout. The
# proxy is stopped twice and started again on the same port:
#   1. kill -TERM (it drains: its held polls are ended, it exits);
#   2. kill -9.
# After each start, all 1,010 FQDNs are back in /clients within RESTART_BOUND_S of the new
# proxy serving /-/ready (the bench's clients retry every 100 ms; ours wait at most
# --proxy.retry.max-wait=5s (default) between attempts, upstream-like ones 5 s), and a
# scrape of a sample of FQDNs (bench clients, ours, upstream-like) is answered 200 by the
# right client. At the end the bench reports no scrape misrouted or duplicated, and lost only
# the one each stop may cut in flight.
# `FIGURE restart_<term|kill9>_all_back_s=...` (from the new proxy being ready) and
# `..._from_stop_s` (from the signal).
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_BIN="$BUILD/pushprox-bench"
EXPORTER="$ROOT/tests/integration/client_exporter.py"
require_bin "$BENCH_BIN"
require_bin "$CLIENT_BIN"
N_BENCH=1000
N_REAL=5
TOTAL=$((N_BENCH + 2 * N_REAL))
# Our clients' longest wait between attempts (5 s), plus a second for 1,010 connections
# and polls to be accepted and registered.
RESTART_BOUND_S=6

start_proxy --log.level=info
EXPORTER_PORT=$(free_port)
start_bg exporter python3 "$EXPORTER" --port "$EXPORTER_PORT"
wait_http "http://127.0.0.1:$EXPORTER_PORT/echo" 20

# The bench's scrape phase outlasts the test; it is stopped (SIGTERM) at the end.
start_bg bench "$BENCH_BIN" --proxy.address="127.0.0.1:$PROXY_PORT" --clients="$N_BENCH" \
    --scrapers=1 --rate=2 --duration=600s --registration.wait=60s --progress=false \
    --scrape.timeout=5s --body-size=200 --log.level=error
BENCH_PID=$BG_PID
for i in $(seq 1 "$N_REAL"); do
    start_bg "ours_$i" "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn="ours$i.test" \
        --scrape.use-localhost --metrics-addr= --log.level=warn
    start_bg "up_$i" python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" --fqdn "up$i.test" \
        --use-localhost --upstream-timing --max-seconds 600
done

# listed: how many distinct FQDNs /clients lists now.
listed() {
    curl -fsS --max-time 5 "$PROXY_URL/clients" 2>/dev/null | python3 -c '
import json, sys
try:
    print(len({t for g in json.load(sys.stdin) for t in g["targets"]}))
except Exception:
    print(0)'
}
all_listed() { [ "$(listed)" -ge "$TOTAL" ]; }
wait_until 60 "all $TOTAL clients listed" all_listed

# sample_scrapes TAG: a sample of FQDNs, each answered 200 by its own client.
sample_scrapes() {
    local n
    for n in 0 250 500 750 999; do
        http_code_body GET "http://c$n.bench:9100/metrics" -x "$PROXY_URL" \
            -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
        assert_eq 200 "$HTTP_CODE" "scrape of c$n.bench ($1; body: ${HTTP_BODY:0:200})"
        assert_contains "${HTTP_BODY:0:200}" "fqdn=c$n.bench id=" "body of the scrape of c$n.bench ($1)"
    done
    for n in 1 "$N_REAL"; do
        for f in "ours$n.test" "up$n.test"; do
            http_code_body GET "http://$f:$EXPORTER_PORT/echo" -x "$PROXY_URL" \
                -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
            assert_eq 200 "$HTTP_CODE" "scrape of $f ($1; body: $HTTP_BODY)"
            assert_contains "$HTTP_BODY" "echo_host{host=\"$f:$EXPORTER_PORT\"} 1" "body of the scrape of $f ($1)"
        done
    done
}
sample_scrapes before

restart() {
    local how=$1 sig=$2 t_stop t_ready back from_stop
    log "$how: stopping the proxy (pid $PROXY_PID) with SIG$sig under $(listed) clients"
    t_stop=$(date +%s.%N)
    kill "-$sig" "$PROXY_PID"
    if [ "$sig" = TERM ]; then
        wait_exit "$PROXY_PID" 30
        assert_eq 0 "$EXIT_RC" "the proxy's exit status after SIGTERM"
    else
        # Reaped here: lib.sh would take the 137 for a crash.
        local i rc=0
        wait "$PROXY_PID" 2>/dev/null || rc=$?
        assert_eq 137 "$rc" "the proxy's exit status after SIGKILL"
        i=$(bg_index "$PROXY_PID") && BG_PIDS[i]=""
    fi
    start_bg "proxy_$how" "$PROXY_BIN" --web.listen-address="127.0.0.1:$PROXY_PORT" \
        --log.level=info
    PROXY_PID=$BG_PID
    wait_http "$PROXY_URL/-/ready" 20
    t_ready=$(date +%s.%N)
    wait_until $((RESTART_BOUND_S + 20)) "all $TOTAL clients back after $how" all_listed
    back=$(awk -v t="$t_ready" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f", now - t }')
    from_stop=$(awk -v t="$t_stop" -v now="$(date +%s.%N)" 'BEGIN { printf "%.2f", now - t }')
    echo "FIGURE restart_${how}_all_back_s=$back bound=$RESTART_BOUND_S clients=$TOTAL"
    echo "FIGURE restart_${how}_from_stop_s=$from_stop"
    awk -v m="$back" -v b="$((RESTART_BOUND_S * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
        fail "after $how, all $TOTAL clients were back only $back s after the proxy was ready (bound $RESTART_BOUND_S s)"
    sample_scrapes "after $how"
}
restart term TERM
restart kill9 KILL

# The bench: no scrape misrouted, lost or duplicated over the whole run (errors while the
# proxy was down are expected: refused connections, cut scrapes).
kill -TERM "$BENCH_PID"
# Reaped here, not by wait_exit: the bench exits 1 when any scrape was lost, and up to two
# are expected (below); its status is checked once the summary says why.
wait_until 30 "the bench to exit" pid_exited "$BENCH_PID"
bench_rc=0
wait "$BENCH_PID" 2>/dev/null || bench_rc=$?
summary=$(grep -E 'errors|id checks|scrapes  ' "$TEST_TMP/bench.log")
log "bench: $summary (exit status $bench_rc)"
assert_contains "$summary" "misrouted 0 duplicate 0 lost" "the bench's errors"
# "lost" counts a scrape whose connection the stopping proxy cut while it was in flight:
# one scraper, so at most one per stop (two). More would be scrapes the proxies lost.
lost=$(sed -nE 's/.* lost ([0-9]+) .*/\1/p' <<<"$summary" | head -n1)
[ -n "$lost" ] && [ "$lost" -le 2 ] || fail "the bench lost $lost scrapes (at most 2 cut by the two stops)"
# Exit 1 is the bench's verdict on those lost scrapes, and only then; lib.sh checks the
# rest (sanitizer reports, any other status).
[ "$bench_rc" = 1 ] && [ "$lost" -ge 1 ] && bench_rc=0
if i=$(bg_index "$BENCH_PID"); then
    check_ours "$i" "$bench_rc"
    BG_PIDS[i]=""
fi
assert_contains "$summary" "polls given another fqdn's scrape 0" "the bench's id checks"
log "all $TOTAL clients back within the bound after each restart; nothing misrouted"
exit 0
