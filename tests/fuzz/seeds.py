#!/usr/bin/env python3
"""seeds.py - records real traffic and cuts it into fuzz seeds (test tool; stdlib only).

  seeds.py relay --listen PORT --to PORT --dir DIR
      A TCP relay on 127.0.0.1:PORT to 127.0.0.1:PORT that writes what each connection
      carries to DIR/conn-N.c2s (client to server) and DIR/conn-N.s2c, as it goes.

  seeds.py extract --from DIR[=TAG] ... --corpus tests/fuzz/corpus
      Cuts the recordings into seeds, each named for what it is (TAG-what.bin):
        http_request/   every request stream a server received (keep-alive sequences
                        whole), prefixed with fuzz_http.h's configuration bytes
        http_response/  every response stream a client received, the same way
        client_poll/    the body of each poll answer (a scrape request in proxy form)
        client_push/    each exporter answer alone, prefixed with fuzz_client_push's byte
      Seeds over SEED_MAX_BYTES are left out. Used by tests/fuzz/capture-seeds.sh.
"""

import argparse
import os
import re
import socket
import sys
import threading

# fuzz_http.h: bodies collected, the whole stream as one piece.
HTTP_CONFIG = b"\x00\xff\x00\x00"
# Largest seed kept: the targets' -max_len is 8 KiB, and the issue asks for < 64 KiB.
SEED_MAX_BYTES = 8192


def relay(args):
    os.makedirs(args.dir, exist_ok=True)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.listen))
    srv.listen(64)
    count = [0]
    lock = threading.Lock()

    def pipe(src, dst, path):
        with open(path, "ab", buffering=0) as f:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    f.write(data)
                    dst.sendall(data)
            except OSError:
                pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def serve(c):
        with lock:
            count[0] += 1
            n = count[0]
        try:
            s = socket.create_connection(("127.0.0.1", args.to))
        except OSError:
            c.close()
            return
        base = os.path.join(args.dir, "conn-%03d" % n)
        t = threading.Thread(target=pipe, args=(s, c, base + ".s2c"), daemon=True)
        t.start()
        pipe(c, s, base + ".c2s")
        t.join()
        c.close()
        s.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def read_message(data, off, is_response, request_method=None):
    """Returns (start, head_end, end, first_line, headers) of the message at data[off:], or
    None when it is not complete. Bodies: Content-Length, chunked, or none."""
    while data.startswith(b"\r\n", off):
        off += 2
    sep = data.find(b"\r\n\r\n", off)
    if sep < 0:
        return None
    head = data[off:sep].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    pos = sep + 4
    status = 0
    if is_response:
        m = re.match(r"HTTP/\d\.\d (\d{3})", head[0])
        status = int(m.group(1)) if m else 0
    if is_response and (100 <= status < 200 or status in (204, 304) or request_method == "HEAD"):
        return off, pos, pos, head[0], headers
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(data[pos:eol].split(b";")[0] or b"0", 16)
            pos = eol + 2
            if size == 0:
                end = data.find(b"\r\n\r\n", pos - 2)
                return (off, sep + 4, end + 4, head[0], headers) if end >= 0 else None
            pos += size + 2
    if "content-length" in headers:
        end = pos + int(headers["content-length"])
        return (off, sep + 4, end, head[0], headers) if end <= len(data) else None
    if is_response:
        return off, sep + 4, len(data), head[0], headers  # ends with the connection
    return off, sep + 4, pos, head[0], headers


def messages(data, is_response, methods=()):
    out, off, i = [], 0, 0
    while off < len(data):
        m = read_message(data, off, is_response, methods[i] if i < len(methods) else None)
        if m is None:
            break
        out.append(m + (data[m[0]:m[2]],))
        off, i = m[2], i + 1
    return out


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def write(corpus, target, name, data, written):
    """Writes one seed, unless it is too large or only differs from one already written in
    its numbers (Ids, lengths, timestamps): repeated scrapes add nothing."""
    key = (target, re.sub(rb"[0-9a-f]{8,}|[0-9]+", b"N", data))
    if len(data) > SEED_MAX_BYTES or len(data) == 0 or key in written:
        return
    written.add(key)
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    base, k = name, 2
    while os.path.exists(os.path.join(d, name + ".bin")) and (target, name) in written:
        name = "%s-%d" % (base, k)
        k += 1
    written.add((target, name))
    with open(os.path.join(d, name + ".bin"), "wb") as f:
        f.write(data)


def write_stream(corpus, target, name, stream, msgs, written):
    """A connection's stream as one seed; one seed per message if it is too large."""
    if len(HTTP_CONFIG) + len(stream) <= SEED_MAX_BYTES:
        write(corpus, target, name, HTTP_CONFIG + stream, written)
        return
    for m in msgs:
        write(corpus, target, "%s-%s" % (name.split("-")[0], request_name(m[3], m[5])),
              HTTP_CONFIG + m[5], written)


def traits(msg):
    """What sets a message apart, for its seed's name: who sent it, how its body is coded."""
    head = msg.split(b"\r\n\r\n", 1)[0].lower()
    body = msg[len(head) + 4:]
    out = []
    if b"accept: application/openmetrics-text" in head:
        out.append("prometheus")
    if b"accept-encoding: gzip" in head:
        out.append("accepts-gzip")
    if b"content-encoding: gzip" in head:
        out.append("gzip")
    if b"transfer-encoding: chunked" in head:
        out.append("chunked")
    if body.startswith(b"HTTP/"):  # a push: say what its inner response is
        inner = body.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        out.append("inner-" + slug(" ".join(inner[:2])))
        out += ["inner-" + t for t in traits(body)]
    return out


def request_name(first_line, msg=b""):
    parts = first_line.split(" ")
    if len(parts) < 2:
        return slug(first_line)
    target = parts[1]
    m = re.match(r"^https?://([^/.:]*)[^/]*(.*)$", target)
    if m:  # a scrape in proxy form: name the host's first label (node1, upstream)
        target = "scrape-%s-%s" % (m.group(1), m.group(2))
    return slug(parts[0] + "-" + target) + "".join("-" + t for t in traits(msg))


def extract(args):
    written = set()
    for spec in args.sources:
        d, _, tag = spec.partition("=")
        tag = tag or os.path.basename(d.rstrip("/"))
        names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".c2s"))
        for conn in names:
            c2s = open(os.path.join(d, conn + ".c2s"), "rb").read()
            s2c_path = os.path.join(d, conn + ".s2c")
            s2c = open(s2c_path, "rb").read() if os.path.exists(s2c_path) else b""
            reqs = messages(c2s, False)
            if not reqs:
                continue
            methods = [r[3].split(" ")[0] for r in reqs]
            ress = messages(s2c, True, methods)
            what = request_name(reqs[0][3], reqs[0][5])
            if len(reqs) > 1:
                what += "-and-%d-more" % (len(reqs) - 1)
            write_stream(args.corpus, "http_request", "%s-%s" % (tag, what), c2s, reqs, written)
            if s2c:
                write_stream(args.corpus, "http_response", "%s-answers-to-%s" % (tag, what), s2c,
                             ress, written)
            for req, res in zip(reqs, ress):
                method = req[3].split(" ")[0]
                code = res[3].split(" ")[1] if len(res[3].split(" ")) > 1 else "x"
                body = res[5][res[1] - res[0]:]
                if request_name(req[3]).endswith("poll") and code == "200":
                    write(args.corpus, "client_poll", "%s-poll-answer-%s" % (
                        tag, request_name(body.split(b"\r\n", 1)[0].decode("latin-1"), body)),
                        body, written)
                if args.exporter_tag == tag:
                    write(args.corpus, "client_push", "%s-%s-answer-%s%s" % (
                        tag, request_name(req[3]), code,
                        "".join("-" + t for t in traits(res[5]))),
                        (b"\x01" if method == "HEAD" else b"\x00") + res[5], written)
    for target in ("http_request", "http_response", "client_poll", "client_push"):
        d = os.path.join(args.corpus, target)
        print("%s: %d seeds" % (target, len(os.listdir(d)) if os.path.isdir(d) else 0))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--listen", type=int, required=True)
    r.add_argument("--to", type=int, required=True)
    r.add_argument("--dir", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--from", dest="sources", action="append", required=True)
    e.add_argument("--exporter-tag", default="exporter")
    e.add_argument("--corpus", required=True)
    a = ap.parse_args()
    return relay(a) if a.cmd == "relay" else extract(a)


if __name__ == "__main__":
    sys.exit(main())
