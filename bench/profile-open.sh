#!/usr/bin/env bash
# profile-open.sh - where the proxy's µs go in the open loop: one open-loop cell of the
# bench (MODE clients, WORKERS proxy workers), profiled in three windows one after the
# other while the bench keeps scraping at RATE:
#
#   1. `perf stat` of syscall tracepoints on the proxy: syscalls per scrape (epoll_wait,
#      epoll_ctl, read, write/writev, eventfd writes and reads, accept4, close, ...), and
#      its CPU µs per scrape from /proc in the same window;
#   2. `perf record -e cpu-clock -g` (a software clock: no hardware counters here): the top
#      symbols by self time;
#   3. `strace -c -f -p <proxy>`: the same counts from ptrace, which slows the proxy (the
#      open loop then batches more per wake-up; window 1 is the figure to quote).
#
# A scrape in a window is a 200 on /push counted by the proxy's own /metrics.
#
#   bench/profile-open.sh [pipelined|upstream] [WORKERS]
#
# Environment: BUILD (binaries, default build), CLIENTS (1000), RATE (2000 scrapes/s),
# SCRAPERS (64), BODY (20KB), WINDOW (seconds per window, 8), SETTLE (seconds of scraping
# before the first window, 2), PROXY_FLAGS (more flags for
# the proxy, e.g. --no-scrape.move-to-owner), OUT (directory for
# perf.data, logs and the summary; default a new temp dir, kept), TOP (symbols, 25).
# Everything on 127.0.0.1, free ports, processes stopped by PID. Needs perf and strace.
set -u

# Internal: --mark FILE PORT PID appends "<pushes 200> <cpu ticks>" of the proxy to FILE.
if [ "${1:-}" = --mark ]; then
    p=$(curl -fsS --max-time 2 "http://127.0.0.1:$3/metrics" |
        awk '/^pushprox_http_requests_total\{code="200",path="\/push"\}/ {print $2}')
    t=$(awk '{print $14 + $15}' "/proc/$4/stat")
    echo "$p $t" >>"$2"
    exit 0
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-pipelined}
WORKERS=${2:-1}
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PROXY="$BUILD/pushprox-proxy"
BENCH="$BUILD/pushprox-bench"
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-2000}
SCRAPERS=${SCRAPERS:-64}
BODY=${BODY:-20KB}
WINDOW=${WINDOW:-8}
TOP=${TOP:-25}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/pushprox-profile.XXXXXX")}
mkdir -p "$OUT"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

case $MODE in pipelined | upstream) ;; *)
    echo "usage: $0 [pipelined|upstream] [WORKERS]" >&2
    exit 2
    ;;
esac
for b in "$PROXY" "$BENCH"; do
    [ -x "$b" ] || {
        echo "profile-open: $b is not built (make first)" >&2
        exit 2
    }
done
for t in perf strace curl python3; do
    command -v "$t" >/dev/null || {
        echo "profile-open: $t not found" >&2
        exit 2
    }
done

say() { printf '[profile %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
PIDS=()
stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
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
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[$i]}"; done
}
trap cleanup EXIT
trap 'say interrupted; exit 1' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null
PORT=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
# shellcheck disable=SC2086 # PROXY_FLAGS is a list of flags
"$PROXY" --web.listen-address="127.0.0.1:$PORT" --workers="$WORKERS" --log.level=warn \
    ${PROXY_FLAGS:-} >"$OUT/proxy.log" 2>&1 &
PP=$!
PIDS+=("$PP")
for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/metrics" 2>/dev/null && break
    sleep 0.1
done

# The bench scrapes through all three windows and a margin.
DURATION=$((3 * WINDOW + 10 + ${SETTLE:-2}))
procs=1
[ "$MODE" = upstream ] && [ "$CLIENTS" -gt 5000 ] && procs=$(((CLIENTS + 4999) / 5000))
BENCH_CMD=("$BENCH" --proxy.address="127.0.0.1:$PORT" --proxy-pid="$PP" --clients="$CLIENTS"
    --scrapers="$SCRAPERS" --rate="$RATE" --body-size="$BODY" --duration="${DURATION}s"
    --idle=1s --client-mode="$MODE" --procs="$procs" --progress=false --label="profile-$MODE-w$WORKERS")
echo "${BENCH_CMD[*]}" >"$OUT/bench.cmd"
"${BENCH_CMD[@]}" >"$OUT/bench.txt" 2>"$OUT/bench.log" &
BP=$!
PIDS+=("$BP")
for ((i = 0; i < 600; i++)); do
    grep -q 'clients registered' "$OUT/bench.log" 2>/dev/null && break
    kill -0 "$BP" 2>/dev/null || break
    sleep 0.1
done
grep -q 'clients registered' "$OUT/bench.log" || {
    say "the bench did not register its clients; see $OUT/bench.log"
    exit 1
}
# --idle, then the first second of scraping (the upstream clients' second dials); SETTLE
# longer to let the workers fold first (--workers.fold-below: 3 ticks of low load).
sleep "${SETTLE:-2}"

# window_cmd FILE: the command each profiler runs (or runs beside): `--mark` (below) appends
# the proxy's pushes answered 200 (= scrapes) and CPU ticks to FILE, before and after the
# sleep, so the counts cover exactly the measured time.
window_cmd() {
    local me
    me=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
    echo "'$me' --mark $1 $PORT $PP; sleep $WINDOW; '$me' --mark $1 $PORT $PP"
}
# scrapes FILE / ticks FILE: the window's deltas.
scrapes() { awk 'NR == 1 {a = $1} NR == 2 {print $1 - a}' "$1"; }
ticks() { awk 'NR == 1 {a = $2} NR == 2 {print $2 - a}' "$1"; }

# The proxy's eventfds (one per worker's inbox and libuv's async handle): their fds.
EVFDS=()
for f in /proc/"$PP"/fd/*; do
    [ "$(readlink "$f" 2>/dev/null)" = "anon_inode:[eventfd]" ] && EVFDS+=("${f##*/}")
done
evfilter=""
for fd in "${EVFDS[@]}"; do evfilter="${evfilter:+$evfilter || }fd == $fd"; done

# Window 1: syscall tracepoints.
SYSCALLS=(epoll_wait epoll_pwait epoll_ctl read readv recvfrom write writev sendto sendmsg
    accept4 close futex getrandom brk mmap munmap)
events=()
for s in "${SYSCALLS[@]}"; do events+=(-e "syscalls:sys_enter_$s"); done
if [ -n "$evfilter" ]; then
    events+=(-e syscalls:sys_enter_write --filter "$evfilter" -e syscalls:sys_enter_read --filter "$evfilter")
fi
events+=(-e raw_syscalls:sys_enter -e context-switches)
say "window 1: perf stat (syscalls) ${WINDOW}s"
: >"$OUT/w1.marks"
perf stat -x, -o "$OUT/syscalls.csv" "${events[@]}" -p "$PP" -- sh -c "$(window_cmd "$OUT/w1.marks")" \
    2>"$OUT/perf-stat.log"
echo "$(scrapes "$OUT/w1.marks") $(ticks "$OUT/w1.marks") $(getconf CLK_TCK)" >"$OUT/window1.txt"

# Window 2: the profile.
say "window 2: perf record -e cpu-clock -g ${WINDOW}s"
: >"$OUT/w2.marks"
perf record -q -e cpu-clock -g -o "$OUT/perf.data" -p "$PP" -- sh -c "$(window_cmd "$OUT/w2.marks")" \
    >"$OUT/perf-record.log" 2>&1

# Window 3: strace -c (ptrace: slow; counts only). It stops after the second mark.
say "window 3: strace -c -f ${WINDOW}s"
: >"$OUT/w3.marks"
strace -c -f -p "$PP" -o "$OUT/strace-c.txt" 2>"$OUT/strace.log" &
SP=$!
sleep 1 # attached
sh -c "$(window_cmd "$OUT/w3.marks")"
kill -INT "$SP" 2>/dev/null
wait "$SP"

wait "$BP"
brc=$?
PIDS=("$PP")

perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol --percent-limit 0.5 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n "$TOP" >"$OUT/top-symbols.txt"
perf report -i "$OUT/perf.data" --stdio --no-children --sort dso 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -n 8 >"$OUT/top-dsos.txt"

# Summary.
python3 - "$OUT" "$MODE" "$WORKERS" "$(scrapes "$OUT/w2.marks")" "$(scrapes "$OUT/w3.marks")" "${#EVFDS[@]}" "$brc" <<'PY' | tee "$OUT/summary.txt"
import json, sys
out, mode, workers, rec_scrapes, strace_scrapes, n_evfd, brc = sys.argv[1:8]
scrapes, dt, hz = (int(x) for x in open(out + "/window1.txt").read().split())
counts = {}
ev_write = ev_read = None
seen = {}
for line in open(out + "/syscalls.csv"):
    f = line.strip().split(",")
    if len(f) < 3 or not f[0].replace(".", "").isdigit():
        continue
    name = f[2]
    n = int(float(f[0]))
    k = seen.get(name, 0)
    seen[name] = k + 1
    short = "raw_syscalls" if name.startswith("raw_syscalls") else name.split(":")[-1].replace("sys_enter_", "")
    if k == 1 and short in ("write", "read"):  # the second of each: filtered to the eventfds
        if short == "write":
            ev_write = n
        else:
            ev_read = n
        continue
    counts[short] = counts.get(short, 0) + n
per = lambda n: n / scrapes if scrapes else 0.0
print(f"profile-open: mode={mode} workers={workers}  window 1: {scrapes} scrapes, "
      f"proxy CPU {dt / int(hz) * 1e6 / scrapes if scrapes else 0:.1f} us per scrape")
print("syscalls per scrape (perf stat, tracepoints):")
order = ["raw_syscalls", "epoll_wait", "epoll_pwait", "epoll_ctl", "read", "readv", "recvfrom",
         "write", "writev", "sendto", "sendmsg", "accept4", "close", "futex", "getrandom",
         "brk", "mmap", "munmap", "context-switches"]
for k in order:
    if k in counts and (counts[k] or k in ("epoll_wait", "epoll_ctl", "read", "write", "writev",
                                            "accept4", "close")):
        label = "all syscalls" if k == "raw_syscalls" else k
        print(f"  {label:18s} {per(counts[k]):8.2f}")
if ev_write is not None:
    print(f"  {'eventfd writes':18s} {per(ev_write):8.2f}   (write(2) on the {n_evfd} eventfds)")
    print(f"  {'eventfd reads':18s} {per(ev_read or 0):8.2f}   (wake-ups taken from them)")
print(f"top symbols (perf record -e cpu-clock -g, {rec_scrapes} scrapes, self time):")
for line in open(out + "/top-symbols.txt"):
    print("  " + line.strip())
print("by object:")
for line in open(out + "/top-dsos.txt"):
    print("  " + line.strip())
print(f"strace -c -f ({strace_scrapes} scrapes; ptrace slows the proxy, counts only):")
try:
    rows = [l for l in open(out + "/strace-c.txt") if l.strip() and not l.startswith(("%", "-"))]
    n = int(strace_scrapes)
    for l in rows[:14]:
        f = l.split()
        if len(f) >= 5 and f[3].isdigit():
            print(f"  {f[-1]:18s} {int(f[3]) / n if n else 0:8.2f} per scrape")
except OSError:
    print("  (no strace output)")
bench = open(out + "/bench.txt").read()
for l in bench.splitlines():
    if any(k in l for k in ("latency ms", "errors ", "client mode", "proxy CPU", "verdict")):
        print("bench (whole run, strace window included): " + l.strip())
print(f"bench exit status {brc}; files in {out}")
PY
