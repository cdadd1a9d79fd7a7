#!/usr/bin/env bash
# client_prometheus.sh - our proxy, our client (--poll.concurrency=2, two FQDNs), a real
# prometheus-node-exporter and a second exporter, all scraped every second by a real
# Prometheus through the proxy (proxy_url) while the second exporter is slow: both
# targets stay up, and the fast one is not held back by the slow one. Also checks the
# client's metrics page is what Prometheus can scrape, and that the client's polls show up
# in the proxy's /clients.
# tsan: no
. "$(dirname "$0")/lib.sh"

require_bin "$CLIENT_BIN"
require_bin "$PROXY_BIN"
command -v prometheus >/dev/null || skip "prometheus not installed"
command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter not installed"
HERE="$ROOT/tests/integration"
FQDN=node1.pushprox.test
ALIAS=alias1.pushprox.test

start_proxy
NE_PORT=$(free_port)
PY_PORT=$(free_port)
CM_PORT=$(free_port)
PROM_PORT=$(free_port)
start_bg node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg
start_bg exporter python3 "$HERE/client_exporter.py" --port "$PY_PORT"
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20
wait_http "http://127.0.0.1:$PY_PORT/metrics" 20

start_bg client "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn="$FQDN" --fqdn="$ALIAS" \
    --poll.concurrency=2 --scrape.use-localhost --metrics-addr="127.0.0.1:$CM_PORT" \
    --scrape.allow="$NE_PORT" --scrape.allow="$PY_PORT/metrics" --scrape.allow="$PY_PORT/slow"
wait_http "http://127.0.0.1:$CM_PORT/metrics" 20

registered() {
    local c
    c=$(curl -fsS --max-time 2 "$PROXY_URL/clients") || return 1
    case $c in *"$FQDN"*"$ALIAS"* | *"$ALIAS"*"$FQDN"*) return 0 ;; esac
    return 1
}
wait_until 20 "both FQDNs in /clients" registered

cat >"$TEST_TMP/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    proxy_url: $PROXY_URL
    static_configs: [{targets: ["$FQDN:$NE_PORT"]}]
  - job_name: app
    proxy_url: $PROXY_URL
    static_configs: [{targets: ["$ALIAS:$PY_PORT"]}]
  - job_name: slow
    proxy_url: $PROXY_URL
    scrape_interval: 3s
    scrape_timeout: 3s
    metrics_path: /slow
    params: {s: ["2"]}
    static_configs: [{targets: ["$FQDN:$PY_PORT"]}]
  - job_name: client
    static_configs: [{targets: ["127.0.0.1:$CM_PORT"]}]
CONF
start_bg prometheus prometheus --config.file="$TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30

q() { # q PROMQL: the first sample value of an instant query, or empty
    curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
all_up() {
    [ "$(q 'sum(up{job=~"node|app|slow|client"})')" = 4 ]
}
wait_until 40 "all four targets up in Prometheus" all_up
enough() { [ "$(q 'sum(count_over_time(up{job="app"}[1m]))')" -ge 8 ] 2>/dev/null; }
wait_until 40 "eight scrapes of the fast exporter" enough

log "every fast scrape succeeded while the slow exporter was scraped"
assert_eq 0 "$(q 'count_over_time(up{job="app"}[1m]) - sum_over_time(up{job="app"}[1m])')" \
    "failed fast scrapes"
assert_eq 0 "$(q 'count_over_time(up{job="node"}[1m]) - sum_over_time(up{job="node"}[1m])')" \
    "failed node scrapes"
v=$(q 'client_test_metric')
assert_eq 42 "$v" "the app's metric in Prometheus"
v=$(q 'max_over_time(scrape_duration_seconds{job="app"}[1m]) < 1')
[ -n "$v" ] || fail "a fast scrape took a second or more"
v=$(q 'pushprox_client_scrape_errors_total')
assert_eq 0 "$v" "client scrape errors"
log "PASS"
