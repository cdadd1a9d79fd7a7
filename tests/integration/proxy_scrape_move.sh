#!/usr/bin/env bash
# proxy_scrape_move.sh - Prometheus's connection moves, for each scrape, to the worker that
# owns the target's FQDN (--scrape.move-to-owner), and keeps serving on the way.
#
# With --workers 2 (the owner of an FQDN is FNV-1a(fqdn) % workers, computed here too):
#   1. one keep-alive connection scrapes FQDNs of worker 0 and worker 1 in turn, 12 times,
#      then sends two scrapes of different workers pipelined in one write: every answer
#      is the right client's body, all on that one connection (never closed in between),
#      and /metrics counts a move for every change of worker;
#   2. a scrape whose owner's connection table is full (--web.max-connections, filled with
#      polls for that worker's FQDNs) is served by the worker it came from after all:
#      500 "no answer from the client" at its timeout, not a closed connection, and the log
#      says why;
#   3. a connection that never polled pushes for an FQDN of the other worker (so it is to
#      move there once idle) with a scrape pipelined behind the push: it does not move
#      while that scrape waits, and the scrape gets its own answer (10 rounds);
#   4. with --scrape.move-to-owner=false the same scrapes pass and nothing moves.
# tsan: yes
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

cat >"$TEST_TMP/move.py" <<'PYEOF'
import socket, sys, threading, time

port, part = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 90


def owner(fqdn, n=2):
    h = 14695981039346656037
    for b in fqdn.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % n


def names(worker, count, prefix):
    out, i = [], 0
    while len(out) < count:
        f = f"{prefix}{i}.test"
        if owner(f) == worker:
            out.append(f)
        i += 1
    return out


def read_response(f):
    """One response from a socket's file: (status, headers, body); None if it closed."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline().decode().rstrip("\r\n")
        if not h:
            break
        k, v = h.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body.decode(errors="replace")


def request(method, target, body=b"", headers=()):
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for h in headers:
        head += h + "\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def scrape_req(fqdn, timeout="10"):
    return request("GET", f"http://{fqdn}:9100/metrics",
                   headers=(f"X-Prometheus-Scrape-Timeout-Seconds: {timeout}",))


def client(fqdn, scrapes, errors):
    """Polls for fqdn and answers `scrapes` scrapes, each body naming fqdn and the Id."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        f = s.makefile("rb")
        for _ in range(scrapes):
            s.sendall(request("POST", "/poll", fqdn.encode()))
            r = read_response(f)
            assert r and r[0] == 200, (fqdn, r)
            ids = [l.split(":", 1)[1].strip() for l in r[2].split("\r\n")
                   if l.lower().startswith("id:")]
            assert len(ids) == 1, r[2]
            text = f"metric{{fqdn=\"{fqdn}\",id=\"{ids[0]}\"}} 1\n"
            inner = (f"HTTP/1.1 200 OK\r\nId: {ids[0]}\r\nContent-Type: text/plain\r\n"
                     f"Content-Length: {len(text)}\r\n\r\n{text}").encode()
            s.sendall(request("POST", "/push", inner, (f"Id: {ids[0]}",)))
            r = read_response(f)
            assert r and r[0] == 200, (fqdn, "push", r)
        s.close()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(f"client {fqdn}: {e!r}")


def check(r, fqdn, what):
    assert r is not None, f"{what}: the connection closed"
    assert r[0] == 200 and f'fqdn="{fqdn}"' in r[2], f"{what}: {r}"


if part == "alternate":
    rounds = 12
    a, b = names(0, 1, "w0-")[0], names(1, 1, "w1-")[0]
    errors = []
    ts = [threading.Thread(target=client, args=(fq, rounds // 2 + 1, errors)) for fq in (a, b)]
    for t in ts:
        t.start()
    time.sleep(0.5)  # both polls waiting
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    local = s.getsockname()
    for i in range(rounds):
        fq = (a, b)[i % 2]
        s.sendall(scrape_req(fq))
        check(read_response(f), fq, f"scrape {i} of {fq}")
    # Two scrapes in one write: the second waits, read past the first, and goes with the
    # connection wherever the first one took it.
    s.sendall(scrape_req(a) + scrape_req(b))
    check(read_response(f), a, "pipelined scrape 1")
    check(read_response(f), b, "pipelined scrape 2")
    assert s.getsockname() == local
    s.close()
    for t in ts:
        t.join(max(1, deadline - time.monotonic()))
    assert not errors, errors
    print(f"{rounds + 2} scrapes of {a} (worker 0) and {b} (worker 1) on one connection")
elif part == "pushpipe":
    # A connection that never polled pushes, with a scrape pipelined behind the push in the
    # same write. When the push was for an FQDN another worker owns, the connection is to
    # move there once idle, not while that scrape waits on it: the scrape (of an FQDN with
    # no client, 1 s timeout) must get its own 500, and the proxy must live on. Each round
    # lands on either worker; ten make it near certain some push needs the move.
    f, g = "pp-f.test", "pp-g.test"
    errors = []
    p = socket.create_connection(("127.0.0.1", port), timeout=30)
    pf = p.makefile("rb")
    for i in range(10):
        got = []

        def prom():
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(scrape_req(f))
            got.append(read_response(s.makefile("rb")))
            s.close()

        t = threading.Thread(target=prom)
        t.start()
        p.sendall(request("POST", "/poll", f.encode()))
        r = read_response(pf)
        assert r and r[0] == 200, ("poll", i, r)
        sid = [l.split(":", 1)[1].strip() for l in r[2].split("\r\n")
               if l.lower().startswith("id:")][0]
        text = f'metric{{fqdn="{f}",round="{i}"}} 1\n'
        inner = (f"HTTP/1.1 200 OK\r\nId: {sid}\r\nContent-Length: {len(text)}\r\n\r\n"
                 f"{text}").encode()
        q = socket.create_connection(("127.0.0.1", port), timeout=30)
        qf = q.makefile("rb")
        q.sendall(request("POST", "/push", inner, (f"Id: {sid}",)) + scrape_req(g, "1"))
        r1, r2 = read_response(qf), read_response(qf)
        q.close()
        t.join(30)
        assert r1 and r1[0] == 200, ("push", i, r1)
        assert r2 and r2[0] == 500 and "no answer from the client within 1s" in r2[2], \
            ("scrape pipelined behind the push", i, r2)
        assert got and got[0] and got[0][0] == 200 and f'round="{i}"' in got[0][2], \
            ("scrape", i, got)
    print("10 pushes with a scrape pipelined behind each: every answer right")
elif part == "full":
    # Worker 1's table filled with polls for its own FQDNs (those accepted by worker 0 move
    # there); then scrapes of an FQDN worker 1 owns, no client behind it, each on a new
    # connection, until one is accepted by worker 0 (those accepted by worker 1 find its
    # table full and are closed at once).
    socks = []
    for fq in names(1, 16, "fill-"):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(request("POST", "/poll", fq.encode()))
            socks.append(s)
        except OSError:
            pass
    time.sleep(1)
    target = names(1, 1, "nobody-")[0]
    served = closed = 0
    for _ in range(40):
        if time.monotonic() > deadline:
            break
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(scrape_req(target, "1"))
        try:
            r = read_response(s.makefile("rb"))
        except OSError:
            r = None
        s.close()
        if r is None:
            closed += 1
            continue
        assert r[0] == 500 and "no answer from the client within 1s" in r[2], r
        served += 1
        if served == 2:
            break
    print(f"scrapes served by their first worker: {served}; closed at accept: {closed}")
    assert served >= 1, "no scrape was served: each connection was closed"
PYEOF

metric() {
    curl -fsS "$PROXY_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# 1. Moves on one keep-alive connection.
start_proxy --workers 2 --log.level=debug
timeout 120 python3 "$TEST_TMP/move.py" "$PROXY_PORT" alternate >"$TEST_TMP/alt.out" 2>&1 ||
    fail "scrapes on one moving connection: $(cat "$TEST_TMP/alt.out")"
log "$(cat "$TEST_TMP/alt.out")"
n=$(metric pushprox_proxy_scrapes_moved_total)
log "scrapes moved: $n"
# 14 scrapes, each for the other worker than the one before: 13 moves, 14 when the first
# was accepted by the other worker than its FQDN's.
[ -n "$n" ] && [ "$n" -ge 13 ] && [ "$n" -le 14 ] ||
    fail "expected 13 or 14 scrapes moved, got '$n'"
stop_bg "$PROXY_PID"

# 2. The owner's table is full: the scrape is served where it was accepted.
start_proxy --workers 2 --log.level=info --web.max-connections=6
timeout 120 python3 "$TEST_TMP/move.py" "$PROXY_PORT" full >"$TEST_TMP/full.out" 2>&1 ||
    fail "scrapes for a worker with a full table: $(cat "$TEST_TMP/full.out")"
log "$(cat "$TEST_TMP/full.out")"
grep -q 'msg="scrape served where it was accepted: the owner cannot take its connection"' \
    "$TEST_TMP/proxy.log" || fail "the proxy's log does not say the scrape came back"
assert_eq 0 "$(metric pushprox_proxy_scrapes_moved_total)" "scrapes moved to a full worker"
stop_bg "$PROXY_PID"

# 3. A scrape pipelined behind a push on a connection that is to move once idle.
start_proxy --workers 2 --log.level=info --scrape.move-to-owner=false
timeout 120 python3 "$TEST_TMP/move.py" "$PROXY_PORT" pushpipe >"$TEST_TMP/pushpipe.out" 2>&1 ||
    fail "a scrape pipelined behind a push: $(cat "$TEST_TMP/pushpipe.out")"
log "$(cat "$TEST_TMP/pushpipe.out")"
wait_http "$PROXY_URL/metrics" 5
stop_bg "$PROXY_PID"

# 4. Without moving.
start_proxy --workers 2 --log.level=info --scrape.move-to-owner=false
timeout 120 python3 "$TEST_TMP/move.py" "$PROXY_PORT" alternate >"$TEST_TMP/alt2.out" 2>&1 ||
    fail "scrapes with --scrape.move-to-owner=false: $(cat "$TEST_TMP/alt2.out")"
assert_eq 0 "$(metric pushprox_proxy_scrapes_moved_total)" \
    "scrapes moved with --scrape.move-to-owner=false"
log "PASS"
