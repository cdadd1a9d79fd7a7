#!/usr/bin/env bash
# proxy_webconfig.sh - exporter-toolkit web config files on plain HTTP: basic auth on the
# scrape plane (Proxy-Authorization for scrapes, Authorization for /clients and /metrics,
# bcrypt checked off the loop), http_server_config.headers on every answer, rate_limit,
# and reloading (SIGHUP, a changed file, a broken file refused with the old one kept).
# A real Prometheus scrapes with proxy_url credentials; a wrong password gets 401.
# tsan: yes
. "$(dirname "$0")/lib.sh"

hash_of() {
    python3 -W ignore -c 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$1"
}
write_scrape_conf() { # PASSWORD
    cat >"$TEST_TMP/scrape-web.yml.tmp" <<YML
basic_auth_users:
  prom: $(hash_of "$1")
YML
    mv "$TEST_TMP/scrape-web.yml.tmp" "$TEST_TMP/scrape-web.yml"
}
write_scrape_conf secret1
cat >"$TEST_TMP/web.yml" <<YML
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
YML

SCRAPE_PORT=$(free_port)
start_proxy --workers=2 --scrape.listen-address="127.0.0.1:$SCRAPE_PORT" \
    --web.config.file="$TEST_TMP/web.yml" --scrape.web-config.file="$TEST_TMP/scrape-web.yml"
S="127.0.0.1:$SCRAPE_PORT"

# Basic auth on /metrics and /clients.
http_code_body GET "http://$S/metrics"
assert_eq 401 "$HTTP_CODE" "/metrics without credentials"
hdrs=$(curl -s -D - -o /dev/null "http://$S/clients" | tr -d '\r')
assert_contains "$hdrs" "WWW-Authenticate: Basic" "a 401's headers"
http_code_body GET "http://prom:wrong@$S/metrics"
assert_eq 401 "$HTTP_CODE" "/metrics with a wrong password"
http_code_body GET "http://nobody:secret1@$S/metrics"
assert_eq 401 "$HTTP_CODE" "/metrics as an unknown user"
http_code_body GET "http://prom:secret1@$S/metrics"
assert_eq 200 "$HTTP_CODE" "/metrics with the right password"
http_code_body GET "http://prom:secret1@$S/metrics"
assert_eq 200 "$HTTP_CODE" "/metrics again (the cached verdict)"

# The client plane: no auth, but the extra headers on every answer.
start_bg poll1 curl -sS -D "$TEST_TMP/poll1.hdr" -o "$TEST_TMP/poll1.out" -w '%{http_code}' \
    -X POST --data-binary node1.test "$PROXY_URL/poll"
# shellcheck disable=SC2034 # read by lib.sh's poll_done
POLL_PID=$BG_PID
# A scrape with proxy credentials (Proxy-Authorization), relayed end to end.
start_bg scrape1 curl -sS -x "http://prom:secret1@$S" -o "$TEST_TMP/scrape1.body" -w '%{http_code}' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' http://node1.test:9100/metrics
SCRAPE_PID=$BG_PID
poll_done poll1
assert_contains "$(tr -d '\r' <"$TEST_TMP/poll1.hdr")" "X-Frame-Options: deny" "headers of a poll answer"
assert_contains "$POLL_REQ" "GET http://node1.test:9100/metrics" "the forwarded scrape"
assert_not_contains "$POLL_REQ" "Proxy-Authorization" "the forwarded scrape (credentials for the proxy stay)"
make_response "$TEST_TMP/push1" "$POLL_ID" "auth 1"
push "$TEST_TMP/push1"
assert_eq 200 "$HTTP_CODE" "push"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape1.log")" "a scrape with proxy credentials"
assert_eq "auth 1" "$(cat "$TEST_TMP/scrape1.body")" "a scrape with proxy credentials"
http_code_body GET "http://node1.test:9100/metrics" -x "http://prom:bad@$S"
assert_eq 401 "$HTTP_CODE" "a scrape with a wrong proxy password"

# SIGHUP: the new password works, the old one no longer does.
write_scrape_conf secret2
kill -HUP "$PROXY_PID"
new_password_works() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://prom:secret2@$S/metrics")" = 200 ]; }
wait_until 10 "the reloaded password to be accepted" new_password_works
http_code_body GET "http://prom:secret1@$S/metrics"
assert_eq 401 "$HTTP_CODE" "the old password after SIGHUP"
# A broken file is refused; the configuration in force stays.
printf 'basic_auth_users:\n  prom: not-a-bcrypt-hash\nbogus: 1\n' >"$TEST_TMP/scrape-web.yml"
kill -HUP "$PROXY_PID"
wait_until 10 "the broken file to be refused" grep -q 'reload refused' "$TEST_TMP/proxy.log"
assert_contains "$(grep 'reload refused' "$TEST_TMP/proxy.log" | head -1)" "scrape-web.yml" "the refusal names the file"
http_code_body GET "http://prom:secret2@$S/metrics"
assert_eq 200 "$HTTP_CODE" "the password in force after a broken reload"
assert_contains "$HTTP_BODY" "pushprox_proxy_config_last_reload_successful 0" "metrics after a broken reload"
# A changed file is picked up without a signal.
write_scrape_conf secret3
watched() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://prom:secret3@$S/metrics")" = 200 ]; }
wait_until 15 "the changed file to be picked up without SIGHUP" watched

# A real Prometheus: the right proxy credentials scrape, the wrong ones get 401.
if [ -x /usr/bin/prometheus ]; then
    NE_PORT=$(free_port)
    start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$NE_PORT"
    wait_http "http://127.0.0.1:$NE_PORT/metrics" 20
    start_bg testclient python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" --fqdn node2.test \
        --use-localhost --max-seconds 240
    PROM_PORT=$(free_port)
    cat >"$TEST_TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: good
    proxy_url: http://prom:secret3@$S
    static_configs: [{targets: ["node2.test:$NE_PORT"]}]
  - job_name: bad
    proxy_url: http://prom:wrong@$S
    static_configs: [{targets: ["node2.test:$NE_PORT"]}]
YML
    start_bg prometheus /usr/bin/prometheus --config.file="$TEST_TMP/prometheus.yml" \
        --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
    wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
    up_is() { # JOB VALUE
        curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=up{job=\"$1\"} == $2" |
            python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
    }
    wait_until 60 "up{job=good} == 1" up_is good 1
    wait_until 60 "up{job=bad} == 0" up_is bad 0
    err=$(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/targets" |
        python3 -c 'import json,sys; print([t["lastError"] for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"]=="bad"][0])')
    assert_contains "$err" "401" "Prometheus's error for the wrong password"
fi

# rate_limit: a burst of 3, then 429.
cat >"$TEST_TMP/limited.yml" <<YML
rate_limit:
  interval: 10s
  burst: 3
YML
stop_bg "$PROXY_PID"
start_proxy --workers=1 --web.config.file="$TEST_TMP/limited.yml"
codes=""
for _ in 1 2 3 4 5; do codes="$codes $(curl -s -o /dev/null -w '%{http_code}' "$PROXY_URL/clients")"; done
# start_proxy's own wait used one token.
assert_eq " 200 200 429 429 429" "$codes" "rate_limit interval 10s burst 3"
log "basic auth, headers, rate limit and reloads behave"
