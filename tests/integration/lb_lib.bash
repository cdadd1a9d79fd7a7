# shellcheck shell=bash
# lb_lib.bash - the set-up shared by the lb_*.sh scenarios (sourced after lib.sh): three
# pushprox-proxy replicas behind HAProxy running deploy/haproxy/haproxy.cfg as shipped
# (only the addresses are given, through the environment variables the file reads),
# one exporter (client_exporter.py, whose /echo names the Host it was asked for), twenty
# clients (ten upstream-like testclient.py --upstream-timing, ten build/pushprox-client),
# and lb_scrape.py scraping every FQDN through HAProxy four times a second.
#
# Owner: the lb_*.sh scenarios. Every wait is bounded; every process goes through
# start_bg, so lib.sh's EXIT trap stops it.

LB_SCRAPE="$ROOT/tests/integration/lb_scrape.py"
EXPORTER="$ROOT/tests/integration/client_exporter.py"
LB_REPLICAS=3
# The proxies run with the flags deploy/kubernetes/ gives them: HAProxy sees a draining
# replica within its check interval (1 s), well inside --shutdown.delay; one poll per
# FQDN, so a restarted client's first poll ends any its old process left behind.
LB_PROXY_FLAGS=(--shutdown.delay=5s --shutdown.timeout=15s --poll.max-hold=9m
    --poll.max-per-fqdn=1)
LB_FQDNS=()
REPLICA_ADDR=()
REPLICA_PID=()
REPLICA_NETNS=()
REPLICA_STARTS=()

# lb_require: skip unless haproxy and our binaries are here.
lb_require() {
    require_bin "$PROXY_BIN"
    require_bin "$CLIENT_BIN"
    command -v haproxy >/dev/null || skip "haproxy not installed"
}

# lb_now: wall-clock seconds with a fraction (the clock lb_scrape.py stamps with).
lb_now() { date +%s.%N; }

# lb_replica_start I: start (or restart) replica I (1-based) on its address; a replica
# with REPLICA_NETNS[I] set runs inside that network namespace. Each start logs to its
# own file: replica<I>.<start count>.log.
lb_replica_start() {
    local i=$1 addr=${REPLICA_ADDR[$1]} name
    REPLICA_STARTS[i]=$((${REPLICA_STARTS[$i]:-0} + 1))
    name="replica$i.${REPLICA_STARTS[$i]}"
    if [ -n "${REPLICA_NETNS[$i]:-}" ]; then
        start_bg "$name" ip netns exec "${REPLICA_NETNS[$i]}" "$PROXY_BIN" \
            --web.listen-address="$addr" "${LB_PROXY_FLAGS[@]}"
        BG_OURS[${#BG_OURS[@]} - 1]=1 # ip netns exec execs the proxy: same PID
    else
        start_bg "$name" "$PROXY_BIN" --web.listen-address="$addr" "${LB_PROXY_FLAGS[@]}"
    fi
    REPLICA_PID[i]=$BG_PID
}

# lb_replica_kill I: kill -9 replica I and reap it (its status 137 is expected here).
lb_replica_kill() { lb_kill9 "${REPLICA_PID[$1]}"; }

# lb_cut_after T SERVER: seconds from T to the first request HAProxy ended because SERVER
# (e.g. pushprox_r1/r1) went down (termination state D...), from its log; "-" if none.
# (HAProxy's own log times it better than the test's polling of the admin socket.)
lb_cut_after() {
    python3 - "$TEST_TMP/haproxy.log" "$1" "$2" <<'EOF'
import re, sys, time, datetime
t0, srv, best = float(sys.argv[2]), sys.argv[3], None
pat = re.compile(r"\S+ \[(\S+)\] \S+ (\S+) (\S+) \d+ \d+ (\S+) ")
for line in open(sys.argv[1], errors="replace"):
    m = pat.match(line)
    if not m or m.group(2) != srv or m.group(4)[0] != "D":
        continue
    start = datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S.%f")
    end = time.mktime(start.timetuple()) + start.microsecond / 1e6 + \
        int(m.group(3).split("/")[-1]) / 1000.0
    if end >= t0 and (best is None or end < best):
        best = end
print("-" if best is None else "%.2f" % (best - t0))
EOF
}

# lb_replica_ready I: replica I answers /-/ready with 200 (run in its namespace if any).
lb_replica_ready() {
    local i=$1
    if [ -n "${REPLICA_NETNS[$i]:-}" ]; then
        ip netns exec "${REPLICA_NETNS[$i]}" curl -fsS -o /dev/null --max-time 1 \
            "http://${REPLICA_ADDR[$i]}/-/ready" 2>/dev/null
    else
        curl -fsS -o /dev/null --max-time 1 "http://${REPLICA_ADDR[$i]}/-/ready" 2>/dev/null
    fi
}

# lb_free_ports N: N distinct TCP ports on 127.0.0.1 that are free now (one per line).
lb_free_ports() {
    python3 -c 'import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# lb_start_replicas: REPLICA_ADDR[1..3] on 127.0.0.1 unless already set, then start them.
lb_start_replicas() {
    local i ports
    mapfile -t ports < <(lb_free_ports "$LB_REPLICAS")
    for i in $(seq 1 "$LB_REPLICAS"); do
        [ -n "${REPLICA_ADDR[$i]:-}" ] || REPLICA_ADDR[i]="127.0.0.1:${ports[$((i - 1))]}"
        lb_replica_start "$i"
    done
    for i in $(seq 1 "$LB_REPLICAS"); do
        wait_until 20 "replica $i ready" lb_replica_ready "$i"
    done
}

# lb_start_haproxy [NAME [PEER_ENV...]]: deploy/haproxy/haproxy.cfg as shipped, addresses
# from the environment, instance NAME (default haproxy; with PEER_ENV, the
# PUSHPROX_LB_PEER_* settings, it is the peer called NAME). Sets LB_PORT, LB_ADDR,
# LB_ADMIN_PORT, HAPROXY_PID for it (the last one started is the one lb_hacmd talks to).
lb_start_haproxy() {
    local name=${1:-haproxy} ports i
    shift 2>/dev/null
    mapfile -t ports < <(lb_free_ports 3)
    LB_PORT=${ports[0]}
    LB_ADDR="127.0.0.1:$LB_PORT"
    LB_ADMIN_PORT=${ports[2]}
    local env=(PUSHPROX_LB_BIND="$LB_ADDR" PUSHPROX_LB_STATS_BIND="127.0.0.1:${ports[1]}"
        PUSHPROX_LB_ADMIN_SOCKET="ipv4@127.0.0.1:$LB_ADMIN_PORT"
        PUSHPROX_REPLICA_1="${REPLICA_ADDR[1]}" PUSHPROX_REPLICA_2="${REPLICA_ADDR[2]}"
        PUSHPROX_REPLICA_3="${REPLICA_ADDR[3]}" "$@")
    env "${env[@]}" haproxy -c -q -L "$name" -f "$ROOT/deploy/haproxy/haproxy.cfg" ||
        fail "haproxy -c on haproxy.cfg"
    start_bg "$name" env "${env[@]}" haproxy -db -L "$name" -f "$ROOT/deploy/haproxy/haproxy.cfg"
    # shellcheck disable=SC2034 # for the scenarios
    HAPROXY_PID=$BG_PID
    wait_until 20 "$name's admin socket" lb_hacmd show info
    for i in $(seq 1 "$LB_REPLICAS"); do
        wait_until 20 "$name sees replica $i up" lb_server_up "$i"
    done
}

# lb_hacmd CMD...: one command on HAProxy's admin socket (on a loopback TCP port, so
# bash's /dev/tcp reaches it: no process per call); prints the answer.
lb_hacmd() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$LB_ADMIN_PORT" || return 1
    printf '%s\n' "$*" >&"$fd"
    cat <&"$fd"
    exec {fd}>&-
}

# lb_server_up I / lb_server_nolb I / lb_server_down I: HAProxy's view of replica I, the
# server of backend pushprox_r<I> (srv_op_state: 0 down, 2 up, 3 stopping = NOLB).
lb_server_state() {
    lb_hacmd show servers state "pushprox_r$1" | awk -v id="$1" '$3 == id { print $6 }'
}
lb_server_up() { [ "$(lb_server_state "$1")" = 2 ]; }
lb_server_nolb() { [ "$(lb_server_state "$1")" = 3 ]; }
lb_server_down() { [ "$(lb_server_state "$1")" = 0 ]; }

# lb_client_start FQDN: (re)start the client of FQDN, cNN.lbtest: odd NN upstream-like
# (testclient.py --upstream-timing), even NN ours. Sets CLIENT_PID[FQDN]; each start logs
# to its own file.
declare -A CLIENT_PID CLIENT_STARTS
LB_CLIENT_ADDRS=()
lb_client_start() {
    local f=$1 n name
    n=${f#c}
    n=$((10#${n%%.*}))
    CLIENT_STARTS[$f]=$((${CLIENT_STARTS[$f]:-0} + 1))
    name="client_$f.${CLIENT_STARTS[$f]}"
    local lb=$LB_ADDR
    # With several HAProxy instances (LB_CLIENT_ADDRS), the clients take turns.
    [ "${#LB_CLIENT_ADDRS[@]}" -eq 0 ] ||
        lb=${LB_CLIENT_ADDRS[$((n / 2 % ${#LB_CLIENT_ADDRS[@]}))]}
    if [ $((n % 2)) = 1 ]; then
        start_bg "$name" python3 "$TESTCLIENT" client --proxy-url "http://$lb" \
            --fqdn "$f" --use-localhost --upstream-timing --max-seconds 900
    else
        start_bg "$name" "$CLIENT_BIN" --proxy-url="http://$lb" --fqdn="$f" \
            --scrape.use-localhost --metrics-addr= --log.level=info
    fi
    CLIENT_PID[$f]=$BG_PID
}

# lb_kill9 PID: kill -9 a process started by start_bg and reap it (137 is expected here).
lb_kill9() {
    local i
    kill -KILL "$1"
    wait "$1" 2>/dev/null
    # shellcheck disable=SC2034 # lib.sh's list
    i=$(bg_index "$1") && BG_PIDS[i]=""
}

# lb_start_fleet: the exporter and LB_N_CLIENTS clients (default 20: c01..c20, half
# testclient.py upstream-like, half pushprox-client), all through HAProxy, then the
# scraper. Sets LB_FQDNS, SCRAPE_LOG, SCRAPER_PID, and waits until every FQDN has been
# scraped ok.
lb_start_fleet() {
    local n i f t0 scrape_timeout=${LB_SCRAPE_TIMEOUT:-10}
    EXPORTER_PORT=$(lb_free_ports 1)
    start_bg exporter python3 "$EXPORTER" --port "$EXPORTER_PORT"
    wait_http "http://127.0.0.1:$EXPORTER_PORT/echo" 20
    for n in $(seq 1 "${LB_N_CLIENTS:-20}"); do
        f=$(printf 'c%02d.lbtest' "$n")
        LB_FQDNS+=("$f")
        lb_client_start "$f"
    done
    SCRAPE_LOG="$TEST_TMP/scrapes.jsonl"
    local args=()
    for f in "${LB_FQDNS[@]}"; do args+=(--fqdn "$f"); done
    t0=$(lb_now)
    start_bg scraper python3 "$LB_SCRAPE" run --proxy "$LB_ADDR" --port "$EXPORTER_PORT" \
        --out "$SCRAPE_LOG" --interval 0.25 --timeout "$scrape_timeout" "${args[@]}"
    # shellcheck disable=SC2034 # for the scenarios
    SCRAPER_PID=$BG_PID
    python3 "$LB_SCRAPE" wait --log "$SCRAPE_LOG" --since "$t0" --seconds $((30 * WAIT_SCALE)) \
        "${args[@]}" || fail "not every FQDN was scraped through haproxy at the start"
    for i in $(seq 1 "$LB_REPLICAS"); do
        log "replica $i holds $(lb_replica_fqdns "$i" | wc -w) FQDNs"
    done
}

# lb_replica_fqdns I: the FQDNs whose poll HAProxy's table places at replica I (gpt0 is
# the replica's id, plus 256 while a move is due).
lb_replica_fqdns() {
    lb_hacmd show table pushprox_fqdns |
        sed -n 's/.* key=\([^ ]*\) .*gpt0=\([0-9]*\).*/\1 \2/p' |
        awk -v id="$1" '$2 % 256 == id { print $1 }' | sort | tr '\n' ' '
}

# lb_busiest: the replica (index) holding the most FQDNs.
lb_busiest() {
    local i n best=1 most=-1
    for i in $(seq 1 "$LB_REPLICAS"); do
        n=$(lb_replica_fqdns "$i" | wc -w)
        if [ "$n" -gt "$most" ]; then
            most=$n
            best=$i
        fi
    done
    echo "$best"
}

# lb_check SINCE UNTIL [MAX_FAILED [SKIP_FQDN...]]: the scrapes started in [SINCE, UNTIL)
# (but the skipped FQDNs') failed at most MAX_FAILED times (default 0), and none was
# answered with another FQDN's metrics.
lb_check() {
    local out since=$1 until=$2 max=${3:-0} skip=() f
    shift 3 2>/dev/null || shift $#
    for f in "$@"; do skip+=(--skip-fqdn "$f"); done
    out=$(python3 "$LB_SCRAPE" check --log "$SCRAPE_LOG" --since "$since" --until "$until" \
        --max-failed "$max" "${skip[@]}") || fail "scrapes between $since and $until: $out"
    log "scrapes between $since and $until${skip[*]:+ (but ${*})}: $out"
}

# lb_recovery EVENT WITHIN: every FQDN scraped ok again within WITHIN s of EVENT.
lb_recovery() {
    local out rc=0
    out=$(python3 "$LB_SCRAPE" recovery --log "$SCRAPE_LOG" --event "$1" --within "$2") ||
        rc=$?
    log "$out"
    [ "$rc" = 0 ] || fail "not every FQDN was scraped again within $2 s"
}

# lb_wait_scraped SINCE SECONDS [FQDN...]: every FQDN (default: all) scraped ok by a
# scrape started after SINCE.
lb_wait_scraped() {
    local since=$1 secs=$2 args=() f
    shift 2
    [ $# -gt 0 ] || set -- "${LB_FQDNS[@]}"
    for f in "$@"; do args+=(--fqdn "$f"); done
    python3 "$LB_SCRAPE" wait --log "$SCRAPE_LOG" --since "$since" --seconds "$secs" \
        "${args[@]}" || fail "not every FQDN scraped ok within $secs s after $since"
}

# lb_settle SECONDS: an observation window: the scrapes keep going while the test waits
# (what happened in it is asserted afterwards, from the scrape log).
lb_settle() { sleep "$1"; }

# lb_settle_past T: an observation window lasting until wall-clock time T.
lb_settle_past() {
    while awk -v t="$1" -v now="$(lb_now)" 'BEGIN { exit !(now < t) }'; do
        sleep 0.2
    done
}

# lb_elapsed T: seconds since T, two decimals.
lb_elapsed() { awk -v t="$1" -v now="$(lb_now)" 'BEGIN { printf "%.2f", now - t }'; }

# lb_after T S: T + S (for windows that start S seconds after an event).
lb_after() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.3f", t + s }'; }

# lb_stop_replicas: SIGTERM to every replica still running, then a second one (which
# stops a draining proxy at once) so the teardown does not wait --shutdown.delay each.
lb_stop_replicas() {
    local i pids=()
    for i in $(seq 1 "$LB_REPLICAS"); do
        if [ -n "${REPLICA_PID[$i]:-}" ] && bg_index "${REPLICA_PID[$i]}" >/dev/null &&
            kill -0 "${REPLICA_PID[$i]}" 2>/dev/null; then
            pids+=("${REPLICA_PID[$i]}")
        fi
    done
    [ "${#pids[@]}" -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null
    sleep 0.3
    kill -TERM "${pids[@]}" 2>/dev/null
    for i in "${pids[@]}"; do
        wait_exit "$i" 15
    done
}

# --- a replica whose host can vanish: its own network namespace ------------------------
# lb_netns_setup I: replica I will run in a new network namespace, joined to this one by
# a veth pair with a /30 from 198.18.0.0/15 (RFC 2544's benchmarking range) chosen from
# our PID. Sets REPLICA_NETNS[I] and REPLICA_ADDR[I]. Returns 1 (and leaves nothing
# behind) unless we are root with ip and nft.
LB_NETNS=""
LB_VETH=""
lb_netns_setup() {
    local i=$1 n o2 o3 o4 port
    [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v nft >/dev/null || return 1
    n=$(($$ % 32768 * 4))
    o2=$((18 + (n >> 16)))
    o3=$(((n >> 8) & 255))
    o4=$((n & 255))
    LB_NETNS="ppxlb$$"
    LB_VETH="ppxh$$"
    ip netns add "$LB_NETNS" || {
        LB_NETNS=""
        return 1
    }
    if ! { ip link add "$LB_VETH" type veth peer name "ppxn$$" &&
        ip link set "ppxn$$" netns "$LB_NETNS" &&
        ip addr add "198.$o2.$o3.$((o4 + 1))/30" dev "$LB_VETH" &&
        ip link set "$LB_VETH" up &&
        ip -n "$LB_NETNS" addr add "198.$o2.$o3.$((o4 + 2))/30" dev "ppxn$$" &&
        ip -n "$LB_NETNS" link set "ppxn$$" up &&
        ip -n "$LB_NETNS" link set lo up; }; then
        lb_netns_cleanup
        return 1
    fi
    port=$(lb_free_ports 1)
    REPLICA_NETNS[i]=$LB_NETNS
    REPLICA_ADDR[i]="198.$o2.$o3.$((o4 + 2)):$port"
    log "replica $i runs in network namespace $LB_NETNS at ${REPLICA_ADDR[$i]}"
}

# lb_netns_vanish: inside the namespace, drop every packet in and out: no RST and no ICMP
# ever come back, and ARP still answers (a black hole, not a link going down).
lb_netns_vanish() {
    ip netns exec "$LB_NETNS" nft -f - <<'NFT'
table inet ppxlb_vanish {
    chain in { type filter hook input priority 0; policy drop; }
    chain out { type filter hook output priority 0; policy drop; }
}
NFT
}

# lb_netns_cleanup: the namespace (and with it the veth pair and the nft rules) is gone
# once the replica inside has stopped; the host end is deleted too, in case it lingers.
lb_netns_cleanup() {
    [ -n "$LB_NETNS" ] || return 0
    ip netns del "$LB_NETNS" 2>/dev/null
    ip link del "$LB_VETH" 2>/dev/null
    LB_NETNS=""
}

# lb_exit: the EXIT trap of the lb scenarios: the replicas first (quickly), then the
# namespace if any, then lib.sh's stop_all with the scenario's exit status.
lb_exit() {
    local rc=$?
    lb_stop_replicas
    lb_netns_cleanup
    (exit "$rc")
    stop_all
}
