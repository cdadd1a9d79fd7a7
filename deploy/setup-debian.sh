#!/usr/bin/env bash
# deploy/setup-debian.sh - installs what building, running and testing pushprox-c needs on
# Debian 12 (bookworm): compilers, the libraries (libuv, mbedTLS, Concurrency Kit, llhttp,
# libyaml, libxcrypt, Criterion) and the real components the tests start (prometheus,
# node_exporter, nginx, haproxy, openssl, tinyproxy), kubectl for the manifests' dry run, ip
# and nft to make a replica's host vanish, groff and man-db to check the man pages. make
# asan and make fuzz need clang and libclang-rt-14-dev (libFuzzer and the sanitizers'
# runtimes) and llvm (llvm-symbolizer: readable sanitizer stack traces);
# bench/profile-open.sh needs perf (linux-perf) and strace. Services those packages ship
# are not started: the tests and the demo run their own instances on loopback. Runs
# apt-get as root, through sudo if need be.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup-debian.sh: run it as root (no sudo here)" >&2; exit 1; }
    exec sudo -E "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive

# policy-rc.d answering 101 ("action forbidden") keeps invoke-rc.d and deb-systemd-invoke
# from starting the services of the packages installed below.
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
    backup=$(mktemp)
    cp -p "$policy" "$backup"
fi
restore() { if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi; }
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 0755 "$policy"

for attempt in 1 2 3; do
    apt-get update && break
    [ "$attempt" = 3 ] && exit 1
    sleep 10
done
apt-get install -y --no-install-recommends \
    build-essential make git clang libclang-rt-14-dev llvm \
    libuv1-dev libmbedtls-dev libck-dev libcriterion-dev node-llhttp libyaml-dev libcrypt-dev \
    prometheus prometheus-node-exporter nginx haproxy wrk openssl curl tinyproxy \
    python3 ca-certificates procps gzip shellcheck yamllint \
    iproute2 nftables groff-base man-db linux-perf strace
# kubectl only when none is installed: some images ship Google's kubectl package, which
# owns /usr/bin/kubectl and makes Debian's kubernetes-client fail to unpack.
if ! command -v kubectl >/dev/null; then
    apt-get install -y --no-install-recommends kubernetes-client
fi
