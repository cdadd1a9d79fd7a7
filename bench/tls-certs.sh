#!/bin/sh
# tls-certs.sh DIR - the certificates of the bench's TLS runs, made with the openssl CLI into
# DIR, every key ECDSA P-256: a CA (ca.crt), the proxy's certificate for 127.0.0.1 and
# localhost (server.crt/.key), one wildcard client certificate *.bench that names every
# simulated client c<N>.bench (bench.crt/.key), and a client certificate of the same CA for
# other.example only (other.crt/.key), which may poll for no simulated FQDN.
# Also web.yml: the proxy's exporter-toolkit web config requiring and verifying client
# certificates. Exits non-zero on any failure.
set -eu
D=$1
mkdir -p "$D"
cd "$D"
D=$(pwd)
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }
key ca
openssl req -x509 -new -key ca.key -subj "/CN=pushprox-bench CA" -days 7 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -out ca.crt 2>/dev/null
# cert NAME CN SAN: a key and a certificate of NAME signed by the CA.
cert() {
    key "$1"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -sha256 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
cert server localhost "DNS:localhost,IP:127.0.0.1"
cert bench "*.bench" "DNS:*.bench"
cert other other.example "DNS:other.example"
cat >web.yml <<YML
tls_server_config:
  cert_file: $D/server.crt
  key_file: $D/server.key
  client_ca_file: $D/ca.crt
  client_auth_type: RequireAndVerifyClientCert
YML
