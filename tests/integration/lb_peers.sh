#!/usr/bin/env bash
# lb_peers.sh - two HAProxy instances running deploy/haproxy/haproxy.cfg as shipped, with
# its optional "peers" section on (PUSHPROX_LB_PEER_*: they share their tables), in front
# of three replicas. Half of eight clients poll through one instance, half through the
# other; Prometheus (lb_scrape.py) scrapes every FQDN through the first one only, so half
# the scrapes find their poll through a table entry the other instance wrote.
#   1. nothing fails in steady state, nothing is answered with another client's metrics;
#   2. kill -9 of a replica: every FQDN is scraped again within 5 s.
# (What two instances cannot do as well as one, README "Deploying at scale": each checks
# the replicas itself, and while they disagree a scrape can be placed apart from a poll.)
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lb_lib.bash
. "$(dirname "$0")/lb_lib.bash"

lb_require
trap lb_exit EXIT
lb_start_replicas
mapfile -t pp < <(lb_free_ports 2)
peers=(PUSHPROX_LB_PEER_1="127.0.0.1:${pp[0]}" PUSHPROX_LB_PEER_1_NAME=lb1
    PUSHPROX_LB_PEER_2="127.0.0.1:${pp[1]}" PUSHPROX_LB_PEER_2_NAME=lb2)
lb_start_haproxy lb2 "${peers[@]}"
LB2=$LB_ADDR
lb_start_haproxy lb1 "${peers[@]}" # the one the scraper and lb_hacmd use
LB_CLIENT_ADDRS=("$LB2" "$LB_ADDR")
LB_N_CLIENTS=8
lb_start_fleet
synced() { [ "$(lb_hacmd show table pushprox_fqdns | grep -c 'key=c[0-9]*\.lbtest')" = 8 ]; }
wait_until 10 "lb1's table holding all 8 FQDNs (half written through lb2)" synced

# --- 1. steady state -------------------------------------------------------------------------
t0=$(lb_now)
lb_settle 3
lb_check "$t0" "$(lb_now)" 0

# --- 2. kill -9 of the busiest replica ------------------------------------------------------
d=$(lb_busiest)
log "kill -9 of replica $d, which holds: $(lb_replica_fqdns "$d")"
t_kill=$(lb_now)
lb_replica_kill "$d"
wait_until 10 "lb1 marks replica $d down" lb_server_down "$d"
lb_wait_scraped "$t_kill" 20
lb_recovery "$t_kill" $((5 * WAIT_SCALE))
lb_check 0 "$(lb_now)" 1000000
stop_bg "$SCRAPER_PID"
exit 0
