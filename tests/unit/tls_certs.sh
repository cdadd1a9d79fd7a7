#!/bin/sh
# tls_certs.sh DIR - the certificates the TLS unit tests use, made with the openssl CLI into
# DIR (ECDSA P-256 keys): two CAs, servers with and without SANs, client certificates for
# two FQDNs and for localhost, a wildcard, an expired one, a not-yet-valid one, one from the other CA, one
# without SAN, and a few for the name-matching table. Exits non-zero on any failure.
set -eu
D=$1
mkdir -p "$D/newcerts"
cd "$D"
cat >req.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
CNF
cat >ca.cnf <<'CNF'
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
CNF
: >index.txt
echo 1000 >serial
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }
for ca in ca ca2; do
    key "$ca"
    openssl req -x509 -new -key "$ca.key" -subj "/CN=pushprox test $ca" -days 30 \
        -config req.cnf -extensions v3_ca -out "$ca.crt"
done
# cert NAME CA SUBJECT EXT [START END]: a key and a certificate signed by CA; EXT is the
# extension line; START/END as openssl ca's -startdate/-enddate (default: 30 days from now).
cert() {
    key "$1"
    openssl req -new -key "$1.key" -subj "$3" -config req.cnf -out "$1.csr"
    printf '%s\n' "$4" >"$1.ext"
    if [ $# -ge 6 ]; then dates="-startdate $5 -enddate $6"; else dates="-days 30"; fi
    # shellcheck disable=SC2086 # dates is two options
    openssl ca -batch -notext -config ca.cnf -cert "$2.crt" -keyfile "$2.key" -in "$1.csr" \
        -out "$1.crt" -extfile "$1.ext" $dates 2>/dev/null
}
S='subjectAltName='
cert server ca /CN=localhost "${S}DNS:localhost,IP:127.0.0.1,IP:::1"
cert server_other ca /CN=proxy.example.com "${S}DNS:proxy.example.com,IP:10.0.0.1"
cert server_nosan ca /CN=localhost "basicConstraints=CA:FALSE"
cert server_expired ca /CN=localhost "${S}DNS:localhost,IP:127.0.0.1" 20200101000000Z 20200201000000Z
cert node1 ca /CN=node1.example.com "${S}DNS:node1.example.com"
# a client certificate for a name that resolves here (upstream_interop.sh: upstream's client
# scrapes the scrape URL's host as given, so its FQDN must resolve to loopback)
cert localclient ca /CN=localhost "${S}DNS:localhost"
cert node2 ca /CN=node2.example.com "${S}DNS:node2.example.com"
cert wildcard ca /CN=wildcard "${S}DNS:*.example.com"
cert expired ca /CN=old.example.com "${S}DNS:old.example.com" 20200101000000Z 20200201000000Z
cert future ca /CN=new.example.com "${S}DNS:new.example.com" 20990101000000Z 20990201000000Z
cert otherca ca2 /CN=node1.example.com "${S}DNS:node1.example.com"
cert nosan ca /CN=nosan.example.com "basicConstraints=CA:FALSE"
cert mixed ca /CN=cn.example.com "${S}DNS:Node3.Example.COM,IP:192.0.2.7,IP:2001:db8::7,email:ops@example.com,URI:spiffe://example.com/node3"
cert ipv4only ca /CN=192.0.2.9 "${S}IP:192.0.2.9"
cert urionly ca /CN=uri.example.com "${S}URI:spiffe://example.com/x"
