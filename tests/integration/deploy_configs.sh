#!/usr/bin/env bash
# deploy_configs.sh - the files under deploy/ are valid for the tools that read them:
# haproxy -c (as shipped, and with its TLS listener on, with throwaway certificates from
# openssl), nginx -t, systemd-analyze verify on the units and the TLS drop-in, promtool
# on the Prometheus configurations (those in deploy/prometheus/ and the one in the
# Kubernetes ConfigMap), and for the Kubernetes manifests: yamllint, k8s_check.py (field
# types, references between the objects, the LB ConfigMap's haproxy.cfg being
# deploy/haproxy/haproxy.cfg byte for byte) and `kubectl apply --dry-run=client
# --validate=false` against k8s_stub_api.py (kubectl needs a server for discovery only).
# A tool that is not installed skips its check; the scenario skips if none could run.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DEPLOY="$ROOT/deploy"
HERE="$ROOT/tests/integration"
checked=0

throwaway_certs() { # throwaway_certs DIR: ca.crt/ca.key, server.crt/server.key in DIR
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca \
        -keyout "$1/ca.key" -out "$1/ca.crt" >/dev/null 2>&1 || fail "openssl (ca)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pushprox.example.com \
        -keyout "$1/server.key" -out "$1/server.crt" >/dev/null 2>&1 ||
        fail "openssl (server)"
}

# --- haproxy -------------------------------------------------------------------------------
if command -v haproxy >/dev/null; then
    out=$(haproxy -c -f "$DEPLOY/haproxy/haproxy.cfg" 2>&1) ||
        fail "haproxy -c deploy/haproxy/haproxy.cfg: $out"
    if command -v openssl >/dev/null; then
        t="$TEST_TMP/haproxy-tls"
        mkdir -p "$t"
        throwaway_certs "$t"
        cp "$t/server.key" "$t/server.crt.key"
        out=$(PUSHPROX_LB_TLS_BIND=127.0.0.1:8443 PUSHPROX_LB_TLS_CERT="$t/server.crt" \
            PUSHPROX_LB_TLS_CA="$t/ca.crt" PUSHPROX_LB_ADMIN_SOCKET="$t/admin.sock" \
            haproxy -c -f "$DEPLOY/haproxy/haproxy.cfg" 2>&1) ||
            fail "haproxy -c deploy/haproxy/haproxy.cfg with PUSHPROX_LB_TLS_BIND set: $out"
    fi
    log "haproxy.cfg: valid (and with its TLS listener)"
    checked=$((checked + 1))
else
    log "haproxy not installed: not checked"
fi

# --- nginx ---------------------------------------------------------------------------------
if command -v nginx >/dev/null && command -v openssl >/dev/null; then
    p="$TEST_TMP/nginx"
    mkdir -p "$p/tls" "$p/tmp"
    cp "$DEPLOY/nginx/nginx.conf" "$p/"
    throwaway_certs "$p/tls"
    out=$(nginx -t -p "$p/" -c nginx.conf 2>&1) || fail "nginx -t deploy/nginx/nginx.conf: $out"
    log "nginx.conf: valid"
    checked=$((checked + 1))
else
    log "nginx or openssl not installed: not checked"
fi

# --- systemd units -------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    u="$TEST_TMP/units"
    mkdir -p "$u/pushprox-client.service.d"
    printf '#!/bin/sh\nexit 0\n' >"$u/fake-bin"
    chmod +x "$u/fake-bin"
    : >"$u/env"
    # The binaries and the environment files do not exist here: point the units at stand-ins.
    for f in pushprox-proxy.service pushprox-client.service pushprox-client.service.d/tls.conf; do
        sed -e "s|/usr/local/bin/pushprox-[a-z]*|$u/fake-bin|" \
            -e "s|^EnvironmentFile=\(-\?\)/etc/default/.*|EnvironmentFile=\1$u/env|" \
            "$DEPLOY/systemd/$f" >"$u/$f" || fail "deploy/systemd/$f missing"
    done
    out=$(SYSTEMD_UNIT_PATH="$u:" systemd-analyze verify pushprox-proxy.service \
        pushprox-client.service 2>&1) || fail "systemd-analyze verify: $out"
    if [ -n "$out" ]; then
        log "systemd-analyze verify said (not fatal): $out"
    fi
    log "systemd units: valid"
    checked=$((checked + 1))
else
    log "systemd-analyze not installed: not checked"
fi

# --- Prometheus configurations -----------------------------------------------------------
k8s_prom="$TEST_TMP/k8s-prometheus.yml"
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$DEPLOY/kubernetes/prometheus-config.yaml" "$k8s_prom" <<'EOF' ||
import sys, yaml
doc = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d)
open(sys.argv[2], "w").write(doc["data"]["prometheus.yml"])
EOF
        fail "no prometheus.yml in deploy/kubernetes/prometheus-config.yaml"
fi
if command -v promtool >/dev/null; then
    for f in "$DEPLOY"/prometheus/*.yml $([ -s "$k8s_prom" ] && echo "$k8s_prom"); do
        out=$(promtool check config "$f" 2>&1) || fail "promtool check config $f: $out"
    done
    log "prometheus configurations: promtool check config clean"
    checked=$((checked + 1))
else
    log "promtool not installed: prometheus configurations not checked"
fi

# --- Kubernetes manifests and YAML files -----------------------------------------------------
if command -v yamllint >/dev/null; then
    out=$(yamllint -s -c "$DEPLOY/.yamllint" "$DEPLOY"/kubernetes/*.yaml \
        "$DEPLOY"/prometheus/*.yml 2>&1) || fail "yamllint: $out"
    log "kubernetes manifests and prometheus configurations: yamllint clean"
    checked=$((checked + 1))
else
    log "yamllint not installed: YAML style not checked"
fi
if python3 -c 'import yaml' 2>/dev/null; then
    out=$(python3 "$HERE/k8s_check.py" --haproxy-cfg "$DEPLOY/haproxy/haproxy.cfg" \
        "$DEPLOY"/kubernetes/*.yaml 2>&1) || fail "k8s_check.py deploy/kubernetes: $out"
    log "kubernetes manifests: fields, cross-references and the LB's haproxy.cfg check out"
    checked=$((checked + 1))
else
    log "python3-yaml not installed: manifests not checked by k8s_check.py"
fi
if command -v kubectl >/dev/null; then
    port=$(free_port)
    start_bg k8s-stub python3 "$HERE/k8s_stub_api.py" --port "$port"
    wait_http "http://127.0.0.1:$port/api" 20
    cat >"$TEST_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: stub
    cluster: {server: "http://127.0.0.1:$port"}
contexts:
  - name: stub
    context: {cluster: stub}
current-context: stub
users: []
EOF
    out=$(kubectl --kubeconfig="$TEST_TMP/kubeconfig" apply --dry-run=client \
        --validate=false -f "$DEPLOY/kubernetes/" 2>&1) ||
        fail "kubectl apply --dry-run=client deploy/kubernetes: $out"
    n=$(printf '%s\n' "$out" | grep -c 'created (dry run)')
    want=$(grep -c '^kind:' "$DEPLOY"/kubernetes/*.yaml | awk -F: '{ n += $2 } END { print n }')
    assert_eq "$want" "$n" "objects kubectl would create (kubectl said: $out)"
    log "kubernetes manifests: kubectl apply --dry-run=client accepts all $n objects"
    checked=$((checked + 1))
else
    log "kubectl not installed: no dry run"
fi

[ "$checked" -gt 0 ] || skip "no validator installed"
exit 0
