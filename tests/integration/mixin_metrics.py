#!/usr/bin/env python3
"""mixin_metrics.py - checks of deploy/monitoring/ for tests/integration/monitoring_mixin.sh.

  names RULES DASHBOARD            print every metric name the rules and the dashboard use
  check RULES DASHBOARD PAGE...    fail naming each used metric that is on none of the
                                   /metrics pages (files) and is not a recording rule
  coverage RULES TESTS             fail naming each alert without a firing and a
                                   not-firing case in the promtool unit tests
  dashboard DASHBOARD              fail unless the dashboard is a Grafana dashboard with
                                   panels, each querying ${datasource}, and the variables
  query DASHBOARD API              run each dashboard query (variables at "All") as an
                                   instant query at Prometheus's API (http://host:port/api/v1)
                                   and fail naming each one Prometheus refuses

Names are found by a small PromQL scan: string literals, {label matchers}, [ranges],
grouping clauses (by/without/on/ignoring/group_left/group_right (...)) are removed; what
is left that looks like an identifier, is not followed by "(" (a function or an
aggregation) and is not a keyword, is a metric name. `up` is Prometheus's own series.
Python stdlib and PyYAML only.
"""
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan"}
SYNTHETIC = {"up"}  # written by Prometheus for every target, on no /metrics page
IDENT = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$")


def metric_names(expr):
    """The metric names in one PromQL expression (a set)."""
    m = LABEL_VALUES.match(expr)  # a Grafana variable query: label_values(SELECTOR, label)
    if m:
        expr = m.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^{}]*\}", " ", expr)
    expr = re.sub(r"\[[^\[\]]*\]", " ", expr)
    expr = GROUPING.sub(" ", expr)
    names = set()
    for m in IDENT.finditer(expr):
        name = m.group(0)
        rest = expr[m.end():].lstrip()
        if rest.startswith("(") or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def load_rules(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs(dash):
    """(where, expr) for every panel query and variable query of a Grafana dashboard."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(("panel %r" % p.get("title"), t["expr"]))
            walk(p.get("panels", []))

    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            out.append(("variable $%s" % v["name"], q))
    return out


def used_names(rules_path, dash_path):
    """{metric name: [where it is used]} and the set of recorded names."""
    rules = load_rules(rules_path)
    recorded = {r["record"] for r in rules if "record" in r}
    used = {}
    for r in rules:
        where = "rule %s" % (r.get("record") or r.get("alert"))
        for n in metric_names(r["expr"]):
            used.setdefault(n, []).append(where)
    with open(dash_path) as f:
        dash = json.load(f)
    for where, expr in dashboard_exprs(dash):
        for n in metric_names(expr):
            used.setdefault(n, []).append(where)
    return used, recorded


def page_names(path):
    """Sample names on one Prometheus text-format page."""
    names = set()
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def cmd_names(rules_path, dash_path):
    used, recorded = used_names(rules_path, dash_path)
    for n in sorted(used):
        print(n + (" (recorded)" if n in recorded else ""))


def cmd_check(rules_path, dash_path, pages):
    used, recorded = used_names(rules_path, dash_path)
    exposed = set()
    for p in pages:
        exposed |= page_names(p)
    if not exposed:
        sys.exit("no metric on the pages %s" % " ".join(pages))
    missing = sorted(n for n in used if n not in exposed and n not in recorded and
                     n not in SYNTHETIC)
    for n in missing:
        print("MISSING %s (used by %s)" % (n, ", ".join(sorted(set(used[n])))))
    raw = [n for n in used if n not in recorded]
    print("%d metric names used (%d recording rules), %d exposed by the pages, %d missing"
          % (len(raw), len(used) - len(raw), len(exposed), len(missing)))
    sys.exit(1 if missing else 0)


def cmd_coverage(rules_path, tests_path):
    alerts = sorted({r["alert"] for r in load_rules(rules_path) if "alert" in r})
    with open(tests_path) as f:
        tests = yaml.safe_load(f)["tests"]
    fires, quiet = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    bad = 0
    for a in alerts:
        if a not in fires:
            print("NO FIRING CASE for %s" % a)
            bad += 1
        if a not in quiet:
            print("NO NOT-FIRING CASE for %s" % a)
            bad += 1
    print("%d alerts, %d with both a firing and a not-firing case"
          % (len(alerts), len(fires & quiet & set(alerts))))
    sys.exit(1 if bad or not alerts else 0)


def cmd_dashboard(dash_path):
    with open(dash_path) as f:
        dash = json.load(f)
    errs = []
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        errs.append("schemaVersion %r, want >= 36" % dash.get("schemaVersion"))
    vars_ = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    if vars_.get("datasource", {}).get("type") != "datasource":
        errs.append("no datasource variable named datasource")
    for v in ("job", "instance"):
        if v not in vars_:
            errs.append("no variable $%s" % v)
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    if not panels:
        errs.append("no panels")
    ids = [p.get("id") for p in dash.get("panels", [])]
    if len(ids) != len(set(ids)):
        errs.append("panel ids are not unique")
    for p in panels:
        t = p.get("title")
        if not p.get("targets"):
            errs.append("panel %r has no query" % t)
        for q in p.get("targets", []):
            if not q.get("expr"):
                errs.append("panel %r has a query without expr" % t)
            if q.get("datasource", p.get("datasource", {})).get("uid") != "${datasource}":
                errs.append("panel %r does not query ${datasource}" % t)
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            errs.append("panel %r has a bad gridPos %r" % (t, g))
    for e in errs:
        print("DASHBOARD: " + e)
    print("%d panels, %d queries" % (len(panels), len(dashboard_exprs(dash))))
    sys.exit(1 if errs else 0)


def runnable(expr):
    """A dashboard query with Grafana's variables replaced, every one at "All"."""
    m = LABEL_VALUES.match(expr)
    if m:
        expr = m.group(1)
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def cmd_query(dash_path, api):
    with open(dash_path) as f:
        dash = json.load(f)
    queries = dashboard_exprs(dash)
    bad = 0
    for where, expr in queries:
        url = api + "/query?" + urllib.parse.urlencode({"query": runnable(expr)})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                status = json.load(r).get("status")
                err = ""
        except urllib.error.HTTPError as e:
            status, err = "error", e.read().decode(errors="replace")[:300]
        except OSError as e:
            status, err = "error", str(e)
        if status != "success":
            print("QUERY FAILED (%s): %s: %s" % (where, runnable(expr), err))
            bad += 1
    print("%d dashboard queries run, %d failed" % (len(queries), bad))
    sys.exit(1 if bad or not queries else 0)


def main(argv):
    cmds = {"names": (cmd_names, 2), "check": (cmd_check, 3), "coverage": (cmd_coverage, 2),
            "dashboard": (cmd_dashboard, 1), "query": (cmd_query, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        sys.exit(__doc__)
    fn, n = cmds[argv[1]]
    if argv[1] == "check":
        fn(argv[2], argv[3], argv[4:])
    else:
        fn(*argv[2:2 + n])


if __name__ == "__main__":
    main(sys.argv)
