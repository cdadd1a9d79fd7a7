#!/usr/bin/env bash
# proxy_fold.sh - while the load is low every worker's loop runs on the first worker's
# thread (--workers.fold-below), and the scrape path does not notice.
#
# With --workers 4 --workers.fold-below=20:
#   1. an idle proxy folds: /metrics shows 3 loops lent and one fold, and the log says so;
#      20 new connections one after another (most accepted by a lent loop) are each
#      answered within 250 ms;
#   2. folded, 200 clients and 100 scrapes/s of random FQDNs (all four workers' shards,
#      Prometheus's connection moving between the lent loops) all come back right, and the
#      proxy stays folded;
#   3. a closed loop of 32 scrapers takes more than twice the threshold: the loops go back
#      to their own threads (0 lent, "why=load" in the log), every scrape right;
#   4. idle again, it folds again (two folds counted);
#   5. SIGTERM while folded: the loops are given back, the proxy drains and exits 0;
#   6. --workers.fold-below=0 never folds; 46 is refused (twice it must stay within one
#      thread's reach), naming the flag.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_BIN="$BUILD/pushprox-bench"
require_bin "$PROXY_BIN"
require_bin "$BENCH_BIN"

metric() {
    curl -fsS "$PROXY_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
lent_is() { [ "$(metric pushprox_proxy_worker_loops_lent)" = "$1" ]; }

# run_bench NAME ARGS...: the bench against the running proxy, in the background; sets
# BENCH_PID and RESULT (its JSON, once check_bench ran).
run_bench() {
    local name=$1
    shift
    RESULT="$TEST_TMP/$name.json"
    start_bg "$name" "$BENCH_BIN" --proxy.address="127.0.0.1:$PROXY_PORT" --body-size=512 \
        --scrape.timeout=20s --grace=5s --registration.wait=$((30 * WAIT_SCALE))s --idle=0s \
        --strict --json --no-progress --log.level=warn "$@"
    BENCH_PID=$BG_PID
}

# check_bench NAME: waits for the bench; every scrape it sent must have come back right.
check_bench() {
    local name=$1 sent ok errors
    wait_exit "$BENCH_PID" 120
    grep -a '^{' "$TEST_TMP/$name.log" >"$RESULT" || true
    [ -s "$RESULT" ] || fail "$name: pushprox-bench printed no JSON result (exit $EXIT_RC)"
    read -r sent ok errors < <(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(d["scrapes_sent"], d["scrapes_ok"], d["errors_total"])' "$RESULT")
    log "$name: $ok ok of $sent sent, $errors errors"
    assert_eq 0 "$errors" "$name: errors of any kind"
    assert_eq "$sent" "$ok" "$name: scrapes answered correctly"
    [ "$sent" -gt 0 ] || fail "$name: no scrape was sent"
    assert_eq 0 "$EXIT_RC" "$name: pushprox-bench exit status"
}

# 1. Idle: the loops fold.
start_proxy --workers 4 --workers.fold-below=20 --log.level=info
wait_until 15 "3 loops lent to worker 0" lent_is 3
assert_eq 1 "$(metric pushprox_proxy_worker_folds_total)" "folds counted"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'msg="workers fold onto one thread"' "fold log"

# New connections, most of them accepted by a lent loop, are heard at once (a lent loop
# polls again for a descriptor it just started watching, not at its next timer).
slow=$(python3 - "$PROXY_PORT" <<'PYEOF'
import socket, sys, time
slow = 0
for _ in range(20):
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    if not data.startswith(b"HTTP/1.1 200") or time.monotonic() - t > 0.25:
        slow += 1
print(slow)
PYEOF
)
[ "$slow" -le 1 ] || fail "$slow of 20 new connections took over 250 ms (or failed) while folded"
lent_is 3 || fail "the loops went back to their threads while idle"

# 2. Folded: scrapes of every shard are served, and it stays folded.
moved_before=$(metric pushprox_proxy_scrapes_moved_total)
run_bench folded --clients=200 --scrapers=8 --rate=100 --duration=5s
check_bench folded
lent_is 3 || fail "the loops went back to their threads at 100 scrapes/s ($(metric pushprox_proxy_worker_loops_lent) lent)"
assert_eq 1 "$(metric pushprox_proxy_worker_folds_total)" "folds counted after the low-rate run"
moved_after=$(metric pushprox_proxy_scrapes_moved_total)
[ "$moved_after" -gt "$moved_before" ] ||
    fail "no scrape moved between the lent loops ($moved_before -> $moved_after)"

# 3. A closed loop: more than twice the threshold, the loops go back.
run_bench busy --clients=200 --scrapers=32 --duration=$((6 * WAIT_SCALE))s
wait_until 20 "the loops back on their threads under load" lent_is 0
check_bench busy
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'msg="workers back on their own threads" why=load' \
    "unfold log"

# 4. Idle again: folds again.
wait_until 15 "3 loops lent again" lent_is 3
assert_eq 2 "$(metric pushprox_proxy_worker_folds_total)" "folds counted after the second idle spell"

# 5. SIGTERM while folded: a clean stop.
rc=0
stop_pid "$PROXY_PID" $((15 * WAIT_SCALE)) || rc=$?
BG_PIDS[$(bg_index "$PROXY_PID")]=""
assert_eq 0 "$rc" "exit status after SIGTERM while folded"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'why=stopping' "loops given back to stop"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'msg=stopped' "stopped"
if sanitizer_report "$TEST_TMP/proxy.log"; then
    fail "sanitizer report from the proxy"
fi

# 6. 0: never; out of range: refused.
start_proxy --workers 4 --workers.fold-below=0
sleep 5
assert_eq 0 "$(metric pushprox_proxy_worker_loops_lent)" "loops lent with --workers.fold-below=0"
assert_eq 0 "$(metric pushprox_proxy_worker_folds_total)" "folds with --workers.fold-below=0"
out=$("$PROXY_BIN" --web.listen-address=127.0.0.1:0 --workers.fold-below=46 2>&1)
rc=$?
[ "$rc" -ne 0 ] || fail "--workers.fold-below=46 was accepted"
assert_contains "$out" "workers.fold-below" "the error names the flag"

log "PASS"
