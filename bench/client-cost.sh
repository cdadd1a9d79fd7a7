#!/usr/bin/env bash
# bench/client-cost.sh - what pushprox-client costs on a host: its RSS and CPU idle, then
# with two exporters (node_exporter and a second one) scraped every second by a real
# Prometheus through a real proxy. Everything on 127.0.0.1, stopped by PID on exit.
#
#   make && bench/client-cost.sh            IDLE_S=20 SCRAPE_S=60 by default
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../tests/integration/lib.sh"

IDLE_S=${IDLE_S:-20}
SCRAPE_S=${SCRAPE_S:-60}
FQDN=cost.pushprox.test
TICK=$(getconf CLK_TCK)

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure PID SECONDS: sets TICKS (CPU clock ticks PID spent meanwhile) and RSS (KiB, after).
measure() {
    local t0
    t0=$(cpu_ticks "$1")
    sleep "$2"
    TICKS=$(($(cpu_ticks "$1") - t0))
    RSS=$(rss_kib "$1")
}

start_proxy
NE_PORT=$(free_port)
APP_PORT=$(free_port)
start_bg node_exporter /usr/bin/prometheus-node-exporter --web.listen-address="127.0.0.1:$NE_PORT"
start_bg app python3 "$ROOT/tests/integration/client_exporter.py" --port "$APP_PORT"
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20
wait_http "http://127.0.0.1:$APP_PORT/metrics" 20
start_bg client "$CLIENT_BIN" --proxy-url="$PROXY_URL" --fqdn="$FQDN" --scrape.use-localhost \
    --scrape.allow="$NE_PORT" --scrape.allow="$APP_PORT" --metrics-addr=
CLIENT_PID=$BG_PID
listed() { curl -fsS --max-time 2 "$PROXY_URL/clients" | grep -q "\"$FQDN\""; }
wait_until 20 "the client in /clients" listed

measure "$CLIENT_PID" "$IDLE_S"
idle_ticks=$TICKS idle_rss=$RSS

PROM_PORT=$(free_port)
cat >"$TEST_TMP/prometheus.yml" <<YAML
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: node
    proxy_url: http://127.0.0.1:$PROXY_PORT
    static_configs: [{targets: ["$FQDN:$NE_PORT"]}]
  - job_name: app
    proxy_url: http://127.0.0.1:$PROXY_PORT
    static_configs: [{targets: ["$FQDN:$APP_PORT"]}]
YAML
start_bg prometheus /usr/bin/prometheus --config.file="$TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
targets_up() {
    curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=sum(up == 1)' |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(int(float(r[0]["value"][1])) if r else 0)'
}
both_up() { [ "$(targets_up)" = 2 ]; }
wait_until 30 "both targets up" both_up

measure "$CLIENT_PID" "$SCRAPE_S"
busy_ticks=$TICKS busy_rss=$RSS
up_now=$(targets_up)

awk -v it="$idle_ticks" -v is="$IDLE_S" -v ir="$idle_rss" -v bt="$busy_ticks" -v bs="$SCRAPE_S" \
    -v br="$busy_rss" -v hz="$TICK" -v up="$up_now" 'BEGIN {
    printf "pushprox-client cost (two exporters: node_exporter and a second one)\n"
    printf "  idle %3d s               RSS %6.1f MiB   CPU %.2f s = %.3f %% of a core\n", is, ir/1024, it/hz, 100*it/hz/is
    printf "  scraped every 1 s, %3d s RSS %6.1f MiB   CPU %.2f s = %.3f %% of a core (targets up: %d of 2)\n", bs, br/1024, bt/hz, 100*bt/hz/bs, up
}'
[ "$up_now" = 2 ] || fail "a target was down at the end"
