#!/usr/bin/env bash
# proxy_tls.sh - native TLS and mutual TLS in the proxy, and identities bound to FQDNs.
#
# Certificates from tests/unit/tls_certs.sh (openssl CLI): a CA, a server certificate for
# localhost/127.0.0.1/::1, clients node1.example.com and node2.example.com, a wildcard
# *.example.com, an expired one, one from another CA, one without SAN (CN only).
# The client plane requires and verifies client certificates; the scrape plane too, plus
# basic auth. Checked: a good client scrapes end to end; wrong CA, expired and missing
# certificates fail the handshake; node1's certificate polling as node2 gets 403 naming
# both; a push for node2's scrape from node1's certificate gets 403 and the scrape still
# gets node2's push; plaintext on the TLS port gets Go's 400 and the proxy goes on; a real
# Prometheus scrapes over https with its client certificate and proxy credentials.
# tsan: yes
. "$(dirname "$0")/lib.sh"

C="$TEST_TMP/certs"
sh "$ROOT/tests/unit/tls_certs.sh" "$C" >/dev/null 2>&1 || fail "cannot make the test certificates"
PROM_HASH=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))')
cat >"$TEST_TMP/web.yml" <<YML
tls_server_config:
  cert_file: $C/server.crt
  key_file: $C/server.key
  client_ca_file: $C/ca.crt
  client_auth_type: RequireAndVerifyClientCert
YML
cat >"$TEST_TMP/scrape.yml" <<YML
tls_server_config:
  cert_file: $C/server.crt
  key_file: $C/server.key
  client_ca_file: $C/ca.crt
  client_auth_type: RequireAndVerifyClientCert
basic_auth_users:
  prom: $PROM_HASH
YML
PORT=$(free_port)
SPORT=$(free_port)
start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT" --log.level=debug \
    --scrape.listen-address="127.0.0.1:$SPORT" --web.config.file="$TEST_TMP/web.yml" \
    --scrape.web-config.file="$TEST_TMP/scrape.yml" --workers=2
W="https://localhost:$PORT"
# cc NAME: curl options presenting client certificate NAME to the client plane.
cc() { echo "--cacert $C/ca.crt --cert $C/$1.crt --key $C/$1.key"; }
# shellcheck disable=SC2046 # cc prints several options
ready() { curl -fsS $(cc node1) "$W/-/ready" >/dev/null 2>&1; }
wait_until 20 "the TLS proxy to be ready" ready

# --- handshakes: wrong CA, expired, none: refused; plaintext: Go's 400 -------------------
for bad in otherca expired; do
    rc=0
    # shellcheck disable=SC2046
    curl -sS $(cc "$bad") -X POST --data-binary node1.example.com "$W/poll" -o /dev/null 2>"$TEST_TMP/$bad.err" || rc=$?
    [ "$rc" != 0 ] || fail "a client certificate ($bad) was accepted"
done
rc=0
curl -sS --cacert "$C/ca.crt" -X POST --data-binary node1.example.com "$W/poll" -o /dev/null 2>/dev/null || rc=$?
[ "$rc" != 0 ] || fail "a client without a certificate was accepted"
wait_until 10 "handshake failures logged" grep -q 'TLS handshake failed' "$TEST_TMP/proxy.log"
plain=$(printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' | python3 "$TESTCLIENT" raw --port "$PORT" --quiet-timeout 2)
assert_contains "$plain" "Client sent an HTTP request to an HTTPS server." "plaintext to the TLS port"

# --- identity: node1's certificate may not poll as node2 ---------------------------------
# shellcheck disable=SC2046
http_code_body POST "$W/poll" $(cc node1) --data-binary node2.example.com
assert_eq 403 "$HTTP_CODE" "node1's certificate polling as node2"
assert_contains "$HTTP_BODY" "CN=node1.example.com" "the 403 names the certificate"
assert_contains "$HTTP_BODY" "node2.example.com" "the 403 names the FQDN"
assert_contains "$(cat "$TEST_TMP/proxy.log")" 'msg="poll refused: the certificate does not name the FQDN"' "proxy log"

# --- a whole scrape over both TLS planes, and a push from the wrong certificate ------------
# shellcheck disable=SC2046
start_bg poll2 curl -sS $(cc node2) -o "$TEST_TMP/poll2.out" -w '%{http_code}' -X POST \
    --data-binary node2.example.com "$W/poll"
# shellcheck disable=SC2034 # read by lib.sh's poll_done
POLL_PID=$BG_PID
# shellcheck disable=SC2046
start_bg scrape2 curl -sS --proxy "https://prom:s3cret@localhost:$SPORT" --proxy-cacert "$C/ca.crt" \
    --proxy-cert "$C/wildcard.crt" --proxy-key "$C/wildcard.key" -o "$TEST_TMP/scrape2.body" \
    -w '%{http_code}' -H 'X-Prometheus-Scrape-Timeout-Seconds: 30' http://node2.example.com:9100/metrics
SCRAPE_PID=$BG_PID
poll_done poll2
make_response "$TEST_TMP/push2" "$POLL_ID" "node2 1"
# shellcheck disable=SC2046
http_code_body POST "$W/push" $(cc node1) --data-binary "@$TEST_TMP/push2"
assert_eq 403 "$HTTP_CODE" "a push for node2's scrape from node1's certificate"
assert_contains "$HTTP_BODY" "node2.example.com" "the push's 403"
kill -0 "$SCRAPE_PID" 2>/dev/null || fail "node2's scrape was answered by node1's push"
# shellcheck disable=SC2046
http_code_body POST "$W/push" $(cc node2) --data-binary "@$TEST_TMP/push2"
assert_eq 200 "$HTTP_CODE" "node2's own push"
wait_exit "$SCRAPE_PID" 30
assert_eq 200 "$(cat "$TEST_TMP/scrape2.log")" "the scrape over the TLS scrape plane"
assert_eq "node2 1" "$(cat "$TEST_TMP/scrape2.body")" "the scrape's body"
# The wildcard and the CN-only certificates poll for the names they carry.
for pair in "wildcard:any.example.com" "nosan:nosan.example.com"; do
    # shellcheck disable=SC2046
    code=$(curl -sS $(cc "${pair%%:*}") -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
        --data-binary "${pair#*:}" "$W/poll" 2>/dev/null || true)
    [ "$code" != 403 ] || fail "${pair%%:*}'s certificate refused for ${pair#*:}"
done

# --- our client over mutual TLS, and a real Prometheus over https --------------------------
if [ -x "$CLIENT_BIN" ] && [ -x /usr/bin/prometheus ]; then
    EX_PORT=$(free_port)
    start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$EX_PORT"
    wait_http "http://127.0.0.1:$EX_PORT/metrics" 20
    start_bg client "$CLIENT_BIN" --proxy-url="$W" --fqdn=node1.example.com --scrape.use-localhost \
        --tls.cacert="$C/ca.crt" --tls.cert="$C/node1.crt" --tls.key="$C/node1.key" --metrics-addr=
    PROM_PORT=$(free_port)
    cat >"$TEST_TMP/prometheus.yml" <<YML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: good
    proxy_url: https://prom:s3cret@localhost:$SPORT
    tls_config: {ca_file: $C/ca.crt, cert_file: $C/wildcard.crt, key_file: $C/wildcard.key}
    static_configs: [{targets: ["node1.example.com:$EX_PORT"]}]
  - job_name: bad
    proxy_url: https://prom:wrong@localhost:$SPORT
    tls_config: {ca_file: $C/ca.crt, cert_file: $C/wildcard.crt, key_file: $C/wildcard.key}
    static_configs: [{targets: ["node1.example.com:$EX_PORT"]}]
YML
    start_bg prometheus /usr/bin/prometheus --config.file="$TEST_TMP/prometheus.yml" \
        --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
    wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
    up_is() {
        curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=up{job=\"$1\"} == $2" |
            python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
    }
    wait_until 60 "Prometheus scraping over https with its certificate" up_is good 1
    wait_until 60 "the wrong password failing" up_is bad 0
    err=$(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/targets" |
        python3 -c 'import json,sys; print([t["lastError"] for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"]=="bad"][0])')
    assert_contains "$err" "401" "Prometheus's error for the wrong password"
fi

# The proxy served through all of it, and counted.
# shellcheck disable=SC2046
m=$(curl -fsS --cacert "$C/ca.crt" --cert "$C/wildcard.crt" --key "$C/wildcard.key" "https://prom:s3cret@localhost:$SPORT/metrics")
assert_contains "$m" 'pushprox_proxy_identity_rejections_total{route="/poll"} 1' "proxy /metrics"
assert_contains "$m" 'pushprox_proxy_identity_rejections_total{route="/push"} 1' "proxy /metrics"
assert_contains "$m" 'pushprox_proxy_tls_certificate_expiry_timestamp_seconds{listener="web"}' "proxy /metrics"
log "TLS, mutual TLS and bound identities behave"
