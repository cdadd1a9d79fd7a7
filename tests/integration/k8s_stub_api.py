#!/usr/bin/env python3
"""k8s_stub_api.py - just enough of a Kubernetes API server for `kubectl apply
--dry-run=client --validate=false` (test tool; stdlib only).

  k8s_stub_api.py --port P

kubectl needs the server only to map each manifest's apiVersion and kind to a resource
(discovery: /api, /apis, /api/v1, /apis/<group>/<version>) and to look the object up
(404 here: nothing exists, so a dry run "creates" it). The discovery lists the kinds
deploy/kubernetes/ uses, so kubectl refuses anything else as it would on a real cluster
("no matches for kind"). Every request is logged to stderr.
"""

import argparse
import http.server
import json
import sys

RESOURCES = {
    "v1": [("services", "Service"), ("configmaps", "ConfigMap"), ("secrets", "Secret"),
           ("namespaces", "Namespace"), ("serviceaccounts", "ServiceAccount")],
    "apps/v1": [("deployments", "Deployment"), ("statefulsets", "StatefulSet"),
                ("daemonsets", "DaemonSet")],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget")],
}


def resource_list(group_version):
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": [{"name": name, "singularName": kind.lower(), "kind": kind,
                       "namespaced": kind != "Namespace",
                       "verbs": ["create", "delete", "get", "list", "patch", "update",
                                 "watch"]}
                      for name, kind in RESOURCES[group_version]],
    }


def group_list():
    groups = []
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        group, version = gv.split("/")
        ver = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [ver], "preferredVersion": ver})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("k8s-stub: %s\n" % (fmt % args))

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/api":
            return self.answer(200, {"kind": "APIVersions", "versions": ["v1"],
                                     "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self.answer(200, group_list())
        if path == "/api/v1":
            return self.answer(200, resource_list("v1"))
        if path.startswith("/apis/") and path.count("/") == 3 and path[6:] in RESOURCES:
            return self.answer(200, resource_list(path[6:]))
        if path == "/version":
            return self.answer(200, {"major": "1", "minor": "27", "gitVersion": "v1.27.0"})
        return self.answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404,
                                 "message": "the stub holds no objects"})


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
