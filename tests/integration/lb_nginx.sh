#!/usr/bin/env bash
# lb_nginx.sh - three proxy replicas behind nginx running deploy/nginx/nginx.conf as
# shipped (only the listen address and the three replica addresses substituted), with
# TLS and client certificates made here by openssl.
#
# Six pushprox-clients poll https://localhost:<nginx> with their certificates; nginx
# places each poll by a consistent hash of its X-PushProx-FQDN and sends each push to the
# same replica. Prometheus' side is what the config says it must be: for each FQDN, the
# replica whose /clients lists it is scraped directly (one job per replica), and every
# scrape must answer 200 with that FQDN's own metrics. Also: a poll without the header
# (upstream's client) is placed by its body on the same replica as one with the header;
# a client without a certificate is refused by nginx (400). The replicas trust nginx's
# X-PushProx-Client-Cert (--web.trusted-proxy=127.0.0.1), so a certificate binds the FQDNs
# it may poll for through nginx as it does with native mutual TLS: a client polling for an
# FQDN its certificate does not name is refused (403, naming both), and a header the client
# forges is replaced by nginx with the certificate it verified.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lb_lib.bash
. "$(dirname "$0")/lb_lib.bash"

require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"
command -v nginx >/dev/null || skip "nginx not installed"
command -v openssl >/dev/null || skip "openssl not installed"
trap lb_exit EXIT

# --- certificates ------------------------------------------------------------------------
P=$TEST_TMP/nginx
C=$P/tls
mkdir -p "$C" "$P/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" -days 2 \
    -subj "/CN=pushprox lb test ca" 2>/dev/null || fail "openssl: CA"
mkcert() { # mkcert NAME CN SAN: key + certificate signed by the CA
    openssl req -new -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" \
        -subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
    printf 'subjectAltName=%s\n' "$3" >"$C/$1.ext"
    openssl x509 -req -in "$C/$1.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$C/$1.ext" -out "$C/$1.crt" 2>/dev/null ||
        fail "openssl x509 $1"
}
mkcert server localhost "DNS:localhost"
mkcert any "any.test" "DNS:*.test" # polls for the hashing checks below, under many names
N=6
for i in $(seq 1 $N); do
    mkcert "n$i" "n$i.test" "DNS:n$i.test"
done

# --- replicas, exporter, nginx as shipped --------------------------------------------------
LB_PROXY_FLAGS+=(--web.trusted-proxy=127.0.0.1)
lb_start_replicas
EXPORTER_PORT=$(lb_free_ports 1)
start_bg exporter python3 "$EXPORTER" --port "$EXPORTER_PORT"
wait_http "http://127.0.0.1:$EXPORTER_PORT/echo" 20

NGX_PORT=$(lb_free_ports 1)
sed -e "s|^        listen 443 ssl;|        listen 127.0.0.1:$NGX_PORT ssl;|" \
    -e "s|server 10\.0\.0\.1:8080|server ${REPLICA_ADDR[1]}|" \
    -e "s|server 10\.0\.0\.2:8080|server ${REPLICA_ADDR[2]}|" \
    -e "s|server 10\.0\.0\.3:8080|server ${REPLICA_ADDR[3]}|" \
    "$ROOT/deploy/nginx/nginx.conf" >"$P/nginx.conf"
[ "$(diff "$ROOT/deploy/nginx/nginx.conf" "$P/nginx.conf" | grep -c '^>')" = 4 ] ||
    fail "nginx.conf: expected to substitute exactly 4 lines"
nginx -t -q -p "$P/" -c nginx.conf -g 'daemon off;' 2>"$TEST_TMP/nginx-t.log" ||
    fail "nginx -t: $(cat "$TEST_TMP/nginx-t.log")"
start_bg nginx nginx -p "$P/" -c nginx.conf -g 'daemon off;'
NGX="https://localhost:$NGX_PORT"
wait_until 20 "nginx listening" curl -s -o /dev/null --max-time 2 --cacert "$C/ca.crt" "$NGX/"

# --- six clients of ours, with certificates --------------------------------------------------
for i in $(seq 1 $N); do
    start_bg "client_n$i" "$CLIENT_BIN" --proxy-url="$NGX" --fqdn="n$i.test" \
        --tls.cacert="$C/ca.crt" --tls.cert="$C/n$i.crt" --tls.key="$C/n$i.key" \
        --scrape.use-localhost --scrape.allow="$EXPORTER_PORT" --metrics-addr= \
        --log.level=info
done

# holder FQDN: the replica (index) whose /clients lists FQDN; fails if none or several.
holder() {
    local i found=""
    for i in $(seq 1 "$LB_REPLICAS"); do
        if curl -fsS --max-time 2 "http://${REPLICA_ADDR[$i]}/clients" 2>/dev/null |
            grep -q "\"$1\""; then
            [ -z "$found" ] || return 1
            found=$i
        fi
    done
    [ -n "$found" ] && echo "$found"
}
spread=""
for i in $(seq 1 $N); do
    wait_until 20 "n$i.test polling exactly one replica" holder "n$i.test"
    spread="$spread n$i.test@$(holder "n$i.test")"
done
log "FQDNs per replica (nginx's hash):$spread"

# --- Prometheus' side: one job per replica, each FQDN through the replica listing it -------
for round in 1 2; do
    for i in $(seq 1 $N); do
        r=$(holder "n$i.test")
        url="http://n$i.test:$EXPORTER_PORT/echo"
        http_code_body GET "$url" -x "http://${REPLICA_ADDR[$r]}" \
            -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
        assert_eq 200 "$HTTP_CODE" "round $round: $url through replica $r (body: ${HTTP_BODY:0:200})"
        assert_contains "$HTTP_BODY" "echo_host{host=\"n$i.test:$EXPORTER_PORT\"}" \
            "round $round: $url through replica $r"
    done
done
log "every scrape through the replica its FQDN polls answered with its own metrics"

# --- an upstream-style poll (FQDN only in the body) lands where the header would ---------
curl_poll() { # curl_poll NAME FQDN [CURL ARGS...]: a poll held in the background
    local name=$1 fqdn=$2
    shift 2
    start_bg "$name" curl -sS -o "$TEST_TMP/$name.out" -w '%{http_code}' --max-time 60 \
        --cacert "$C/ca.crt" --cert "$C/any.crt" --key "$C/any.key" \
        -X POST --data-binary "$fqdn" "$@" "$NGX/poll"
}
# Three FQDNs, so a match by chance (1 in 3 each) cannot pass for all.
for k in 1 2 3; do
    curl_poll "upoll$k" "u$k.test"
    curl_poll "hpoll$k" "h$k.test" -H "X-PushProx-FQDN: u$k.test"
    wait_until 20 "u$k.test (in the body only) polling a replica" holder "u$k.test"
    wait_until 20 "h$k.test (header X-PushProx-FQDN: u$k.test) polling a replica" holder "h$k.test"
    assert_eq "$(holder "u$k.test")" "$(holder "h$k.test")" \
        "replica of a poll hashed by its body u$k.test vs one by header X-PushProx-FQDN: u$k.test"
done
log "a poll's body and its X-PushProx-FQDN header hash to the same replica"

# --- the certificate nginx verified binds the FQDN ----------------------------------------
http_code_body POST "$NGX/poll" --cacert "$C/ca.crt" --cert "$C/n1.crt" --key "$C/n1.key" \
    --data-binary n2.test
assert_eq 403 "$HTTP_CODE" "n1.test's certificate polling for n2.test through nginx"
assert_contains "$HTTP_BODY" 'does not name FQDN "n2.test"' "the refusal"
assert_contains "$HTTP_BODY" "n1.test" "the refusal names the certificate"
# A forged header: nginx sets X-PushProx-Client-Cert itself, from the verified certificate.
forged=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read()))' \
    "$C/n2.crt")
http_code_body POST "$NGX/poll" --cacert "$C/ca.crt" --cert "$C/n1.crt" --key "$C/n1.key" \
    -H "X-PushProx-Client-Cert: $forged" --data-binary n2.test
assert_eq 403 "$HTTP_CODE" "n1.test's certificate with n2.test's forged in the header"
log "through nginx, a certificate polls only for the FQDNs it names; a forged header is replaced"

# --- no certificate, no entry -----------------------------------------------------------
http_code_body POST "$NGX/poll" --cacert "$C/ca.crt" --data-binary n1.test
assert_eq 400 "$HTTP_CODE" "a poll without a client certificate"
assert_contains "$HTTP_BODY" "No required SSL certificate was sent" "nginx's answer"
log "a poll without a client certificate: 400 from nginx itself"
exit 0
