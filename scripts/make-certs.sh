#!/usr/bin/env bash
# make-certs.sh DIR — throw-away certificates for a daemon over mutual TLS,
# named as dockerd and the docker CLI expect them (docker's "Protect the
# Docker daemon socket" recipe, with P-256 keys, valid 30 days):
#
#   DIR/ca.pem, ca-key.pem                the CA: both sides trust it
#   DIR/server-cert.pem, server-key.pem   the daemon's: --tlscert, --tlskey
#   DIR/cert.pem, key.pem                 a client's: DOCKER_CERT_PATH=DIR
#   DIR/other-ca/                         a client of another CA, which the
#       ca.pem                              daemon must refuse: it trusts the
#       cert.pem, key.pem                   daemon (ca.pem is DIR's), but its
#       signer.pem                          certificate is signer.pem's
#
#   scripts/make-certs.sh /tmp/certs
#   minidockerd -H tcp://0.0.0.0:2376 --tlsverify --tlscacert /tmp/certs/ca.pem \
#       --tlscert /tmp/certs/server-cert.pem --tlskey /tmp/certs/server-key.pem
#   DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=/tmp/certs docker version
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
command -v openssl >/dev/null || { echo "make-certs.sh: needs openssl (apt-get install openssl)" >&2; exit 1; }
# openssl is chatty on stderr even when all goes well: silenced below, so
# a failure is reported here instead.
trap 'echo "make-certs.sh: openssl failed on line $LINENO" >&2' ERR
mkdir -p "$dir/other-ca"
cd "$dir"
# Private keys are born 0600: nobody else may read them, not even briefly.
umask 077

# ca NAME KEY CERT: a self-signed CA certificate.
ca() {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$2" -out "$3" -days 30 -subj "/CN=$1" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME KEY CERT CA_CERT CA_KEY EXTENSIONS: a key, and a certificate for
# it signed by the CA. Only the EXTENSIONS given go in (x509 -req adds none).
leaf() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$2" -subj "/CN=$1" 2>/dev/null |
        openssl x509 -req -out "$3" -days 30 -sha256 -CA "$4" -CAkey "$5" \
            -extfile <(printf '%s\n' "basicConstraints=CA:FALSE" \
                "keyUsage=critical,digitalSignature" "$6") 2>/dev/null
}

ca "minidocker throw-away CA" ca-key.pem ca.pem
# TLS clients check the name they dialled against the subjectAltName (not
# the CN): an IP entry for tcp://127.0.0.1:2376, DNS ones for names.
leaf minidockerd server-key.pem server-cert.pem ca.pem ca-key.pem \
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$(hostname)
extendedKeyUsage=serverAuth"
# clientAuth: the daemon lets this certificate log in, and only as a client.
leaf client key.pem cert.pem ca.pem ca-key.pem "extendedKeyUsage=clientAuth"

# The stranger: same shape, another CA.
ca "another CA" other-ca/signer-key.pem other-ca/signer.pem
leaf stranger other-ca/key.pem other-ca/cert.pem other-ca/signer.pem other-ca/signer-key.pem \
    "extendedKeyUsage=clientAuth"
cp ca.pem other-ca/ca.pem
rm other-ca/signer-key.pem # nothing more to sign with it

# Certificates are public: readable by all.
chmod 0644 ca.pem server-cert.pem cert.pem other-ca/ca.pem other-ca/cert.pem other-ca/signer.pem
echo "make-certs.sh: CA, server and client certificates in $PWD"
