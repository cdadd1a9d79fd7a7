#!/usr/bin/env bash
# proxy_prometheus.sh - a real Prometheus scrapes a real node_exporter through the proxy.
#
# proxy + prometheus-node-exporter on 127.0.0.1 + testclient.py polling as "node1.test"
# (--use-localhost, so node1.test:PORT is 127.0.0.1:PORT) + prometheus with
# proxy_url = the proxy and http_sd_configs = the proxy's /clients, relabelled to
# node1.test:<exporter port>. Asserts up{job="node"} == 1 and that node_exporter_build_info
# arrived for that instance.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

require_bin "$PROXY_BIN"
[ -x /usr/bin/prometheus ] || skip "prometheus not installed"
[ -x /usr/bin/prometheus-node-exporter ] || skip "prometheus-node-exporter not installed"

FQDN=node1.test
start_proxy

NE_PORT=$(free_port)
start_bg node_exporter /usr/bin/prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.loadavg --collector.time
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20

start_bg testclient python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" --fqdn "$FQDN" \
    --use-localhost --max-seconds 240

# The client shows up in service discovery once its first poll is in.
clients_lists_fqdn() {
    curl -fsS --max-time 2 "$PROXY_URL/clients" 2>/dev/null | grep -q "\"$FQDN\""
}
wait_until 20 "$FQDN in /clients" clients_lists_fqdn

PROM_PORT=$(free_port)
cat >"$TEST_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    proxy_url: http://127.0.0.1:$PROXY_PORT
    http_sd_configs:
      - url: http://127.0.0.1:$PROXY_PORT/clients
        refresh_interval: 1s
    relabel_configs:
      # /clients lists bare FQDNs; the exporter listens on NE_PORT on that host.
      - source_labels: [__address__]
        target_label: __address__
        replacement: "\${1}:$NE_PORT"
EOF
start_bg prometheus /usr/bin/prometheus \
    --config.file="$TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$TEST_TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" \
    --log.level=info
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30

# promql QUERY: print the number of series the instant query returns.
promql_count() {
    curl -fsS --max-time 3 "http://127.0.0.1:$PROM_PORT/api/v1/query" \
        --data-urlencode "query=$1" 2>/dev/null |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
print(len(d["data"]["result"]) if d.get("status") == "success" else -1)' 2>/dev/null ||
        echo -1
}
target_up() {
    [ "$(promql_count "up{job=\"node\",instance=\"$FQDN:$NE_PORT\"} == 1")" -ge 1 ]
}
build_info_arrived() {
    [ "$(promql_count "node_exporter_build_info{job=\"node\",instance=\"$FQDN:$NE_PORT\"}")" -ge 1 ]
}
wait_until 60 "up{job=\"node\",instance=\"$FQDN:$NE_PORT\"} == 1" target_up
wait_until 60 "node_exporter_build_info for $FQDN:$NE_PORT" build_info_arrived

# And the proxy counted what it relayed.
metrics=$(curl -fsS --max-time 5 "$PROXY_URL/metrics")
assert_contains "$metrics" "pushprox_http_requests_total" "proxy /metrics"
log "prometheus scraped node_exporter through the proxy"
exit 0
