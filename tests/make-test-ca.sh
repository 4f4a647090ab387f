#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# make-test-ca.sh DIR: a throw-away test PKI made at test time with the openssl command.
#   DIR/ca.pem, ca.key              the test CA (never trusted outside the test)
#   DIR/server.pem, server.key      for localhost, 127.0.0.1, ::1 and *.demo.test
#   DIR/wronghost.pem, wronghost.key  valid chain, but only for wrong.example
#   DIR/other-ca.pem, selfsigned.pem/.key  a certificate no test trusts
# Keys are EC P-256 (fast); certificates valid for 1 day.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
ossl() { openssl "$@" 2>/dev/null; }

ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=msgtrk test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

leaf() { # name san [days [ca]]: -days -1 makes a certificate that expired yesterday
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA "${4:-ca}.pem" -CAkey "${4:-ca}.key" -CAcreateserial \
    -days "${3:-1}" -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
leaf server "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:*.demo.test,DNS:demo.test"
leaf wronghost "DNS:wrong.example"
leaf expired "DNS:localhost,IP:127.0.0.1" -1

ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout selfsigned.key -out selfsigned.pem
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=other CA" -keyout other-ca.key -out other-ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
leaf untrusted "DNS:localhost,IP:127.0.0.1" 1 other-ca
chmod 644 ./*.pem
test -s server.pem && test -s wronghost.pem && test -s selfsigned.pem && test -s expired.pem \
  && test -s untrusted.pem
