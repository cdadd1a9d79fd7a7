#!/usr/bin/env bash
# upstream_interop.sh - wire compatibility with the real upstream Go PushProx, both ways,
# with a real prometheus-node-exporter:
#   A) upstream's pushprox-client polling OUR pushprox-proxy (plain HTTP);
#   M) upstream's pushprox-client polling OUR pushprox-proxy over native mutual TLS
#      (--web.config.file, RequireAndVerifyClientCert; upstream's --tls.cacert/--tls.cert/
#      --tls.key), Prometheus's side on a plain --scrape.listen-address;
#   B) OUR pushprox-client polling upstream's pushprox-proxy.
# A, M and B: /clients lists the client; 20 scrapes through the proxy answer 200 with
# node_exporter_build_info; gzip passes through (Content-Encoding: gzip, body inflates);
# a scrape of a closed port comes back at once as a 500 carrying the client's error
# text (in A and M this is upstream's "HTTP/0.0 500" push without Content-Length).
# M also: upstream's client with the certificate for localhost started as
# --fqdn=127.0.0.2 gets 403 (our log line, pushprox_proxy_identity_rejections_total) and
# never sees 127.0.0.2's scrapes (they time out with the proxy's 500; 127.0.0.2's exporter
# gets no request); upstream's client without a certificate is refused at the handshake.
# B also runs two of our clients on one FQDN against upstream's single poll slot: scrapes
# still work, the 408 evictions are not counted as poll errors, and they do not spin.
#
# Needs prebuilt upstream binaries: UPSTREAM_PUSHPROX_DIR=<dir> holding pushprox-proxy and
# pushprox-client (built from github.com/prometheus-community/PushProx; nothing of upstream
# is in this repo). Without it the scenario skips (exit 77), so CI never needs upstream.
# How they were built here (Debian 12, no module proxy: Debian's Go packages in GOPATH
# mode), tag v0.2.0 (commit 83cae523a829b055f26f20baa2201dec67ab6f37):
#   apt-get install -y golang-go golang-gopkg-alecthomas-kingpin.v2-dev \
#       golang-github-prometheus-client-golang-dev golang-github-prometheus-common-dev \
#       golang-github-go-kit-log-dev golang-github-google-uuid-dev \
#       golang-github-showmax-go-fqdn-dev golang-github-cenkalti-backoff-dev
#   git clone https://github.com/prometheus-community/PushProx /work/upstream-src
#   git -C /work/upstream-src checkout v0.2.0
#   GP=/work/upstream-gopath/src/github.com
#   mkdir -p $GP/prometheus-community $GP/alecthomas/kingpin $GP/prometheus/common
#   ln -s /work/upstream-src $GP/prometheus-community/pushprox
#   # v0.2.0 imports kingpin as github.com/alecthomas/kingpin/v2; Debian ships kingpin 2.2.6
#   # as gopkg.in/alecthomas/kingpin.v2, and Debian's promlog/flag imports that path: one
#   # path for both, or the two Application types differ
#   ln -s /usr/share/gocode/src/gopkg.in/alecthomas/kingpin.v2 $GP/alecthomas/kingpin/v2
#   cp -r /usr/share/gocode/src/github.com/prometheus/common/promlog $GP/prometheus/common/
#   grep -rl gopkg.in/alecthomas/kingpin.v2 $GP/prometheus/common/promlog |
#       xargs sed -i 's|gopkg.in/alecthomas/kingpin.v2|github.com/alecthomas/kingpin/v2|'
#   cd $GP/prometheus-community/pushprox && export GO111MODULE=off \
#       GOPATH=/work/upstream-gopath:/usr/share/gocode GOCACHE=/work/upstream-gopath/cache
#   go build -o /work/upstream-bin/pushprox-proxy ./cmd/proxy
#   go build -o /work/upstream-bin/pushprox-client ./cmd/client
#   UPSTREAM_PUSHPROX_DIR=/work/upstream-bin tests/integration/run.sh upstream_interop
# (backoff/v4 resolves to Debian's github.com/cenkalti/backoff, whose go.mod names /v4.)
# Owner: the QA (interop) helper.
# tsan: no
. "$(dirname "$0")/lib.sh"

[ -n "${UPSTREAM_PUSHPROX_DIR:-}" ] || skip "UPSTREAM_PUSHPROX_DIR not set (prebuilt upstream PushProx binaries)"
UP_PROXY_BIN="$UPSTREAM_PUSHPROX_DIR/pushprox-proxy"
UP_CLIENT_BIN="$UPSTREAM_PUSHPROX_DIR/pushprox-client"
[ -x "$UP_PROXY_BIN" ] || skip "$UP_PROXY_BIN not found"
[ -x "$UP_CLIENT_BIN" ] || skip "$UP_CLIENT_BIN not found"
require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"
command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter not installed"

# Upstream's client scrapes the URL host as given, so the FQDN must resolve: localhost.
FQDN=localhost
NE_PORT=$(free_port)
DEAD_PORT=$(free_port) # nothing listens here

start_bg node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.loadavg --collector.meminfo
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20

# clients_has PROXY_URL: /clients is a JSON list of target groups naming $FQDN
# (upstream writes "labels": null, we write {}; only the targets matter).
clients_has() {
    curl -fsS --max-time 5 "$1/clients" 2>/dev/null | python3 -c '
import json, sys
groups = json.load(sys.stdin)
sys.exit(0 if any(sys.argv[1] in g.get("targets", []) for g in groups) else 1)' "$FQDN"
}

# scrape_ok PROXY_URL: one scrape through the proxy answered 200 with the node exporter.
scrape_ok() {
    http_code_body GET "http://$FQDN:$NE_PORT/metrics" -x "$1" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 5'
    [ "$HTTP_CODE" = 200 ] && [[ $HTTP_BODY == *node_exporter_build_info* ]]
}

# check_way NAME PROXY_URL: the scrape checks shared by both directions.
check_way() {
    local name=$1 px=$2 i hdr code
    wait_until 20 "$name: /clients lists $FQDN" clients_has "$px"
    # The first scrape may race the client's first poll; after that every one must work.
    wait_until 20 "$name: first scrape through the proxy" scrape_ok "$px"
    for i in $(seq 20); do
        scrape_ok "$px" || fail "$name: scrape $i: status $HTTP_CODE, body [$(head -c 300 <<<"$HTTP_BODY")]"
    done
    log "$name: 21 scrapes answered 200 with node_exporter_build_info"

    # (curl to a file: the gzip body has NUL bytes, which a shell variable cannot hold)
    code=$(curl -sS --max-time 30 -x "$px" -D "$TEST_TMP/$name-gz.hdr" -o "$TEST_TMP/$name-gz.body" \
        -w '%{http_code}' -H 'Accept-Encoding: gzip' -H 'X-Prometheus-Scrape-Timeout-Seconds: 5' \
        "http://$FQDN:$NE_PORT/metrics") || true
    assert_eq 200 "$code" "$name: status of the gzip scrape"
    hdr=$(tr -d '\r' <"$TEST_TMP/$name-gz.hdr")
    assert_contains "$hdr" "Content-Encoding: gzip" "$name: headers of the gzip scrape"
    gzip -dc <"$TEST_TMP/$name-gz.body" | grep -q node_exporter_build_info ||
        fail "$name: the gzip body does not inflate to the node exporter's metrics"

    # A scrape error: the client pushes a 500 with its error text, relayed at once
    # (well before the 20 s scrape timeout, after which the proxy answers on its own).
    http_code_body GET "http://$FQDN:$DEAD_PORT/metrics" -x "$px" \
        -H 'X-Prometheus-Scrape-Timeout-Seconds: 20'
    assert_eq 500 "$HTTP_CODE" "$name: status of a scrape of a closed port"
    assert_contains "$HTTP_BODY" "refused" "$name: body of a scrape of a closed port (the client's error)"
}

# --- A: upstream client -> our proxy ------------------------------------------------
start_proxy
start_bg upstream-client "$UP_CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$PROXY_URL" \
    --metrics-addr="127.0.0.1:$(free_port)"
UP_CLIENT_PID=$BG_PID
check_way "upstream-client->our-proxy" "$PROXY_URL"
stop_bg "$UP_CLIENT_PID"

# --- M: upstream client -> our proxy over native mutual TLS ---------------------------
# Certificates as proxy_tls.sh makes them: the proxy's for localhost/127.0.0.1, clients'
# from ca.crt. The clients' listener requires and verifies client certificates; Prometheus's
# side (the scrapes, /clients, /metrics) is a plain --scrape.listen-address.
C="$TEST_TMP/certs"
sh "$ROOT/tests/unit/tls_certs.sh" "$C" >/dev/null 2>&1 || fail "cannot make the test certificates"
cat >"$TEST_TMP/web.yml" <<YML
tls_server_config:
  cert_file: $C/server.crt
  key_file: $C/server.key
  client_ca_file: $C/ca.crt
  client_auth_type: RequireAndVerifyClientCert
YML
TLS_PORT=$(free_port)
SC_PORT=$(free_port)
TLS_URL="https://localhost:$TLS_PORT"
SC_URL="http://127.0.0.1:$SC_PORT"
start_bg tls-proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$TLS_PORT" \
    --web.config.file="$TEST_TMP/web.yml" --scrape.listen-address="127.0.0.1:$SC_PORT" \
    --log.level=debug
wait_http "$SC_URL/-/ready" 20
UM=$(free_port)
start_bg upstream-client-mtls "$UP_CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$TLS_URL" \
    --tls.cacert="$C/ca.crt" --tls.cert="$C/localclient.crt" --tls.key="$C/localclient.key" \
    --metrics-addr="127.0.0.1:$UM"
UM_PID=$BG_PID
check_way "upstream-client-mtls->our-proxy" "$SC_URL"

# upstream_metric PORT NAME: a counter from the /metrics of upstream's client on PORT.
upstream_metric() {
    curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
# proxy_metric SERIES: a series from our TLS proxy's /metrics (on the scrape plane).
proxy_metric() {
    curl -fsS --max-time 5 "$SC_URL/metrics" | awk -v n="$1" '$1 == n {v = $2} END {print v + 0}'
}
assert_eq 0 "$(upstream_metric "$UM" pushprox_client_poll_errors_total)" \
    "poll errors of upstream's client with its certificate for $FQDN"
assert_eq 0 "$(proxy_metric 'pushprox_proxy_identity_rejections_total{route="/poll"}')" \
    "identity rejections before the wrong-host client"
# Go's client keeps its TLS connections alive (one polling, one pushing): ~25 scrapes must
# not cost a handshake each (a proxy closing TLS connections after each answer would).
hs=$(proxy_metric pushprox_proxy_tls_handshakes_total)
log "upstream-client-mtls->our-proxy: $hs full TLS handshakes, $(proxy_metric pushprox_proxy_tls_resumed_handshakes_total) resumed, for ~25 scrapes"
[ "$hs" -ge 1 ] && [ "$hs" -le 10 ] || fail "upstream's client needed $hs TLS handshakes for ~25 scrapes"

# A certificate for localhost polling as 127.0.0.2: 403, and 127.0.0.2's scrapes never
# reach it. 127.0.0.2 has an exporter of its own, so a scrape that did reach it would
# come back 200.
B_FQDN=127.0.0.2
B_PORT=$(free_port)
start_bg exporter-b python3 "$ROOT/tests/integration/client_exporter.py" --host "$B_FQDN" --port "$B_PORT"
wait_http "http://$B_FQDN:$B_PORT/metrics" 20
b_requests() {
    curl -fsS --max-time 5 "http://$B_FQDN:$B_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'
}
b0=$(b_requests)
UW=$(free_port)
start_bg upstream-client-wronghost "$UP_CLIENT_BIN" --fqdn="$B_FQDN" --proxy-url="$TLS_URL" \
    --tls.cacert="$C/ca.crt" --tls.cert="$C/localclient.crt" --tls.key="$C/localclient.key" \
    --metrics-addr="127.0.0.1:$UW"
UW_PID=$BG_PID
refused_logged() {
    grep 'msg="poll refused: the certificate does not name the FQDN"' "$TEST_TMP/tls-proxy.log" |
        grep -q "fqdn=$B_FQDN"
}
wait_until 20 "our proxy logging the wrong-host poll's refusal" refused_logged
line=$(grep 'msg="poll refused: the certificate does not name the FQDN"' "$TEST_TMP/tls-proxy.log" | head -1)
assert_contains "$line" "CN=localhost" "our proxy's log line for the wrong-host poll names the certificate"
log "our proxy: $line"
rejected() { [ "$(proxy_metric 'pushprox_proxy_identity_rejections_total{route="/poll"}')" -ge 1 ]; }
wait_until 10 "pushprox_proxy_identity_rejections_total{route=\"/poll\"} counting it" rejected
forbidden_polls() { [ "$(proxy_metric 'pushprox_http_requests_total{code="403",path="/poll"}')" -ge 1 ]; }
wait_until 10 "pushprox_http_requests_total{code=\"403\",path=\"/poll\"} counting it" forbidden_polls
# Upstream's client does not look at the poll's status: it reads the 403's body as a
# request and fails there, then backs off; it counts a poll error.
read_failed() { grep -q 'Error reading request' "$TEST_TMP/upstream-client-wronghost.log"; }
wait_until 20 "upstream's client failing on the 403" read_failed
log "upstream's client: $(grep -m1 'Error reading request' "$TEST_TMP/upstream-client-wronghost.log")"
poll_errs() { [ "$(upstream_metric "$UW" pushprox_client_poll_errors_total)" -ge 1 ] 2>/dev/null; }
wait_until 20 "the wrong-host client counting a poll error" poll_errs
clients_lack_b() {
    ! curl -fsS --max-time 5 "$SC_URL/clients" | grep -qF "\"$B_FQDN\""
}
clients_lack_b || fail "/clients lists $B_FQDN, which only the wrong-host client polls for"
http_code_body GET "http://$B_FQDN:$B_PORT/metrics" -x "$SC_URL" -H 'X-Prometheus-Scrape-Timeout-Seconds: 3'
assert_eq 500 "$HTTP_CODE" "a scrape of $B_FQDN, polled for only by a certificate for localhost"
assert_contains "$HTTP_BODY" "Error scraping" "the proxy's own answer to the scrape of $B_FQDN"
# (/stats counts itself: one more than b0 means nothing else came)
assert_eq $((b0 + 1)) "$(b_requests)" "requests that reached $B_FQDN's exporter (and /stats)"
! grep -q 'Got scrape request' "$TEST_TMP/upstream-client-wronghost.log" ||
    fail "the wrong-host client was handed a scrape"
stop_bg "$UW_PID"

# Without a client certificate: refused at the handshake, never listed.
N_FQDN=127.0.0.3
handshakes0=$(grep -c 'TLS handshake failed' "$TEST_TMP/tls-proxy.log")
UN=$(free_port)
start_bg upstream-client-nocert "$UP_CLIENT_BIN" --fqdn="$N_FQDN" --proxy-url="$TLS_URL" \
    --tls.cacert="$C/ca.crt" --metrics-addr="127.0.0.1:$UN"
UN_PID=$BG_PID
nocert_failed() { grep -q 'Error polling' "$TEST_TMP/upstream-client-nocert.log"; }
wait_until 20 "upstream's client without a certificate failing to poll" nocert_failed
line=$(grep -m1 'Error polling' "$TEST_TMP/upstream-client-nocert.log")
log "upstream's client: $line"
# The proxy says why with a bad_certificate alert, as Go's server does (not just EOF).
assert_contains "$line" "tls: bad certificate" "upstream's client's error without a certificate"
more_handshake_failures() { [ "$(grep -c 'TLS handshake failed' "$TEST_TMP/tls-proxy.log")" -gt "$handshakes0" ]; }
wait_until 10 "our proxy logging the failed handshake" more_handshake_failures
log "our proxy: $(grep 'msg="TLS handshake failed"' "$TEST_TMP/tls-proxy.log" | tail -1)"
poll_errs_n() { [ "$(upstream_metric "$UN" pushprox_client_poll_errors_total)" -ge 1 ] 2>/dev/null; }
wait_until 20 "the client without a certificate counting a poll error" poll_errs_n
curl -fsS --max-time 5 "$SC_URL/clients" | grep -qF "\"$N_FQDN\"" &&
    fail "/clients lists $N_FQDN, polled for only without a certificate"
stop_bg "$UN_PID"
# The good client went on being served through all of it.
scrape_ok "$SC_URL" || fail "mTLS: a scrape after the refused clients: status $HTTP_CODE"
assert_eq 0 "$(upstream_metric "$UM" pushprox_client_poll_errors_total)" \
    "poll errors of upstream's client with its certificate, at the end"
stop_bg "$UM_PID"

# --- B: our client -> upstream proxy ------------------------------------------------
UP_PORT=$(free_port)
UP_URL="http://127.0.0.1:$UP_PORT"
start_bg upstream-proxy "$UP_PROXY_BIN" --web.listen-address="127.0.0.1:$UP_PORT"
wait_http "$UP_URL/metrics" 20
CM1=$(free_port)
start_bg our-client-1 "$CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$UP_URL" \
    --metrics-addr="127.0.0.1:$CM1"
wait_http "http://127.0.0.1:$CM1/metrics" 20
check_way "our-client->upstream-proxy" "$UP_URL"

# Two of our clients on one FQDN: upstream keeps one poll slot, so each new poll expires
# the other's with 408. That is routine (not a poll error) and must not become a tight
# loop: bound the 408 rate very loosely (a spin would be thousands a second).
# upstream_408s: upstream proxy's count of 408 answers to /poll.
upstream_408s() {
    curl -fsS --max-time 5 "$UP_URL/metrics" |
        awk '/^pushprox_http_requests_total\{code="408",path="\/poll"\}/ {n = $2} END {print n + 0}'
}
CM2=$(free_port)
start_bg our-client-2 "$CLIENT_BIN" --fqdn="$FQDN" --proxy-url="$UP_URL" \
    --metrics-addr="127.0.0.1:$CM2"
wait_http "http://127.0.0.1:$CM2/metrics" 20
t0=$SECONDS
n0=$(upstream_408s)
for i in $(seq 20); do
    scrape_ok "$UP_URL" || fail "two clients: scrape $i: status $HTTP_CODE"
done
more_408s() { [ "$(upstream_408s)" -gt "$n0" ]; }
wait_until 10 "a 408 from upstream's single poll slot" more_408s
n1=$(upstream_408s)
secs=$((SECONDS - t0 + 1))
log "two clients on one FQDN: $((n1 - n0)) polls expired with 408 in ~${secs}s"
[ $((n1 - n0)) -le $((secs * 200)) ] || fail "two clients on one FQDN: $((n1 - n0)) 408s in ~${secs}s: polls spin"
for cm in "$CM1" "$CM2"; do
    errs=$(curl -fsS --max-time 5 "http://127.0.0.1:$cm/metrics" |
        awk '/^pushprox_client_poll_errors_total / {print $2}')
    assert_eq 0 "$errs" "pushprox_client_poll_errors_total of the client on :$cm (408 is routine)"
done
log "PASS"
