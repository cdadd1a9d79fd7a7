#!/usr/bin/env python3
"""testclient.py - test drivers for the integration scenarios (python3 stdlib only).

This is a test tool, not the product: it lets the proxy scenarios run before (and
independently of) pushprox-client.

  testclient.py client --proxy-url URL --fqdn FQDN [--use-localhost]
                       [--max-scrapes N] [--max-seconds S] [--source-address IP]
                       [--poll-header "Name: value"]...
      Behaves like an upstream PushProx client for one FQDN: POST /poll with the FQDN,
      parse the returned request (absolute URI, Id, X-Prometheus-Scrape-Timeout-Seconds),
      GET the target (hostname replaced by 127.0.0.1 with --use-localhost, the Host
      header kept as Go's client keeps req.Host), POST /push with the serialized
      HTTP/1.1 response. A poll answered with anything but a parsable request (e.g. 408
      on an idle poll) is followed by a short delay and a new poll. With
      --upstream-timing it behaves as upstream's client does: each scrape runs in the
      background while the next poll goes out at once, and a poll without work is
      followed by upstream's wait: 1 s growing x1.5 up to 5 s, each randomized by +-50%,
      reset by a poll that brings work (cenkalti/backoff's defaults as upstream's client
      sets them up). Exits 0 after --max-scrapes scrapes or --max-seconds seconds.

  testclient.py raw --port P [--host H] [--quiet-timeout S] [--shut-wr]
      Sends stdin as-is to H:P and copies whatever the server answers to stdout until the
      server closes or stays quiet for --quiet-timeout seconds.

  testclient.py hold --port P --count N --seconds S [--host H] [--slowloris] [--rounds R]
      A bad actor: opens N connections to H:P and holds them S seconds, sending nothing
      (or, with --slowloris, one byte of a request head every second), then closes them;
      R rounds. Prints one line per round: opened=N refused=N closed_by_server=N.
"""

import argparse
import http.client
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "proxy-connection", "te", "trailer", "upgrade"}


def log(msg):
    sys.stderr.write("testclient: %s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def parse_request(data):
    """Parses a serialized HTTP/1.1 request: returns (method, url, headers, body) where
    headers is a list of (name, value). Raises ValueError if it is not a request."""
    sep = data.find(b"\r\n\r\n")
    seplen = 4
    if sep < 0:
        sep = data.find(b"\n\n")
        seplen = 2
    if sep < 0:
        raise ValueError("no end of head in %r" % data[:200])
    head = data[:sep].decode("latin-1")
    body = data[sep + seplen:]
    lines = head.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("bad request line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        if ":" not in line:
            raise ValueError("bad header line %r" % line)
        name, value = line.split(":", 1)
        headers.append((name.strip(), value.strip()))
    return parts[0], parts[1], headers, body


def header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def serialize_response(status, reason, headers, body, scrape_id, timeout_s):
    out = ["HTTP/1.1 %d %s" % (status, reason or "Status")]
    for k, v in headers:
        if k.lower() in HOP_BY_HOP or k.lower() == "id":
            continue
        out.append("%s: %s" % (k, v))
    out.append("Id: %s" % scrape_id)
    out.append("X-Prometheus-Scrape-Timeout: %s" % timeout_s)
    out.append("Content-Length: %d" % len(body))
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


def error_response(scrape_id, timeout_s, text):
    return serialize_response(500, "Internal Server Error",
                              [("Content-Type", "text/plain; charset=utf-8")],
                              text.encode("utf-8"), scrape_id, timeout_s)


def post(proxy, path, body, timeout, source=None, extra=None):
    """POSTs body to proxy+path; returns (status, body). timeout None: wait forever.
    source: local address to connect from (e.g. 127.0.0.5), to look like another host;
    extra: more headers, a list of "Name: value"."""
    u = urllib.parse.urlsplit(proxy)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    headers = {"Content-Type": "text/plain"}
    for h in extra or []:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    try:
        conn.request("POST", u.path.rstrip("/") + path, body=body, headers=headers)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def scrape(args, method, url, headers, body):
    """Runs one scrape; returns the serialized response to push."""
    scrape_id = header(headers, "Id")
    timeout_hdr = header(headers, "X-Prometheus-Scrape-Timeout-Seconds")
    if scrape_id is None:
        raise ValueError("request without Id")
    if timeout_hdr is None:
        return error_response(scrape_id, 0, "missing X-Prometheus-Scrape-Timeout-Seconds")
    timeout_s = float(timeout_hdr)
    target = urllib.parse.urlsplit(url)
    if target.hostname != args.fqdn:
        return error_response(scrape_id, timeout_s,
                              "scrape target doesn't match client fqdn")
    netloc = target.netloc
    if args.use_localhost:
        netloc = "127.0.0.1" + (":%d" % target.port if target.port else "")
    local_url = urllib.parse.urlunsplit(("http", netloc, target.path, target.query, ""))
    fwd = {k: v for k, v in headers
           if k.lower() not in HOP_BY_HOP and k.lower() != "id"}
    # Go's client sends req.Host, the request's own Host header, whatever it connects to.
    fwd["Host"] = header(headers, "Host") or target.netloc
    req = urllib.request.Request(local_url, data=body or None, headers=fwd, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        res = opener.open(req, timeout=timeout_s)
        status, reason, rh, rb = res.status, res.reason, list(res.getheaders()), res.read()
    except urllib.error.HTTPError as e:
        status, reason, rh, rb = e.code, e.reason, list(e.headers.items()), e.read()
    except (OSError, http.client.HTTPException) as e:
        return error_response(scrape_id, timeout_s, "failed to scrape %s: %s" % (local_url, e))
    return serialize_response(status, reason, rh, rb, scrape_id, timeout_s)


class Backoff:
    """Upstream's retry schedule (cenkalti/backoff ExponentialBackOff as its client sets
    it up): the n-th wait is initial * 1.5^n capped at max_wait, times a random factor in
    [0.5, 1.5]; a successful poll resets it."""

    def __init__(self, initial, max_wait):
        self.initial, self.max_wait, self.interval = initial, max_wait, initial

    def next(self):
        wait = self.interval * random.uniform(0.5, 1.5)
        self.interval = min(self.interval * 1.5, self.max_wait)
        return wait

    def reset(self):
        self.interval = self.initial


def run_client(args):
    deadline = time.monotonic() + args.max_seconds
    scrapes = 0
    workers = []
    bo = Backoff(1.0, 5.0)

    def pause(default_s):
        wait = bo.next() if args.upstream_timing else default_s
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    while scrapes < args.max_scrapes:
        left = deadline - time.monotonic()
        if left <= 0:
            log("max-seconds reached after %d scrapes" % scrapes)
            return 0
        try:
            status, data = post(args.proxy_url, "/poll", args.fqdn.encode(), left,
                                args.source_address, args.poll_header)
        except (OSError, http.client.HTTPException) as e:
            log("poll error: %s" % e)
            pause(0.5)
            continue
        if status != 200:
            log("poll answered %d: %r; polling again" % (status, data[:100]))
            pause(0.1)
            continue
        try:
            method, url, headers, body = parse_request(data)
        except ValueError as e:
            log("poll body is not a request: %s" % e)
            pause(0.5)
            continue
        bo.reset()
        scrapes += 1
        if args.upstream_timing:
            # Upstream scrapes in a goroutine and polls again at once.
            t = threading.Thread(target=scrape_and_push, daemon=True,
                                 args=(args, method, url, headers, body))
            t.start()
            workers.append(t)
            workers = [w for w in workers if w.is_alive()]
        else:
            scrape_and_push(args, method, url, headers, body)
    for w in workers:
        w.join(35)
    log("done after %d scrapes" % scrapes)
    return 0


def scrape_and_push(args, method, url, headers, body):
    try:
        push_body = scrape(args, method, url, headers, body)
    except ValueError as e:
        log("bad scrape request: %s" % e)
        return
    try:
        pstatus, pdata = post(args.proxy_url, "/push", push_body, 30, args.source_address)
        log("scraped %s %s, push answered %d %r" % (method, url, pstatus, pdata[:80]))
    except (OSError, http.client.HTTPException) as e:
        log("push error: %s" % e)


def run_raw(args):
    data = sys.stdin.buffer.read()
    s = socket.create_connection((args.host, args.port), timeout=10)
    s.sendall(data)
    if args.shut_wr:
        s.shutdown(socket.SHUT_WR)
    s.settimeout(args.quiet_timeout)
    out = sys.stdout.buffer
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out.write(chunk)
            out.flush()
    except socket.timeout:
        pass
    except ConnectionResetError:
        out.write(b"\n[connection reset]\n")
    s.close()
    return 0


def run_hold(args):
    import selectors
    for rnd in range(args.rounds):
        socks, refused = [], 0
        for _ in range(args.count):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex((args.host, args.port))
                socks.append(s)
            except OSError:
                refused += 1
                s.close()
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        closed, head = set(), b"GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: "
        end, tick, sent = time.time() + args.seconds, time.time(), 0
        while time.time() < end:
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    closed.add(key.fileobj)
                    sel.unregister(key.fileobj)
            if args.slowloris and time.time() - tick >= 1:
                tick = time.time()
                byte = head[sent:sent + 1] or b"x"
                sent += 1
                for s in socks:
                    if s not in closed:
                        try:
                            s.send(byte)
                        except OSError:
                            closed.add(s)
        print("round=%d opened=%d refused=%d closed_by_server=%d" %
              (rnd, len(socks), refused, len(closed)), flush=True)
        for s in socks:
            s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("client")
    c.add_argument("--proxy-url", required=True)
    c.add_argument("--fqdn", required=True)
    c.add_argument("--use-localhost", action="store_true")
    c.add_argument("--source-address", help="connect to the proxy from this local address")
    c.add_argument("--max-scrapes", type=int, default=1 << 30)
    c.add_argument("--max-seconds", type=float, default=600)
    c.add_argument("--poll-header", action="append", default=[],
                   help="an extra header on every poll, \"Name: value\" (repeatable)")
    c.add_argument("--upstream-timing", action="store_true",
                   help="scrape in the background and poll again at once, and wait after "
                        "a poll without work, as upstream's client does")
    r = sub.add_parser("raw")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--quiet-timeout", type=float, default=2)
    r.add_argument("--shut-wr", action="store_true")
    h = sub.add_parser("hold")
    h.add_argument("--host", default="127.0.0.1")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--seconds", type=float, required=True)
    h.add_argument("--rounds", type=int, default=1)
    h.add_argument("--slowloris", action="store_true")
    args = ap.parse_args()
    return {"client": run_client, "raw": run_raw, "hold": run_hold}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
