#!/usr/bin/env bash
# lb_failover.sh - three pushprox-proxy replicas behind deploy/haproxy/haproxy.cfg as
# shipped (addresses only), twenty clients (ten upstream-like testclient.py, ten
# pushprox-client), every FQDN scraped four times a second through HAProxy (lb_scrape.py,
# 10 s scrape timeout as Prometheus' default) while replicas die, return and restart:
#   1. kill -9 of the replica holding the most FQDNs: every FQDN is scraped ok again
#      within 5 s of the kill;
#   2. that replica started again: not one scrape fails from its start until 6 s after
#      HAProxy marks it up, and FQDNs move back to it;
#   3. a rolling restart (SIGTERM: the replica drains, HAProxy sees /-/ready answer 503
#      and places nothing new there; wait for its exit, start it, wait until HAProxy marks
#      it up, next replica): not one scrape fails from the first SIGTERM until 3 s after
#      the last replica is back;
#   4. two clients killed (kill -9) and started again 2 s later: no scrape sent from
#      0.5 s after the kill fails (the ones sent meanwhile wait at the replica for the
#      new poll);
#   5. (root, with ip and nft) replica 3 runs in its own network namespace; every packet
#      in and out of it is dropped (no RST, no ICMP): every FQDN is scraped ok again
#      within LB_VANISH_BOUND_S (6 s: see below), and no scrape started 4 s or more
#      after it fails;
#   and no scrape, in any phase, is answered with another client's metrics.
# The time each phase took to recover and the scrape counts are logged.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lb_lib.bash
. "$(dirname "$0")/lb_lib.bash"

# The vanish bound: HAProxy marks the replica down after two checks time out (inter 1 s
# + timeout check 1 s, then fastinter 0.25 s + 1 s: 3.25 s at most), or sooner when real
# requests fail to connect, and cuts every request held there (polls and scrapes); the
# clients poll again after their wait (upstream's: 1.5 s at most) and the scrapes waiting
# for them elsewhere are answered: 3.25 + 1.5 + a scrape interval, rounded up to 6 s.
LB_VANISH_BOUND_S=6

lb_require
trap lb_exit EXIT
vanish=0
if lb_netns_setup 3; then
    vanish=1
else
    log "not root, or no ip/nft: phase 5 (a replica's host vanishes) is skipped"
fi
lb_start_replicas
lb_start_haproxy
lb_start_fleet
lb_settle 2

# --- 1. kill -9 of the busiest replica ---------------------------------------------------
d=$(lb_busiest)
log "phase 1: kill -9 of replica $d, which holds: $(lb_replica_fqdns "$d")"
t_kill=$(lb_now)
lb_replica_kill "$d"
wait_until 10 "haproxy marks replica $d down" lb_server_down "$d"
lb_wait_scraped "$t_kill" 20
lb_recovery "$t_kill" $((5 * WAIT_SCALE))
t1=$(lb_now)
lb_check "$t_kill" "$t1" 1000000

# --- 2. it returns -------------------------------------------------------------------------
t_ret=$(lb_now)
lb_replica_start "$d"
wait_until 20 "replica $d ready" lb_replica_ready "$d"
wait_until 20 "haproxy marks replica $d up" lb_server_up "$d"
log "phase 2: replica $d started again, marked up $(lb_elapsed "$t_ret") s after its start"
lb_settle 5
t2=$(lb_now)
lb_check "$t_ret" "$t2" 0
back=$(lb_replica_fqdns "$d")
log "phase 2: replica $d holds again: $back"
[ -n "$back" ] || fail "no FQDN moved back to replica $d"

# --- 3. rolling restart ------------------------------------------------------------------
t_roll=$(lb_now)
for i in $(seq 1 "$LB_REPLICAS"); do
    log "phase 3: SIGTERM to replica $i, which holds: $(lb_replica_fqdns "$i")"
    t_term=$(lb_now)
    kill -TERM "${REPLICA_PID[$i]}"
    wait_until 10 "haproxy sees replica $i draining (NOLB)" lb_server_nolb "$i"
    log "phase 3: replica $i seen draining (NOLB) by $(lb_elapsed "$t_term") s after SIGTERM"
    # --shutdown.delay (5 s), then the scrapes in flight there: well under 20 s.
    wait_exit "${REPLICA_PID[$i]}" 20
    assert_eq 0 "$EXIT_RC" "exit status of replica $i after its drain"
    log "phase 3: replica $i exited $(lb_elapsed "$t_term") s after SIGTERM"
    lb_replica_start "$i"
    wait_until 20 "replica $i ready" lb_replica_ready "$i"
    wait_until 20 "haproxy marks replica $i up" lb_server_up "$i"
    log "phase 3: replica $i marked up again $(lb_elapsed "$t_term") s after SIGTERM"
    lb_settle 1
done
lb_settle 3
t3=$(lb_now)
lb_check "$t_roll" "$t3" 0

# --- 4. two clients restart ------------------------------------------------------------------
# kill -9 of an upstream-like client and of ours, 2 s away, then each starts again: a
# scrape sent meanwhile waits at the replica (HAProxy's abortonclose ended the dead
# client's poll there, so nothing takes the scrape but the new poll) and is answered
# once the client is back. Only a scrape sent in the instant the client dies can meet
# its old poll before the replica knows it is gone (once in a run under ASan): none may
# fail from 0.5 s after the kill, at most one per client before.
gone=(c01.lbtest c02.lbtest)
log "phase 4: kill -9 of the clients of ${gone[*]}"
t_gone=$(lb_now)
for f in "${gone[@]}"; do lb_kill9 "${CLIENT_PID[$f]}"; done
lb_settle 2
for f in "${gone[@]}"; do lb_client_start "$f"; done
lb_wait_scraped "$t_gone" 20 "${gone[@]}"
log "phase 4: both back and scraped $(lb_elapsed "$t_gone") s after the kill"
lb_settle 3
t4=$(lb_now)
lb_check "$(lb_after "$t_gone" 0.5)" "$t4" 0
lb_check "$t_gone" "$t4" "${#gone[@]}"

# --- 5. a replica's host vanishes --------------------------------------------------------
if [ "$vanish" = 1 ]; then
    log "phase 5: replica 3's host vanishes; it holds: $(lb_replica_fqdns 3)"
    t_van=$(lb_now)
    lb_netns_vanish || fail "nft in namespace $LB_NETNS"
    wait_until 15 "haproxy marks replica 3 down" lb_server_down 3
    log "phase 5: replica 3's held requests cut $(lb_cut_after "$t_van" pushprox_r3/r3) s after it vanished"
    lb_wait_scraped "$t_van" $((LB_VANISH_BOUND_S + 10))
    lb_recovery "$t_van" $((LB_VANISH_BOUND_S * WAIT_SCALE))
    # Only scrapes sent before HAProxy knew may fail: none that started 4 s after.
    t_from=$(lb_after "$t_van" $((4 * WAIT_SCALE)))
    lb_settle_past "$(lb_after "$t_from" 2)"
    lb_check "$t_from" "$(lb_now)" 0
    lb_check "$t_van" "$(lb_now)" 1000000
fi

# Every scrape of every phase: none answered with another FQDN's metrics.
lb_check 0 "$(lb_now)" 1000000
stop_bg "$SCRAPER_PID"
exit 0
