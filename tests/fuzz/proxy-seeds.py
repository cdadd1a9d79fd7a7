#!/usr/bin/env python3
"""proxy-seeds.py - writes the seeds of fuzz_proxy_inproc (tests/fuzz/corpus/proxy_inproc/)
from the recorded traffic in tests/fuzz/corpus/http_request/ (capture-seeds.sh) and a few
hand-made variations: a poll, a scrape and a push, as fuzz_proxy_inproc.c reads them (parts
separated by "\\n--8<--\\n"; the push's Id is "@ID@" and its Content-Length "@LEN@", filled
in by the target). Test tool, stdlib and openssl only; run by hand:
    tests/fuzz/proxy-seeds.py [CORPUS_DIR]
"""

import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\n--8<--\n"
HTTP_CONFIG_BYTES = 4  # fuzz_http.h's configuration prefix of the recorded seeds


def recorded(name):
    with open(os.path.join(HERE, "corpus", "http_request", name), "rb") as f:
        return f.read()[HTTP_CONFIG_BYTES:]


def first_message(stream, method):
    """The first request of a recorded keep-alive stream, whole (head and body)."""
    head_end = stream.index(b"\r\n\r\n") + 4
    m = re.search(rb"\r\nContent-Length: *(\d+)", stream[:head_end], re.I)
    n = int(m.group(1)) if m else 0
    msg = stream[: head_end + n]
    assert msg.startswith(method), msg[:40]
    return msg


def templated_push(push):
    """A recorded push with its Id and outer Content-Length made placeholders."""
    push = re.sub(rb"\r\nId: [^\r]*", b"\r\nId: @ID@", push, count=1)
    return re.sub(rb"^(POST [^\r]*\r\n(?:[^\r]+\r\n)*?)Content-Length: *\d+", rb"\1Content-Length: @LEN@",
                  push, count=1)


def poll(fqdn, extra=b""):
    body = fqdn
    return (b"POST /poll HTTP/1.1\r\nHost: proxy.test:8080\r\nUser-Agent: pushprox-client/0.1.0\r\n"
            + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body)


def scrape(url, host, extra=b""):
    return (b"GET " + url + b" HTTP/1.1\r\nHost: " + host + b"\r\nAccept: text/plain\r\n"
            b"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n" + extra + b"\r\n")


def push(inner):
    return (b"POST /push HTTP/1.1\r\nHost: proxy.test:8080\r\nUser-Agent: pushprox-client/0.1.0\r\n"
            b"Content-Length: @LEN@\r\n\r\n" + inner)


def escaped_cert(cn):
    """A self-signed certificate naming cn, URL-escaped as nginx's $ssl_client_escaped_cert."""
    with tempfile.TemporaryDirectory() as d:
        crt = os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
                        "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:" + cn,
                        "-keyout", os.path.join(d, "k.pem"), "-out", crt],
                       check=True, capture_output=True)
        with open(crt, "rb") as f:
            return urllib.parse.quote(f.read(), safe="").encode()


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "proxy_inproc")
    os.makedirs(corpus, exist_ok=True)
    node = b"node1.pushprox.test"
    up = b"upstream.pushprox.test"
    up_poll = first_message(recorded("upstream-client-post-poll.bin"), b"POST /poll")
    up_scrape = first_message(recorded("scraper-get-scrape-upstream-metrics.bin"), b"GET ")
    node_poll = first_message(recorded("client-post-poll-and-12-more.bin"), b"POST /poll")
    node_scrape = first_message(recorded("scraper-get-scrape-node1-metrics.bin"), b"GET ")
    node_push = templated_push(first_message(
        recorded("client-post-push-inner-http-1-1-200-and-11-more.bin"), b"POST /push"))
    seeds = {
        "recorded-upstream-200": [up_poll, up_scrape, templated_push(first_message(
            recorded("upstream-client-post-push-inner-http-1-1-200.bin"), b"POST /push"))],
        "recorded-upstream-http00-500": [up_poll, up_scrape, templated_push(first_message(
            recorded("upstream-client-post-push-inner-http-0-0-500.bin"), b"POST /push"))],
        "recorded-upstream-chunked": [up_poll, up_scrape, templated_push(first_message(
            recorded("upstream-client-post-push-inner-http-1-1-200-inner-chunked.bin"),
            b"POST /push"))],
        "recorded-client-200": [node_poll, node_scrape, node_push],
        "handmade-304-with-length": [poll(node), scrape(b"http://" + node + b":9100/metrics",
                                                        node + b":9100"),
                                     push(b"HTTP/1.1 304 Not Modified\r\nId: @ID@\r\n"
                                          b"Content-Length: 40\r\n\r\n")],
        "handmade-100-continue": [poll(node), scrape(b"http://" + node + b":9100/metrics",
                                                     node + b":9100"),
                                  push(b"HTTP/1.1 100 Continue\r\nId: @ID@\r\n\r\n")],
        "handmade-ipv6-head-gzip": [poll(b"[fd00::1]\n"),
                                    b"HEAD http://[fd00:0::1]:9100/metrics HTTP/1.1\r\n"
                                    b"Host: [fd00::1]:9100\r\nAccept-Encoding: gzip\r\n\r\n",
                                    push(b"HTTP/1.1 200 OK\r\nId: @ID@\r\nContent-Length: 7\r\n"
                                         b"Content-Encoding: gzip\r\n\r\n")],
        "handmade-announce": [poll(node, b"X-PushProx-Labels: rack=r12,env=prod%20eu\r\n"
                                   b"X-PushProx-Exporters: 9100,9187/metrics\r\n"),
                              scrape(b"http://" + node + b":9187/metrics?x=1",
                                     node + b":9187"),
                              push(b"HTTP/1.1 200 OK\r\nId: @ID@\r\nConnection: keep-alive\r\n"
                                   b"\r\nup 1\n")],
        "handmade-trusted-cert": [poll(node, b"X-PushProx-Client-Cert: " + escaped_cert(node.decode())
                                       + b"\r\n"),
                                  scrape(b"http://" + node + b":9100/metrics", node + b":9100"),
                                  push(b"HTTP/1.1 200 OK\r\nId: @ID@\r\nContent-Length: 5\r\n"
                                       b"\r\nup 1\n")],
        "handmade-pages": [poll(b"other.test"),
                           b"GET /clients HTTP/1.1\r\nHost: p\r\n\r\n"
                           b"GET /clients?view=detail HTTP/1.1\r\nHost: p\r\n\r\n"
                           b"GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n"
                           b"GET /-/ready HTTP/1.1\r\nHost: p\r\n\r\n"
                           b"GET /-/healthy HTTP/1.1\r\nHost: p\r\n\r\n"
                           b"GET /nowhere HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n"],
        "handmade-pipelined-scrapes": [poll(node),
                                       scrape(b"http://" + node + b":9100/a", node) +
                                       scrape(b"http://u@" + node + b":9100/b", node),
                                       push(b"HTTP/1.1 200 OK\r\nId: @ID@\r\n\r\nup 1\n")],
    }
    for name, parts in seeds.items():
        with open(os.path.join(corpus, name + ".bin"), "wb") as f:
            f.write(SEP.join(parts))
    print("%d seeds in %s" % (len(seeds), corpus))


if __name__ == "__main__":
    main()
