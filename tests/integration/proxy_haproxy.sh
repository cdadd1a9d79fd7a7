#!/usr/bin/env bash
# proxy_haproxy.sh - three proxy replicas behind HAProxy running deploy/haproxy/haproxy.cfg
# as shipped (only the addresses given, through the environment variables it reads):
# every scrape reaches the replica holding its FQDN's poll, every push the replica that
# issued its Id, for upstream-like clients (FQDN and Id read from the bodies) and ours
# (X-PushProx-FQDN and X-PushProx-Id headers).
#
# Three upstream-like test clients and three of ours, each polling for its own FQDN, all
# through HAProxy; one real node_exporter serves them all (--use-localhost). Each FQDN is
# scraped twice through HAProxy and must answer 200 with node_exporter's metrics; HAProxy's
# table must place each FQDN at the replica that lists it in /clients. The failure cases
# (a replica killed, returning, restarted, vanishing) are lb_failover.sh's.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lb_lib.bash
. "$(dirname "$0")/lb_lib.bash"

lb_require
[ -x /usr/bin/prometheus-node-exporter ] || skip "prometheus-node-exporter not installed"
trap lb_exit EXIT
lb_start_replicas
lb_start_haproxy
LB="http://$LB_ADDR"

NE_PORT=$(lb_free_ports 1)
start_bg node_exporter /usr/bin/prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NE_PORT" \
    --collector.disable-defaults --collector.loadavg
wait_http "http://127.0.0.1:$NE_PORT/metrics" 20

N=6
for i in $(seq 1 $N); do
    if [ "$i" -le 3 ]; then
        start_bg "client$i" python3 "$TESTCLIENT" client --proxy-url "$LB" --fqdn "c$i.test" \
            --use-localhost --source-address "127.0.0.$((10 + i))" --max-seconds 200
    else
        start_bg "client$i" "$CLIENT_BIN" --proxy-url="$LB" --fqdn="c$i.test" \
            --scrape.use-localhost --metrics-addr= --scrape.allow="$NE_PORT"
    fi
done

# Every FQDN polls one replica, the one HAProxy's table names.
placed() {
    local f=$1 i
    for i in 1 2 3; do
        case " $(lb_replica_fqdns "$i")" in
        *" $f "*)
            curl -fsS --max-time 2 "http://${REPLICA_ADDR[$i]}/clients" 2>/dev/null |
                grep -q "\"$f\""
            return
            ;;
        esac
    done
    return 1
}
for i in $(seq 1 $N); do
    wait_until 20 "c$i.test polling the replica haproxy's table names" placed "c$i.test"
done
spread=""
for i in 1 2 3; do
    spread="$spread replica$i=[$(lb_replica_fqdns "$i")]"
done
log "FQDNs per replica:$spread"

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
