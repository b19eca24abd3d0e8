#!/usr/bin/env bash
# Makes the TLS test certificates in this folder (ECDSA P-256, valid until
# 2125; one client certificate expired in 2001). They are test data, checked
# in so that every run uses the same ones: never use these keys elsewhere.
# Run again only to replace them: scripts/test does not.
set -euo pipefail
cd "$(dirname "$0")"
out=certs
rm -rf "$out" && mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME SUBJECT
  key "$out/$1.key"
  openssl req -x509 -new -key "$out/$1.key" -subj "$2" -days 36500 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$out/$1.pem"
}
leaf() {  # leaf NAME CA SUBJECT EXTENSIONS
  key "$out/$1.key"
  openssl req -new -key "$out/$1.key" -subj "$3" -out "$tmp/$1.csr"
  printf '%s\n' "$4" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$out/$2.pem" -CAkey "$out/$2.key" \
    -CAcreateserial -days 36500 -sha256 -extfile "$tmp/$1.ext" -out "$out/$1.pem" 2>/dev/null
}
ca ca "/CN=framed test CA"
ca other-ca "/CN=framed other CA"
leaf server ca "/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
# The same names from the other CA: what a certificate reload swaps in.
leaf server2 other-ca "/CN=localhost" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
leaf client ca "/CN=client one/O=framed tests" \
  "subjectAltName=DNS:client.example,email:client@example.com
extendedKeyUsage=clientAuth"
leaf stranger other-ca "/CN=stranger" "extendedKeyUsage=clientAuth"
# Expired: openssl ca can set both dates in the past.
key "$out/expired.key"
openssl req -new -key "$out/expired.key" -subj "/CN=expired" -out "$tmp/expired.csr"
mkdir -p "$tmp/db" && : > "$tmp/db/index" && echo 01 > "$tmp/db/serial"
cat > "$tmp/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $tmp/db/index
serial = $tmp/db/serial
new_certs_dir = $tmp/db
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
openssl ca -batch -config "$tmp/ca.cnf" -cert "$out/ca.pem" -keyfile "$out/ca.key" \
  -startdate 20000101000000Z -enddate 20010101000000Z -in "$tmp/expired.csr" \
  -out "$out/expired.pem" -notext 2>/dev/null
rm -f "$out"/*.srl
echo "made: $(ls "$out" | tr '\n' ' ')"
