#!/usr/bin/env bash
# ab.sh - the same bench against two proxy binaries, alternating, in one sitting: KiB per
# idle client (1,000 clients) and closed-loop proxy CPU us per scrape (1,000 clients,
# 64 scrapers, 20 KB, --workers 1 and 2). Ratios from one run are what this noisy 2-core
# host can compare; absolute figures move with its load.
#
#   bench/ab.sh OLD_PROXY NEW_PROXY [ROUNDS]     (env: BENCH, default build/pushprox-bench;
#                                                 SECONDS_PER_RUN, default 10)
# With CELLS=open instead: the open loop of make bench's section 6 (1,000 clients, 20 KB,
# OPEN_RATE scrapes/s, default 2000; held idle 5 s first, as there), pipelined and
# upstream-like clients, --workers 1 and 2: proxy CPU us per scrape.
# With CELLS=fleet: make bench's fleet cell (fleet_args in bench/lib.bash: as many clients
# as the fd limit leaves room for, as run-suite.sh counts them; 6,700 scrapes/s, 20 KB,
# --workers 2, SECONDS_PER_RUN long): its p99 in ms and proxy CPU us per scrape. A run
# with errors shows as nan.
# Both proxies are driven by the same pushprox-bench, in turn, the first of each round
# swapped from one round to the next. Prints one line per run and a median per cell.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=${1:?usage: ab.sh OLD_PROXY NEW_PROXY [ROUNDS]}
NEW=${2:?usage: ab.sh OLD_PROXY NEW_PROXY [ROUNDS]}
ROUNDS=${3:-3}
BENCH=${BENCH:-$ROOT/build/pushprox-bench}
SECS=${SECONDS_PER_RUN:-10}
CELLS=${CELLS:-closed}
OPEN_RATE=${OPEN_RATE:-2000}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pushprox-ab.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

say() { printf '[ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/lib.bash
. "$ROOT/bench/lib.bash"

# run NAME PROXY WORKERS BENCH_ARGS...: one fresh proxy, one bench run; prints the JSON.
run() {
    local proxy=$1 workers=$2 port pid out
    shift 2
    port=$(free_port)
    "$proxy" --web.listen-address="127.0.0.1:$port" --workers="$workers" --log.level=warn \
        >"$TMP/proxy.log" 2>&1 &
    pid=$!
    wait_http "http://127.0.0.1:$port/clients"
    out=$("$BENCH" --proxy.address="127.0.0.1:$port" --proxy-pid="$pid" --json \
        --progress=false "$@" 2>"$TMP/bench.log")
    stop "$pid"
    printf '%s\n' "$out"
}

# field NAME: the proxy's figure NAME from a bench JSON on stdin; "nan" when the run had
# errors or no output, so a broken run shows instead of passing for a figure.
field() {
    python3 -c 'import json,sys
try:
    d = json.loads(sys.stdin.read())
    if d["errors_total"]:
        print("nan")
    elif sys.argv[1] == "p99":
        print(d["latency_ms"]["p99"])
    else:
        print(d["proxy"][sys.argv[1]])
except Exception:
    print("nan")' "$1"
}

: >"$TMP/rows"
if [ "$CELLS" = fleet ]; then
    # As run-suite.sh: the hard fd limit, less room for the scrapers and the rest.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    fleet_args $(($(ulimit -n) - 100 - FLEET_SCRAPERS - 36)) "$SECS"
fi
for ((r = 1; r <= ROUNDS; r++)); do
    # Each round swaps who goes first: a run right after another (sockets in TIME_WAIT,
    # caches, the host's own rhythm) is not the same as the first, and that must not show
    # as a difference between the binaries.
    order="old new"
    [ $((r % 2)) -eq 0 ] && order="new old"
    for which in $order; do
        if [ "$which" = old ]; then p=$OLD; else p=$NEW; fi
        if [ "$CELLS" = fleet ]; then
            out=$(run "$p" 2 "${FLEET_ARGS[@]}")
            echo "$which fleet-p99 ms $(field p99 <<<"$out")" | tee -a "$TMP/rows"
            echo "$which fleet-cpu us $(field cpu_us_per_scrape <<<"$out")" | tee -a "$TMP/rows"
            continue
        fi
        if [ "$CELLS" = open ]; then
            for m in pipelined upstream; do
                for w in 1 2; do
                    us=$(run "$p" "$w" --clients=1000 --scrapers=64 --rate="$OPEN_RATE" \
                        --body-size=20KB --duration="${SECS}s" --idle=5s --client-mode="$m" |
                        field cpu_us_per_scrape)
                    echo "$which open-$m-w$w us $us" | tee -a "$TMP/rows"
                done
            done
            continue
        fi
        kib=$(run "$p" 2 --clients=1000 --scrapers=0 --idle=2s | field kib_per_idle_client)
        echo "$which idle kib $kib" | tee -a "$TMP/rows"
        for w in 1 2; do
            us=$(run "$p" "$w" --clients=1000 --scrapers=64 --body-size=20KB \
                --duration="${SECS}s" --idle=0s | field cpu_us_per_scrape)
            echo "$which closed-w$w us $us" | tee -a "$TMP/rows"
        done
    done
done
python3 - "$TMP/rows" <<'PY'
import statistics, sys
cells = {}
for line in open(sys.argv[1]):
    which, cell, _, v = line.split()
    cells.setdefault(cell, {}).setdefault(which, []).append(float(v))
print("\n| cell | old (median, all) | new (median, all) | new / old |")
print("|---|---|---|---:|")
for cell, d in cells.items():
    o, n = statistics.median(d["old"]), statistics.median(d["new"])
    fmt = lambda xs: ", ".join(f"{x:.3f}" if cell == "idle" else f"{x:.1f}" for x in xs)
    print(f"| {cell} | {o:.3f} ({fmt(d['old'])}) | {n:.3f} ({fmt(d['new'])}) | {n / o:.2f}x |")
PY
