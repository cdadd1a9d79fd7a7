#!/usr/bin/env bash
# lb-bench.sh - section 5 of the suite (run-suite.sh calls it; it also runs alone):
# three pushprox-proxy replicas behind HAProxy running deploy/haproxy/haproxy.cfg as
# shipped (addresses only), driven by pushprox-bench through HAProxy, beside the same
# load on one proxy with no HAProxy:
#
#   lb-direct   one proxy, 1,000 clients, open loop at LB_RATE scrapes/s, 20 KB bodies
#   lb-open     three replicas behind HAProxy, the same load (added latency = the gap)
#   lb-closed   three replicas behind HAProxy, closed loop with 64 scrapers (throughput)
#
# pushprox-bench's --proxy-pid points at HAProxy in the lb- runs, so its "proxy CPU us
# per scrape" is HAProxy's own; the replicas' CPU is read from /proc here. The bench's
# simulated clients are upstream-like (FQDN in the poll body, Id in the push body), so
# HAProxy takes its slower path: it buffers and searches each poll and push body.
#
#   bench/lb-bench.sh OUTDIR     writes OUTDIR/lb-*.json, lb-*.cpu, appends OUTDIR/commands.txt
#
# Environment: BUILD (default build), LB_SECONDS (10), LB_RATE (1000), LB_CLIENTS (1000).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PROXY="$BUILD/pushprox-proxy"
BENCH="$BUILD/pushprox-bench"
OUT=${1:?usage: lb-bench.sh OUTDIR}
LB_SECONDS=${LB_SECONDS:-10}
LB_RATE=${LB_RATE:-1000}
LB_CLIENTS=${LB_CLIENTS:-1000}
mkdir -p "$OUT"
COMMANDS="$OUT/commands.txt"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

say() { printf '[lb-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for b in "$PROXY" "$BENCH"; do
    [ -x "$b" ] || {
        say "$b is not built (make first)"
        exit 2
    }
done
command -v haproxy >/dev/null || {
    say "haproxy not installed: section 5 skipped"
    exit 0
}

PIDS=()
stop() { # stop PID: TERM (twice: a draining proxy stops at the second), then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    sleep 0.2
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop "${PIDS[$i]}"
    done
}
trap cleanup EXIT
trap 'say interrupted; exit 1' INT TERM

ports() { # ports N: N distinct free ports on 127.0.0.1
    python3 -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    say "$1 did not answer"
    return 1
}
cpu_ticks() { # cpu_ticks PID...: utime+stime of the processes, in clock ticks
    local t=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # shellcheck disable=SC2086
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null
read -r P1 P2 P3 PD LBP STP < <(ports 6)

# run NAME TARGET TARGET_PID WATCH_PIDS ARGS...: pushprox-bench against TARGET; the CPU
# ticks of WATCH_PIDS (space-separated) during the run go to OUT/NAME.cpu.
run() {
    local name=$1 target=$2 tpid=$3 watch=$4 t0 t1
    shift 4
    local cmd=("$BENCH" --proxy.address="$target" --proxy-pid="$tpid" --label="$name" --json
        --clients="$LB_CLIENTS" --body-size=20KB --duration="${LB_SECONDS}s" --idle=1s
        --no-check-clients "$@")
    echo "${cmd[*]}" >>"$COMMANDS"
    say "$name: ${cmd[*]:1}"
    # shellcheck disable=SC2086 # watch is a list of PIDs
    t0=$(cpu_ticks $watch)
    "${cmd[@]}" >"$OUT/$name.json" 2>"$OUT/$name.log" || say "$name: pushprox-bench exited $?"
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $watch)
    echo "$((t1 - t0)) $(getconf CLK_TCK)" >"$OUT/$name.cpu"
    tail -n 1 "$OUT/$name.json" >&2
}

# --- one proxy, no HAProxy ------------------------------------------------------------------
"$PROXY" --web.listen-address="127.0.0.1:$PD" --workers=1 --log.level=warn >"$OUT/lb-direct.proxy.log" 2>&1 &
dpid=$!
PIDS+=("$dpid")
echo "$PROXY --web.listen-address=127.0.0.1:$PD --workers=1 --log.level=warn" >>"$COMMANDS"
wait_http "http://127.0.0.1:$PD/-/ready" || exit 1
run lb-direct "127.0.0.1:$PD" "$dpid" "$dpid" --scrapers=64 --rate="$LB_RATE"
stop "$dpid"

# --- three replicas behind HAProxy ---------------------------------------------------------
rpids=()
for p in "$P1" "$P2" "$P3"; do
    "$PROXY" --web.listen-address="127.0.0.1:$p" --workers=1 --log.level=warn \
        --shutdown.delay=5s --poll.max-per-fqdn=1 >"$OUT/lb-replica-$p.log" 2>&1 &
    rpids+=($!)
    PIDS+=($!)
    echo "$PROXY --web.listen-address=127.0.0.1:$p --workers=1 --log.level=warn --shutdown.delay=5s --poll.max-per-fqdn=1" >>"$COMMANDS"
done
for p in "$P1" "$P2" "$P3"; do
    wait_http "http://127.0.0.1:$p/-/ready" || exit 1
done
PUSHPROX_LB_BIND="127.0.0.1:$LBP" PUSHPROX_LB_STATS_BIND="127.0.0.1:$STP" \
    PUSHPROX_REPLICA_1="127.0.0.1:$P1" PUSHPROX_REPLICA_2="127.0.0.1:$P2" \
    PUSHPROX_REPLICA_3="127.0.0.1:$P3" \
    haproxy -db -f "$ROOT/deploy/haproxy/haproxy.cfg" >"$OUT/lb-haproxy.log" 2>&1 &
hpid=$!
PIDS+=("$hpid")
echo "PUSHPROX_LB_BIND=127.0.0.1:$LBP PUSHPROX_REPLICA_1..3=127.0.0.1:{$P1,$P2,$P3} haproxy -db -f deploy/haproxy/haproxy.cfg" >>"$COMMANDS"
up3() { # HAProxy sees the three replicas up
    [ "$(curl -fsS --max-time 1 "http://127.0.0.1:$STP/metrics" 2>/dev/null |
        grep -c '^haproxy_server_status{proxy="pushprox_r[0-9]",server="r[0-9]",state="UP"} 1')" = 3 ]
}
for ((i = 0; i < 100; i++)); do
    up3 && break
    sleep 0.1
done
up3 || {
    say "haproxy did not see the replicas up"
    exit 1
}
run lb-open "127.0.0.1:$LBP" "$hpid" "${rpids[*]}" --scrapers=64 --rate="$LB_RATE"
run lb-closed "127.0.0.1:$LBP" "$hpid" "${rpids[*]}" --scrapers=64
say "done"
