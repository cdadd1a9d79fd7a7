#!/usr/bin/env python3
"""lb_scrape.py - Prometheus' side of the load-balancer scenarios (test tool; stdlib only).

  lb_scrape.py run --proxy HOST:PORT --port P --out FILE [--fqdn F]... [--interval S]
                   [--timeout S] [--path /echo]
      One thread per FQDN scrapes http://F:P<path> through the proxy (absolute URI,
      keep-alive, X-Prometheus-Scrape-Timeout-Seconds: --timeout), one scrape at a time
      per FQDN as Prometheus does, starting one every --interval seconds (or at once after
      a scrape that took longer). As Prometheus' Go client does, a scrape whose reused
      connection is closed before any answer is sent again once on a new connection.
      Each scrape is one JSON line in FILE:
        {"fqdn", "start", "end" (wall clock, s), "status" (0: no answer), "ok", "echo", "err"}
      ok = status 200 and the answer names F (client_exporter.py's /echo: the Host the
      client was asked to scrape). Runs until SIGTERM or SIGINT.

  lb_scrape.py check --log FILE [--since T] [--until T] [--max-failed N] [--skip-fqdn F]...
      Counts the scrapes that started in [since, until) (but those of the skipped
      FQDNs): ok, failed (by status) and
      misrouted (a 200 naming another FQDN: always fatal, whatever the window). Exits 1 if
      failed > --max-failed (default 0) or anything was misrouted.

  lb_scrape.py recovery --log FILE --event T --within S [--fqdn F]...
      For each FQDN (those given, else all in the log): the time from T to the end of its
      first ok scrape that started at or after T. Prints them; exits 1 if one is over S or
      missing.

  lb_scrape.py wait --log FILE --since T --fqdn F... [--seconds S]
      Waits (at most S seconds) until every FQDN has an ok scrape that started at or
      after T; exits 1 if one has not.
"""

import argparse
import http.client
import json
import re
import signal
import sys
import threading
import time

ECHO_RE = re.compile(rb'echo_host\{host="([^"]*)"\}')
STOP = threading.Event()
LOCK = threading.Lock()


def host_of(hostport):
    """Host part of a Host header value (IPv6 brackets kept), lower case."""
    h = hostport.strip().lower()
    if h.startswith("["):
        return h[:h.find("]") + 1]
    return h.split(":", 1)[0]


def scrape_loop(args, fqdn, out):
    host, port = args.proxy.rsplit(":", 1)
    url = "http://%s:%d%s" % (fqdn, args.port, args.path)
    conn, reused = None, False
    next_at = time.time()
    while not STOP.is_set():
        delay = next_at - time.time()
        if delay > 0 and STOP.wait(delay):
            break
        start = time.time()
        next_at = start + args.interval
        rec = {"fqdn": fqdn, "start": start, "status": 0, "ok": False, "echo": "", "err": ""}
        try:
            for attempt in (1, 2):
                if conn is None:
                    # Prometheus' deadline for the whole scrape is its timeout.
                    conn = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
                    reused = False
                try:
                    conn.request("GET", url, headers={
                        "Host": "%s:%d" % (fqdn, args.port),
                        "User-Agent": "lb_scrape/1",
                        "Accept": "text/plain;version=0.0.4",
                        "X-Prometheus-Scrape-Timeout-Seconds": "%g" % args.timeout})
                    res = conn.getresponse()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError):
                    # Go's http.Transport (Prometheus') sends a GET again, once, on a new
                    # connection when a reused one is closed before any answer.
                    conn.close()
                    conn = None
                    if not reused or attempt == 2:
                        raise
            reused = True
            body = res.read()
            rec["status"] = res.status
            m = ECHO_RE.search(body)
            if m:
                rec["echo"] = m.group(1).decode("latin-1")
            elif res.status != 200:
                rec["err"] = body[:160].decode("latin-1", "replace")
            rec["ok"] = res.status == 200 and host_of(rec["echo"]) == fqdn
            if res.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            rec["err"] = "%s: %s" % (type(e).__name__, e)
            if conn is not None:
                conn.close()
            conn = None
        rec["end"] = time.time()
        with LOCK:
            out.write(json.dumps(rec) + "\n")
            out.flush()


def cmd_run(args):
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    with open(args.out, "a", encoding="utf-8") as out:
        threads = [threading.Thread(target=scrape_loop, args=(args, f.lower(), out))
                   for f in args.fqdn]
        for t in threads:
            t.start()
        while not STOP.wait(0.2):
            pass
        for t in threads:
            t.join(args.timeout + 5)
    return 0


def load(path):
    recs = []
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return recs  # the scraper has not written yet
    with f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass  # a line cut by the writer's end
    return recs


def misrouted(recs):
    return [r for r in recs if r["status"] == 200 and host_of(r["echo"]) != r["fqdn"]]


def cmd_check(args):
    recs = load(args.log)
    bad = misrouted(recs)
    win = [r for r in recs if args.since <= r["start"] < args.until and
           r["fqdn"] not in args.skip_fqdn]
    failed = [r for r in win if not r["ok"]]
    by_status = {}
    for r in failed:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    print("scrapes=%d ok=%d failed=%d misrouted=%d failed_by_status=%s" %
          (len(win), len(win) - len(failed), len(failed), len(bad), json.dumps(by_status)))
    for r in (bad + failed)[:10]:
        print("  %s start=%.3f took=%.3fs status=%d echo=%r err=%r" %
              (r["fqdn"], r["start"], r["end"] - r["start"], r["status"], r["echo"],
               r["err"][:100]))
    if not win:
        print("no scrapes in the window")
        return 1
    return 1 if bad or len(failed) > args.max_failed else 0


def first_ok_after(recs, fqdn, t):
    ends = [r["end"] for r in recs if r["fqdn"] == fqdn and r["ok"] and r["start"] >= t]
    return min(ends) if ends else None


def cmd_recovery(args):
    recs = load(args.log)
    fqdns = [f.lower() for f in args.fqdn] or sorted({r["fqdn"] for r in recs})
    worst, missing, parts = 0.0, [], []
    for f in fqdns:
        end = first_ok_after(recs, f, args.event)
        if end is None:
            missing.append(f)
            continue
        worst = max(worst, end - args.event)
        parts.append("%s=%.2f" % (f, end - args.event))
    print("recovery max=%.2fs (bound %.1fs) fqdns=%d missing=%s" %
          (worst, args.within, len(fqdns), ",".join(missing) or "none"))
    print("  " + " ".join(parts))
    return 1 if missing or worst > args.within else 0


def cmd_wait(args):
    deadline = time.time() + args.seconds
    fqdns = [f.lower() for f in args.fqdn]
    while True:
        recs = load(args.log)
        left = [f for f in fqdns if first_ok_after(recs, f, args.since) is None]
        if not left:
            return 0
        if time.time() > deadline:
            print("not scraped ok since %.3f: %s" % (args.since, ",".join(left)))
            return 1
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--proxy", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--fqdn", action="append", required=True)
    r.add_argument("--interval", type=float, default=0.25)
    r.add_argument("--timeout", type=float, default=10)
    r.add_argument("--path", default="/echo")
    c = sub.add_parser("check")
    c.add_argument("--log", required=True)
    c.add_argument("--since", type=float, default=0)
    c.add_argument("--until", type=float, default=float("inf"))
    c.add_argument("--max-failed", type=int, default=0)
    c.add_argument("--skip-fqdn", action="append", default=[],
                   help="leave this FQDN's scrapes out of the window's counts")
    v = sub.add_parser("recovery")
    v.add_argument("--log", required=True)
    v.add_argument("--event", type=float, required=True)
    v.add_argument("--within", type=float, required=True)
    v.add_argument("--fqdn", action="append", default=[])
    w = sub.add_parser("wait")
    w.add_argument("--log", required=True)
    w.add_argument("--since", type=float, required=True)
    w.add_argument("--fqdn", action="append", required=True)
    w.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    return {"run": cmd_run, "check": cmd_check, "recovery": cmd_recovery,
            "wait": cmd_wait}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
