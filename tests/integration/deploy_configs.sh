#!/usr/bin/env bash
# deploy_configs.sh - the files under deploy/ are valid for the tools that read them:
# haproxy -c, nginx -t (with throwaway certificates from openssl), systemd-analyze verify
# on the units and the TLS drop-in, yamllint (or a YAML parse) on the Kubernetes manifests.
# A tool that is not installed skips its check; the scenario skips if none could run.
# tsan: no
set -u
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DEPLOY="$ROOT/deploy"
checked=0

# --- haproxy -------------------------------------------------------------------------------
if command -v haproxy >/dev/null; then
    out=$(haproxy -c -f "$DEPLOY/haproxy/haproxy.cfg" 2>&1) ||
        fail "haproxy -c deploy/haproxy/haproxy.cfg: $out"
    log "haproxy.cfg: valid"
    checked=$((checked + 1))
else
    log "haproxy not installed: not checked"
fi

# --- nginx ---------------------------------------------------------------------------------
if command -v nginx >/dev/null && command -v openssl >/dev/null; then
    p="$TEST_TMP/nginx"
    mkdir -p "$p/tls" "$p/tmp"
    cp "$DEPLOY/nginx/nginx.conf" "$p/"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca \
        -keyout "$p/tls/ca.key" -out "$p/tls/ca.crt" >/dev/null 2>&1 || fail "openssl (ca)"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pushprox.example.com \
        -keyout "$p/tls/server.key" -out "$p/tls/server.crt" >/dev/null 2>&1 ||
        fail "openssl (server)"
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

# --- Kubernetes manifests -----------------------------------------------------------------
if command -v yamllint >/dev/null; then
    out=$(yamllint -s -c "$DEPLOY/.yamllint" "$DEPLOY"/kubernetes/*.yaml 2>&1) ||
        fail "yamllint deploy/kubernetes: $out"
    log "kubernetes manifests: yamllint clean"
    checked=$((checked + 1))
elif python3 -c 'import yaml' 2>/dev/null; then
    out=$(python3 - "$DEPLOY"/kubernetes/*.yaml <<'EOF' 2>&1
import sys, yaml
for f in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(f)):
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], f
EOF
    ) || fail "YAML parse of deploy/kubernetes: $out"
    log "kubernetes manifests: parse (yamllint not installed)"
    checked=$((checked + 1))
else
    log "neither yamllint nor python3-yaml installed: manifests not checked"
fi

[ "$checked" -gt 0 ] || skip "no validator installed"
exit 0
