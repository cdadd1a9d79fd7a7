#!/usr/bin/env python3
"""client_exporter.py - a second exporter for the client scenarios (test tool; stdlib only).

  client_exporter.py --port P [--host ADDR] [--metrics FILE]   (ADDR default 127.0.0.1)

  GET /metrics         the metrics file, with Content-Length (keep-alive); gzipped
                       (byte-for-byte stable) if the request accepts gzip
  GET /slow?s=N        the same after sleeping N seconds
  GET /chunked         the same, chunked (no Content-Length)
  GET /big?n=BYTES     BYTES of comment lines, no Content-Length, ends by closing
  GET /stats           JSON: {"connections": <TCP connections accepted>, "requests": N,
                       "slow": <GET /slow requests begun>}
  GET /notmodified     304 with the Content-Length the metrics would have, and no body
  GET /nocontent       204 with a Content-Length, and no body
  HEAD /metrics        the head GET would get (its Content-Length), and no body
  GET /garbage         not HTTP: a line of bytes no HTTP parser takes, then close
  GET /endless         200 without a length, comment lines for ever (until the peer
                       closes): a reader must bound it
  GET /echo            one metric naming the Host header it was asked with:
                       echo_host{host="<Host>"} 1 (so a scrape's answer shows which
                       target's request the client served)
"""

import argparse
import gzip
import http.server
import json
import socketserver
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATS = {"connections": 0, "requests": 0, "slow": 0}
BODY = b"# HELP client_test_metric A metric of the test exporter.\n" \
       b"# TYPE client_test_metric gauge\nclient_test_metric 42\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def log_message(self, fmt, *args):
        pass

    def send_body(self, body, ctype="text/plain; version=0.0.4; charset=utf-8"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            STATS["requests"] += 1
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/metrics":
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                # mtime=0 makes the bytes the same on every scrape, so a test can compare.
                z = gzip.compress(BODY, mtime=0)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(z)))
                self.end_headers()
                self.wfile.write(z)
                return None
            return self.send_body(BODY)
        if u.path == "/slow":
            with LOCK:
                STATS["slow"] += 1
            time.sleep(float(q.get("s", ["5"])[0]))
            return self.send_body(BODY)
        if u.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 20):
                part = BODY[i:i + 20]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if u.path == "/big":
            n = int(q.get("n", ["1000000"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            line = b"# " + b"x" * 97 + b"\n"
            sent = 0
            while sent < n:
                self.wfile.write(line)
                sent += len(line)
            self.close_connection = True
            return None
        if u.path in ("/notmodified", "/nocontent"):
            # A length on a bodiless answer, as some servers send: a reader must go by the
            # status, not by the length (RFC 9112 section 6.3).
            self.send_response(304 if u.path == "/notmodified" else 204)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            return None
        if u.path == "/garbage":
            self.wfile.write(b"\x00\x01 SSH-2.0-not-http \xff\xfe\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return None
        if u.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            line = b"# " + b"y" * 97 + b"\n"
            try:
                while True:
                    self.wfile.write(line * 100)
            except OSError:
                pass
            self.close_connection = True
            return None
        if u.path == "/echo":
            host = (self.headers.get("Host") or "").replace("\\", "").replace('"', "")
            return self.send_body(b'echo_host{host="%s"} 1\n' % host.encode("latin-1"))
        if u.path == "/stats":
            with LOCK:
                return self.send_body(json.dumps(STATS).encode(), "application/json")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None


    def do_HEAD(self):
        with LOCK:
            STATS["requests"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global BODY
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--metrics", default="")
    a = ap.parse_args()
    if a.metrics:
        with open(a.metrics, "rb") as f:
            BODY = f.read()
    Server((a.host, a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
