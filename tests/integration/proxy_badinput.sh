#!/usr/bin/env bash
# proxy_badinput.sh - every kind of bad input gets its HTTP error, and the proxy still
# serves a good scrape right after each one.
#
# malformed HTTP (400), unknown path (404), wrong method (405), empty / too long / invalid
# poll FQDN (400), a push that is not an HTTP response or carries an unknown or forged Id
# (500 "Error pushing:"), a push over --push.max-size (413), too many headers or a huge
# header (431), and two pipelined requests in one write (two responses, in order).
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

start_proxy --push.max-size=1MiB
good_scrape start

# expect_raw TAG EXPECTED_STATUSES: send $TEST_TMP/raw_TAG.in in one write, compare the
# statuses answered. (Input comes from a file, not a pipe: a function at the end of a
# pipeline runs in a subshell, where fail could not end the test.)
expect_raw() {
    local tag=$1 want=$2 got
    raw_http "$PROXY_PORT" <"$TEST_TMP/raw_$tag.in" >"$TEST_TMP/raw_$tag.out"
    got=$(status_codes <"$TEST_TMP/raw_$tag.out")
    assert_eq "$want" "$got" "statuses answered to $tag"
    good_scrape "$tag"
}

# --- malformed HTTP ---------------------------------------------------------------------
printf 'GARBAGE\001\002 not http at all\r\n\r\n' >"$TEST_TMP/raw_garbage.in"
expect_raw garbage 400
printf 'GET /metrics HTTP/9.9x\r\nHost: x\r\n\r\n' >"$TEST_TMP/raw_bad_version.in"
expect_raw bad_version 400
printf 'GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n' >"$TEST_TMP/raw_bad_header.in"
expect_raw bad_header 400

# --- unknown path, wrong method ---------------------------------------------------------
http_code_body GET "$PROXY_URL/nope"
assert_eq 404 "$HTTP_CODE" "GET /nope"
good_scrape unknown_path
for ep in poll push; do
    http_code_body GET "$PROXY_URL/$ep"
    assert_eq 405 "$HTTP_CODE" "GET /$ep"
    good_scrape "get_$ep"
done

# --- invalid poll FQDNs -------------------------------------------------------------------
# poll_fqdn_rejected TAG: POST the contents of $TEST_TMP/fqdn_TAG to /poll, expect 400 at once.
poll_fqdn_rejected() {
    http_code_body POST "$PROXY_URL/poll" --data-binary "@$TEST_TMP/fqdn_$1"
    assert_eq 400 "$HTTP_CODE" "poll with $1 fqdn (body: $HTTP_BODY)"
    good_scrape "poll_$1"
}
: >"$TEST_TMP/fqdn_empty"
poll_fqdn_rejected empty
printf ' \r\n\t \n' >"$TEST_TMP/fqdn_blank"
poll_fqdn_rejected blank
printf 'a%.0s' $(seq 1 256) >"$TEST_TMP/fqdn_too_long"
poll_fqdn_rejected too_long
printf 'bad host.test' >"$TEST_TMP/fqdn_space"
poll_fqdn_rejected space
printf 'bad/host.test' >"$TEST_TMP/fqdn_slash"
poll_fqdn_rejected slash
printf 'bad\001host.test' >"$TEST_TMP/fqdn_control"
poll_fqdn_rejected control
# None of them made it into service discovery.
http_code_body GET "$PROXY_URL/clients"
assert_not_contains "$HTTP_BODY" "bad" "/clients after invalid polls"
assert_not_contains "$HTTP_BODY" "aaaaaaaa" "/clients after invalid polls"

# --- bad pushes ---------------------------------------------------------------------------
printf 'this is not an HTTP response\r\n\r\n' >"$TEST_TMP/push_not_http"
push "$TEST_TMP/push_not_http"
assert_eq 500 "$HTTP_CODE" "push that is not an HTTP response"
assert_starts_with "$HTTP_BODY" "Error pushing:" "push that is not an HTTP response"
good_scrape push_not_http

make_response "$TEST_TMP/push_unknown" "no-such-id-0000" "x 1"
push "$TEST_TMP/push_unknown"
assert_eq 500 "$HTTP_CODE" "push with an unknown Id"
assert_starts_with "$HTTP_BODY" "Error pushing:" "push with an unknown Id"
good_scrape push_unknown

make_response "$TEST_TMP/push_no_id" "" "x 1"
sed -i '/^Id: /d' "$TEST_TMP/push_no_id"
push "$TEST_TMP/push_no_id"
assert_eq 500 "$HTTP_CODE" "push without Id"
assert_starts_with "$HTTP_BODY" "Error pushing:" "push without Id"
good_scrape push_no_id

# A forged Id: a real one (already used) with its last characters changed, so it looks
# well formed to the proxy but names no waiting scrape -- or another one.
start_poll forge_poll good.test
start_scrape forge_scrape "http://good.test:9100/metrics" 3
poll_done forge_poll
REAL_ID=$POLL_ID
for forged in "${REAL_ID%?}0" "${REAL_ID%?}1" "${REAL_ID%??}ff" "${REAL_ID}0" "${REAL_ID%?}"; do
    [ "$forged" != "$REAL_ID" ] || continue
    make_response "$TEST_TMP/push_forged" "$forged" "forged 1"
    push "$TEST_TMP/push_forged"
    assert_eq 500 "$HTTP_CODE" "push with forged Id [$forged] (real: $REAL_ID)"
    assert_starts_with "$HTTP_BODY" "Error pushing:" "push with forged Id [$forged]"
done
# The real scrape never got the forged body: it times out with 500.
wait_exit "$SCRAPE_PID" 30
assert_eq 500 "$(cat "$TEST_TMP/forge_scrape.log")" "scrape whose Id was forged by others"
assert_not_contains "$(cat "$TEST_TMP/forge_scrape.body")" "forged" "scrape whose Id was forged"
# And once it timed out, the real Id is refused too.
make_response "$TEST_TMP/push_late" "$REAL_ID" "late 1"
push "$TEST_TMP/push_late"
assert_eq 500 "$HTTP_CODE" "push after the scrape timed out"
assert_starts_with "$HTTP_BODY" "Error pushing:" "push after the scrape timed out"
good_scrape push_forged

# A pushed interim answer (100 Continue) is not the scrape's answer: refused, and the
# scrape still gets the real one pushed after it.
start_poll interim_poll good.test
start_scrape interim_scrape "http://good.test:9100/metrics" 10
poll_done interim_poll
printf 'HTTP/1.1 100 Continue\r\nId: %s\r\n\r\n' "$POLL_ID" >"$TEST_TMP/push_interim"
push "$TEST_TMP/push_interim"
assert_eq 500 "$HTTP_CODE" "push of a 100 Continue"
assert_contains "$HTTP_BODY" "interim" "push of a 100 Continue"
make_response "$TEST_TMP/push_after_interim" "$POLL_ID" "after_interim 1"
push "$TEST_TMP/push_after_interim"
assert_eq 200 "$HTTP_CODE" "the real push after a 100 Continue"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/interim_scrape.log")" "scrape answered after a pushed 100"
assert_contains "$(cat "$TEST_TMP/interim_scrape.body")" "after_interim 1" "scrape after a pushed 100"

# --- a push over --push.max-size (1MiB) -------------------------------------------------
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$TEST_TMP/big_body"
start_poll big_poll good.test
start_scrape big_scrape "http://good.test:9100/metrics" 5
poll_done big_poll
{
    printf 'HTTP/1.1 200 OK\r\nId: %s\r\nX-Prometheus-Scrape-Timeout: 4\r\n' "$POLL_ID"
    printf 'Content-Length: %d\r\n\r\n' $((2 * 1024 * 1024))
    cat "$TEST_TMP/big_body"
} >"$TEST_TMP/push_big"
http_code_body POST "$PROXY_URL/push" --data-binary "@$TEST_TMP/push_big" -H 'Expect:'
assert_eq 413 "$HTTP_CODE" "push of 2MiB with --push.max-size=1MiB (curl: $(cat "$TEST_TMP/curl.err"))"
wait_exit "$SCRAPE_PID" 30
assert_eq 500 "$(cat "$TEST_TMP/big_scrape.log")" "scrape whose push was too large"
good_scrape push_big

# --- too many headers, a huge header ------------------------------------------------------
{
    printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n'
    for i in $(seq 1 200); do printf 'X-H%d: v\r\n' "$i"; done
    printf '\r\n'
} >"$TEST_TMP/raw_many_headers.in"
expect_raw many_headers 431
{
    printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: '
    head -c $((256 * 1024)) /dev/zero | tr '\0' 'y'
    printf '\r\n\r\n'
} >"$TEST_TMP/raw_huge_header.in"
expect_raw huge_header 431

# --- two pipelined requests in one write ----------------------------------------------------
printf 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n' \
    >"$TEST_TMP/raw_pipelined.in"
expect_raw pipelined "200 404"

# --- a waiting scrape with 100 KB of pipelined push behind it: both answered -------------
# (the proxy pauses reading while the pipelined bytes wait, instead of dropping the
# connection and the waiting scrape with it)
{
    printf 'GET http://nobody.test:9100/metrics HTTP/1.1\r\nHost: nobody.test:9100\r\n'
    printf 'X-Prometheus-Scrape-Timeout-Seconds: 1\r\n\r\n'
    printf 'POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n'
    head -c 100000 /dev/zero | tr '\0' x
} >"$TEST_TMP/raw_pipelined_big.in"
expect_raw pipelined_big "500 500"

# --- a client that half-closes after its request still gets the answer ----------------
printf 'GET /clients HTTP/1.1\r\nHost: x\r\n\r\n' |
    python3 "$TESTCLIENT" raw --port "$PROXY_PORT" --quiet-timeout $((2 * WAIT_SCALE)) --shut-wr \
        >"$TEST_TMP/raw_half_close.out"
assert_eq 200 "$(status_codes <"$TEST_TMP/raw_half_close.out")" "/clients after a half-close"
good_scrape half_close

log "all bad inputs answered as expected"
exit 0
