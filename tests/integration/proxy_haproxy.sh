#!/usr/bin/env bash
# proxy_haproxy.sh - two proxy replicas behind HAProxy configured with
# deploy/haproxy/haproxy.cfg: every scrape reaches the replica holding its FQDN's poll,
# and every push the replica that issued its Id.
#
# Six test clients, each polling for its own FQDN (from its own loopback address, as
# separate hosts would), all through HAProxy; one node_exporter serves them all
# (--use-localhost). Each FQDN is then scraped through HAProxy and must answer 200 with
# node_exporter's metrics. Also logs how the FQDNs were spread over the replicas (all on
# one replica would not exercise the routing; with six names that is about 3% likely).
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_bin "$PROXY_BIN"
command -v haproxy >/dev/null || skip "haproxy not installed"
[ -x /usr/bin/prometheus-node-exporter ] || skip "prometheus-node-exporter not installed"

# Two replicas.
P1=$(free_port)
P2=$(free_port)
start_bg proxy1 "$PROXY_BIN" --web.listen-address="127.0.0.1:$P1" --log.level=debug
start_bg proxy2 "$PROXY_BIN" --web.listen-address="127.0.0.1:$P2" --log.level=debug
wait_http "http://127.0.0.1:$P1/metrics" 20
wait_http "http://127.0.0.1:$P2/metrics" 20

# The deployed config, with our addresses: the frontend on a free port, the two replicas.
HP=$(free_port)
sed -e "s|^    bind :8080|    bind 127.0.0.1:$HP|" \
    -e "s|10\.0\.0\.1:8080|127.0.0.1:$P1|" \
    -e "s|10\.0\.0\.2:8080|127.0.0.1:$P2|" \
    -e '/10\.0\.0\.3:8080/d' -e '/use-server proxy3/d' \
    -e 's|^    maxconn 200000|    maxconn 1000|' \
    "$ROOT/deploy/haproxy/haproxy.cfg" >"$TEST_TMP/haproxy.cfg"
grep -q "bind 127.0.0.1:$HP" "$TEST_TMP/haproxy.cfg" || fail "could not rewrite haproxy.cfg"
haproxy -c -f "$TEST_TMP/haproxy.cfg" >/dev/null 2>&1 || fail "rewritten haproxy.cfg invalid"
start_bg haproxy haproxy -db -f "$TEST_TMP/haproxy.cfg"
LB="http://127.0.0.1:$HP"
wait_until 20 "haproxy listening" curl -s -o /dev/null --max-time 2 "$LB/metrics"

NE_PORT=$(free_port)
start_bg node_exporter /usr/bin/prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.loadavg
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20

N=6
for i in $(seq 1 $N); do
    start_bg "client$i" python3 "$TESTCLIENT" client --proxy-url "$LB" --fqdn "c$i.test" \
        --use-localhost --source-address "127.0.0.$((10 + i))" --max-seconds 200
done

# Every FQDN is known to one of the replicas.
fqdn_known() {
    curl -fsS --max-time 2 "http://127.0.0.1:$P1/clients" "http://127.0.0.1:$P2/clients" \
        2>/dev/null | grep -q "\"$1\""
}
for i in $(seq 1 $N); do
    wait_until 20 "c$i.test polling one of the replicas" fqdn_known "c$i.test"
done
n1=$(curl -fsS "http://127.0.0.1:$P1/clients" | grep -o '"c[0-9]*\.test"' | sort -u | wc -l)
n2=$(curl -fsS "http://127.0.0.1:$P2/clients" | grep -o '"c[0-9]*\.test"' | sort -u | wc -l)
log "clients per replica: proxy1=$n1 proxy2=$n2"
if [ "$n1" = 0 ] || [ "$n2" = 0 ]; then
    log "all FQDNs hashed onto one replica: routing between replicas not exercised"
fi

# Each FQDN, twice, through HAProxy.
for round in 1 2; do
    for i in $(seq 1 $N); do
        url="http://c$i.test:$NE_PORT/metrics"
        http_code_body GET "$url" -x "$LB" -H 'X-Prometheus-Scrape-Timeout-Seconds: 10'
        assert_eq 200 "$HTTP_CODE" "round $round: scrape of $url through haproxy (body: ${HTTP_BODY:0:200})"
        assert_contains "$HTTP_BODY" "node_exporter_build_info" "round $round: scrape of $url"
    done
done
log "all scrapes through haproxy reached the right replica"
exit 0
