#!/usr/bin/env bash
# proxy_tls_rotation.sh - certificates replaced in place, as cert-manager or a Kubernetes
# secret volume does: the proxy serves the renewed certificate to new connections without a
# restart, an open poll over the old one goes on and is answered, a broken file is refused
# (logged, counted) with the certificate in force kept, and the expiry metric follows.
# tsan: no
. "$(dirname "$0")/lib.sh"

C="$TEST_TMP/certs"
sh "$ROOT/tests/unit/tls_certs.sh" "$C" >/dev/null 2>&1 || fail "cannot make the test certificates"
# The serving files live in a directory of their own, replaced the way a secret volume does.
mkdir -p "$TEST_TMP/serving"
cp "$C/server.crt" "$C/server.key" "$TEST_TMP/serving/"
cat >"$TEST_TMP/web.yml" <<YML
tls_server_config:
  cert_file: $TEST_TMP/serving/server.crt
  key_file: $TEST_TMP/serving/server.key
  client_ca_file: $C/ca.crt
  client_auth_type: RequireAndVerifyClientCert
YML
PORT=$(free_port)
start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT" --log.level=info \
    --web.config.file="$TEST_TMP/web.yml"
W="https://localhost:$PORT"
CC=(--cacert "$C/ca.crt" --cert "$C/node1.crt" --key "$C/node1.key")
ready() { curl -fsS "${CC[@]}" "$W/-/ready" >/dev/null 2>&1; }
wait_until 20 "the TLS proxy to be ready" ready
serial() { # the serial of the certificate a new connection sees
    openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile "$C/ca.crt" \
        -cert "$C/node1.crt" -key "$C/node1.key" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
expiry() {
    curl -fsS "${CC[@]}" "$W/metrics" |
        awk '$1 ~ /^pushprox_proxy_tls_certificate_expiry_timestamp_seconds/ {print $2}'
}
old_serial=$(serial)
old_expiry=$(expiry)
[ -n "$old_serial" ] || fail "cannot read the serving certificate"

# A poll held on a connection made with the old certificate.
start_bg held curl -sS "${CC[@]}" -o "$TEST_TMP/held.out" -w '%{http_code}' -X POST \
    --data-binary node1.example.com "$W/poll"
HELD_PID=$BG_PID
wait_until 10 "the held poll to be listed" sh -c "curl -fsS --cacert $C/ca.crt --cert $C/node1.crt --key $C/node1.key $W/clients | grep -q node1"

# Renew: a new certificate for the same names, written over the old files.
openssl ecparam -name prime256v1 -genkey -noout -out "$TEST_TMP/new.key"
openssl req -new -key "$TEST_TMP/new.key" -subj /CN=localhost -out "$TEST_TMP/new.csr"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TEST_TMP/new.ext"
openssl x509 -req -in "$TEST_TMP/new.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -set_serial 4242 \
    -days 60 -extfile "$TEST_TMP/new.ext" -out "$TEST_TMP/new.crt" 2>/dev/null
cp "$TEST_TMP/new.key" "$TEST_TMP/serving/server.key.tmp"
cp "$TEST_TMP/new.crt" "$TEST_TMP/serving/server.crt.tmp"
mv "$TEST_TMP/serving/server.key.tmp" "$TEST_TMP/serving/server.key"
mv "$TEST_TMP/serving/server.crt.tmp" "$TEST_TMP/serving/server.crt"
renewed() { [ "$(serial)" = "1092" ]; } # 4242 in hex
wait_until 20 "new connections to see the renewed certificate (no SIGHUP)" renewed
[ "$(expiry)" != "$old_expiry" ] || fail "the expiry metric did not follow the renewed certificate"

# The held poll is still open, and is answered.
kill -0 "$HELD_PID" 2>/dev/null || fail "the poll held over the old certificate was dropped"
start_bg scrape1 curl -sS -x "$W" --proxy-cacert "$C/ca.crt" --proxy-cert "$C/wildcard.crt" \
    --proxy-key "$C/wildcard.key" -o "$TEST_TMP/scrape1.body" -w '%{http_code}' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 20' http://node1.example.com:9100/metrics
SCRAPE_PID=$BG_PID
wait_exit "$HELD_PID" 20
assert_eq 200 "$(cat "$TEST_TMP/held.log")" "the held poll, answered after the rotation"
id=$(tr -d '\r' <"$TEST_TMP/held.out" | grep -i -m1 '^id:' | sed 's/^[^:]*: *//')
make_response "$TEST_TMP/push1" "$id" "rotated 1"
http_code_body POST "$W/push" "${CC[@]}" --data-binary "@$TEST_TMP/push1"
assert_eq 200 "$HTTP_CODE" "push after the rotation"
wait_exit "$SCRAPE_PID" 20
assert_eq "rotated 1" "$(cat "$TEST_TMP/scrape1.body")" "the scrape through the rotated proxy"

# A broken certificate file is refused; the renewed certificate stays in force.
echo "not a certificate" >"$TEST_TMP/serving/server.crt"
wait_until 20 "the broken file to be refused" grep -q 'reload refused' "$TEST_TMP/proxy.log"
assert_contains "$(grep 'reload refused' "$TEST_TMP/proxy.log" | tail -1)" "server.crt" "the refusal names the file"
[ "$(serial)" = "1092" ] || fail "the certificate in force changed after a broken reload"
m=$(curl -fsS "${CC[@]}" "$W/metrics")
assert_contains "$m" "pushprox_proxy_config_last_reload_successful 0" "metrics after a broken reload"
log "certificates rotate in place; broken ones are refused"
