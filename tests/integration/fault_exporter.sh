#!/usr/bin/env bash
# fault_exporter.sh - exporters that misbehave, scraped by our client through our proxy,
# while a good exporter on the same host is scraped at the same time:
#   slow     answers after 30 s, the scrape's timeout is 2 s;
#   dead     nothing listens on its port (connection refused);
#   garbage  answers bytes that are not HTTP, then closes;
#   endless  200 without a length, streaming for ever (bounded by --scrape.max-size=1MiB).
# For each: the status and body Prometheus (curl, as Prometheus, through the proxy) gets,
# which must name the cause; the client logs one "scrape failed" line per failed scrape,
# and a burst of them is rate-limited (at most 10 a second, then suppressed=N); the good
# exporter's scrapes all succeed meanwhile, and afterwards. Each bad scrape's answer time
# is printed as `FIGURE exporter_<mode>_s=...` with its bound.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

EXPORTER="$ROOT/tests/integration/client_exporter.py"
FQDN=exp.test
TIMEOUT_S=2
require_bin "$CLIENT_BIN"
start_proxy --log.level=info
GOOD_PORT=$(free_port)
BAD_PORT=$(free_port)
DEAD_PORT=$(free_port)
start_bg good python3 "$EXPORTER" --port "$GOOD_PORT"
start_bg bad python3 "$EXPORTER" --port "$BAD_PORT"
wait_http "http://127.0.0.1:$GOOD_PORT/echo" 20
wait_http "http://127.0.0.1:$BAD_PORT/echo" 20
start_bg client "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn="$FQDN" --scrape.use-localhost \
    --metrics-addr= --log.level=info --scrape.max-size=1MiB --poll.concurrency=4
wait_until 20 "$FQDN listed" sh -c "curl -fsS --max-time 2 '$PROXY_URL/clients' | grep -q '\"$FQDN\"'"

# good_scrape_ok TAG: the good exporter, through the proxy, answered 200 with its own body.
good_ok() {
    http_code_body GET "http://$FQDN:$GOOD_PORT/echo" -x "$PROXY_URL" \
        -H "X-Prometheus-Scrape-Timeout-Seconds: $TIMEOUT_S"
    assert_eq 200 "$HTTP_CODE" "status of good scrape $1 (body: $HTTP_BODY)"
    assert_contains "$HTTP_BODY" "echo_host{host=\"$FQDN:$GOOD_PORT\"} 1" "body of good scrape $1"
}
good_ok before

declare -A URL=(
    [slow]="http://$FQDN:$BAD_PORT/slow?s=30"
    [dead]="http://$FQDN:$DEAD_PORT/metrics"
    [garbage]="http://$FQDN:$BAD_PORT/garbage"
    [endless]="http://$FQDN:$BAD_PORT/endless"
)
# What the body must name, and the bound on the answer's time (the scrape timeout, plus
# 1 s for the client's push and the relay; refused and garbage come at once).
declare -A CAUSE=(
    [slow]="within 2s (is it polling this proxy under that name? is its exporter that slow?)"
    [dead]="connection refused"
    [garbage]="failed to scrape"
    [endless]="more than --scrape.max-size=1048576 bytes"
)
declare -A BOUND=([slow]=$((TIMEOUT_S + 1)) [dead]=1 [garbage]=1 [endless]=$((TIMEOUT_S + 1)))
MODES=(slow dead garbage endless)
declare -A PID T0
for m in "${MODES[@]}"; do
    T0[$m]=$(date +%s.%N)
    start_scrape "$m" "${URL[$m]}" "$TIMEOUT_S"
    PID[$m]=$BG_PID
done
# While they fail, the good exporter is scraped: every scrape succeeds.
for i in 1 2 3 4 5; do good_ok "during_$i"; done
for m in "${MODES[@]}"; do
    wait_exit "${PID[$m]}" $((TIMEOUT_S + 15))
    secs=$(awk -v t="${T0[$m]}" -v now="$(stat -c %.9Y "$TEST_TMP/$m.log")" \
        'BEGIN { printf "%.2f", now - t }')
    code=$(cat "$TEST_TMP/$m.log")
    body=$(head -c 400 "$TEST_TMP/$m.body")
    log "$m: status $code after $secs s: $body"
    echo "FIGURE exporter_${m}_s=$secs bound=${BOUND[$m]} status=$code"
    assert_eq 500 "$code" "status of the $m exporter's scrape"
    if [ "$m" = slow ] && [[ $body == *"${URL[slow]}: timeout after $TIMEOUT_S.000s"* ]]; then
        # Both timers are $TIMEOUT_S s; the client's starts later, but each loop's clock is
        # read once a turn, so on a loaded host its report can reach the proxy first.
        log "slow: the client's timeout report arrived before the proxy's own timeout"
    else
        assert_contains "$body" "${CAUSE[$m]}" "body of the $m exporter's scrape"
    fi
    awk -v m="$secs" -v b="$((BOUND[$m] * WAIT_SCALE))" 'BEGIN { exit !(m <= b) }' ||
        fail "the $m exporter's scrape was answered after $secs s, over ${BOUND[$m]} s"
done
# The slow one: the client's own timeout fired at about the same instant as the proxy's
# (Prometheus gives up at that instant too); whichever answer came first, the client logs
# its cause.
grep -q 'msg="scrape failed".*slow?s=30: timeout after 2.000s' "$TEST_TMP/client.log" ||
    fail "the client's log does not name the slow exporter's timeout"
# One log line per failed scrape, each naming the URL.
for m in "${MODES[@]}"; do
    n=$(grep -F -c "${URL[$m]}" <(grep 'msg="scrape failed"' "$TEST_TMP/client.log"))
    assert_eq 1 "$n" "the client's log lines about the $m exporter"
done
# A burst of 40 scrapes of the dead exporter: at most 10 lines in the second they come in,
# and the next line after it counts the rest as suppressed.
before=$(grep -c 'msg="scrape failed"' "$TEST_TMP/client.log")
# 40 scrapes at once (threads of one python process, so they come within a second).
python3 - "$PROXY_PORT" "http://$FQDN:$DEAD_PORT/metrics" "$TIMEOUT_S" >"$TEST_TMP/burst.out" <<'PY' ||
import http.client, sys, threading
port, url, timeout = int(sys.argv[1]), sys.argv[2], sys.argv[3]
codes = []
def one():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", url, headers={"X-Prometheus-Scrape-Timeout-Seconds": timeout})
    codes.append(c.getresponse().status)
ts = [threading.Thread(target=one) for _ in range(40)]
for t in ts: t.start()
for t in ts: t.join(30)
print(" ".join(str(c) for c in sorted(codes)))
PY
    fail "the burst of scrapes"
assert_eq "$(printf '500 %.0s' $(seq 1 40) | sed 's/ $//')" "$(cat "$TEST_TMP/burst.out")" \
    "statuses of the 40 burst scrapes"
# Past the second of the burst: the next line carries the count of those suppressed.
sleep 1.2
start_scrape burst_after "http://$FQDN:$DEAD_PORT/metrics" "$TIMEOUT_S"
wait_exit "$BG_PID" 20
lines=$(($(grep -c 'msg="scrape failed"' "$TEST_TMP/client.log") - before))
log "burst of 41 failed scrapes: $lines log lines; $(grep -o 'suppressed=[0-9]*' "$TEST_TMP/client.log" | tail -1)"
echo "FIGURE exporter_burst_log_lines=$lines scrapes=41"
[ "$lines" -le 12 ] || fail "41 failed scrapes wrote $lines log lines (rate limit: 10 a second)"
grep -q 'msg="scrape failed".*suppressed=[1-9]' "$TEST_TMP/client.log" ||
    fail "no 'suppressed=N' in the client's log after the burst"
# The client and the proxy still serve.
for i in 1 2 3; do good_ok "after_$i"; done
log "each bad exporter answered 500 naming its cause; the good one was served throughout"
exit 0
