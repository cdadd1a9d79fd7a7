# shellcheck shell=bash
# lib.sh - helpers sourced by every integration scenario (tests/integration/<name>.sh).
#
# A scenario starts real processes on 127.0.0.1 with free ports, checks what they say,
# and exits 0 (pass), 1 (fail) or 77 (skip). Everything it starts goes through start_bg,
# so the EXIT trap installed here stops it by PID (TERM, then KILL after a bounded wait)
# and then looks in the logs of our own binaries for sanitizer reports, which fail the
# scenario even if its assertions passed.
#
# Environment: BUILD (dir of the binaries, default build), SAN (""/asan/tsan),
# TMPDIR (parent of the per-test temp dir), KEEP_TMP=1 (keep the temp dir).
# Owner: the integration helper. Nothing here may sleep as an assertion: every wait is a
# poll bounded in time and count.

set -u
export LC_ALL=C
export PYTHONDONTWRITEBYTECODE=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SAN=${SAN:-}
PROXY_BIN="$BUILD/pushprox-proxy"
# shellcheck disable=SC2034 # used by the client scenarios
CLIENT_BIN="$BUILD/pushprox-client"
TESTCLIENT="$ROOT/tests/integration/testclient.py"
TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pushprox-${TEST_NAME}.XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=66}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Everything here talks to 127.0.0.1 directly (or through the proxy we name explicitly).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# Sanitized builds are several times slower; scale our waits (not the product's timeouts).
case $SAN in
asan) WAIT_SCALE=3 ;;
tsan) WAIT_SCALE=5 ;;
*) WAIT_SCALE=1 ;;
esac

BG_PIDS=()
BG_NAMES=()
BG_OURS=()   # 1 if the process is one of our binaries (its exit status and log are checked)
TEST_FAILED=0

log() { printf '[%s %s] %s\n' "$TEST_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

# skip MSG: the scenario cannot run here (exit 77, reported as SKIP by run.sh).
skip() {
    log "SKIP: $*"
    exit 77
}

# require_bin PATH: skip unless PATH is an executable file.
require_bin() {
    [ -x "$1" ] || skip "$1 not built"
}

# free_port: print a TCP port on 127.0.0.1 that the kernel says is free now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# start_bg NAME CMD...: run CMD in the background, stdout+stderr to $TEST_TMP/NAME.log.
# Sets BG_PID. The process is stopped by stop_all on exit. With START_NOFILE set, CMD runs
# with that open-file limit (ulimit -n in the subshell that execs it: same PID).
start_bg() {
    local name=$1
    shift
    if [ -n "${START_NOFILE:-}" ]; then
        (ulimit -n "$START_NOFILE" && exec "$@") >"$TEST_TMP/$name.log" 2>&1 &
    else
        "$@" >"$TEST_TMP/$name.log" 2>&1 &
    fi
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    BG_NAMES+=("$name")
    case $1 in
    "$BUILD"/*) BG_OURS+=(1) ;;
    *) BG_OURS+=(0) ;;
    esac
    log "started $name (pid $BG_PID): $*"
}

# bg_index PID: print the index of PID in BG_PIDS.
bg_index() {
    local i
    for i in "${!BG_PIDS[@]}"; do
        if [ "${BG_PIDS[$i]}" = "$1" ]; then
            echo "$i"
            return 0
        fi
    done
    return 1
}

# stop_pid PID [grace_s]: TERM, wait up to grace_s (default 10) for it to exit, then KILL.
# Returns the process' exit status (143 = died of TERM, 137 = had to be KILLed).
stop_pid() {
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored TERM for ${grace}s; KILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# sanitizer_report FILE: print sanitizer reports found in FILE; status 0 if there were any.
SAN_PATTERN='ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:'
sanitizer_report() {
    grep -E -q "$SAN_PATTERN" "$1" 2>/dev/null || return 1
    grep -E -A 30 "$SAN_PATTERN" "$1" | head -n 80
}

# check_ours I RC: flag a sanitizer report or an unexpected exit of our binary number I.
check_ours() {
    local i=$1 rc=$2 f="$TEST_TMP/${BG_NAMES[$1]}.log"
    [ "${BG_OURS[$i]}" = 1 ] || return 0
    if sanitizer_report "$f" >/dev/null; then
        log "sanitizer report in ${BG_NAMES[$i]}.log:"
        sanitizer_report "$f" >&2
        TEST_FAILED=1
    fi
    # 0: clean exit on TERM; 143: died of TERM (no handler). Anything else is a crash,
    # a sanitizer exit code or a hang that needed KILL.
    case $rc in
    0 | 143) ;;
    *)
        log "${BG_NAMES[$i]} (pid ${BG_PIDS[$i]}) exited with status $rc"
        tail -n 20 "$f" >&2
        TEST_FAILED=1
        ;;
    esac
}

# stop_bg PID: stop one process started by start_bg now (and check it like stop_all).
stop_bg() {
    local pid=$1 i rc=0
    i=$(bg_index "$pid") || return 0
    stop_pid "$pid" || rc=$?
    check_ours "$i" "$rc"
    BG_PIDS[i]=""
}

# stop_all: the EXIT trap. Stops everything in reverse start order, checks our binaries,
# removes the temp dir unless the test failed or KEEP_TMP=1.
stop_all() {
    local status=$? i rc
    trap - EXIT INT TERM
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        [ -n "${BG_PIDS[$i]}" ] || continue
        rc=0
        stop_pid "${BG_PIDS[$i]}" || rc=$?
        check_ours "$i" "$rc"
    done
    if [ "$TEST_FAILED" = 1 ] && [ "$status" = 0 ]; then
        status=1
    fi
    if [ "$status" = 0 ] || [ "$status" = 77 ]; then
        [ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$TEST_TMP"
    else
        log "FAILED (status $status); logs kept in $TEST_TMP"
    fi
    exit "$status"
}
trap stop_all EXIT
trap 'log "interrupted"; exit 1' INT TERM

# show_logs [N]: print the last N (default 25) lines of the log of each started process
# that has not been reaped by wait_exit (those are the short curls the test already read).
show_logs() {
    local n=${1:-25} i
    for i in "${!BG_NAMES[@]}"; do
        [ -n "${BG_PIDS[$i]}" ] || continue
        echo "----- ${BG_NAMES[$i]}.log (last $n lines) -----" >&2
        { tail -n "$n" "$TEST_TMP/${BG_NAMES[$i]}.log" 2>/dev/null && echo; } >&2 || true
    done
}

# fail MSG: report the failure with the recent logs and exit 1.
fail() {
    log "FAIL: $*"
    show_logs 25
    exit 1
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
    if [ "$1" != "$2" ]; then
        fail "${3:-value}: expected [$1], got [$2]"
    fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
    case $1 in
    *"$2"*) ;;
    *) fail "${3:-text} does not contain [$2]; it is: [$(printf '%s' "$1" | head -c 600)]" ;;
    esac
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
    case $1 in
    *"$2"*) fail "${3:-text} contains [$2]; it is: [$(printf '%s' "$1" | head -c 600)]" ;;
    *) ;;
    esac
}

# assert_starts_with TEXT PREFIX [WHAT]
assert_starts_with() {
    case $1 in
    "$2"*) ;;
    *) fail "${3:-text} does not start with [$2]; it is: [$(printf '%s' "$1" | head -c 600)]" ;;
    esac
}

# wait_http URL [timeout_s]: poll URL with curl until it answers 2xx; fail after timeout_s
# (default 20, scaled for sanitizer builds) of wall-clock time.
wait_http() {
    local url=$1 limit=$((${2:-20} * WAIT_SCALE)) deadline
    deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    fail "$url did not answer 2xx within ${limit}s"
}

# wait_until TIMEOUT_S DESCRIPTION CMD...: run CMD every 0.2 s until it succeeds; fail
# after TIMEOUT_S (scaled for sanitizer builds) of wall-clock time.
wait_until() {
    local limit=$(($1 * WAIT_SCALE)) what=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if "$@"; then
            return 0
        fi
        sleep 0.2
    done
    fail "timed out after ${limit}s waiting for: $what"
}

# file_nonempty FILE (for wait_until)
file_nonempty() { [ -s "$1" ]; }

# pid_exited PID (for wait_until)
pid_exited() { ! kill -0 "$1" 2>/dev/null; }

# wait_exit PID TIMEOUT_S: wait for a process started by start_bg (e.g. a curl) to finish
# and set EXIT_RC to its status. Fails the test if it still runs after the timeout.
wait_exit() {
    local pid=$1 i
    EXIT_RC=0
    wait_until "$2" "pid $pid to exit" pid_exited "$pid"
    wait "$pid" 2>/dev/null || EXIT_RC=$?
    # Reaped: forget it, so stop_all never signals a recycled PID.
    if i=$(bg_index "$pid"); then
        check_ours "$i" "$EXIT_RC"
        BG_PIDS[i]=""
    fi
}

# start_proxy [FLAGS...]: start $BUILD/pushprox-proxy on a free port, wait until it serves
# /-/ready. Sets PROXY_PORT, PROXY_URL, PROXY_PID.
start_proxy() {
    require_bin "$PROXY_BIN"
    PROXY_PORT=$(free_port)
    PROXY_URL="http://127.0.0.1:$PROXY_PORT"
    start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PROXY_PORT" \
        --log.level=debug "$@"
    # shellcheck disable=SC2034 # for scenarios that stop or restart the proxy
    PROXY_PID=$BG_PID
    wait_http "$PROXY_URL/-/ready" 20
}

# http_code_body METHOD URL [CURL ARGS...]: sets HTTP_CODE and HTTP_BODY (body in
# $TEST_TMP/body too). Never fails by itself: a refused connection gives HTTP_CODE=000.
http_code_body() {
    local method=$1 url=$2
    shift 2
    HTTP_CODE=$(curl -sS -o "$TEST_TMP/body" -w '%{http_code}' -X "$method" \
        --max-time $((30 * WAIT_SCALE)) "$@" "$url" 2>"$TEST_TMP/curl.err") || true
    HTTP_BODY=$(cat "$TEST_TMP/body" 2>/dev/null || true)
}

# raw_http PORT: send stdin as-is to 127.0.0.1:PORT, print everything the server answers
# until it closes (or goes quiet for 2 s).
raw_http() {
    python3 "$TESTCLIENT" raw --port "$1" --quiet-timeout $((2 * WAIT_SCALE))
}

# status_codes: from raw HTTP output on stdin, print the status code of each response.
# (Not anchored to a line start: a response body need not end with a newline.)
status_codes() {
    grep -a -o -E 'HTTP/1\.[01] [0-9]{3} ' | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//'
}

# --- protocol steps, at the curl level (proxy_basic, proxy_badinput) ---------------

# start_poll NAME FQDN: a client's long poll, in the background (body in NAME.out, status
# in NAME.log). Sets POLL_PID.
start_poll() {
    start_bg "$1" curl -sS -o "$TEST_TMP/$1.out" -w '%{http_code}' -X POST \
        --data-binary "$2" "$PROXY_URL/poll"
    POLL_PID=$BG_PID
}

# start_scrape NAME URL TIMEOUT_S: Prometheus' side, in the background (headers in
# NAME.hdr, body in NAME.body, status in NAME.log). Sets SCRAPE_PID.
start_scrape() {
    start_bg "$1" curl -sS -x "$PROXY_URL" -D "$TEST_TMP/$1.hdr" -o "$TEST_TMP/$1.body" \
        -w '%{http_code}' -H "X-Prometheus-Scrape-Timeout-Seconds: $3" \
        -H 'User-Agent: Prometheus/2.42.0' "$2"
    SCRAPE_PID=$BG_PID
}

# poll_done NAME: wait for the poll, assert 200, set POLL_REQ (body, CRs removed) and
# POLL_ID (its Id header).
poll_done() {
    wait_exit "$POLL_PID" 30
    assert_eq 0 "$EXIT_RC" "curl exit status of poll $1"
    assert_eq 200 "$(cat "$TEST_TMP/$1.log")" "status of poll $1"
    POLL_REQ=$(tr -d '\r' <"$TEST_TMP/$1.out")
    POLL_ID=$(printf '%s\n' "$POLL_REQ" | grep -i -m1 '^id:' | sed 's/^[^:]*: *//')
    [ -n "$POLL_ID" ] || fail "poll $1 body has no Id header: [$POLL_REQ]"
}

# push FILE: POST FILE to /push; sets HTTP_CODE/HTTP_BODY.
push() {
    http_code_body POST "$PROXY_URL/push" --data-binary "@$1"
}

# make_response FILE ID BODY [EXTRA HEADER LINES...]: a serialized HTTP/1.1 200 response.
make_response() {
    local f=$1 id=$2 body=$3 h
    shift 3
    {
        printf 'HTTP/1.1 200 OK\r\n'
        printf 'Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n'
        for h in "$@"; do printf '%s\r\n' "$h"; done
        printf 'Id: %s\r\nX-Prometheus-Scrape-Timeout: 9.5\r\n' "$id"
        printf 'Content-Length: %d\r\n\r\n%s' "${#body}" "$body"
    } >"$f"
}

# good_scrape TAG: one full poll -> scrape -> push -> relay cycle for FQDN good.test, asserting
# that it works (used after each bad input to show the proxy lost nothing).
good_scrape() {
    start_poll "good_poll_$1" good.test
    start_scrape "good_scrape_$1" "http://good.test:9100/metrics" 20
    good_scrape_finish "$1"
}

# good_scrape_finish TAG: good_scrape's cycle from the poll's answer on, for a scenario that
# started good_poll_TAG (start_poll, FQDN good.test) and good_scrape_TAG (start_scrape of
# http://good.test:9100/metrics) itself, with something in between.
good_scrape_finish() {
    local tag=$1
    poll_done "good_poll_$tag"
    make_response "$TEST_TMP/good_push_$tag" "$POLL_ID" "good_metric{tag=\"$tag\"} 1"
    push "$TEST_TMP/good_push_$tag"
    assert_eq 200 "$HTTP_CODE" "push of the good scrape after $tag (body: $HTTP_BODY)"
    wait_exit "$SCRAPE_PID" 30
    assert_eq 200 "$(cat "$TEST_TMP/good_scrape_$tag.log")" "status of the good scrape after $tag"
    assert_eq "good_metric{tag=\"$tag\"} 1" "$(cat "$TEST_TMP/good_scrape_$tag.body")" \
        "body of the good scrape after $tag"
}
