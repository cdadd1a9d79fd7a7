#!/usr/bin/env bash
# run-suite.sh - the standard benchmark suite (`make bench`); rewrites bench/RESULTS.md.
#
#   1. idle clients: 1k, 5k, 10k and the most one proxy process can hold here
#      (its fd limit minus what it needs itself): proxy RSS per idle client;
#   2. closed loop: 1,000 clients, 20 KB bodies, 16/64/256 scrapers, --workers 1 and 2;
#   3. fleet: the most clients, open loop at 6,700 scrapes/s, 20 KB, FLEET_RUNS runs of
#      FLEET_SECONDS, each on a fresh proxy;
#   4. the one-hop floor: nginx reverse-proxying the same 20 KB body from a static nginx,
#      driven by wrk; nginx's CPU us per request beside ours;
#   5. through the load balancer (bench/lb-bench.sh): three replicas behind HAProxy with
#      deploy/haproxy/haproxy.cfg, against one proxy alone: scrapes/s, added latency,
#      HAProxy's CPU per scrape;
#   6. open loop, one scrape at a time: 1,000 clients, 20 KB, OPEN_RATE scrapes/s, the
#      pipelined and the upstream-like client mode x --workers 1 and 2 (proxy CPU per
#      scrape, latency, client connections opened per scrape), and nginx proxying the same
#      body at the same open-loop rate (pushprox-bench --scrape.plain-path), for ratios
#      from one run.
#   7. mutual TLS (the proxy's own, bench/tls-certs.sh's ECDSA P-256 certificates, every
#      simulated client and scraper presenting *.bench): RSS per idle mTLS client at 1,000
#      and at the most one process holds; full and resumed handshakes per second with
#      --workers 1 (--handshakes); the proxy's CPU per 20 KB scrape over mTLS against nginx
#      terminating TLS (bench/nginx-tls.conf) for the same body, driven by wrk over https.
#
# Everything runs on 127.0.0.1 with free ports and is stopped by PID. Under 10 minutes on
# 2 cores. Environment: BUILD (binaries, default build), RESULTS (output file, default
# bench/RESULTS.md), QUICK=1 (short runs, to try the script; still rewrites RESULTS),
# FLEET_RUNS (default 5), FLEET_SECONDS (default 20), CLOSED_SECONDS (default 10), MAX_CLIENTS (default: the
# proxy's fd limit minus 100), OPEN_RATE (default 2000), OPEN_SECONDS (default 20),
# HS_SECONDS (default 10: the longest of each handshake run), SKIP_PLAIN=1 (only sections 6
# and 7, e.g. to try them; RESULTS then says n/a for the rest).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PROXY="$BUILD/pushprox-proxy"
BENCH="$BUILD/pushprox-bench"
RESULTS=${RESULTS:-$ROOT/bench/RESULTS.md}
QUICK=${QUICK:-0}
FLEET_RUNS=${FLEET_RUNS:-5}
FLEET_SECONDS=${FLEET_SECONDS:-20}
CLOSED_SECONDS=${CLOSED_SECONDS:-10}
NGINX_SECONDS=${NGINX_SECONDS:-10}
HS_SECONDS=${HS_SECONDS:-10}
SKIP_PLAIN=${SKIP_PLAIN:-0}
OPEN_RATE=${OPEN_RATE:-2000}
OPEN_SECONDS=${OPEN_SECONDS:-20}
if [ "$QUICK" = 1 ]; then
    OPEN_SECONDS=5
    FLEET_SECONDS=5
    FLEET_RUNS=2
    CLOSED_SECONDS=3
    NGINX_SECONDS=3
    HS_SECONDS=3
fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

for b in "$PROXY" "$BENCH"; do
    [ -x "$b" ] || {
        echo "run-suite: $b is not built (make first)" >&2
        exit 2
    }
done

# shellcheck source=bench/lib.bash
. "$ROOT/bench/lib.bash"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pushprox-bench.XXXXXX")
PIDS=()
say() { printf '[suite %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop "${PIDS[$i]}"
    done
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        say "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'say interrupted; exit 1' INT TERM

# The fd limit: the proxy and the bench both take the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
MAX_CLIENTS=${MAX_CLIENTS:-$((NOFILE - 100))}
# The fleet run needs room for its scraper connections too (FLEET_SCRAPERS: lib.bash).
FLEET_CLIENTS=$((MAX_CLIENTS - FLEET_SCRAPERS - 36))

COMMANDS="$TMP/commands.txt"
: >"$COMMANDS"

# steal_ticks: the host's steal time so far, all CPUs, in clock ticks (/proc/stat).
steal_ticks() { awk '$1 == "cpu" {print $9; exit}' /proc/stat; }

# start_proxy NAME WORKERS: sets PROXY_PID, PROXY_PORT.
start_proxy() {
    PROXY_PORT=$(free_port)
    "$PROXY" --web.listen-address="127.0.0.1:$PROXY_PORT" --workers="$2" --log.level=warn \
        >"$TMP/$1.proxy.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    echo "$PROXY --web.listen-address=127.0.0.1:$PROXY_PORT --workers=$2 --log.level=warn" >>"$COMMANDS"
    wait_http "http://127.0.0.1:$PROXY_PORT/metrics"
}

# bench NAME ARGS...: runs pushprox-bench against the current proxy; JSON in $TMP/NAME.json.
bench() {
    local name=$1
    shift
    local cmd=("$BENCH" --proxy.address="127.0.0.1:$PROXY_PORT" --proxy-pid="$PROXY_PID"
        --label="$name" --json "$@")
    echo "${cmd[*]}" >>"$COMMANDS"
    say "$name: ${cmd[*]:1}"
    "${cmd[@]}" >"$TMP/$name.json" 2>"$TMP/$name.log"
    local rc=$?
    if [ $rc -ne 0 ]; then
        say "$name: pushprox-bench exited $rc; last lines of its log:"
        tail -n 5 "$TMP/$name.log" >&2
    fi
    tail -n 1 "$TMP/$name.json" >&2
    return 0
}

SUITE_START=$(date +%s)

# 1. Idle clients.
for n in 1000 5000 10000 "$MAX_CLIENTS"; do
    [ "$SKIP_PLAIN" = 1 ] && break
    procs=$(((n + 9999) / 10000))
    start_proxy "idle-$n" 2
    bench "idle-$n" --clients="$n" --scrapers=0 --procs="$procs" --idle=2s --registration.wait=60s
    stop "$PROXY_PID"
done

# 2. Closed loop.
for w in 1 2; do
    [ "$SKIP_PLAIN" = 1 ] && break
    for s in 16 64 256; do
        start_proxy "closed-w$w-s$s" "$w"
        bench "closed-w$w-s$s" --clients=1000 --scrapers="$s" --body-size=20KB \
            --duration="${CLOSED_SECONDS}s" --idle=0s
        stop "$PROXY_PID"
    done
done

# 3. Fleet: the most clients one proxy holds here, open loop at 6,700 scrapes/s.
if [ "$SKIP_PLAIN" != 1 ]; then
    fleet_args "$FLEET_CLIENTS" "$FLEET_SECONDS"
    for ((r = 1; r <= FLEET_RUNS; r++)); do
        start_proxy "fleet-$r" 2
        # The host's steal time over the run (/proc/stat, all CPUs, in ticks): the time
        # these vCPUs wanted to run and the hypervisor gave to somebody else.
        s0=$(steal_ticks)
        bench "fleet-$r" "${FLEET_ARGS[@]}"
        echo "$(($(steal_ticks) - s0)) $(getconf CLK_TCK)" >"$TMP/fleet-$r.steal"
        stop "$PROXY_PID"
    done
fi

# 4. nginx floor.
NGINX_OK=0
if command -v nginx >/dev/null && command -v wrk >/dev/null; then
    NGINX_OK=1
    ORIGIN_PORT=$(free_port)
    o="$TMP/nginx-origin"
    mkdir -p "$o/www" "$o/tmp" "$o/conf"
    # nginx workers run as an unprivileged user when started as root: let them read.
    chmod a+rx "$TMP" "$o" "$o/www"
    python3 - "$o/www/metrics" <<'PY'
import sys
# The same shape as the bench's bodies: a first line, then 64-byte metric lines, 20,000 bytes.
first = "# bench fqdn=origin id=static len=0000020000"
lines = []
size = 20000
pad = (size - (len(first) + 1)) % 64
body = first + " " * pad + "\n"
i = 0
while len(body) < size:
    l = 'bench_filler_metric{series="%06d"} %d' % (i, i * 7919 % 100000)
    body += l + " " * (63 - len(l)) + "\n"
    i += 1
open(sys.argv[1], "w").write(body[:size])
PY
    chmod a+r "$o/www/metrics"
    sed -e "s#@PREFIX@#$o#g" -e "s#@PORT@#$ORIGIN_PORT#g" "$ROOT/bench/nginx-origin.conf" >"$o/conf/nginx.conf"
    nginx -p "$o" -c "$o/conf/nginx.conf" -e "$o/error.log" >"$TMP/nginx-origin.log" 2>&1 &
    PIDS+=($!)
    echo "nginx -p \$TMP/nginx-origin -c bench/nginx-origin.conf (filled in: port $ORIGIN_PORT)" >>"$COMMANDS"
    wait_http "http://127.0.0.1:$ORIGIN_PORT/metrics" || NGINX_OK=0
fi

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
    local t=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}
for w in 1 2; do
    [ "$NGINX_OK" = 1 ] && [ "$SKIP_PLAIN" != 1 ] || break
    p="$TMP/nginx-proxy-$w"
    mkdir -p "$p/tmp" "$p/conf"
    port=$(free_port)
    sed -e "s#@PREFIX@#$p#g" -e "s#@PORT@#$port#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
        -e "s#@WORKERS@#$w#g" "$ROOT/bench/nginx.conf" >"$p/conf/nginx.conf"
    nginx -p "$p" -c "$p/conf/nginx.conf" -e "$p/error.log" >"$TMP/nginx-proxy-$w.log" 2>&1 &
    npid=$!
    PIDS+=("$npid")
    echo "nginx -p \$TMP/nginx-proxy-$w -c bench/nginx.conf (filled in: port $port, worker_processes $w)" >>"$COMMANDS"
    wait_http "http://127.0.0.1:$port/metrics" || continue
    kids=()
    read -ra kids <"/proc/$npid/task/$npid/children" 2>/dev/null
    # Warm the upstream keep-alive pool, then measure.
    wrk -t1 -c64 -d1s "http://127.0.0.1:$port/metrics" >/dev/null 2>&1
    t0=$(cpu_ticks "$npid" "${kids[@]}")
    echo "wrk -t1 -c64 -d${NGINX_SECONDS}s --latency http://127.0.0.1:$port/metrics" >>"$COMMANDS"
    wrk -t1 -c64 -d"${NGINX_SECONDS}s" --latency "http://127.0.0.1:$port/metrics" >"$TMP/nginx-w$w.wrk" 2>&1
    t1=$(cpu_ticks "$npid" "${kids[@]}")
    echo "$((t1 - t0)) $(getconf CLK_TCK)" >"$TMP/nginx-w$w.cpu"
    say "nginx workers=$w: $(grep -E 'Requests/sec' "$TMP/nginx-w$w.wrk") cpu_ticks=$((t1 - t0))"
    stop "$npid"
done

# 5. Through the load balancer.
if [ "$SKIP_PLAIN" != 1 ]; then
    LB_SECONDS=${LB_SECONDS:-$CLOSED_SECONDS} BUILD="$BUILD" "$ROOT/bench/lb-bench.sh" "$TMP"
fi

# 6. Open loop, one scrape at a time: both client modes x 1 and 2 workers, then nginx at
#    the same rate (the same 20 KB body through nginx -> origin, plain GETs).
for w in 1 2; do
    for m in pipelined upstream; do
        start_proxy "open-$m-w$w" "$w"
        # --idle=5s: the proxy starts scraping in its steady state, with 2 workers folded
        # onto one thread (--workers.fold-below: 3 ticks of low load after registering).
        bench "open-$m-w$w" --clients=1000 --scrapers=64 --rate="$OPEN_RATE" --body-size=20KB \
            --duration="${OPEN_SECONDS}s" --idle=5s --client-mode="$m"
        # Folded or not at the end, and how often it folded: "<loops lent> <folds>".
        curl -fsS --max-time 5 "http://127.0.0.1:$PROXY_PORT/metrics" 2>/dev/null |
            awk '$1 == "pushprox_proxy_worker_loops_lent" {l = $2}
                 $1 == "pushprox_proxy_worker_folds_total" {f = $2}
                 END {print l + 0, f + 0}' >"$TMP/open-$m-w$w.fold"
        stop "$PROXY_PID"
    done
done
for w in 1 2; do
    [ "$NGINX_OK" = 1 ] || break
    p="$TMP/nginx-open-$w"
    mkdir -p "$p/tmp" "$p/conf"
    port=$(free_port)
    sed -e "s#@PREFIX@#$p#g" -e "s#@PORT@#$port#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
        -e "s#@WORKERS@#$w#g" "$ROOT/bench/nginx.conf" >"$p/conf/nginx.conf"
    nginx -p "$p" -c "$p/conf/nginx.conf" -e "$p/error.log" >"$TMP/nginx-open-$w.log" 2>&1 &
    npid=$!
    PIDS+=("$npid")
    echo "nginx -p \$TMP/nginx-open-$w -c bench/nginx.conf (filled in: port $port, worker_processes $w)" >>"$COMMANDS"
    wait_http "http://127.0.0.1:$port/metrics" || continue
    kids=()
    read -ra kids <"/proc/$npid/task/$npid/children" 2>/dev/null
    # nginx's CPU over the whole bench run (64 connects and --idle=0s: the scraping).
    t0=$(cpu_ticks "$npid" "${kids[@]}")
    PROXY_PORT=$port PROXY_PID=0 bench "nginx-open-w$w" --clients=0 --scrapers=64 \
        --rate="$OPEN_RATE" --body-size=20KB --duration="${OPEN_SECONDS}s" --idle=0s \
        --scrape.plain-path=/metrics
    t1=$(cpu_ticks "$npid" "${kids[@]}")
    echo "$((t1 - t0)) $(getconf CLK_TCK)" >"$TMP/nginx-open-w$w.cpu"
    stop "$npid"
done

# 7. Mutual TLS.
TLSD="$TMP/tls"
TLS_OK=0
if command -v openssl >/dev/null && sh "$ROOT/bench/tls-certs.sh" "$TLSD" >"$TMP/tls-certs.log" 2>&1; then
    TLS_OK=1
    echo "bench/tls-certs.sh \$TMP/tls (CA, server.crt for 127.0.0.1, bench.crt for *.bench; ECDSA P-256)" >>"$COMMANDS"
else
    say "no TLS section: openssl missing or bench/tls-certs.sh failed"
fi
TLS_ARGS=(--tls.cacert="$TLSD/ca.crt" --tls.cert="$TLSD/bench.crt" --tls.key="$TLSD/bench.key")

# start_proxy_tls NAME WORKERS: as start_proxy, with TLSD/web.yml (RequireAndVerifyClientCert)
# on its one address: clients and scrapers both present *.bench.
start_proxy_tls() {
    local i
    PROXY_PORT=$(free_port)
    "$PROXY" --web.listen-address="127.0.0.1:$PROXY_PORT" --workers="$2" --log.level=warn \
        --web.config.file="$TLSD/web.yml" >"$TMP/$1.proxy.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    echo "$PROXY --web.listen-address=127.0.0.1:$PROXY_PORT --workers=$2 --log.level=warn --web.config.file=\$TMP/tls/web.yml" >>"$COMMANDS"
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null --max-time 1 --cacert "$TLSD/ca.crt" --cert "$TLSD/bench.crt" \
            --key "$TLSD/bench.key" "https://127.0.0.1:$PROXY_PORT/-/ready" 2>/dev/null && return 0
        sleep 0.1
    done
    say "the TLS proxy on port $PROXY_PORT did not answer"
    return 1
}

if [ "$TLS_OK" = 1 ]; then
    # (a) Idle mTLS clients. Sessions are resumed after each thread's first handshakes, and
    # fewer connect at once than in section 1: a full handshake costs milliseconds of CPU.
    for n in 1000 "$MAX_CLIENTS"; do
        procs=$(((n + 9999) / 10000))
        start_proxy_tls "tls-idle-$n" 2
        bench "tls-idle-$n" "${TLS_ARGS[@]}" --clients="$n" --scrapers=0 --procs="$procs" \
            --idle=2s --registration.wait=120s --connect.concurrency=32
        # The same fleet again on the same proxy: the heap the first wave freed is reused,
        # and mbedTLS wiped (touched) every page of its buffers when it freed them.
        bench "tls-idle-$n-again" "${TLS_ARGS[@]}" --clients="$n" --scrapers=0 --procs="$procs" \
            --idle=2s --registration.wait=120s --connect.concurrency=32
        stop "$PROXY_PID"
    done
    # (b) Handshakes per second, one worker: full (no session offered), then resumed.
    start_proxy_tls tls-hs 1
    bench tls-hs-full "${TLS_ARGS[@]}" --handshakes=100000 --no-tls.resume \
        --connect.concurrency=8 --duration="${HS_SECONDS}s"
    bench tls-hs-resumed "${TLS_ARGS[@]}" --handshakes=1000000 --connect.concurrency=8 \
        --duration="${HS_SECONDS}s"
    stop "$PROXY_PID"
    # (c) CPU per 20 KB scrape over mTLS, 1 worker, 64 scrapers: as section 2's w1-s64 cell.
    start_proxy_tls tls-closed-w1-s64 1
    bench tls-closed-w1-s64 "${TLS_ARGS[@]}" --clients=1000 --scrapers=64 --body-size=20KB \
        --duration="${CLOSED_SECONDS}s" --idle=0s --connect.concurrency=32
    stop "$PROXY_PID"
    # ... and nginx terminating TLS for the same body from the same origin.
    if [ "$NGINX_OK" = 1 ]; then
        p="$TMP/nginx-tls-1"
        mkdir -p "$p/tmp" "$p/conf"
        chmod a+rx "$TLSD"
        chmod a+r "$TLSD"/*.crt "$TLSD"/*.key
        port=$(free_port)
        sed -e "s#@PREFIX@#$p#g" -e "s#@PORT@#$port#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
            -e "s#@WORKERS@#1#g" -e "s#@CERTS@#$TLSD#g" "$ROOT/bench/nginx-tls.conf" >"$p/conf/nginx.conf"
        nginx -p "$p" -c "$p/conf/nginx.conf" -e "$p/error.log" >"$TMP/nginx-tls-1.log" 2>&1 &
        npid=$!
        PIDS+=("$npid")
        echo "nginx -p \$TMP/nginx-tls-1 -c bench/nginx-tls.conf (filled in: port $port, worker_processes 1)" >>"$COMMANDS"
        for ((i = 0; i < 100; i++)); do
            curl -fsS -o /dev/null --max-time 1 --cacert "$TLSD/ca.crt" "https://127.0.0.1:$port/metrics" 2>/dev/null && break
            sleep 0.1
        done
        kids=()
        read -ra kids <"/proc/$npid/task/$npid/children" 2>/dev/null
        wrk -t1 -c64 -d1s "https://127.0.0.1:$port/metrics" >/dev/null 2>&1
        t0=$(cpu_ticks "$npid" "${kids[@]}")
        echo "wrk -t1 -c64 -d${NGINX_SECONDS}s --latency https://127.0.0.1:$port/metrics" >>"$COMMANDS"
        wrk -t1 -c64 -d"${NGINX_SECONDS}s" --latency "https://127.0.0.1:$port/metrics" >"$TMP/nginx-tls-w1.wrk" 2>&1
        t1=$(cpu_ticks "$npid" "${kids[@]}")
        echo "$((t1 - t0)) $(getconf CLK_TCK)" >"$TMP/nginx-tls-w1.cpu"
        say "nginx TLS workers=1: $(grep -E 'Requests/sec' "$TMP/nginx-tls-w1.wrk") cpu_ticks=$((t1 - t0))"
        stop "$npid"
    fi
fi

SUITE_SECONDS=$(($(date +%s) - SUITE_START))
say "suite ran ${SUITE_SECONDS}s; writing $RESULTS"
BUILD="$BUILD" HS_SECONDS="$HS_SECONDS" CLOSED_SECONDS="$CLOSED_SECONDS" FLEET_RUNS="$FLEET_RUNS" \
    FLEET_SECONDS="$FLEET_SECONDS" python3 "$ROOT/bench/results.py" "$TMP" "$RESULTS" "$SUITE_SECONDS" "$MAX_CLIENTS" "$FLEET_CLIENTS" \
    "$NOFILE" "$QUICK"
