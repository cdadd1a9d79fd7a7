# bench/lib.bash - helpers the bench scripts share (run-suite.sh, soak.sh, ab.sh): stopping
# what they started, free ports, bounded waits. Sourced; the caller sets `set -u` and, for
# wait_http's message, defines say().

# stop PID: TERM, wait up to 10 s, then KILL. Only PIDs the script started.
stop() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# wait_http URL: bounded (10 s) wait for a 2xx.
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    say "$1 did not answer"
    return 1
}

# fleet_args CLIENTS SECONDS: sets FLEET_ARGS to make bench's fleet cell (section 3) for
# pushprox-bench: CLIENTS clients in 2 processes, FLEET_SCRAPERS scrapers, 6,700 scrapes/s
# on schedule, 20 KB bodies. run-suite.sh and ab.sh's CELLS=fleet both run it.
FLEET_SCRAPERS=64
fleet_args() {
    # shellcheck disable=SC2034 # the caller's
    FLEET_ARGS=(--clients="$1" --procs=2 --scrapers="$FLEET_SCRAPERS" --rate=6700
        --body-size=20KB --duration="${2}s" --idle=1s --registration.wait=90s)
}
