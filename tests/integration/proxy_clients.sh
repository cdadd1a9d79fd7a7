#!/usr/bin/env bash
# proxy_clients.sh - /clients as service discovery for self-describing clients.
#
# A client announces labels and exporters on its polls (X-PushProx-Labels,
# X-PushProx-Exporters); /clients keeps upstream's shape and adds __meta_pushprox_* labels,
# ?view=exporters gives one target per announced exporter, ?view=detail gives per-client
# JSON (since, last poll, counts). A real Prometheus discovers the exporter through
# ?view=exporters, keeps the client's rack label by relabelling, and scrapes it.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x /usr/bin/prometheus ] || skip "prometheus not installed"
[ -x /usr/bin/prometheus-node-exporter ] || skip "prometheus-node-exporter not installed"

FQDN=node1.test
start_proxy --replica.name=replica-a
NE_PORT=$(free_port)
start_bg node_exporter /usr/bin/prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NE_PORT" --collector.disable-defaults --collector.loadavg
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20
start_bg testclient python3 "$TESTCLIENT" client --proxy-url "$PROXY_URL" --fqdn "$FQDN" \
    --use-localhost --max-seconds 240 \
    --poll-header "X-PushProx-Labels: rack=r12,team=a%20b" \
    --poll-header "X-PushProx-Exporters: $NE_PORT/metrics,9187"
wait_until 20 "$FQDN in /clients" sh -c "curl -fsS '$PROXY_URL/clients' | grep -q '$FQDN'"

# json_get URL EXPR: evaluate a Python expression over the JSON at URL (as `d`).
json_get() {
    curl -fsS --max-time 5 "$1" | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}
# Default view: upstream's shape, our meta labels.
assert_eq "[\"$FQDN\"]" "$(json_get "$PROXY_URL/clients" 'json.dumps(d[0]["targets"])')" "targets"
labels=$(json_get "$PROXY_URL/clients" 'json.dumps(d[0]["labels"], sort_keys=True)')
assert_contains "$labels" '"__meta_pushprox_label_rack": "r12"' "default /clients labels"
assert_contains "$labels" '"__meta_pushprox_label_team": "a b"' "default /clients labels"
assert_contains "$labels" '"__meta_pushprox_replica": "replica-a"' "default /clients labels"
assert_contains "$labels" "\"__meta_pushprox_exporters\": \"$NE_PORT/metrics,9187\"" "default /clients labels"
since=$(json_get "$PROXY_URL/clients" 'd[0]["labels"]["__meta_pushprox_connected_since"]')
python3 -c "import datetime,sys; t=datetime.datetime.strptime(sys.argv[1],'%Y-%m-%dT%H:%M:%S.%fZ'); assert abs((datetime.datetime.utcnow()-t).total_seconds()) < 120" "$since" ||
    fail "connected_since is not a recent RFC 3339 time: $since"
# It is one instant: the same in every view and every read (it moved by a millisecond from
# read to read when computed from the loop's clock at each read).
sleep 0.3
assert_eq "$since" "$(json_get "$PROXY_URL/clients?view=exporters" 'd[0]["labels"]["__meta_pushprox_connected_since"]')" \
    "connected_since in ?view=exporters, read later"
assert_eq "$since" "$(json_get "$PROXY_URL/clients?view=detail" 'd[0]["connected_since"]')" \
    "connected_since in ?view=detail, read later"
# One target per exporter.
assert_eq "[\"$FQDN:$NE_PORT\"], [\"$FQDN:9187\"]" \
    "$(json_get "$PROXY_URL/clients?view=exporters" '", ".join(json.dumps(g["targets"]) for g in d)')" "exporter targets"
assert_eq "/metrics" "$(json_get "$PROXY_URL/clients?view=exporters" 'd[0]["labels"]["__metrics_path__"]')" "exporter path"
assert_eq "False" "$(json_get "$PROXY_URL/clients?view=exporters" '"__metrics_path__" in d[1]["labels"]')" "exporter without a path"
# Bad input.
http_code_body GET "$PROXY_URL/clients?view=bogus"
assert_eq 400 "$HTTP_CODE" "/clients?view=bogus"
http_code_body POST "$PROXY_URL/poll" --data-binary bad.test -H 'X-PushProx-Labels: 9rack=x' --max-time 5
assert_eq 400 "$HTTP_CODE" "a poll with a bad label name"
assert_contains "$HTTP_BODY" "label name" "a poll with a bad label name"
http_code_body POST "$PROXY_URL/poll" --data-binary bad.test -H 'X-PushProx-Exporters: 99999' --max-time 5
assert_eq 400 "$HTTP_CODE" "a poll with a bad exporter"

# A real Prometheus: discovery through ?view=exporters, the rack label kept.
PROM_PORT=$(free_port)
cat >"$TEST_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: exporters
    proxy_url: http://127.0.0.1:$PROXY_PORT
    http_sd_configs:
      - url: http://127.0.0.1:$PROXY_PORT/clients?view=exporters
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_pushprox_label_rack]
        target_label: rack
      - source_labels: [__meta_pushprox_replica]
        target_label: pushprox_replica
YML
start_bg prometheus /usr/bin/prometheus --config.file="$TEST_TMP/prometheus.yml" \
    --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" 30
promql_count() {
    curl -fsS --max-time 3 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["data"]["result"]))' 2>/dev/null ||
        echo -1
}
labelled_up() {
    [ "$(promql_count "up{instance=\"$FQDN:$NE_PORT\",rack=\"r12\",pushprox_replica=\"replica-a\"} == 1")" -ge 1 ]
}
wait_until 60 "up == 1 with the client's rack label" labelled_up

# Per-client detail counts the scrapes.
scrapes=$(json_get "$PROXY_URL/clients?view=detail" 'd[0]["scrapes_total"]')
[ "$scrapes" -ge 1 ] || fail "detail scrapes_total is $scrapes"
detail=$(json_get "$PROXY_URL/clients?view=detail" 'json.dumps(d[0], sort_keys=True)')
for k in '"fqdn": "node1.test"' '"replica": "replica-a"' '"labels": {"rack": "r12", "team": "a b"}' \
    "\"exporters\": [\"$NE_PORT/metrics\", \"9187\"]" '"scrape_errors_total": '; do
    assert_contains "$detail" "$k" "/clients?view=detail"
done
log "labels and exporters reach Prometheus through /clients"
