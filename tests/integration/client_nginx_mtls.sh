#!/usr/bin/env bash
# client_nginx_mtls.sh - the deployment PushProx comes from: nginx terminates TLS with
# ssl_verify_client on in front of the proxy (ours if built, else the upstream stand-in);
# pushprox-client polls https://localhost:<nginx> with --tls.cacert/--tls.cert/--tls.key
# and certificates made here by openssl (SANs included); scrapes go through the proxy's
# plaintext port; the same by IP address (checked against the certificate's IP SAN). Then
# the failures a user meets there, each with a message that says what is wrong: wrong CA,
# server name (or IP address) not in the certificate, a certificate without any SAN (which
# Go's client refuses too), missing client certificate (nginx answers 400), unreadable or
# unusable key file.
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
command -v nginx >/dev/null || skip "nginx not installed"
command -v openssl >/dev/null || skip "openssl not installed"
HERE="$ROOT/tests/integration"
FQDN=node1.pushprox.test
C=$TEST_TMP/certs
mkdir -p "$C"

# --- certificates -------------------------------------------------------------------------
mkcert() { # mkcert NAME CN SAN CA: key + certificate signed by CA
    openssl req -new -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" \
        -subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
    printf 'subjectAltName=%s\n' "$3" >"$C/$1.ext"
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$4.crt" -CAkey "$C/$4.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$C/$1.ext" -out "$C/$1.crt" 2>/dev/null || fail "openssl x509 $1"
}
for ca in ca wrongca; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/$ca.key" -out "$C/$ca.crt" \
        -days 2 -subj "/CN=pushprox test $ca" 2>/dev/null || fail "openssl CA $ca"
done
mkcert server localhost "DNS:localhost,IP:127.0.0.1" ca
mkcert othername proxy.example.com "DNS:proxy.example.com" ca
# No SAN at all: the openssl x509 defaults add none without -extfile.
openssl req -new -newkey rsa:2048 -nodes -keyout "$C/nosan.key" -out "$C/nosan.csr" \
    -subj "/CN=localhost" 2>/dev/null || fail "openssl req nosan"
openssl x509 -req -in "$C/nosan.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
    -days 2 -sha256 -out "$C/nosan.crt" 2>/dev/null || fail "openssl x509 nosan"
mkcert client "$FQDN" "DNS:$FQDN" ca
echo "this is not a key" >"$C/garbage.key"

# --- proxy, exporter, nginx -----------------------------------------------------------------
PX_PORT=$(free_port)
if [ -x "$PROXY_BIN" ]; then
    start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PX_PORT" --log.level=debug
else
    log "our proxy is not built; using the upstream stand-in"
    start_bg proxy python3 "$HERE/client_upstream_proxy.py" --port "$PX_PORT"
fi
wait_http "http://127.0.0.1:$PX_PORT/clients" 20
PY_PORT=$(free_port)
start_bg exporter python3 "$HERE/client_exporter.py" --port "$PY_PORT"
wait_http "http://127.0.0.1:$PY_PORT/metrics" 20

NGX_PORT=$(free_port)
NGX_BAD_PORT=$(free_port)
NGX_EXP_PORT=$(free_port)
NGX_NOSAN_PORT=$(free_port)
mkdir -p "$TEST_TMP/nginx/logs"
cat >"$TEST_TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
user root root;
pid $TEST_TMP/nginx/nginx.pid;
error_log $TEST_TMP/nginx/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $TEST_TMP/nginx/logs/access.log;
    client_body_temp_path $TEST_TMP/nginx/body;
    proxy_temp_path $TEST_TMP/nginx/proxy;
    fastcgi_temp_path $TEST_TMP/nginx/fastcgi;
    uwsgi_temp_path $TEST_TMP/nginx/uwsgi;
    scgi_temp_path $TEST_TMP/nginx/scgi;
    upstream pushprox { server 127.0.0.1:$PX_PORT; keepalive 16; }
    server {
        listen 127.0.0.1:$NGX_PORT ssl;
        ssl_certificate $C/server.crt;
        ssl_certificate_key $C/server.key;
        ssl_client_certificate $C/ca.crt;
        ssl_verify_client on;
        location / {
            proxy_pass http://pushprox;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 300s;
            proxy_buffering off;
        }
    }
    server { # an exporter served over https, for ?_scheme=https
        listen 127.0.0.1:$NGX_EXP_PORT ssl;
        ssl_certificate $C/server.crt;
        ssl_certificate_key $C/server.key;
        location /metrics { default_type text/plain; return 200 "tls_exporter_metric 7\n"; }
    }
    server {
        listen 127.0.0.1:$NGX_BAD_PORT ssl;
        ssl_certificate $C/othername.crt;
        ssl_certificate_key $C/othername.key;
        location / { proxy_pass http://pushprox; }
    }
    server {
        listen 127.0.0.1:$NGX_NOSAN_PORT ssl;
        ssl_certificate $C/nosan.crt;
        ssl_certificate_key $C/nosan.key;
        location / { proxy_pass http://pushprox; }
    }
}
CONF
start_bg nginx nginx -p "$TEST_TMP/nginx" -c "$TEST_TMP/nginx/nginx.conf" -g 'daemon off;'
nginx_up() { curl -sk -o /dev/null --max-time 2 "https://127.0.0.1:$NGX_PORT/" ; }
wait_until 20 "nginx to listen" nginx_up

# --- the working deployment ---------------------------------------------------------------
log "mTLS through nginx: the client polls, a scrape through the plaintext port works"
start_bg client "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_PORT" --fqdn="$FQDN" \
    --scrape.use-localhost --metrics-addr= --log.level=debug \
    --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" --tls.key="$C/client.key"
GOOD_PID=$BG_PID
http_code_body GET "http://$FQDN:$PY_PORT/metrics" -x "http://127.0.0.1:$PX_PORT" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
assert_eq 200 "$HTTP_CODE" "scrape through nginx-fronted proxy"
assert_contains "$HTTP_BODY" "client_test_metric 42" "scrape body"
grep -q 'POST /poll' "$TEST_TMP/nginx/logs/access.log" || fail "polls did not go through nginx"
grep -q 'POST /push' "$TEST_TMP/nginx/logs/access.log" || fail "pushes did not go through nginx"
stop_bg "$GOOD_PID"

log "the same by IP address: https://127.0.0.1 is checked against the IP SAN"
start_bg byip "$CLIENT_BIN" --proxy-url="https://127.0.0.1:$NGX_PORT" --fqdn="$FQDN" \
    --scrape.use-localhost --metrics-addr= --log.level=debug \
    --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" --tls.key="$C/client.key"
pid=$BG_PID
http_code_body GET "http://$FQDN:$PY_PORT/metrics" -x "http://127.0.0.1:$PX_PORT" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
assert_eq 200 "$HTTP_CODE" "scrape through nginx reached by IP"
assert_contains "$HTTP_BODY" "client_test_metric 42" "scrape body (by IP)"
stop_bg "$pid"

log "_scheme=https: the client scrapes an https exporter, checked with --scrape.tls.cacert"
start_bg tlsscrape "$CLIENT_BIN" --proxy-url="http://127.0.0.1:$PX_PORT" --fqdn=localhost \
    --metrics-addr= --log.level=debug --scrape.tls.cacert="$C/ca.crt"
pid=$BG_PID
http_code_body GET "http://localhost:$NGX_EXP_PORT/metrics?_scheme=https" \
    -x "http://127.0.0.1:$PX_PORT" -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
assert_eq 200 "$HTTP_CODE" "https scrape"
assert_contains "$HTTP_BODY" "tls_exporter_metric 7" "https scrape body"
http_code_body GET "http://localhost:$NGX_BAD_PORT/metrics?_scheme=https" \
    -x "http://127.0.0.1:$PX_PORT" -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
assert_eq 500 "$HTTP_CODE" "https scrape of an exporter with the wrong name"
assert_contains "$HTTP_BODY" "certificate for proxy.example.com does not name localhost" \
    "https name mismatch"
stop_bg "$pid"

# --- failures -------------------------------------------------------------------------------
# run_client NAME ARGS...: start a client, wait until its log has the expected text.
expect_log() { # expect_log NAME TEXT
    local f="$TEST_TMP/$1.log" text=$2
    has_text() { grep -qF "$text" "$f"; }
    wait_until 15 "[$text] in $1.log" has_text
}

log "wrong CA"
start_bg wrongca "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_PORT" --fqdn="$FQDN" \
    --metrics-addr= --tls.cacert="$C/wrongca.crt" --tls.cert="$C/client.crt" \
    --tls.key="$C/client.key"
pid=$BG_PID
expect_log wrongca "server certificate not accepted"
expect_log wrongca "not correctly signed by the trusted CA"
stop_bg "$pid"

log "server name not in the certificate"
start_bg badname "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_BAD_PORT" --fqdn="$FQDN" \
    --metrics-addr= --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" \
    --tls.key="$C/client.key"
pid=$BG_PID
expect_log badname "server certificate not accepted: certificate for proxy.example.com does not name localhost"
stop_bg "$pid"

log "IP address not in the certificate"
start_bg badip "$CLIENT_BIN" --proxy-url="https://127.0.0.1:$NGX_BAD_PORT" --fqdn="$FQDN" \
    --metrics-addr= --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" \
    --tls.key="$C/client.key"
pid=$BG_PID
expect_log badip "certificate for proxy.example.com does not name 127.0.0.1"
stop_bg "$pid"

log "a server certificate without SAN is refused, as Go's client refuses it"
start_bg nosan "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_NOSAN_PORT" --fqdn="$FQDN" \
    --metrics-addr= --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" \
    --tls.key="$C/client.key"
pid=$BG_PID
expect_log nosan "has no subjectAltName"
expect_log nosan "x509: certificate relies on legacy Common Name field, use SANs instead"
stop_bg "$pid"

log "missing client certificate: nginx answers 400"
start_bg nocert "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_PORT" --fqdn="$FQDN" \
    --metrics-addr= --tls.cacert="$C/ca.crt"
pid=$BG_PID
expect_log nocert "proxy refused the poll"
expect_log nocert "status=400"
expect_log nocert "No required SSL certificate was sent"
stop_bg "$pid"

log "unreadable key file: exit 1 naming the flag and the file"
# client_with_key KEYFILE LOG: run the client with that key; sets rc to its exit status.
client_with_key() {
    rc=0
    timeout 10 "$CLIENT_BIN" --proxy-url="https://localhost:$NGX_PORT" --fqdn="$FQDN" \
        --metrics-addr= --tls.cacert="$C/ca.crt" --tls.cert="$C/client.crt" --tls.key="$1" \
        >"$TEST_TMP/$2" 2>&1 || rc=$?
}
client_with_key "$C/missing.key" nokey.log
assert_eq 1 "$rc" "exit status with a missing key"
assert_contains "$(cat "$TEST_TMP/nokey.log")" "--tls.key: cannot read $C/missing.key" "missing key"
client_with_key "$C/garbage.key" badkey.log
assert_eq 1 "$rc" "exit status with a garbage key"
assert_contains "$(cat "$TEST_TMP/badkey.log")" "not a usable private key" "garbage key"
client_with_key "$C/wrongca.key" mismatch.log
assert_eq 1 "$rc" "exit status with a key of another certificate"
assert_contains "$(cat "$TEST_TMP/mismatch.log")" "does not go with the certificate" "key mismatch"
log "PASS"
