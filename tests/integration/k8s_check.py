#!/usr/bin/env python3
"""k8s_check.py - what a client-side dry run does not check in deploy/kubernetes/ (test
tool; python3 with PyYAML).

  k8s_check.py [--haproxy-cfg FILE] MANIFEST...

Types and shapes of the fields the manifests use (integers, strings, lists, the
required ones), and the references between objects that a cluster would only reveal
at run time: selectors matching their pod templates, Services and PodDisruptionBudgets
matching pods, a StatefulSet's serviceName naming a headless Service, probes naming a
declared port, volume mounts naming a declared volume, ConfigMaps mounted by name
existing, $(VAR) in args defined in env, a grace period that covers the proxy's
--shutdown.delay + --shutdown.timeout, and (with --haproxy-cfg) the LB ConfigMap's
haproxy.cfg being that file byte for byte. Prints one line per problem; exits 1 if any.
"""

import argparse
import re
import sys

import yaml

PROBLEMS = []


def problem(where, msg):
    PROBLEMS.append("%s: %s" % (where, msg))


def need(obj, path, typ, where):
    """obj[path...] must exist with type typ; returns it or None."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            problem(where, "missing %s" % ".".join(path))
            return None
        cur = cur[key]
    if not isinstance(cur, typ) or (typ is int and isinstance(cur, bool)):
        problem(where, "%s must be %s, is %r" % (".".join(path), typ.__name__, cur))
        return None
    return cur


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", text)
    if not m:
        return None
    n = int(m.group(1))
    return {"ms": n / 1000.0, "s": n, "m": n * 60}[m.group(2)]


def check_pod(spec, where, configmaps):
    containers = need(spec, ["containers"], list, where) or []
    volumes = {v.get("name") for v in spec.get("volumes", []) if isinstance(v, dict)}
    for v in spec.get("volumes", []):
        if "configMap" in v and v["configMap"].get("name") not in configmaps:
            problem(where, "volume %s mounts ConfigMap %r, defined nowhere" %
                    (v.get("name"), v["configMap"].get("name")))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if not isinstance(grace, int):
        problem(where, "terminationGracePeriodSeconds must be an integer")
    for c in containers:
        cw = "%s container %s" % (where, c.get("name"))
        need(c, ["name"], str, cw)
        need(c, ["image"], str, cw)
        ports = {}
        for p in c.get("ports", []):
            n = need(p, ["containerPort"], int, cw)
            if "name" in p:
                ports[p["name"]] = n
        env = {e.get("name") for e in c.get("env", [])}
        for e in c.get("env", []):
            need(e, ["name"], str, cw)
            if "value" in e and not isinstance(e["value"], str):
                problem(cw, "env %s: value must be a string" % e.get("name"))
        args = c.get("args", [])
        if not all(isinstance(a, str) for a in args):
            problem(cw, "args must all be strings")
        for a in args:
            for ref in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                if ref not in env:
                    problem(cw, "arg %r uses $(%s), not in env" % (a, ref))
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.get(kind)
            if not probe:
                continue
            get = probe.get("httpGet") or probe.get("tcpSocket")
            if not get:
                problem(cw, "%s has neither httpGet nor tcpSocket" % kind)
                continue
            port = get.get("port")
            if isinstance(port, str) and port not in ports:
                problem(cw, "%s names port %r, not declared" % (kind, port))
            if "httpGet" in probe and not str(probe["httpGet"].get("path", "")).startswith("/"):
                problem(cw, "%s path must start with /" % kind)
            for k in ("periodSeconds", "failureThreshold", "timeoutSeconds"):
                if k in probe and not isinstance(probe[k], int):
                    problem(cw, "%s.%s must be an integer" % (kind, k))
        for m in c.get("volumeMounts", []):
            if m.get("name") not in volumes:
                problem(cw, "volumeMount %r names no volume" % m.get("name"))
            need(m, ["mountPath"], str, cw)
        # The proxy's drain must fit in the grace period.
        flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        if "shutdown.delay" in flags:
            total = sum(duration_s(flags.get(k, "0s")) or 0
                        for k in ("shutdown.delay", "shutdown.timeout"))
            if isinstance(grace, int) and total >= grace:
                problem(cw, "terminationGracePeriodSeconds %d does not cover "
                        "--shutdown.delay + --shutdown.timeout (%gs)" % (grace, total))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--haproxy-cfg")
    ap.add_argument("manifests", nargs="+")
    a = ap.parse_args()
    docs = []
    for f in a.manifests:
        with open(f, encoding="utf-8") as fh:
            for d in yaml.safe_load_all(fh):
                if d is not None:
                    docs.append((f, d))
    configmaps = {d["metadata"]["name"] for _, d in docs if d.get("kind") == "ConfigMap"}
    pods = []  # (namespace, labels) of every pod template
    services = {}
    for f, d in docs:
        where = "%s %s/%s" % (f, d.get("kind"), (d.get("metadata") or {}).get("name"))
        for k in ("apiVersion", "kind"):
            need(d, [k], str, where)
        need(d, ["metadata", "name"], str, where)
        need(d, ["metadata", "namespace"], str, where)
        kind = d.get("kind")
        ns = (d.get("metadata") or {}).get("namespace")
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            sel = need(d, ["spec", "selector", "matchLabels"], dict, where) or {}
            labels = need(d, ["spec", "template", "metadata", "labels"], dict, where) or {}
            if any(labels.get(k) != v for k, v in sel.items()):
                problem(where, "selector %r does not match the template's labels %r" %
                        (sel, labels))
            if kind != "DaemonSet":
                need(d, ["spec", "replicas"], int, where)
            pods.append((ns, labels, d))
            check_pod(d["spec"]["template"].get("spec", {}), where, configmaps)
        elif kind == "Service":
            services[(ns, d["metadata"]["name"])] = d
            for p in need(d, ["spec", "ports"], list, where) or []:
                need(p, ["port"], int, where)
        elif kind == "ConfigMap":
            data = need(d, ["data"], dict, where) or {}
            if not all(isinstance(v, str) for v in data.values()):
                problem(where, "data values must be strings")
            if a.haproxy_cfg and "haproxy.cfg" in data:
                with open(a.haproxy_cfg, encoding="utf-8") as fh:
                    if fh.read() != data["haproxy.cfg"]:
                        problem(where, "haproxy.cfg differs from %s" % a.haproxy_cfg)
        elif kind == "PodDisruptionBudget":
            need(d, ["spec", "selector", "matchLabels"], dict, where)
    for f, d in docs:
        where = "%s %s/%s" % (f, d.get("kind"), d["metadata"]["name"])
        ns = d["metadata"].get("namespace")
        sel = None
        if d.get("kind") == "Service":
            sel = d.get("spec", {}).get("selector") or {}
        elif d.get("kind") == "PodDisruptionBudget":
            sel = d.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        if sel is not None and not any(
                pns == ns and all(pl.get(k) == v for k, v in sel.items())
                for pns, pl, _ in pods):
            problem(where, "selector %r matches no pod template" % sel)
        if d.get("kind") == "StatefulSet":
            svc = services.get((ns, d["spec"].get("serviceName")))
            if svc is None or svc["spec"].get("clusterIP") != "None":
                problem(where, "serviceName %r is not a headless Service here" %
                        d["spec"].get("serviceName"))
    for p in PROBLEMS:
        print(p)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
