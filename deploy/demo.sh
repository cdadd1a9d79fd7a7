#!/usr/bin/env bash
# deploy/demo.sh - the main job on loopback: a proxy, a client and a real node_exporter,
# and a scrape through the proxy, as Prometheus would send it. Everything listens on
# 127.0.0.1 on free ports and is stopped by PID on exit.
#
#   make && deploy/demo.sh          (binaries from $BUILD, default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
NODE_EXPORTER=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
FQDN=demo.pushprox.test

for bin in "$BUILD/pushprox-proxy" "$BUILD/pushprox-client" "$NODE_EXPORTER"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing (run make; apt-get install prometheus-node-exporter)" >&2; exit 1; }
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d /tmp/pushprox-demo.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

proxy_port=$(free_port)
exporter_port=$(free_port)

"$NODE_EXPORTER" --web.listen-address="127.0.0.1:$exporter_port" \
    --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg \
    >"$tmp/node_exporter.log" 2>&1 &
pids+=($!)
"$BUILD/pushprox-proxy" --web.listen-address="127.0.0.1:$proxy_port" >"$tmp/proxy.log" 2>&1 &
pids+=($!)
"$BUILD/pushprox-client" --proxy-url="http://127.0.0.1:$proxy_port" --fqdn="$FQDN" \
    --scrape.use-localhost --scrape.allow="$exporter_port/metrics" --metrics-addr= \
    >"$tmp/client.log" 2>&1 &
pids+=($!)

# Wait (at most 10 s) until the client has registered.
for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$proxy_port/clients" | grep -q "$FQDN"; then break; fi
    sleep 0.1
done

echo "== proxy on 127.0.0.1:$proxy_port, node_exporter on 127.0.0.1:$exporter_port"
echo "== GET http://127.0.0.1:$proxy_port/clients"
curl -sS "http://127.0.0.1:$proxy_port/clients"
echo
echo "== a scrape through the proxy: curl -x http://127.0.0.1:$proxy_port http://$FQDN:$exporter_port/metrics"
curl -sS -D "$tmp/headers" -o "$tmp/body" -x "http://127.0.0.1:$proxy_port" \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 5' "http://$FQDN:$exporter_port/metrics"
head -n 1 "$tmp/headers"
grep -E '^(node_load1|node_memory_MemAvailable_bytes|node_exporter_build_info)' "$tmp/body" | head -n 5
echo "... $(wc -l <"$tmp/body") lines in all"
grep -q '^node_exporter_build_info' "$tmp/body" || { echo "demo: scrape failed; logs:" >&2; tail -n 5 "$tmp"/*.log >&2; exit 1; }
echo "== demo ok"
