#!/usr/bin/env bash
# capture-seeds.sh - records real traffic between the real binaries and cuts it into the
# seed corpora under tests/fuzz/corpus/ (seeds.py extract says which seed goes where).
#
# On loopback: pushprox-proxy; pushprox-client for node1.pushprox.test; client_exporter.py
# (plain, gzip, chunked, length-less, 304/204 with a length, HEAD); a real Prometheus when
# installed (its scrape requests, gzip asked for); curl as a scraper; and, for upstream's
# client, testclient.py plus hand-made pushes through curl, as proxy_basic.sh makes them: a
# chunked inner response and upstream's "HTTP/0.0 500" error push. Every connection to
# the proxy, and the client's connection to the exporter, goes through a recording relay
# (seeds.py relay). Run by hand after `make`: tests/fuzz/capture-seeds.sh [CORPUS_DIR]
# (default tests/fuzz/corpus); existing seeds of the same name are overwritten.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"

require_bin "$CLIENT_BIN"
HERE="$ROOT/tests/fuzz"
CORPUS=${1:-$HERE/corpus}
REC="$TEST_TMP/rec"
FQDN=node1.pushprox.test
UP_FQDN=upstream.pushprox.test

start_proxy
PX_PORT=$PROXY_PORT
EX_PORT=$(free_port)
start_bg exporter python3 "$ROOT/tests/integration/client_exporter.py" --port "$EX_PORT"
wait_http "http://127.0.0.1:$EX_PORT/metrics" 20

relay() { # relay TAG TO_PORT: a recording relay; prints its port
    local port
    port=$(free_port)
    start_bg "relay-$1" python3 "$HERE/seeds.py" relay --listen "$port" --to "$2" \
        --dir "$REC/$1"
    echo "$port"
}
CL_PORT=$(relay client "$PX_PORT")
SC_PORT=$(relay scraper "$PX_PORT")
UP_PORT=$(relay upstream "$PX_PORT")
EXR_PORT=$(relay exporter "$EX_PORT")
wait_http "http://127.0.0.1:$EXR_PORT/metrics" 20

start_bg client "$CLIENT_BIN" --proxy-url="http://127.0.0.1:$CL_PORT" --fqdn="$FQDN" \
    --scrape.use-localhost --metrics-addr=127.0.0.1:0 --log.level=debug
registered() { curl -fsS --max-time 2 "$PROXY_URL/clients" | grep -q "$FQDN"; }
wait_until 20 "the client in /clients" registered

SCRAPER="http://127.0.0.1:$SC_PORT"
scrape() { # scrape METHOD PATH [CURL ARGS...]: through the recording relay to the proxy
    local method=$1 path=$2
    shift 2
    http_code_body "$method" "http://$FQDN:$EXR_PORT$path" -x "$SCRAPER" \
        -H "X-Prometheus-Scrape-Timeout-Seconds: 10" -H "User-Agent: Prometheus/2.42.0" "$@"
    log "scraped $path: $HTTP_CODE"
}
scrape GET /metrics
scrape GET /metrics -H "Accept-Encoding: gzip" -o /dev/null
scrape GET /chunked
scrape GET "/big?n=3000"
scrape GET /notmodified
scrape GET /nocontent
scrape HEAD /metrics --head

if command -v prometheus >/dev/null; then
    PROM_PORT=$(free_port)
    cat >"$TEST_TMP/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    proxy_url: $SCRAPER
    static_configs: [{targets: ["$FQDN:$EXR_PORT"]}]
CONF
    start_bg prometheus prometheus --config.file="$TEST_TMP/prometheus.yml" \
        --storage.tsdb.path="$TEST_TMP/tsdb" --web.listen-address="127.0.0.1:$PROM_PORT"
    prom_scraped() {
        curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query" \
            --data-urlencode 'query=sum(count_over_time(up{job="app"}[1m]))' |
            grep -q '"value":\[[^]]*"[2-9]'
    }
    wait_until 40 "two scrapes by Prometheus" prom_scraped
fi

# Upstream's client: testclient.py for one scrape, then pushes made by hand.
start_bg testclient python3 "$TESTCLIENT" client --proxy-url "http://127.0.0.1:$UP_PORT" \
    --fqdn "$UP_FQDN" --use-localhost --max-scrapes 1
TC_PID=$BG_PID
PROXY_URL_REAL=$PROXY_URL
http_code_body GET "http://$UP_FQDN:$EX_PORT/metrics" -x "$SCRAPER" \
    -H "X-Prometheus-Scrape-Timeout-Seconds: 10"
log "scraped through testclient.py: $HTTP_CODE"
wait_exit "$TC_PID" 20

hand_push() { # hand_push NAME: a poll, a scrape, and the push printed by push_body ID
    PROXY_URL="http://127.0.0.1:$UP_PORT"
    start_poll "poll-$1" "$UP_FQDN"
    PROXY_URL=$SCRAPER
    start_scrape "scrape-$1" "http://$UP_FQDN:9100/metrics" 10
    poll_done "poll-$1"
    push_body "$POLL_ID" >"$TEST_TMP/push-$1"
    PROXY_URL="http://127.0.0.1:$UP_PORT"
    push "$TEST_TMP/push-$1"
    wait_exit "$SCRAPE_PID" 20
    log "hand push $1: push answered $HTTP_CODE, scrape $(cat "$TEST_TMP/scrape-$1.log")"
    PROXY_URL=$PROXY_URL_REAL
}
push_body() { # upstream's client's own error: no version, body up to the end of the push
    printf 'HTTP/0.0 500 Internal Server Error\r\nId: %s\r\n' "$1"
    printf 'X-Prometheus-Scrape-Timeout: 9.5\r\n\r\n'
    printf 'failed to scrape http://127.0.0.1:9100/metrics: '
    printf 'dial tcp 127.0.0.1:9100: connect: connection refused'
}
hand_push http00-error
push_body() { # an inner response chunked, as Go's Response.Write makes one without length
    local c1=$'# HELP up_test Up.\n' c2=$'# TYPE up_test gauge\nup_test 1\n'
    printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n'
    printf 'Transfer-Encoding: chunked\r\nId: %s\r\nX-Prometheus-Scrape-Timeout: 9.5\r\n\r\n' "$1"
    printf '%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n' "${#c1}" "$c1" "${#c2}" "$c2"
}
hand_push chunked

stop_all_relays() {
    local i
    for i in "${!BG_NAMES[@]}"; do
        case ${BG_NAMES[$i]} in
        relay-* | client | prometheus) stop_pid "${BG_PIDS[$i]}" 5 || true ;;
        esac
    done
}
stop_all_relays
python3 "$HERE/seeds.py" extract --from "$REC/client=client" --from "$REC/scraper=scraper" \
    --from "$REC/upstream=upstream-client" --from "$REC/exporter=exporter" \
    --exporter-tag exporter --corpus "$CORPUS"
log "seeds written to $CORPUS"
