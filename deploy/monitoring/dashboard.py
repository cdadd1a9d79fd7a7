#!/usr/bin/env python3
"""dashboard.py - writes dashboard.json (the Grafana dashboard of deploy/monitoring/) to stdout.

  python3 deploy/monitoring/dashboard.py > deploy/monitoring/dashboard.json

Edit the panels here, not in the JSON: tests/integration/monitoring_mixin.sh fails when
dashboard.json is not what this prints. $job/$instance select proxies, $client_job/
$client_instance clients; every query reads raw metrics, so the dashboard needs no rules.
"""
import json
DS = {"type": "prometheus", "uid": "${datasource}"}
P = 'job=~"$job", instance=~"$instance"'
C = 'job=~"$client_job", instance=~"$client_instance"'
R = '$__rate_interval'
panels = []
nid = [0]
y = [0]
x = [0]
rowh = [0]

def newid():
    nid[0] += 1
    return nid[0]

def row(title):
    if x[0] != 0:
        y[0] += rowh[0]; x[0] = 0; rowh[0] = 0
    panels.append({"type": "row", "title": title, "id": newid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1

def place(w, h):
    if x[0] + w > 24:
        y[0] += rowh[0]; x[0] = 0; rowh[0] = 0
    g = {"h": h, "w": w, "x": x[0], "y": y[0]}
    x[0] += w; rowh[0] = max(rowh[0], h)
    return g

def targets(ts):
    out = []
    for i, (expr, legend) in enumerate(ts):
        out.append({"datasource": DS, "expr": expr, "legendFormat": legend,
                    "refId": chr(ord('A') + i), "range": True})
    return out

def ts(title, desc, tgs, unit="short", w=8, h=8, stack=False, minv=0):
    p = {"type": "timeseries", "title": title, "description": desc, "id": newid(),
         "datasource": DS, "gridPos": place(w, h), "targets": targets(tgs),
         "fieldConfig": {"defaults": {"unit": unit, "min": minv,
                                      "custom": {"drawStyle": "line", "lineWidth": 1,
                                                 "fillOpacity": 10, "showPoints": "never",
                                                 "stacking": {"mode": "normal" if stack else "none",
                                                              "group": "A"}}},
                         "overrides": []},
         "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                     "tooltip": {"mode": "multi", "sort": "desc"}}}
    if minv is None:
        del p["fieldConfig"]["defaults"]["min"]
    panels.append(p)

def stat(title, desc, expr, unit="short", w=4, h=4, thresholds=None, decimals=None):
    steps = thresholds or [{"color": "green", "value": None}]
    p = {"type": "stat", "title": title, "description": desc, "id": newid(), "datasource": DS,
         "gridPos": place(w, h), "targets": targets([(expr, "")]),
         "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                         "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "background", "graphMode": "area", "justifyMode": "auto",
                     "orientation": "auto", "textMode": "auto"}}
    if decimals is not None:
        p["fieldConfig"]["defaults"]["decimals"] = decimals
    panels.append(p)

def red_above(v):
    return [{"color": "green", "value": None}, {"color": "red", "value": v}]

row("Overview")
stat("Clients connected", "FQDNs the selected proxies list in /clients (a poll open, or one ended within --registration.timeout).",
     f'sum(pushprox_proxy_clients{{{P}}})')
stat("Proxies ready", "Proxies whose /-/ready answers 200 (every worker runs, not draining), of those Prometheus scrapes.",
     f'sum(pushprox_proxy_ready{{{P}}}) or vector(0)')
stat("Proxies down", "Proxy targets Prometheus cannot scrape (up == 0).",
     f'count(up{{{P}}} == 0) or vector(0)', thresholds=red_above(1))
stat("Scrapes/s", "Scrapes answered through the selected proxies.",
     f'sum(rate(pushproxy_proxied_requests_total{{{P}}}[{R}]))', unit="reqps")
stat("Scrape errors", "Share of scrapes answered with a non-2xx status (a timeout for lack of a push, a limit, an exporter's error).",
     f'(sum(rate(pushproxy_proxied_requests_total{{{P}, code!~"2.."}}[{R}])) or vector(0)) / sum(rate(pushproxy_proxied_requests_total{{{P}}}[{R}]))',
     unit="percentunit", thresholds=red_above(0.05), decimals=2)
stat("Clients not ready", "Clients whose /-/ready answers 503 (an FQDN without a poll held or answered within --ready.poll-window).",
     f'count(pushprox_client_ready{{{C}}} == 0) or vector(0)', thresholds=red_above(1))

row("Scrapes and polls")
ts("Clients connected", "pushprox_proxy_clients per proxy, and the polls waiting for work.",
   [(f'pushprox_proxy_clients{{{P}}}', "clients {{instance}}"),
    (f'pushprox_proxy_polls_waiting{{{P}}}', "polls waiting {{instance}}")])
ts("Scrapes by status", "Scrapes answered, by the status Prometheus got.",
   [(f'sum by (code) (rate(pushproxy_proxied_requests_total{{{P}}}[{R}]))', "{{code}}")],
   unit="reqps", stack=True)
ts("Scrape latency", "From a scrape's arrival at the proxy to its answer (pushprox_proxy_scrape_duration_seconds).",
   [(f'histogram_quantile({q}, sum by (le) (rate(pushprox_proxy_scrape_duration_seconds_bucket{{{P}}}[{R}])))', f"p{int(float(q)*100)}")
    for q in ("0.5", "0.9", "0.99")], unit="s")
ts("Polls by status", "Polls answered: 200 carries a scrape, 408 a poll held without work (routine); anything else is a refusal (400, 403 as 4xx, 503).",
   [(f'sum by (code) (rate(pushprox_http_requests_total{{{P}, path="/poll"}}[{R}]))', "{{code}}")],
   unit="reqps", stack=True)
ts("Pushes by status", "Pushes (a client's scrape result) by status; 500 is a push whose scrape is gone.",
   [(f'sum by (code) (rate(pushprox_http_requests_total{{{P}, path="/push"}}[{R}]))', "{{code}}")],
   unit="reqps", stack=True)
ts("Timeouts and stale pushes", "Scrapes answered 500 because no push came in time, and pushes for an unknown Id.",
   [(f'sum(rate(pushprox_proxy_scrape_timeouts_total{{{P}}}[{R}]))', "scrape timeouts"),
    (f'sum(rate(pushprox_proxy_push_stale_total{{{P}}}[{R}]))', "stale pushes")], unit="reqps")

row("Limits, TLS and identity")
ts("Limit rejections", "Work refused, by the flag or constant that limits it (pushprox_proxy_limit_rejections_total).",
   [(f'sum by (limit) (rate(pushprox_proxy_limit_rejections_total{{{P}}}[{R}])) > 0', "{{limit}}")], unit="reqps")
ts("TLS handshakes", "Full, resumed (session ticket) and failed or too slow handshakes.",
   [(f'sum(rate(pushprox_proxy_tls_handshakes_total{{{P}}}[{R}]))', "full"),
    (f'sum(rate(pushprox_proxy_tls_resumed_handshakes_total{{{P}}}[{R}]))', "resumed"),
    (f'sum(rate(pushprox_proxy_tls_handshake_errors_total{{{P}}}[{R}]))', "failed")], unit="reqps")
ts("Identity refusals", "Polls and pushes refused because the certificate does not name the FQDN, and X-PushProx-Client-Cert headers ignored from untrusted peers.",
   [(f'sum by (route) (rate(pushprox_proxy_identity_rejections_total{{{P}}}[{R}]))', "refused {{route}}"),
    (f'sum(rate(pushprox_proxy_identity_header_ignored_total{{{P}}}[{R}]))', "header ignored")], unit="reqps")
ts("Certificate expiry", "Time left on each proxy listener's certificate, and on the 5 client certificates that expire first.",
   [(f'pushprox_proxy_tls_certificate_expiry_timestamp_seconds{{{P}}} - time()', "proxy {{instance}} {{listener}}"),
    (f'bottomk(5, pushprox_client_tls_certificate_expiry_timestamp_seconds{{{C}}} - time())', "client {{instance}}")],
   unit="s", minv=None)
ts("Reloads", "1 when the last reload of the proxy's web config and certificates, and of the clients' TLS files, succeeded (the clients' worst shown).",
   [(f'pushprox_proxy_config_last_reload_successful{{{P}}}', "proxy {{instance}}"),
    (f'min(pushprox_client_tls_last_reload_successful{{{C}}})', "clients (min)")])
ts("Readiness", "Proxies ready and clients ready (/-/ready), as counts.",
   [(f'sum(pushprox_proxy_ready{{{P}}})', "proxies ready"),
    (f'sum(pushprox_client_ready{{{C}}})', "clients ready"),
    (f'count(pushprox_client_ready{{{C}}} == 0)', "clients not ready")])

row("Proxy process")
ts("CPU", "CPU used by each proxy, in cores.",
   [(f'rate(process_cpu_seconds_total{{{P}}}[{R}])', "{{instance}}")], unit="short")
ts("Memory (RSS)", "Resident memory of each proxy, and push bodies held while they arrive (--push.max-buffered).",
   [(f'process_resident_memory_bytes{{{P}}}', "rss {{instance}}"),
    (f'pushprox_proxy_push_buffered_bytes{{{P}}}', "push buffered {{instance}}")], unit="bytes")
ts("File descriptors", "Open descriptors against the limit; connections held.",
   [(f'process_open_fds{{{P}}}', "open {{instance}}"),
    (f'process_max_fds{{{P}}}', "max {{instance}}"),
    (f'pushprox_proxy_connections{{{P}}}', "connections {{instance}}")])
ts("Worker inboxes", "Messages waiting in each worker's rings, answers that met a full ring, and accept pauses for want of descriptors.",
   [(f'max by (instance) (pushprox_proxy_inbox_depth{{{P}}})', "deepest inbox {{instance}}"),
    (f'rate(pushprox_proxy_inbox_backlogged_total{{{P}}}[{R}])', "backlogged/s {{instance}}"),
    (f'rate(pushprox_proxy_accept_paused_total{{{P}}}[{R}])', "accept paused/s {{instance}}")])
ts("Scrapes in flight", "Scrapes waiting for their push, per proxy.",
   [(f'pushprox_proxy_scrapes_in_flight{{{P}}}', "{{instance}}")])
ts("Requests by path", "Every request the proxy answered, by path.",
   [(f'sum by (path) (rate(pushprox_http_requests_total{{{P}}}[{R}]))', "{{path}}")], unit="reqps")

row("Clients")
ts("Client errors", "Scrapes the clients answered with a 500, pushes that failed, polls that failed, scrapes refused by --scrape.allow.",
   [(f'sum(rate(pushprox_client_scrape_errors_total{{{C}}}[{R}]))', "scrape errors"),
    (f'sum(rate(pushprox_client_push_errors_total{{{C}}}[{R}]))', "push errors"),
    (f'sum(rate(pushprox_client_poll_errors_total{{{C}}}[{R}]))', "poll errors"),
    (f'sum(rate(pushprox_client_scrapes_refused_total{{{C}}}[{R}]))', "refused")], unit="reqps")
ts("Client scrapes", "Scrapes the clients received, and those running now.",
   [(f'sum(rate(pushprox_client_scrapes_total{{{C}}}[{R}]))', "scrapes/s"),
    (f'sum(pushprox_client_scrapes_in_flight{{{C}}})', "in flight")])
ts("Exporter latency (p99)", "Time from the client's request to the exporter's full response, by port.",
   [(f'histogram_quantile(0.99, sum by (le, port) (rate(pushprox_client_scrape_duration_seconds_bucket{{{C}}}[{R}])))', "{{port}}")],
   unit="s")
ts("Client CPU (top 10)", "The 10 clients using the most CPU, in cores.",
   [(f'topk(10, rate(process_cpu_seconds_total{{{C}}}[{R}]))', "{{instance}}")])
ts("Client memory (top 10)", "The 10 clients with the largest RSS.",
   [(f'topk(10, process_resident_memory_bytes{{{C}}})', "{{instance}}")], unit="bytes")
ts("Client connections", "Connections the clients hold to the proxy and to exporters; open descriptors of the busiest.",
   [(f'sum(pushprox_client_proxy_connections{{{C}}})', "to the proxy"),
    (f'sum(pushprox_client_exporter_connections{{{C}}})', "to exporters"),
    (f'max(process_open_fds{{{C}}})', "max open fds")])

def var(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-query"}, "definition": query,
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0,
            "options": [], "regex": ""}

dash = {
    "title": "PushProx",
    "uid": "pushprox-c",
    "description": "pushprox-c proxies and clients: clients connected, scrapes and polls, limits, TLS, certificates, processes. From deploy/monitoring/ (pushprox-c).",
    "tags": ["pushprox", "prometheus"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "timezone": "",
    "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                              "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                              "name": "Annotations & Alerts", "type": "dashboard"}]},
    "links": [],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1, "regex": ""},
        var("job", "Proxy job", "label_values(pushprox_proxy_ready, job)"),
        var("instance", "Proxy", 'label_values(pushprox_proxy_ready{job=~"$job"}, instance)'),
        var("client_job", "Client job", "label_values(pushprox_client_ready, job)"),
        var("client_instance", "Client", 'label_values(pushprox_client_ready{job=~"$client_job"}, instance)'),
    ]},
    "panels": panels,
}
print(json.dumps(dash, indent=2))
