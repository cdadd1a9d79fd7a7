#!/usr/bin/env bash
# monitoring_mixin.sh - deploy/monitoring/ (the monitoring mixin) is valid and uses only
# metrics that exist:
# - yamllint on the rules and their tests; promtool check rules; promtool test rules; every
#   alert has a firing and a not-firing unit test (mixin_metrics.py coverage);
# - dashboard.json is what dashboard.py writes, a Grafana dashboard with panels querying
#   ${datasource};
# - every metric name in the rules and the dashboard is on the /metrics page of a running
#   proxy (TLS and mutual TLS on its client plane, one client polling, one scrape done, so
#   lazily created series exist) or of a running client (with --tls.cert), or is a
#   recording rule (mixin_metrics.py check); and the check fails on a name that is not;
# - a real Prometheus scraping that proxy and client with the rules loaded evaluates every
#   rule without error, records the clients (1), fires no alert for this healthy set-up,
#   and runs every dashboard query (variables at "All") without error.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

MON="$ROOT/deploy/monitoring"
MM="$ROOT/tests/integration/mixin_metrics.py"
RULES="$MON/pushprox-rules.yml"
DASH="$MON/dashboard.json"
command -v promtool >/dev/null || skip "promtool not installed"
require_bin "$PROXY_BIN"
require_bin "$CLIENT_BIN"

# --- static checks ---------------------------------------------------------------------------
if command -v yamllint >/dev/null; then
    out=$(yamllint -s -c "$ROOT/deploy/.yamllint" "$MON"/*.yml 2>&1) || fail "yamllint: $out"
    log "yamllint clean"
else
    log "yamllint not installed: YAML style not checked"
fi
out=$(promtool check rules "$RULES" 2>&1) || fail "promtool check rules: $out"
log "promtool check rules: $(echo "$out" | grep -o 'SUCCESS.*')"
out=$(cd "$MON" && promtool test rules pushprox-rules.test.yml 2>&1) ||
    fail "promtool test rules: $out"
log "promtool test rules: SUCCESS"
out=$(python3 "$MM" coverage "$RULES" "$MON/pushprox-rules.test.yml" 2>&1) || fail "$out"
log "$out"
# ... and the coverage check fails for an alert without tests.
printf 'rule_files: [pushprox-rules.yml]\ntests: []\n' >"$TEST_TMP/empty.test.yml"
rc=0
out=$(python3 "$MM" coverage "$RULES" "$TEST_TMP/empty.test.yml" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "the coverage check passed alerts without tests: $out"
assert_contains "$out" "NO FIRING CASE for PushProxProxyDown" "the coverage check's answer"
python3 "$MON/dashboard.py" | cmp -s - "$DASH" ||
    fail "deploy/monitoring/dashboard.json is not what dashboard.py writes: regenerate it"
out=$(python3 "$MM" dashboard "$DASH" 2>&1) || fail "dashboard.json: $out"
log "dashboard.json: $out"

# --- a proxy with TLS, a client with a certificate, one scrape --------------------------------
C="$TEST_TMP/certs"
sh "$ROOT/tests/unit/tls_certs.sh" "$C" >/dev/null 2>&1 || fail "cannot make the test certificates"
cat >"$TEST_TMP/web.yml" <<YML
tls_server_config:
  cert_file: $C/server.crt
  key_file: $C/server.key
  client_ca_file: $C/ca.crt
  client_auth_type: RequireAndVerifyClientCert
YML
PORT=$(free_port)
SPORT=$(free_port)
EX_PORT=$(free_port)
CM_PORT=$(free_port)
start_bg proxy "$PROXY_BIN" --web.listen-address="127.0.0.1:$PORT" \
    --scrape.listen-address="127.0.0.1:$SPORT" --web.config.file="$TEST_TMP/web.yml" --workers=2
wait_http "http://127.0.0.1:$SPORT/-/ready" 20
start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$EX_PORT"
wait_http "http://127.0.0.1:$EX_PORT/metrics" 20
start_bg client "$CLIENT_BIN" --proxy-url="https://localhost:$PORT" --fqdn=node1.example.com \
    --scrape.use-localhost --tls.cacert="$C/ca.crt" --tls.cert="$C/node1.crt" \
    --tls.key="$C/node1.key" --metrics-addr="127.0.0.1:$CM_PORT"
wait_http "http://127.0.0.1:$CM_PORT/-/ready" 20
scraped() {
    curl -fsS --max-time 5 -x "http://127.0.0.1:$SPORT" -H 'X-Prometheus-Scrape-Timeout-Seconds: 4' \
        "http://node1.example.com:$EX_PORT/metrics" 2>/dev/null | grep -q '^client_test_metric 42'
}
wait_until 20 "a scrape through the proxy" scraped
curl -fsS --max-time 5 "http://127.0.0.1:$SPORT/metrics" >"$TEST_TMP/proxy.metrics" ||
    fail "GET the proxy's /metrics"
curl -fsS --max-time 5 "http://127.0.0.1:$CM_PORT/metrics" >"$TEST_TMP/client.metrics" ||
    fail "GET the client's /metrics"
grep -q '^pushprox_proxy_tls_certificate_expiry_timestamp_seconds{listener="web"}' \
    "$TEST_TMP/proxy.metrics" || fail "the proxy exposes no TLS series: TLS not on?"

# --- every metric the mixin names exists -------------------------------------------------------
out=$(python3 "$MM" check "$RULES" "$DASH" "$TEST_TMP/proxy.metrics" "$TEST_TMP/client.metrics" 2>&1) ||
    fail "metrics used by deploy/monitoring/ but exposed by neither the proxy nor the client:
$out"
log "$out"
# The check must be able to fail: a rule naming a metric nobody exposes.
cp "$RULES" "$TEST_TMP/bogus-rules.yml"
cat >>"$TEST_TMP/bogus-rules.yml" <<'YML'
  - name: bogus
    rules:
      - record: job:bogus:sum
        expr: sum by (job) (rate(pushprox_proxy_no_such_metric_total{code="200"}[5m]))
YML
rc=0
out=$(python3 "$MM" check "$TEST_TMP/bogus-rules.yml" "$DASH" "$TEST_TMP/proxy.metrics" \
    "$TEST_TMP/client.metrics" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "the metric check passed a rule naming an unknown metric: $out"
assert_contains "$out" "MISSING pushprox_proxy_no_such_metric_total (used by rule job:bogus:sum)" \
    "the metric check's answer"

# --- a real Prometheus with the rules --------------------------------------------------------
if ! command -v prometheus >/dev/null; then
    log "prometheus not installed: rules not evaluated for real"
    log "PASS"
    exit 0
fi
PROM_PORT=$(free_port)
cat >"$TEST_TMP/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [$RULES]
scrape_configs:
  - job_name: pushprox-proxy
    static_configs: [{targets: ["127.0.0.1:$SPORT"]}]
  - job_name: pushprox-client
    static_configs: [{targets: ["127.0.0.1:$CM_PORT"]}]
  - job_name: node
    proxy_url: http://127.0.0.1:$SPORT
    static_configs: [{targets: ["node1.example.com:$EX_PORT"]}]
CONF
start_bg prometheus prometheus --config.file="$TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
API="http://127.0.0.1:$PROM_PORT/api/v1"

q() { # q PROMQL: the first sample value of an instant query, or empty
    curl -fsS --max-time 5 "$API/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# Scraped at least 3 times each, and the rules evaluated since.
enough() {
    [ "$(q 'min(count_over_time(up{job=~"pushprox-.*|node"}[1m]) * up{job=~"pushprox-.*|node"})')" -ge 3 ] 2>/dev/null &&
        [ "$(q 'job:pushprox_proxy_clients:sum{job="pushprox-proxy"}')" = 1 ]
}
wait_until 60 "three good scrapes of each target and job:pushprox_proxy_clients:sum = 1" enough
v=$(q 'instance:pushprox_proxy_scrape_errors:ratio_rate5m{job="pushprox-proxy"}')
assert_eq 0 "$v" "the scrape error ratio of a proxy whose scrapes all succeed"

# Every rule evaluated without error; no alert pending or firing.
curl -fsS --max-time 5 "$API/rules" >"$TEST_TMP/rules.json" || fail "GET $API/rules"
out=$(python3 - "$TEST_TMP/rules.json" "$RULES" <<'PY'
import json, sys, yaml
got = json.load(open(sys.argv[1]))["data"]["groups"]
want = sum(len(g["rules"]) for g in yaml.safe_load(open(sys.argv[2]))["groups"])
rules = [r for g in got for r in g["rules"]]
bad = [r.get("name") + ": " + (r.get("lastError") or r["health"]) for r in rules if r["health"] != "ok"]
active = ["%s %s %s" % (r["name"], a["state"], a["labels"]) for r in rules if r["type"] == "alerting" for a in r.get("alerts", [])]
for b in bad: print("RULE NOT OK " + b)
for a in active: print("ALERT " + a)
print("%d rules loaded of %d, %d not ok, %d alerts active" % (len(rules), want, len(bad), len(active)))
sys.exit(1 if bad or active or len(rules) != want else 0)
PY
) || fail "the rules in a real Prometheus: $out"
log "$out"

# Every dashboard query runs.
out=$(python3 "$MM" query "$DASH" "$API" 2>&1) || fail "dashboard queries in Prometheus: $out"
log "$out"
log "PASS"
