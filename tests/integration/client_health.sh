#!/usr/bin/env bash
# client_health.sh - what a DaemonSet's probes and an operator see of our client, against
# our proxy over mutual TLS:
#   - the client's --label pairs reach the proxy's /clients as __meta_pushprox_label_*;
#   - /-/healthy answers 200 while the process runs, /-/ready 200 while its poll is held,
#     503 (naming the reason) once the proxy is gone for longer than --ready.poll-window,
#     and 200 again when the proxy is back;
#   - the client certificate rotates in place: a broken file is refused (logged, counted,
#     the configuration in force kept), a new certificate from another CA is picked up
#     without a restart (the expiry metric follows) and is the one the next connection
#     presents (the restarted proxy trusts only the new CA).
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
require_bin "$PROXY_BIN"
command -v openssl >/dev/null || skip "openssl not installed"
FQDN=node1.example.com
C="$TEST_TMP/certs"
sh "$ROOT/tests/unit/tls_certs.sh" "$C" >/dev/null 2>&1 || fail "cannot make the test certificates"
# The client's files live in a directory of their own, replaced the way a secret volume is.
mkdir -p "$TEST_TMP/client-tls"
cp "$C/node1.crt" "$C/node1.key" "$TEST_TMP/client-tls/"

web_yml() { # web_yml FILE CLIENT_CA
    cat >"$1" <<YML
tls_server_config:
  cert_file: $C/server.crt
  key_file: $C/server.key
  client_ca_file: $2
  client_auth_type: RequireAndVerifyClientCert
YML
}
web_yml "$TEST_TMP/web1.yml" "$C/ca.crt"
web_yml "$TEST_TMP/web2.yml" "$C/ca2.crt"
PORT=$(free_port)
W="https://localhost:$PORT"
start_tls_proxy() { # start_tls_proxy WEB_YML CERT_NAME (the certificate curl presents)
    start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT" --log.level=debug \
        --web.config.file="$1"
    PROXY_PID=$BG_PID
    SCRAPER=$2
    CC=(--cacert "$C/ca.crt" --cert "$C/$2.crt" --key "$C/$2.key")
    wait_until 20 "the TLS proxy to be ready" curl -fsS -o /dev/null "${CC[@]}" "$W/-/ready"
}
start_tls_proxy "$TEST_TMP/web1.yml" wildcard

EXP_PORT=$(free_port)
start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$EXP_PORT"
wait_http "http://127.0.0.1:$EXP_PORT/metrics" 20

MPORT=$(free_port)
M="http://127.0.0.1:$MPORT"
start_bg client "$CLIENT_BIN" --proxy-url="$W" --fqdn="$FQDN" --log.level=debug \
    --tls.cacert="$C/ca.crt" --tls.cert="$TEST_TMP/client-tls/node1.crt" \
    --tls.key="$TEST_TMP/client-tls/node1.key" --label=zone=eu-west-1a --label=rack=r7 \
    --metrics-addr="127.0.0.1:$MPORT" --ready.poll-window=3s --scrape.use-localhost
CLIENT_PID=$BG_PID

# --- health, readiness, labels ---------------------------------------------------------------
# Its metrics port accepting connections (any answer) before /-/healthy is judged: the
# client opens it after reading its flags and certificates, slower under ASan.
answers() { curl -s -o /dev/null "$M/-/healthy"; }
wait_until 20 "the client's metrics port to accept connections" answers
http_code_body GET "$M/-/healthy"
assert_eq 200 "$HTTP_CODE" "/-/healthy of a running client"
listed() { curl -fsS "${CC[@]}" "$W/clients" | grep -q "$FQDN"; }
wait_until 20 "the client to be listed by the proxy" listed
ready_code() { curl -s -o "$TEST_TMP/ready.body" -w '%{http_code}' --max-time 5 "$M/-/ready"; }
is_ready() { [ "$(ready_code)" = 200 ]; }
wait_until 20 "the client's /-/ready to answer 200" is_ready
clients=$(curl -fsS "${CC[@]}" "$W/clients")
assert_contains "$clients" '"__meta_pushprox_label_zone":"eu-west-1a"' "/clients"
assert_contains "$clients" '"__meta_pushprox_label_rack":"r7"' "/clients"
m=$(curl -fsS "$M/metrics")
assert_contains "$m" "pushprox_client_ready 1" "client metrics while polling"
assert_contains "$m" "pushprox_client_tls_last_reload_successful 1" "client metrics at start"

scrape() { # scrape EXPECTED_CODE: one scrape of the exporter through the proxy
    http_code_body GET "http://$FQDN:$EXP_PORT/metrics" -x "$W" --proxy-cacert "$C/ca.crt" \
        --proxy-cert "$C/$SCRAPER.crt" --proxy-key "$C/$SCRAPER.key" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
    assert_eq "$1" "$HTTP_CODE" "scrape through the proxy"
}
scrape 200
assert_contains "$HTTP_BODY" "client_test_metric" "the exporter's answer"

# --- rotation: a broken file is refused -----------------------------------------------------
expiry() {
    curl -fsS "$M/metrics" |
        awk '$1 == "pushprox_client_tls_certificate_expiry_timestamp_seconds" {print $2}'
}
old_expiry=$(expiry)
[ -n "$old_expiry" ] || fail "no pushprox_client_tls_certificate_expiry_timestamp_seconds"
echo "not a certificate" >"$TEST_TMP/client-tls/node1.crt.tmp"
mv "$TEST_TMP/client-tls/node1.crt.tmp" "$TEST_TMP/client-tls/node1.crt"
wait_until 20 "the broken certificate to be refused" \
    grep -q 'certificate reload refused' "$TEST_TMP/client.log"
assert_contains "$(grep 'reload refused' "$TEST_TMP/client.log" | tail -1)" "node1.crt" \
    "the refusal names the file"
assert_contains "$(curl -fsS "$M/metrics")" "pushprox_client_tls_last_reload_successful 0" \
    "client metrics after a broken file"
scrape 200 # the configuration in force still works

# --- rotation: a certificate from another CA is picked up -----------------------------------
# node1.example.com from ca2, valid 45 days (tls_certs.sh's are valid 30: the expiry differs).
R="$TEST_TMP/rotated"
openssl ecparam -name prime256v1 -genkey -noout -out "$R.key"
openssl req -new -key "$R.key" -subj "/CN=$FQDN" -out "$R.csr"
printf 'subjectAltName=DNS:%s\nextendedKeyUsage=clientAuth\n' "$FQDN" >"$R.ext"
openssl x509 -req -in "$R.csr" -CA "$C/ca2.crt" -CAkey "$C/ca2.key" -set_serial 4243 -days 45 \
    -extfile "$R.ext" -out "$R.crt" 2>/dev/null || fail "cannot make the rotated certificate"
# Key first, then certificate, as a careless writer would: the reload waits for both.
cp "$R.key" "$TEST_TMP/client-tls/node1.key.tmp"
mv "$TEST_TMP/client-tls/node1.key.tmp" "$TEST_TMP/client-tls/node1.key"
cp "$R.crt" "$TEST_TMP/client-tls/node1.crt.tmp"
mv "$TEST_TMP/client-tls/node1.crt.tmp" "$TEST_TMP/client-tls/node1.crt"
reloaded() { curl -fsS "$M/metrics" | grep -q '^pushprox_client_tls_last_reload_successful 1'; }
wait_until 20 "the new certificate to be loaded" reloaded
[ "$(expiry)" != "$old_expiry" ] || fail "the expiry metric did not follow the new certificate"

# --- readiness when the proxy goes away -----------------------------------------------------
stop_bg "$PROXY_PID"
not_ready() { [ "$(ready_code)" = 503 ]; }
wait_until 20 "the client's /-/ready to answer 503 without its proxy" not_ready
assert_contains "$(cat "$TEST_TMP/ready.body")" "$FQDN" "the 503 names the FQDN without a poll"
http_code_body GET "$M/-/healthy"
assert_eq 200 "$HTTP_CODE" "/-/healthy without the proxy (the process is fine)"
assert_contains "$(curl -fsS "$M/metrics")" "pushprox_client_ready 0" "client metrics, proxy gone"

# The proxy returns trusting only the new CA: the client's next connection must present the
# rotated certificate to be let in.
start_tls_proxy "$TEST_TMP/web2.yml" otherca
wait_until 30 "the client to poll the restarted proxy" listed
wait_until 20 "the client's /-/ready to answer 200 again" is_ready
scrape 200
assert_contains "$HTTP_BODY" "client_test_metric" "the exporter's answer after the rotation"
kill -0 "$CLIENT_PID" 2>/dev/null || fail "the client exited"
log "client health, readiness, labels and certificate rotation work"
