#!/usr/bin/env bash
# client_http_proxy.sh - the client behind a corporate HTTP proxy (a real tinyproxy), as
# Go's clients honour HTTPS_PROXY, HTTP_PROXY and NO_PROXY:
#   - https --proxy-url through HTTPS_PROXY: a CONNECT tunnel, TLS inside, scrapes work;
#   - http --proxy-url through HTTP_PROXY: requests in absolute form to the proxy;
#   - NO_PROXY naming the host: straight to it, the HTTP proxy not used;
#   - --proxy.http-proxy-url instead of the environment.
# Loopback addresses are never proxied (Go's rule), so the proxy listens on an address the
# test gives a veth pair it makes (10.123.45.1) and removes.
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
command -v tinyproxy >/dev/null || skip "tinyproxy not installed"
[ "$(id -u)" = 0 ] || skip "needs root for a veth pair"
IP=10.123.45.1
DEV=ppx$$
ip link add "$DEV" type veth peer name "${DEV}p" 2>/dev/null || skip "cannot make a veth pair"
trap 'ip link del "$DEV" 2>/dev/null; stop_all' EXIT
ip addr add "$IP/32" dev "$DEV"
ip link set "${DEV}p" up
ip link set "$DEV" up

# A CA and a server certificate for the address.
C="$TEST_TMP/certs"
mkdir -p "$C"
openssl ecparam -name prime256v1 -genkey -noout -out "$C/ca.key"
openssl req -x509 -new -key "$C/ca.key" -subj "/CN=test ca" -days 2 -out "$C/ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$C/server.key"
openssl req -new -key "$C/server.key" -subj "/CN=$IP" -out "$C/server.csr"
printf 'subjectAltName=IP:%s\n' "$IP" >"$C/server.ext"
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -set_serial 7 -days 2 \
    -extfile "$C/server.ext" -out "$C/server.crt" 2>/dev/null
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$C/server.crt" "$C/server.key" >"$TEST_TMP/web.yml"

TLS_PORT=$(free_port)
PLAIN_PORT=$(free_port)
start_bg proxy_tls "$PROXY_BIN" --web.listen-address="$IP:$TLS_PORT" --web.config.file="$TEST_TMP/web.yml"
start_bg proxy_plain "$PROXY_BIN" --web.listen-address="$IP:$PLAIN_PORT"
wait_until 20 "the proxies to listen" sh -c "curl -fsS --cacert $C/ca.crt https://$IP:$TLS_PORT/-/ready >/dev/null && curl -fsS http://$IP:$PLAIN_PORT/-/ready >/dev/null"

TP_PORT=$(free_port)
cat >"$TEST_TMP/tinyproxy.conf" <<CONF
Port $TP_PORT
Listen 127.0.0.1
Timeout 600
Allow 127.0.0.1
LogFile "$TEST_TMP/tinyproxy.access"
LogLevel Info
MaxClients 50
CONF
start_bg tinyproxy tinyproxy -d -c "$TEST_TMP/tinyproxy.conf"
wait_until 10 "tinyproxy to listen" sh -c "ss -Hltn 'sport = :$TP_PORT' | grep -q LISTEN"

EX_PORT=$(free_port)
start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$EX_PORT"
wait_http "http://127.0.0.1:$EX_PORT/metrics" 20

proxied_count() { grep -c "$1" "$TEST_TMP/tinyproxy.access" 2>/dev/null || echo 0; }

# 1. https through HTTPS_PROXY: CONNECT, then TLS inside the tunnel.
HTTPS_PROXY="http://127.0.0.1:$TP_PORT" start_bg client1 "$CLIENT_BIN" \
    --proxy-url="https://$IP:$TLS_PORT" --fqdn=tunnel.test --scrape.use-localhost \
    --tls.cacert="$C/ca.crt" --metrics-addr=
C1_PID=$BG_PID
wait_until 20 "a CONNECT through tinyproxy" sh -c "grep -q 'CONNECT $IP:$TLS_PORT' $TEST_TMP/tinyproxy.access"
ok() { [ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --proxy "https://$IP:$TLS_PORT" --proxy-cacert "$C/ca.crt" -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' "http://$1:$EX_PORT/metrics")" = 200 ]; }
wait_until 30 "a scrape of the client behind the HTTP proxy (CONNECT)" ok tunnel.test
stop_bg "$C1_PID"

# 2. http through HTTP_PROXY: requests in absolute form to tinyproxy, which forwards them.
HTTP_PROXY="http://127.0.0.1:$TP_PORT" start_bg client2 "$CLIENT_BIN" \
    --proxy-url="http://$IP:$PLAIN_PORT" --fqdn=forward.test --scrape.use-localhost --metrics-addr=
C2_PID=$BG_PID
wait_until 20 "a poll forwarded by tinyproxy" sh -c "grep -q 'POST http://$IP:$PLAIN_PORT/poll' $TEST_TMP/tinyproxy.access"
ok_plain() { [ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 -x "http://$IP:$PLAIN_PORT" -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' "http://$1:$EX_PORT/metrics")" = 200 ]; }
wait_until 30 "a scrape of the client behind the HTTP proxy (forward)" ok_plain forward.test
stop_bg "$C2_PID"

# 3. NO_PROXY names the host: straight to it, tinyproxy not used.
before=$(proxied_count "$IP:$TLS_PORT")
HTTPS_PROXY="http://127.0.0.1:$TP_PORT" NO_PROXY="10.0.0.0/8" start_bg client3 "$CLIENT_BIN" \
    --proxy-url="https://$IP:$TLS_PORT" --fqdn=direct.test --scrape.use-localhost \
    --tls.cacert="$C/ca.crt" --metrics-addr=
C3_PID=$BG_PID
wait_until 30 "a scrape of the client that bypasses the HTTP proxy" ok direct.test
assert_eq "$before" "$(proxied_count "$IP:$TLS_PORT")" "tinyproxy lines for the proxy with NO_PROXY set"
stop_bg "$C3_PID"

# 4. The flag instead of the environment.
start_bg client4 "$CLIENT_BIN" --proxy-url="https://$IP:$TLS_PORT" --fqdn=flag.test \
    --scrape.use-localhost --tls.cacert="$C/ca.crt" --metrics-addr= \
    --proxy.http-proxy-url="http://127.0.0.1:$TP_PORT"
wait_until 30 "a scrape of the client using --proxy.http-proxy-url" ok flag.test
[ "$(proxied_count "$IP:$TLS_PORT")" -gt "$before" ] || fail "--proxy.http-proxy-url did not go through tinyproxy"

# A bad value is refused at start, naming the variable.
rc=0
HTTPS_PROXY="https://127.0.0.1:$TP_PORT" "$CLIENT_BIN" --proxy-url="https://$IP:$TLS_PORT" \
    --fqdn=x.test >"$TEST_TMP/bad.out" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status with an https:// HTTPS_PROXY"
assert_contains "$(cat "$TEST_TMP/bad.out")" "HTTPS_PROXY" "the refusal of an https:// proxy"
log "the client reaches the proxy through an HTTP proxy, and around it"
