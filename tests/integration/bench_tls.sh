#!/usr/bin/env bash
# bench_tls.sh - pushprox-bench over mutual TLS against the proxy's native mTLS.
#
# Certificates from bench/tls-certs.sh (openssl CLI, ECDSA P-256): a CA, the proxy's
# certificate for 127.0.0.1, one wildcard client certificate *.bench, and one for
# other.example. The proxy requires and verifies client certificates and binds them to the
# FQDNs they name. Checked:
#   - 200 simulated clients and 16 scrapers, all presenting *.bench, run 2,000 scrapes:
#     every one answered by its own client, none misrouted, lost or duplicated, no error of
#     any kind; the clients resumed sessions (tickets) after the first full handshakes;
#   - clients presenting other.example's certificate are refused (403 on every poll), and
#     the bench reports it as poll errors and exits 1 under --strict;
#   - 100 upstream-like clients (--client-mode=upstream: each push on a pooled connection
#     of its own, dialled over mTLS) run 1,000 scrapes without error;
#   - a wrong --tls.server-name fails the handshake and the bench counts handshake errors;
#   - the --handshakes phase: full handshakes with --no-tls.resume, resumed ones without.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_BIN="$BUILD/pushprox-bench"
require_bin "$PROXY_BIN"
require_bin "$BENCH_BIN"
command -v openssl >/dev/null || skip "openssl not installed"

C="$TEST_TMP/certs"
sh "$ROOT/bench/tls-certs.sh" "$C" >"$TEST_TMP/certs.log" 2>&1 || fail "cannot make the certificates"

PROXY_PORT=$(free_port)
start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PROXY_PORT" --log.level=info \
    --web.config.file="$C/web.yml" --workers=2
PROXY_PID=$BG_PID
ready() {
    curl -fsS --max-time 2 --cacert "$C/ca.crt" --cert "$C/bench.crt" --key "$C/bench.key" \
        "https://127.0.0.1:$PROXY_PORT/-/ready" >/dev/null 2>&1
}
wait_until 20 "the TLS proxy to be ready" ready

# run_bench NAME TIMEOUT_S ARGS...: pushprox-bench over TLS; its JSON in $TEST_TMP/NAME.json,
# its exit status in BENCH_RC. With EXPECT_FAIL=1 it runs in the foreground under timeout(1)
# (start_bg's checks fail a scenario on any non-zero exit of our binaries), and its log is
# checked for sanitizer reports here.
run_bench() {
    local name=$1 limit=$2
    shift 2
    local cmd=("$BENCH_BIN" --proxy.address="127.0.0.1:$PROXY_PORT" --proxy-pid="$PROXY_PID"
        --tls.cacert="$C/ca.crt" --json --no-progress --log.level=warn --label="$name" "$@")
    if [ "${EXPECT_FAIL:-0}" = 1 ]; then
        log "running $name: ${cmd[*]}"
        BENCH_RC=0
        timeout --kill-after=5 $((limit * WAIT_SCALE)) "${cmd[@]}" >"$TEST_TMP/$name.log" 2>&1 ||
            BENCH_RC=$?
        if sanitizer_report "$TEST_TMP/$name.log" >&2; then
            fail "$name: sanitizer report"
        fi
    else
        start_bg "$name" "${cmd[@]}"
        wait_exit "$BG_PID" "$limit"
        BENCH_RC=$EXIT_RC
    fi
    grep -a '^{' "$TEST_TMP/$name.log" >"$TEST_TMP/$name.json" || true
    [ -s "$TEST_TMP/$name.json" ] || fail "$name: pushprox-bench printed no JSON (exit $BENCH_RC)"
}
# field NAME KEY[.KEY]: a value of NAME's JSON.
field() {
    python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$TEST_TMP/$1.json" "$2"
}

# --- a good fleet: every scrape checked ----------------------------------------------------
run_bench good 60 --tls.cert="$C/bench.crt" --tls.key="$C/bench.key" --clients=200 \
    --scrapers=16 --scrapes=2000 --duration=0 --body-size=2KB --connect.concurrency=16 \
    --scrape.timeout=20s --grace=5s --registration.wait=$((30 * WAIT_SCALE))s --idle=0s --strict
log "good: $(field good scrapes_ok) ok, handshakes $(field good handshakes_full) full $(field good handshakes_resumed) resumed, errors $(field good errors)"
assert_eq 0 "$BENCH_RC" "bench exit status (good fleet)"
assert_eq 200 "$(field good registered)" "clients registered"
assert_eq 200 "$(field good proxy_listed)" "clients the proxy lists over mTLS"
assert_eq 2000 "$(field good scrapes_ok)" "scrapes answered correctly"
assert_eq 0 "$(field good errors_total)" "errors of any kind"
[ "$(field good handshakes_resumed)" -gt 0 ] || fail "no session was resumed"
[ "$(field good handshakes_full)" -gt 0 ] || fail "no full handshake was counted"

# --- upstream-like clients (--client-mode=upstream) over mTLS: their pooled connections too --
run_bench upstream 60 --tls.cert="$C/bench.crt" --tls.key="$C/bench.key" --clients=100 \
    --scrapers=8 --scrapes=1000 --duration=0 --body-size=2KB --connect.concurrency=16 \
    --client-mode=upstream --scrape.timeout=20s --grace=5s \
    --registration.wait=$((30 * WAIT_SCALE))s --idle=0s --strict
log "upstream: $(field upstream scrapes_ok) ok, $(field upstream conns_opened_scrape) connections opened while scraping, handshakes $(field upstream handshakes_full) full $(field upstream handshakes_resumed) resumed, errors $(field upstream errors)"
assert_eq 0 "$BENCH_RC" "bench exit status (upstream-like clients over mTLS)"
assert_eq upstream "$(field upstream client_mode)" "client mode reported"
assert_eq 1000 "$(field upstream scrapes_ok)" "scrapes answered correctly (upstream-like clients)"
assert_eq 0 "$(field upstream errors_total)" "errors of any kind (upstream-like clients)"
[ "$(field upstream conns_opened_scrape)" -ge 1 ] || fail "no push connection dialled over mTLS"
[ "$(field upstream handshakes_resumed)" -gt 0 ] || fail "no session resumed by upstream-like clients"

# --- a certificate that names none of the FQDNs: every poll refused -----------------------
EXPECT_FAIL=1 run_bench other 30 --tls.cert="$C/other.crt" --tls.key="$C/other.key" --clients=5 --scrapers=0 \
    --no-check-clients --idle=1s --strict
log "other: errors $(field other errors)"
assert_eq 1 "$BENCH_RC" "bench exit status with a certificate naming other.example"
[ "$(field other errors.poll)" -gt 0 ] || fail "polls with other.example's certificate were not refused"
assert_contains "$(cat "$TEST_TMP/other.log")" "status=403" "the bench's log of the refused polls"
assert_eq 0 "$(field other errors.handshake)" "handshakes refused (the CA signed it: only its names are wrong)"

# --- the proxy's certificate checked against the name asked for ----------------------------
run_bench wrongname 30 --tls.cert="$C/bench.crt" --tls.key="$C/bench.key" --clients=3 \
    --scrapers=0 --tls.server-name=proxy.example --no-check-clients \
    --registration.wait=$((3 * WAIT_SCALE))s --idle=0s
log "wrongname: errors $(field wrongname errors)"
[ "$(field wrongname errors.handshake)" -gt 0 ] || fail "a wrong --tls.server-name did not fail the handshake"
assert_eq 0 "$(field wrongname registered)" "clients registered with the wrong server name"

# --- the handshake phase --------------------------------------------------------------------
run_bench full 40 --tls.cert="$C/bench.crt" --tls.key="$C/bench.key" --handshakes=20 \
    --no-tls.resume --connect.concurrency=4 --duration=$((30 * WAIT_SCALE))s
assert_eq 0 "$BENCH_RC" "bench exit status (full handshakes)"
assert_eq "20 0 0" "$(field full handshakes_full) $(field full handshakes_resumed) $(field full errors_total)" \
    "full, resumed handshakes and errors with --no-tls.resume"
run_bench resumed 40 --tls.cert="$C/bench.crt" --tls.key="$C/bench.key" --handshakes=200 \
    --connect.concurrency=4 --duration=$((30 * WAIT_SCALE))s
assert_eq 0 "$BENCH_RC" "bench exit status (resumed handshakes)"
assert_eq "200 0" "$(($(field resumed handshakes_full) + $(field resumed handshakes_resumed))) $(field resumed errors_total)" \
    "handshakes done and errors"
[ "$(field resumed handshakes_resumed)" -ge 190 ] || fail "only $(field resumed handshakes_resumed) of 200 handshakes resumed"
python3 -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["proxy"]["cpu_us_per_handshake"] > 0 else 1)' \
    "$TEST_TMP/resumed.json" || fail "no proxy CPU per handshake reported"
log "handshakes: full $(field full handshakes_per_s)/s, resumed $(field resumed handshakes_per_s)/s"
