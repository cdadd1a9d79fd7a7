#!/usr/bin/env python3
"""results.py - turns the suite's raw results (run-suite.sh's temp dir) into bench/RESULTS.md.

usage: results.py TMPDIR RESULTS_MD SUITE_SECONDS MAX_CLIENTS FLEET_CLIENTS NOFILE QUICK

Reads TMPDIR/<run>.json (pushprox-bench --json), TMPDIR/nginx-w<N>.wrk and .cpu,
TMPDIR/nginx-open-w<N>.cpu (section 6), TMPDIR/nginx-tls-w1.wrk and .cpu (section 7),
and TMPDIR/commands.txt; appends bench/ANALYSIS.md (hand-written notes) if it exists.
"""
import json
import os
import platform
import re
import subprocess
import sys
import time

tmp, out, suite_s, max_clients, fleet_clients, nofile, quick = sys.argv[1:8]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    try:
        with open(os.path.join(tmp, name + ".json")) as f:
            lines = [l for l in f if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def ints(name):
    """The whitespace-separated integers run-suite.sh left in TMP/name (CPU ticks, steal,
    fold counts), or None when the file is missing or not integers."""
    try:
        return [int(x) for x in open(os.path.join(tmp, name)).read().split()]
    except (OSError, ValueError):
        return None


def cpu_model():
    model, n = "unknown", 0
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                n += 1
    except OSError:
        pass
    return model, n


def errs(d):
    if not d:
        return "n/a"
    e = {k: v for k, v in d["errors"].items() if v}
    return "0" if not e else ", ".join("%s %d" % kv for kv in e.items())


def f(v, fmt="%.2f"):
    return "n/a" if v is None else fmt % v


lines = []
w = lines.append
model, cores = cpu_model()
build = os.environ.get("BUILD", os.path.join(root, "build"))
proxy_bin = os.path.join(build, "pushprox-proxy")
version = subprocess.run([proxy_bin, "--version"], capture_output=True,
                         text=True).stdout.strip() if os.path.exists(proxy_bin) else ""
w("# pushprox-c benchmark results")
w("")
w("Written by `make bench` (bench/run-suite.sh) on %s; the suite ran %s s%s. Do not edit by "
  "hand: rerun it (hand-written notes go in bench/ANALYSIS.md and are appended below)."
  % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), suite_s,
     " (QUICK=1: short runs)" if quick == "1" else ""))
w("")
w("**Machine:** %s, %d cores (from /proc/cpuinfo), Linux %s, %d MiB RAM; open-file limit %s "
  "per process (hard). Everything on loopback; proxy, bench, nginx and wrk share the cores."
  % (model, cores, platform.release(),
     os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20), nofile))
w("")
w("**Load:** the 1, 5 and 15-minute load averages when the suite ended were %.1f, %.1f and "
  "%.1f on %d cores: anything above the suite's own ~2 means other work shared the host, "
  "and throughput and latency suffer with it; CPU us per scrape and the ratios taken within "
  "one run suffer least." % (os.getloadavg() + (cores,)))
if version:
    w("")
    w("**Proxy:** `%s` (binaries from `%s`)" % (version.splitlines()[0],
                                                os.path.relpath(build, root)))
w("")

# 1. Idle.
w("## 1. Idle clients: proxy memory per client")
w("")
w("Each row is a fresh proxy (`--workers 2`); the bench connects N clients (one long-poll "
  "each), waits until the proxy's `/clients` lists them all, holds 2 s, then reads the "
  "proxy's VmRSS. KiB per idle client = (RSS idle - RSS before any client) / N.")
w("")
w("| clients | registered | listed by /clients | RSS before | RSS idle | KiB per idle client |")
w("|---:|---:|---:|---:|---:|---:|")
idle = []
for n in [1000, 5000, 10000, int(max_clients)]:
    d = load("idle-%d" % n)
    if not d or "proxy" not in d:
        w("| %d | n/a | | | | |" % n)
        continue
    p = d["proxy"]
    idle.append((n, d, p))
    w("| %d | %d | %d | %.1f MiB | %.1f MiB | %.3f |" % (
        n, d["registered"], d["proxy_listed"], p["rss_before_kib"] / 1024,
        p["rss_idle_kib"] / 1024, p["kib_per_idle_client"]))
w("")
if len(idle) >= 2:
    (n0, d0, p0), (n1, d1, p1) = idle[0], idle[-1]
    slope = (p1["rss_idle_kib"] - p0["rss_idle_kib"]) / max(1, (d1["registered"] - d0["registered"]))
    proj = p1["rss_before_kib"] + slope * 100000
    w("Per-client slope between %d and %d clients: **%.3f KiB per client** (goal: <= 2 KiB, "
      "flat). **Projection, not a measurement:** one proxy process here cannot hold more than "
      "its open-file limit (%s fds, no CAP_SYS_RESOURCE to raise it), so 100,000 clients were "
      "not run; at this slope they would take about **%.0f MiB** of RSS (%.1f MiB base + "
      "100,000 x %.3f KiB), given an fd limit above 100,000."
      % (d0["registered"], d1["registered"], slope, nofile, proj / 1024,
         p1["rss_before_kib"] / 1024, slope))
    w("")

# 2. Closed loop.
w("## 2. Closed loop: 1,000 clients, 20 KB bodies")
w("")
w("S scrapers each keep one scrape in flight (keep-alive), random fqdns; latency is from "
  "send to the last body byte, as the scraper sees it (bench and proxy share 2 cores). "
  "CPU us per scrape = the proxy's utime+stime during the scrape phase / scrapes answered; "
  "the harness's figure is its whole run (connects included) / scrapes, to show how much of "
  "the 2 cores it takes.")
w("")
w("| --workers | scrapers | scrapes/s | p50 ms | p99 ms | p99.9 ms | max ms | proxy CPU us/scrape | harness CPU us/scrape | errors |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
closed = {}
for wk in (1, 2):
    for s in (16, 64, 256):
        d = load("closed-w%d-s%d" % (wk, s))
        closed[(wk, s)] = d
        if not d:
            w("| %d | %d | n/a | | | | | | | |" % (wk, s))
            continue
        l = d["latency_ms"]
        hc = d["harness_cpu_s"] * 1e6 / d["scrapes_ok"] if d["scrapes_ok"] else None
        w("| %d | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %s | %s | %s |" % (
            wk, s, d["scrapes_per_s"], l["p50"], l["p99"], l["p99_9"], l["max"],
            f(d.get("proxy", {}).get("cpu_us_per_scrape"), "%.1f"), f(hc, "%.1f"), errs(d)))
w("")

# 3. Fleet.
w("## 3. Fleet: %s clients, open loop at 6,700 scrapes/s, 20 KB bodies" % fleet_clients)
w("")
w("6,700 scrapes/s is what 100,000 targets scraped every 15 s ask. Scrapes go out on "
  "schedule (scrape k at t0 + k/6700 s) to random fqdns over 64 keep-alive scraper "
  "connections; latency runs from the *intended* send time, so a stall is not hidden "
  "(coordinated omission). The bench runs as 2 processes (fd limit).")
w("")
runs = int(os.environ.get("FLEET_RUNS", "5"))
fleet = [(r, load("fleet-%d" % r)) for r in range(1, runs + 1)]
w("%d runs of %s s, each on a fresh proxy (`--workers 2`), one after the other." % (
    runs, os.environ.get("FLEET_SECONDS", "20")))
w("")
w("*Steal* is the time the host's hypervisor kept these 2 vCPUs from running while they "
  "wanted to, over the run (/proc/stat, both CPUs): the tail grows with it.")
w("")
w("| run | clients | target/s | achieved/s | p50 ms | p99 ms | p99.9 ms | max ms | unsent | proxy CPU us/scrape | proxy RSS idle / peak | steal s | errors |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
met = 0
for r, d in fleet:
    if not d:
        w("| %d | no result | | | | | | | | | | | |" % r)
        continue
    l = d["latency_ms"]
    p = d.get("proxy", {})
    st = ints("fleet-%d.steal" % r)
    steal = "%.1f" % (st[0] / st[1]) if st and len(st) == 2 else "?"
    w("| %d | %d | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f | %d | %s | %.1f / %.1f MiB | %s | %s |" % (
        r, d["registered"], d["rate"], d["scrapes_per_s"], l["p50"], l["p99"], l["p99_9"],
        l["max"], d["scrapes_unsent"], f(p.get("cpu_us_per_scrape"), "%.1f"),
        p.get("rss_idle_kib", 0) / 1024, p.get("rss_peak_kib", 0) / 1024, steal, errs(d)))
    met += l["p99"] <= 5.0 and d["errors_total"] == 0 and d["scrapes_unsent"] == 0
w("")
w("Goal p99 <= 5 ms with zero errors and no scheduled scrape unsent, in every run: **%s** "
  "(%d of %d runs; p99 %s ms)." % (
      "met" if met == runs else "missed", met, runs,
      ", ".join("%.3f" % d["latency_ms"]["p99"] if d else "-" for _, d in fleet)))
w("")

# 4. nginx floor.
w("## 4. The one-hop floor: nginx as a reverse proxy for the same 20 KB body")
w("")
w("nginx (Debian package, bench/nginx.conf) proxies to a second nginx serving a static "
  "20,000-byte file (bench/nginx-origin.conf), upstream keep-alive on; `wrk -t1 -c64` "
  "drives it. CPU us per request is the proxying nginx's utime+stime (master and workers) "
  "during the run / requests. Ours is the closed-loop run with 64 scrapers and the same "
  "worker count. A PushProx scrape moves about the same bytes through the proxy (request "
  "in and out, response in and out, plus a push reply).")
w("")
w("| workers | nginx req/s | nginx p50 / p99 ms | nginx CPU us/req | ours scrapes/s | ours CPU us/scrape | ours / nginx |")
w("|---:|---:|---|---:|---:|---:|---:|")
for wk in (1, 2):
    try:
        wrk = open(os.path.join(tmp, "nginx-w%d.wrk" % wk)).read()
        ticks, hz = map(int, open(os.path.join(tmp, "nginx-w%d.cpu" % wk)).read().split())
    except (OSError, ValueError):
        w("| %d | n/a | | | | | |" % wk)
        continue
    m = re.search(r"(\d+) requests in ([\d.]+)s", wrk)
    reqs = int(m.group(1)) if m else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", wrk)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", wrk)

    def to_ms(mm):
        if not mm:
            return float("nan")
        v, u = float(mm.group(1)), mm.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v

    ng_us = ticks / hz * 1e6 / reqs if reqs else float("nan")
    ours = closed.get((wk, 64))
    o_us = ours.get("proxy", {}).get("cpu_us_per_scrape") if ours else None
    w("| %d | %.0f | %.3f / %.3f | %.1f | %s | %s | %s |" % (
        wk, float(rps.group(1)) if rps else 0, to_ms(p50), to_ms(p99), ng_us,
        f(ours["scrapes_per_s"], "%.0f") if ours else "n/a", f(o_us, "%.1f"),
        f(o_us / ng_us, "%.2fx") if o_us and ng_us == ng_us and ng_us > 0 else "n/a"))
w("")
w("Goal: ours <= 1.5x nginx. CPU time is read from /proc in clock ticks (10 ms), so short "
  "runs carry a few percent of rounding.")
w("")

# 5. Through the load balancer.
w("## 5. Through the load balancer: three replicas behind HAProxy")
w("")
w("bench/lb-bench.sh: three replicas (`--workers 1` each) behind HAProxy running "
  "deploy/haproxy/haproxy.cfg as shipped (addresses only, HAProxy's default 2 threads), "
  "1,000 clients, 20 KB bodies; beside it the same open-loop load on one proxy and no "
  "HAProxy. The simulated clients are upstream-like (FQDN in the poll body, Id in the push "
  "body), so HAProxy buffers and searches every poll and push: its slower path (our "
  "client names both in headers). HAProxy CPU us per scrape = its utime+stime during the "
  "scrape phase / scrapes answered; replicas' = the three proxies' together. Everything "
  "shares the 2 cores, so the closed loop measures the whole set-up, not HAProxy alone.")
w("")
w("| run | path | scrapes/s | p50 ms | p99 ms | p99.9 ms | HAProxy CPU us/scrape | replicas CPU us/scrape | errors |")
w("|---|---|---:|---:|---:|---:|---:|---:|---|")
lbrows = {}
for name, path in (("lb-direct", "one proxy, no HAProxy, open loop"),
                   ("lb-open", "HAProxy + 3 replicas, open loop"),
                   ("lb-closed", "HAProxy + 3 replicas, closed loop, 64 scrapers")):
    d = load(name)
    lbrows[name] = d
    if not d:
        w("| %s | %s | n/a | | | | | | |" % (name, path))
        continue
    l = d["latency_ms"]
    rep = None
    try:
        ticks, hz = map(int, open(os.path.join(tmp, name + ".cpu")).read().split())
        rep = ticks / hz * 1e6 / d["scrapes_ok"] if d["scrapes_ok"] else None
    except (OSError, ValueError):
        pass
    lbcpu = d.get("proxy", {}).get("cpu_us_per_scrape") if name != "lb-direct" else None
    w("| %s | %s | %.0f | %.3f | %.3f | %.3f | %s | %s | %s |" % (
        name, path, d["scrapes_per_s"], l["p50"], l["p99"], l["p99_9"],
        f(lbcpu, "%.1f") if name != "lb-direct" else "-", f(rep, "%.1f"), errs(d)))
w("")
dd, do = lbrows.get("lb-direct"), lbrows.get("lb-open")
if dd and do:
    w("Added by HAProxy at %.0f scrapes/s: **%+.3f ms at p50, %+.3f ms at p99** (open loop, "
      "latency from the intended send time)." % (
          do["rate"], do["latency_ms"]["p50"] - dd["latency_ms"]["p50"],
          do["latency_ms"]["p99"] - dd["latency_ms"]["p99"]))
    w("")

# 6. Open loop, one scrape at a time.
w("## 6. Open loop, one scrape at a time: 1,000 clients, 20 KB bodies")
w("")
w("Scrapes go out on schedule at a rate far below saturation, so they reach the proxy one "
  "at a time, as a Prometheus server's do, and nothing batches the wake-ups. Two kinds of "
  "simulated clients: **pipelined** (one connection, the next poll written behind the "
  "push) and **upstream** (`--client-mode=upstream`, what upstream's Go client does on the "
  "wire: the next poll goes out as soon as the scrape arrives, the push is its own request "
  "on a pool of at most 2 idle connections, a third dialled when they overlap). "
  "*Conns/scrape* = client connections dialled during the scrape phase / scrapes (each "
  "upstream client dials its second connection on its first push). The nginx rows send "
  "the same 20 KB body through nginx -> origin nginx at the same rate (plain GETs from the "
  "bench's scrapers, `--scrape.plain-path`); nginx CPU per request is its master and "
  "workers' utime+stime over the run / requests. Ratios: ours / nginx with the same worker "
  "count; 2 workers / 1 worker in the same client mode. Each proxy is held idle 5 s after "
  "its clients registered (`--idle=5s`), so it scrapes in its steady state; *folded* says "
  "whether its workers ran on one thread at the end (`--workers.fold-below`, default 25% "
  "of a CPU: loops lent / folds, from its /metrics).")
w("")
w("| clients | --workers | folded | target/s | achieved/s | p50 ms | p99 ms | p99.9 ms | CPU us/scrape | conns/scrape | errors | / nginx | w2 / w1 |")
w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
ngx = {}
for wk in (1, 2):
    d = load("nginx-open-w%d" % wk)
    cpu = ints("nginx-open-w%d.cpu" % wk)
    ngx[wk] = (d, cpu[0] / cpu[1] * 1e6 / d["scrapes_ok"]
               if cpu and len(cpu) == 2 and d and d["scrapes_ok"] else None)
openrows = {}
for m in ("pipelined", "upstream"):
    for wk in (1, 2):
        openrows[(m, wk)] = load("open-%s-w%d" % (m, wk))
for m in ("pipelined", "upstream"):
    for wk in (1, 2):
        d = openrows[(m, wk)]
        if not d:
            w("| %s | %d | | n/a | | | | | | | | | |" % (m, wk))
            continue
        fo = ints("open-%s-w%d.fold" % (m, wk))
        folded = "%s (%d / %d)" % ("yes" if fo[0] else "no", fo[0], fo[1]) \
            if fo and len(fo) == 2 else "?"
        l = d["latency_ms"]
        us = d.get("proxy", {}).get("cpu_us_per_scrape")
        ng = ngx.get(wk, (None, None))[1]
        d1 = openrows.get((m, 1))
        us1 = d1.get("proxy", {}).get("cpu_us_per_scrape") if d1 else None
        w("| %s | %d | %s | %.0f | %.0f | %.3f | %.3f | %.3f | %s | %s | %s | %s | %s |" % (
            m, wk, folded, d["rate"], d["scrapes_per_s"], l["p50"], l["p99"], l["p99_9"],
            f(us, "%.1f"), f(d.get("conns_per_scrape"), "%.3f"), errs(d),
            f(us / ng, "%.2fx") if us and ng else "n/a",
            f(us / us1, "%.2fx") if wk == 2 and us and us1 else "-"))
for wk in (1, 2):
    d, ng = ngx.get(wk, (None, None))
    if not d:
        w("| nginx | %d | - | n/a | | | | | | | | | |" % wk)
        continue
    l = d["latency_ms"]
    w("| nginx | %d | - | %.0f | %.0f | %.3f | %.3f | %.3f | %s | - | %s | 1.00x | - |" % (
        wk, d["rate"], d["scrapes_per_s"], l["p50"], l["p99"], l["p99_9"], f(ng, "%.1f"),
        errs(d)))
w("")
w("Goals (issue 12): with the default workers (one per CPU, here 2), CPU per scrape in "
  "this open loop <= 1.5x nginx's at the same rate; 2 workers no dearer per scrape than 1, "
  "with either kind of client. bench/profile-open.sh profiles one of these cells (perf, "
  "strace -c); bench/ANALYSIS.md has what it found.")
w("")

# 7. Mutual TLS.
w("## 7. Mutual TLS: the proxy's own mTLS (mbedTLS), clients and scrapers with certificates")
w("")
w("bench/tls-certs.sh makes a CA and ECDSA P-256 certificates: the proxy's (127.0.0.1) and "
  "one wildcard client certificate `*.bench` that every simulated client and scraper "
  "presents (the proxy binds it to the FQDNs it names: c<N>.bench). The proxy's web config "
  "(`--web.config.file`) requires and verifies client certificates on its one address, so "
  "clients, scrapers and the bench's `/clients` check all speak mTLS. Each bench thread "
  "has its own TLS configuration and resumes its last session (a ticket) on every further "
  "connection, unless `--no-tls.resume`.")
w("")


def mbedtls_config():
    """What Debian's mbedTLS was built with, from its config.h (None: not found)."""
    try:
        text = open("/usr/include/mbedtls/config.h").read()
    except OSError:
        return None
    conf = {}
    for name, dflt in (("MBEDTLS_SSL_MAX_CONTENT_LEN", 16384),
                       ("MBEDTLS_SSL_IN_CONTENT_LEN", None),
                       ("MBEDTLS_SSL_OUT_CONTENT_LEN", None)):
        m = re.search(r"^\s*#define\s+%s\s+(\d+)" % name, text, re.M)
        conf[name] = int(m.group(1)) if m else dflt
    mx = conf["MBEDTLS_SSL_MAX_CONTENT_LEN"]
    conf["MBEDTLS_SSL_IN_CONTENT_LEN"] = conf["MBEDTLS_SSL_IN_CONTENT_LEN"] or mx
    conf["MBEDTLS_SSL_OUT_CONTENT_LEN"] = conf["MBEDTLS_SSL_OUT_CONTENT_LEN"] or mx
    conf["variable"] = bool(re.search(r"^\s*#define\s+MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH\b",
                                      text, re.M))
    conf["keep_peer"] = bool(re.search(r"^\s*#define\s+MBEDTLS_SSL_KEEP_PEER_CERTIFICATE\b",
                                       text, re.M))
    return conf


w("### (a) Proxy memory per idle mTLS client")
w("")
w("As section 1 (`--workers 2`, every client listed by `/clients`, 2 s idle), with every "
  "client on mTLS, and each count run twice on the same proxy: first on a fresh one, then "
  "again once the first fleet has gone (the second wave reuses the heap the first freed). "
  "KiB per client is (RSS idle - the fresh proxy's RSS before any client) / clients, for "
  "both waves. The plain column is section 1's figure for the same count.")
w("")
w("| clients | wave | registered | listed | handshakes full / resumed | RSS before | RSS idle | KiB per idle mTLS client | plain KiB per client |")
w("|---:|---|---:|---:|---|---:|---:|---:|---:|")
tls_idle = []
for n in [1000, int(max_clients)]:
    plain = load("idle-%d" % n)
    pk = plain["proxy"]["kib_per_idle_client"] if plain and "proxy" in plain else None
    first = load("tls-idle-%d" % n)
    for wave, name in (("fresh proxy", "tls-idle-%d" % n), ("again", "tls-idle-%d-again" % n)):
        d = load(name)
        if not d or "proxy" not in d or not first or "proxy" not in first:
            w("| %d | %s | n/a | | | | | | %s |" % (n, wave, f(pk, "%.3f")))
            continue
        p = d["proxy"]
        base = first["proxy"]["rss_before_kib"]
        kib = (p["rss_idle_kib"] - base) / d["registered"] if d["registered"] else 0
        tls_idle.append((n, wave, kib))
        w("| %d | %s | %d | %d | %d / %d | %.1f MiB | %.1f MiB | %.2f | %s |" % (
            n, wave, d["registered"], d["proxy_listed"], d["handshakes_full"],
            d["handshakes_resumed"], p["rss_before_kib"] / 1024, p["rss_idle_kib"] / 1024, kib,
            f(pk, "%.3f")))
w("")
if tls_idle:
    worst = max(k for _, _, k in tls_idle)
    w("Goal <= 40 KiB per idle mTLS client, flat up to the fd limit: **%s** (at most %.1f KiB "
      "in these runs, the second wave being the one that counts for a proxy that has been "
      "up for a while)." % ("met" if worst <= 40 else "missed", worst))
    w("")
mc = mbedtls_config()
if mc:
    inb, outb = mc["MBEDTLS_SSL_IN_CONTENT_LEN"], mc["MBEDTLS_SSL_OUT_CONTENT_LEN"]
    w("**The floor.** This host's mbedTLS (/usr/include/mbedtls/config.h) has "
      "MBEDTLS_SSL_IN_CONTENT_LEN = %d and MBEDTLS_SSL_OUT_CONTENT_LEN = %d, and "
      "MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH is %s: `mbedtls_ssl_setup()` allocates both record "
      "buffers whole for the life of the connection, about %.1f KiB with their headers and "
      "MAC/IV room, whether the connection is busy or idle (MBEDTLS_SSL_KEEP_PEER_CERTIFICATE "
      "is %s, so the client's parsed certificate is kept too). See bench/ANALYSIS.md for "
      "where the rest goes and why the measured figure can be below the buffers' size."
      % (inb, outb, "on" if mc["variable"] else "off (so they never shrink)",
         (inb + outb + 2 * (13 + 256 + 48)) / 1024.0, "on" if mc["keep_peer"] else "off"))
    w("")

w("### (b) Handshakes per second, one worker")
w("")
w("`--handshakes`: the bench opens and closes TLS connections (8 at a time, client "
  "certificate `*.bench`) against a proxy with `--workers 1` for %s s each. Full: "
  "`--no-tls.resume`, every handshake an ECDHE-ECDSA P-256 key exchange with the server's "
  "signature and the client's certificate verified. Resumed: the thread's last ticket "
  "offered. The bench does the client side of every handshake on the same 2 cores, so the "
  "measured rate is the pair's; the proxy's own capacity per core is 10^6 / its CPU us per "
  "handshake (from /proc/PID/stat over the phase)." % os.environ.get("HS_SECONDS", "10"))
w("")
w("| run | handshakes | full / resumed | measured per s | p50 / p99 ms | proxy CPU us per handshake | per core of one worker | errors |")
w("|---|---:|---|---:|---|---:|---:|---|")
for name in ("tls-hs-full", "tls-hs-resumed"):
    d = load(name)
    if not d:
        w("| %s | n/a | | | | | | |" % name)
        continue
    us = d.get("proxy", {}).get("cpu_us_per_handshake")
    w("| %s | %d | %d / %d | %.0f | %.2f / %.2f | %s | %s | %s |" % (
        name, d["handshakes_full"] + d["handshakes_resumed"], d["handshakes_full"],
        d["handshakes_resumed"], d["handshakes_per_s"], d["latency_ms"]["p50"],
        d["latency_ms"]["p99"], f(us, "%.0f"), f(1e6 / us if us else None, "%.0f/s"),
        errs(d)))
w("")

w("### (c) CPU per 20 KB scrape over mTLS, against nginx terminating TLS")
w("")
w("Ours: 1,000 mTLS clients, 64 mTLS scrapers (keep-alive), 20 KB bodies, `--workers 1`, "
  "closed loop for %s s. nginx: bench/nginx-tls.conf, 1 worker, TLS 1.2 with the same "
  "cipher suite our mbedTLS picks (ECDHE-ECDSA-CHACHA20-POLY1305), proxying the same "
  "20,000-byte body from the same origin nginx, `wrk -t1 -c64` over https (kept-alive: "
  "the handshakes are not in the figure, as ours are not). A PushProx scrape crosses TLS "
  "three times in the proxy (scraper, poll, push) where nginx's request crosses it once "
  "(its upstream is plain), so this compares a whole scrape with a whole request, as "
  "section 4 does." % os.environ.get("CLOSED_SECONDS", "10"))
w("")
w("| | requests/s | p50 / p99 ms | CPU us per request | errors |")
w("|---|---:|---|---:|---|")
d = load("tls-closed-w1-s64")
o_us = d.get("proxy", {}).get("cpu_us_per_scrape") if d else None
if d:
    w("| pushprox-proxy, mTLS | %.0f | %.3f / %.3f | %s | %s |" % (
        d["scrapes_per_s"], d["latency_ms"]["p50"], d["latency_ms"]["p99"], f(o_us, "%.1f"),
        errs(d)))
else:
    w("| pushprox-proxy, mTLS | n/a | | | |")
pl = closed.get((1, 64))
if pl:
    w("| pushprox-proxy, plain (section 2) | %.0f | %.3f / %.3f | %s | %s |" % (
        pl["scrapes_per_s"], pl["latency_ms"]["p50"], pl["latency_ms"]["p99"],
        f(pl.get("proxy", {}).get("cpu_us_per_scrape"), "%.1f"), errs(pl)))
ng_us = None
try:
    wrk = open(os.path.join(tmp, "nginx-tls-w1.wrk")).read()
    ticks, hz = map(int, open(os.path.join(tmp, "nginx-tls-w1.cpu")).read().split())
    m = re.search(r"(\d+) requests in ([\d.]+)s", wrk)
    reqs = int(m.group(1)) if m else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", wrk)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", wrk)

    def to_ms2(mm):
        if not mm:
            return float("nan")
        v, u = float(mm.group(1)), mm.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v

    ng_us = ticks / hz * 1e6 / reqs if reqs else None
    w("| nginx, TLS termination | %.0f | %.3f / %.3f | %s | non-2xx: %s |" % (
        float(rps.group(1)) if rps else 0, to_ms2(p50), to_ms2(p99), f(ng_us, "%.1f"),
        (re.search(r"Non-2xx or 3xx responses: (\d+)", wrk) or [None, "0"])[1]))
except (OSError, ValueError):
    w("| nginx, TLS termination | n/a | | | |")
w("")
if o_us and ng_us:
    w("Ours / nginx: **%.2fx** (goal <= 1.5x: **%s**). Both figures from this one run."
      % (o_us / ng_us, "met" if o_us / ng_us <= 1.5 else "missed"))
    w("")

w("## Exact commands")
w("")
w("`make bench` = `bench/run-suite.sh` (env: BUILD, QUICK, FLEET_SECONDS, CLOSED_SECONDS, "
  "MAX_CLIENTS, OPEN_RATE, OPEN_SECONDS, HS_SECONDS, SKIP_PLAIN). It ran, in order:")
w("")
w("```")
try:
    for line in open(os.path.join(tmp, "commands.txt")):
        w(line.rstrip().replace(root + "/", ""))
except OSError:
    pass
w("```")
w("")
soak = os.path.join(root, "bench", "SOAK.md")
if os.path.exists(soak):
    w("The soak run is not part of `make bench` (it takes 30 minutes): `make soak` writes "
      "bench/SOAK.md, copied here.")
    w("")
    w(open(soak).read().rstrip())
    w("")
an = os.path.join(root, "bench", "ANALYSIS.md")
if os.path.exists(an):
    w(open(an).read().rstrip())
    w("")
open(out, "w").write("\n".join(lines))
print("wrote", out)
