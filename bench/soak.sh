#!/usr/bin/env bash
# soak.sh - the proxy under a steady fleet and churning clients for a long time (`make soak`):
# does anything grow or slow down?
#
#   - one pushprox-bench holds STEADY clients (default 4,000) and scrapes them in open loop
#     at RATE scrapes/s (default 1,000), 20 KB bodies, for SOAK_SECONDS (default 1800);
#     every answer is checked (misrouted, lost, duplicated);
#   - beside it, every CHURN_EVERY seconds (default 10) a second bench connects CHURN
#     clients (default 1,000) under other FQDNs and goes away: in turn it exits cleanly
#     after holding them a few seconds, or is killed with SIGKILL while they are connected
#     (the kernel closes its sockets for it, as when a host's client dies);
#   - every SAMPLE_EVERY seconds (default 60) the proxy's RSS, open descriptors, CPU and
#     scrapes answered are read from /proc and /metrics: CPU us per scrape per interval.
#
# Writes bench/SOAK.md (RESULTS overrides the path); bench/results.py appends it to
# bench/RESULTS.md. Exit 1 when the steady bench reports a misrouted, lost or duplicated
# scrape, or when RSS or descriptors grow by more than GROWTH_PCT (default 20) between the
# second sample and the last. Everything on 127.0.0.1, stopped by PID.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PROXY="$BUILD/pushprox-proxy"
BENCH="$BUILD/pushprox-bench"
OUT=${RESULTS:-$ROOT/bench/SOAK.md}
SOAK_SECONDS=${SOAK_SECONDS:-1800}
STEADY=${STEADY:-4000}
RATE=${RATE:-1000}
CHURN=${CHURN:-1000}
CHURN_EVERY=${CHURN_EVERY:-10}
SAMPLE_EVERY=${SAMPLE_EVERY:-60}
GROWTH_PCT=${GROWTH_PCT:-20}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

for b in "$PROXY" "$BENCH"; do
    [ -x "$b" ] || {
        echo "soak: $b is not built (make first)" >&2
        exit 2
    }
done

# shellcheck source=bench/lib.bash
. "$ROOT/bench/lib.bash"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pushprox-soak.XXXXXX")
PIDS=()
say() { printf '[soak %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop "$p"; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port=$(free_port)
"$PROXY" --web.listen-address="127.0.0.1:$port" --log.level=warn >"$TMP/proxy.log" 2>&1 &
proxy_pid=$!
PIDS+=("$proxy_pid")
wait_http "http://127.0.0.1:$port/-/ready"
clk=$(getconf CLK_TCK)

# sample: seconds since start, RSS KiB, open fds, CPU ticks, scrapes answered by the proxy.
answered() {
    curl -fs "http://127.0.0.1:$port/metrics" |
        awk '/^pushprox_http_requests_total\{/ && /path="proxy"/ { n += $NF } END { printf "%d\n", n }'
}
sample() {
    local rss fds ticks
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$proxy_pid/status")
    fds=$(find "/proc/$proxy_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    ticks=$(awk '{ print $14 + $15 }' "/proc/$proxy_pid/stat")
    echo "$(($(date +%s) - t0)) $rss $fds $ticks $(answered)"
}

t0=$(date +%s)
cmd_steady="$BENCH --proxy.address=127.0.0.1:$port --proxy-pid=$proxy_pid --json --progress=false --clients=$STEADY --scrapers=64 --rate=$RATE --body-size=20KB --duration=${SOAK_SECONDS}s --idle=0s --registration.wait=120s --label=soak"
say "steady: $cmd_steady"
# shellcheck disable=SC2086 # the command line is split on purpose
$cmd_steady >"$TMP/steady.json" 2>"$TMP/steady.log" &
steady_pid=$!
PIDS+=("$steady_pid")

# The steady fleet first, then the churn beside it.
for ((i = 0; i < 600; i++)); do
    grep -q "clients registered" "$TMP/steady.log" 2>/dev/null && break
    sleep 0.2
done
sample >"$TMP/samples"
next_sample=$(($(date +%s) + SAMPLE_EVERY))
cycles=0
killed=0
while kill -0 "$steady_pid" 2>/dev/null; do
    # Sampled between churn cycles, when only the steady fleet is connected, so the
    # descriptors compare like with like.
    if (($(date +%s) >= next_sample)); then
        sample >>"$TMP/samples"
        next_sample=$((next_sample + SAMPLE_EVERY))
    fi
    cycles=$((cycles + 1))
    "$BENCH" --proxy.address="127.0.0.1:$port" --progress=false --clients="$CHURN" \
        --scrapers=0 --check-clients=false --idle=4s --fqdn-suffix="churn$((cycles % 4))" \
        --source-addrs=4 >/dev/null 2>>"$TMP/churn.log" &
    churn_pid=$!
    if ((cycles % 2 == 0)); then
        sleep 3 # connected by now: die without a goodbye
        kill -KILL "$churn_pid" 2>/dev/null && killed=$((killed + 1))
    fi
    wait "$churn_pid" 2>/dev/null
    end=$(($(date +%s) + CHURN_EVERY))
    while (($(date +%s) < end)) && kill -0 "$steady_pid" 2>/dev/null; do
        sleep 1
    done
done
wait "$steady_pid"
steady_rc=$?
elapsed=$(($(date +%s) - t0))
say "done: $cycles churn cycles ($killed killed), steady bench exit $steady_rc"

python3 - "$TMP/samples" "$TMP/steady.json" "$OUT" "$clk" "$GROWTH_PCT" <<PY
import json, sys
samples_path, steady_path, out, clk, growth = sys.argv[1:6]
clk, growth = int(clk), float(growth)
rows = [list(map(int, l.split())) for l in open(samples_path) if l.strip()]
try:
    st = json.load(open(steady_path))
except Exception:
    st = None
lines = []
w = lines.append
w("## Soak: $STEADY steady clients at $RATE scrapes/s, $CHURN more churning every ${CHURN_EVERY} s, $((SOAK_SECONDS / 60)) minutes")
w("")
w("Written by \`make soak\` (bench/soak.sh) on $(date -u '+%Y-%m-%d %H:%M') UTC; it ran ${elapsed} s, on the same shared "
  "2-core host as the rest (proxy with its default workers, bench and churn beside it).")
w("$cycles churn cycles: $CHURN clients connected each time; every other cycle ($killed) was killed "
  "with SIGKILL while connected, the others exited after holding their polls 4 s.")
w("")
w("| minute | RSS MiB | open fds | proxy CPU us/scrape in the interval | scrapes answered in the interval |")
w("|---:|---:|---:|---:|---:|")
for prev, cur in zip(rows, rows[1:]):
    d_ans = cur[4] - prev[4]
    d_cpu_us = (cur[3] - prev[3]) * 1e6 / clk
    per = f"{d_cpu_us / d_ans:.1f}" if d_ans else "-"
    w(f"| {cur[0] / 60:.1f} | {cur[1] / 1024:.1f} | {cur[2]} | {per} | {d_ans} |")
w("")
fail = []
if st:
    e = st.get("errors", {})
    bad = st["errors_fatal"]
    lat = st["latency_ms"]
    w(f"Steady bench: {st['scrapes_answered']} scrapes answered of {st['scrapes_sent']} sent "
      f"({st['scrapes_per_s']}/s), p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, "
      f"p99.9 {lat['p99_9']:.3f} ms; misrouted, lost or duplicated: **{bad}**; errors of any kind: "
      f"{st['errors_total']} ({', '.join(f'{k} {v}' for k, v in e.items() if v) or 'none'}).")
    if bad:
        fail.append(f"{bad} misrouted, lost or duplicated scrapes")
else:
    w("Steady bench: **no result** (it did not finish).")
    fail.append("the steady bench gave no result")
if len(rows) >= 3:
    base, last = rows[1], rows[-1]
    for name, i in (("RSS", 1), ("open fds", 2)):
        g = (last[i] - base[i]) * 100.0 / base[i]
        w(f"{name}: {base[i]} at minute {base[0] / 60:.1f}, {last[i]} at the end ({g:+.1f}%; limit +{growth:.0f}%).")
        if g > growth:
            fail.append(f"{name} grew {g:.1f}%")
w("")
w("**Verdict:** " + ("flat, nothing lost" if not fail else "FAILED: " + "; ".join(fail)))
w("")
w("Command: \`SOAK_SECONDS=$SOAK_SECONDS STEADY=$STEADY RATE=$RATE CHURN=$CHURN make soak\`")
open(out, "w").write("\n".join(lines) + "\n")
print("wrote", out)
sys.exit(1 if fail else 0)
PY
