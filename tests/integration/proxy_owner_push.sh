#!/usr/bin/env bash
# proxy_owner_push.sh - a client's connection moves to its FQDN's worker at its first poll,
# and pushes there are answered by that worker (--poll.move-to-owner).
#
# With --workers 4, eight clients each poll, get a scrape and push on ONE keep-alive
# connection (as our client does), for FQDNs spread over the workers: every scrape gets
# its own body, a second push of the same Id on the same connection is refused 500 (the
# owner forgets a scrape once it took its push), a push for a scrape whose Prometheus went
# away is answered (200 from the owner, or 500 from the scrape's worker; never a hang) and
# the proxy counts the connections it moved. Each client then pushes twice more on a
# second connection that never polls: the first is decided by the scrape's worker, then the
# connection moves, idle, to the FQDN's worker, which answers the second. With
# --poll.move-to-owner=false the same exchanges pass and nothing moves.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

cat >"$TEST_TMP/owner.py" <<'PYEOF'
import http.client, socket, sys, threading, time

port = int(sys.argv[1])
n_clients = int(sys.argv[2])
deadline = time.monotonic() + 60


def scrape(fqdn, out, timeout="10"):
    # Prometheus's side: an absolute-URI GET through the proxy.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", f"http://{fqdn}:9100/metrics",
              headers={"X-Prometheus-Scrape-Timeout-Seconds": timeout})
    r = c.getresponse()
    out.append((r.status, r.read().decode()))
    c.close()


def poll(conn, fqdn):
    conn.request("POST", "/poll", body=fqdn)
    r = conn.getresponse()
    body = r.read().decode()
    assert r.status == 200, (fqdn, r.status, body)
    ids = [l.split(":", 1)[1].strip() for l in body.split("\r\n") if l.lower().startswith("id:")]
    assert len(ids) == 1, body
    return ids[0]


def push(conn, scrape_id, text):
    inner = (f"HTTP/1.1 200 OK\r\nId: {scrape_id}\r\nContent-Type: text/plain\r\n"
             f"Content-Length: {len(text)}\r\n\r\n{text}")
    conn.request("POST", "/push", body=inner.encode(), headers={"Id": scrape_id})
    r = conn.getresponse()
    return r.status, r.read().decode()


def client(i, errors):
    try:
        fqdn = f"owner{i}.test"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        got = []
        t = threading.Thread(target=scrape, args=(fqdn, got))
        t.start()
        sid = poll(conn, fqdn)
        st, body = push(conn, sid, f"m{{fqdn=\"{fqdn}\"}} {i}\n")
        assert st == 200, ("push", fqdn, st, body)
        t.join(30)
        assert got and got[0][0] == 200 and f'fqdn="{fqdn}"' in got[0][1], ("scrape", fqdn, got)
        st, body = push(conn, sid, "again 1\n")
        assert st == 500 and body.startswith("Error pushing:"), ("second push", fqdn, st, body)
        # A scrape whose Prometheus goes away before the push: the push is answered.
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET http://{fqdn}:9100/metrics HTTP/1.1\r\nHost: {fqdn}:9100\r\n"
                  "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n".encode())
        sid = poll(conn, fqdn)
        s.close()
        time.sleep(0.2)
        st, body = push(conn, sid, "late 1\n")
        assert st in (200, 500), ("push after Prometheus left", fqdn, st, body)
        # The connection still serves: one more scrape on it.
        got = []
        t = threading.Thread(target=scrape, args=(fqdn, got))
        t.start()
        sid = poll(conn, fqdn)
        st, body = push(conn, sid, f"m{{fqdn=\"{fqdn}\"}} again\n")
        t.join(30)
        assert st == 200 and got and got[0][0] == 200 and "again" in got[0][1], ("last", fqdn, st, got)
        # Pushes on a second connection that never polls (as upstream's client does when
        # its push and next poll overlap): the first is decided by the scrape's worker,
        # after which the connection moves to the FQDN's worker, which takes the next.
        pconn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for round in range(2):
            got = []
            t = threading.Thread(target=scrape, args=(fqdn, got))
            t.start()
            sid = poll(conn, fqdn)
            st, body = push(pconn, sid, f"m{{fqdn=\"{fqdn}\",round=\"{round}\"}} 1\n")
            t.join(30)
            assert st == 200 and got and got[0][0] == 200 and f'round="{round}"' in got[0][1], (
                "push-only connection", round, fqdn, st, got)
        st, body = push(pconn, sid, "again 1\n")
        assert st == 500, ("second push on the push-only connection", fqdn, st, body)
        pconn.close()
        conn.close()
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


errors = []
threads = [threading.Thread(target=client, args=(i, errors)) for i in range(n_clients)]
for t in threads:
    t.start()
for t in threads:
    t.join(max(1, deadline - time.monotonic()))
if any(t.is_alive() for t in threads):
    errors.append("a client did not finish within 60 s")
print("\n".join(errors) if errors else "ok")
sys.exit(1 if errors else 0)
PYEOF

metric() {
    curl -fsS "$PROXY_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
moved() { metric pushprox_proxy_connections_moved_total; }

CLIENTS=8
start_proxy --workers 4
out=$(timeout 90 python3 "$TEST_TMP/owner.py" "$PROXY_PORT" $CLIENTS 2>&1) ||
    fail "exchanges with moving on: $out"
n=$(moved)
log "moving on: every exchange as expected; $n of $((2 * CLIENTS)) connections moved"
# Eight FQDNs over 4 workers, two connections each: the chance that none is owned
# elsewhere is (1/4)^16; each connection moves at most once.
[ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le $((2 * CLIENTS)) ] ||
    fail "expected between 1 and $((2 * CLIENTS)) connections moved, got '$n'"
# Of each client's pushes taken, two on its polling connection and the second on its
# push-only one (moved by then) reached a scrape still waiting, on the FQDN's worker:
# those at least were answered there.
taken=$(metric pushprox_proxy_pushes_owner_answered_total)
log "pushes answered by their FQDN's worker: $taken"
[ -n "$taken" ] && [ "$taken" -ge $((3 * CLIENTS)) ] ||
    fail "expected at least $((3 * CLIENTS)) pushes answered by the owner, got '$taken'"
stop_bg "$PROXY_PID"

start_proxy --workers 4 --poll.move-to-owner=false
out=$(timeout 90 python3 "$TEST_TMP/owner.py" "$PROXY_PORT" $CLIENTS 2>&1) ||
    fail "exchanges with moving off: $out"
assert_eq 0 "$(moved)" "connections moved with --poll.move-to-owner=false"
log "PASS"
