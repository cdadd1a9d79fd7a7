#!/usr/bin/env python3
"""client_upstream_proxy.py - a stand-in for upstream's Go PushProx proxy (v0.1/v0.2), for
the client scenarios. Test tool, not product; python3 stdlib only.

It behaves as upstream's proxy does on the wire (see shared/PROTOCOL.md):
  - POST /poll (body: FQDN) waits for a scrape for that FQDN, with no deadline. One
    waiting poll per FQDN: a newer poll makes the older one answer
    408 "Error WaitForScrapeInstruction: request is expired".
  - A request with an absolute URI is a scrape: it gets an Id, waits (up to
    X-Prometheus-Scrape-Timeout-Seconds, default 15 s) for a poll and then for the push,
    and relays the pushed status, headers and body, minus Id and
    X-Prometheus-Scrape-Timeout; a timeout answers 500 'Error scraping "<url>": ...'.
  - POST /push with an unknown or expired Id answers 500 "Error pushing: ...".
  - GET /clients lists the FQDNs seen.
Extra knobs for tests: --bad-polls N answers the first N polls with a 200 whose body is
not a request; --counters FILE rewrites FILE with event counts after each event (and, as
listening_ms and first_<event>_ms, when it started listening and when each event first
happened, in Unix ms).

  client_upstream_proxy.py --port P [--bad-polls N] [--counters FILE]
"""

import argparse
import collections
import http.client
import http.server
import io
import json
import os
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid

LOCK = threading.Lock()
WAITING_POLL = {}                       # fqdn -> Slot
PENDING = collections.defaultdict(list)  # fqdn -> [Scrape] not yet taken by a poll
SCRAPES = {}                            # id -> Scrape (taken, waiting for a push)
KNOWN = {}                              # fqdn -> last poll time
COUNTS = collections.Counter()
FIRST_MS = {}                           # event -> Unix time in ms of its first occurrence
ARGS = None


def count(what):
    # Under the lock, file and all: handler threads share one temporary file name.
    with LOCK:
        COUNTS[what] += 1
        FIRST_MS.setdefault("first_" + what + "_ms", int(time.time() * 1000))
        write_counters()


def write_counters():
    if ARGS.counters:
        tmp = ARGS.counters + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(COUNTS, **FIRST_MS), f)
        os.replace(tmp, ARGS.counters)


class Slot:
    def __init__(self):
        self.event = threading.Event()
        self.scrape = None
        self.expired = False


class Scrape:
    def __init__(self, sid, serialized, deadline):
        self.id = sid
        self.serialized = serialized
        self.deadline = deadline
        self.pushed = threading.Event()
        self.response = None


class FakeSock:
    def __init__(self, data):
        self.data = data

    def makefile(self, *a, **k):
        return io.BytesIO(self.data)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream-proxy: %s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def reply(self, code, body, ctype="text/plain; charset=utf-8", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path.startswith("http://") or self.path.startswith("https://"):
            return self.scrape()
        if self.path == "/clients":
            with LOCK:
                names = sorted(KNOWN)
            return self.reply(200, json.dumps([{"targets": [n], "labels": {}} for n in names]),
                              "application/json")
        if self.path == "/counters":
            with LOCK:
                return self.reply(200, json.dumps(dict(COUNTS)), "application/json")
        return self.reply(404, "404 page not found\n")

    def do_POST(self):
        if self.path == "/poll":
            return self.poll()
        if self.path == "/push":
            return self.push()
        self.read_body()
        return self.reply(404, "404 page not found\n")

    def poll(self):
        fqdn = self.read_body().decode("utf-8", "replace").strip()
        count("polls")
        with LOCK:
            KNOWN[fqdn] = time.time()
            bad = COUNTS["bad_polls_sent"] < ARGS.bad_polls
            if bad:
                COUNTS["bad_polls_sent"] += 1
        if bad:
            return self.reply(200, "this is not an HTTP request\r\n\r\n")
        slot = Slot()
        with LOCK:
            old = WAITING_POLL.get(fqdn)
            if old is not None:
                old.expired = True
                old.event.set()
            now = time.time()
            queue = PENDING[fqdn]
            while queue and queue[0].deadline <= now:
                queue.pop(0)
            if queue:
                slot.scrape = queue.pop(0)
                SCRAPES[slot.scrape.id] = slot.scrape
                slot.event.set()
            else:
                WAITING_POLL[fqdn] = slot
        slot.event.wait()
        with LOCK:
            if WAITING_POLL.get(fqdn) is slot:
                del WAITING_POLL[fqdn]
        if slot.scrape is None:
            count("polls_expired")
            return self.reply(408, "Error WaitForScrapeInstruction: request is expired\n")
        count("polls_with_work")
        return self.reply(200, slot.scrape.serialized, ctype=None)

    def scrape(self):
        url = self.path
        count("scrapes")
        self.read_body()
        try:
            timeout = float(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds") or 15)
        except ValueError:
            timeout = 15.0
        host = urllib.parse.urlsplit(url).hostname or ""
        sid = str(uuid.uuid4())
        lines = ["%s %s HTTP/1.1" % (self.command, url)]
        for k, v in self.headers.items():
            lines.append("%s: %s" % (k, v))
        lines.append("Id: %s" % sid)
        serialized = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        deadline = time.time() + timeout
        sc = Scrape(sid, serialized, deadline)
        with LOCK:
            slot = WAITING_POLL.pop(host, None)
            if slot is not None:
                slot.scrape = sc
                SCRAPES[sid] = sc
                slot.event.set()
            else:
                PENDING[host].append(sc)
        ok = sc.pushed.wait(max(0.0, deadline - time.time()))
        with LOCK:
            SCRAPES.pop(sid, None)
            if sc in PENDING[host]:
                PENDING[host].remove(sc)
        if not ok:
            count("scrape_timeouts")
            return self.reply(500, 'Error scraping "%s": context deadline exceeded\n' % url)
        status, reason, headers, body = sc.response
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() in ("id", "x-prometheus-scrape-timeout", "content-length",
                             "transfer-encoding", "connection"):
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def push(self):
        data = self.read_body()
        count("pushes")
        try:
            res = http.client.HTTPResponse(FakeSock(data))
            res.begin()
            body = res.read()
            headers = res.getheaders()
        except Exception as e:  # noqa: BLE001 - any parse failure is the client's fault
            count("push_errors")
            return self.reply(500, "Error pushing: %s\n" % e)
        sid = res.getheader("Id") or ""
        with LOCK:
            sc = SCRAPES.get(sid)
            if sc is not None and sc.response is None:
                sc.response = (res.status, res.reason, headers, body)
                sc.pushed.set()
            else:
                sc = None
        if sc is None:
            count("push_errors")
            return self.reply(500, "Error pushing: unknown or expired id %s\n" % sid)
        return self.reply(200, b"", ctype=None)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bad-polls", type=int, default=0)
    ap.add_argument("--counters", default="")
    ARGS = ap.parse_args()
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    with LOCK:
        FIRST_MS["listening_ms"] = int(time.time() * 1000)
        write_counters()
    sys.stderr.write("upstream-proxy: listening on 127.0.0.1:%d\n" % ARGS.port)
    sys.stderr.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
