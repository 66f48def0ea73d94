#!/bin/sh
# Development certificates for `docker compose -f deploy/compose.yaml up`: a throwaway CA
# and a server certificate for the `nats` container, written to deploy/nats/tls/.
# Production uses the city's own CA instead.
set -eu
out="$(dirname "$0")/tls"
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=fengqiao dev CA" -keyout ca.key -out ca.pem
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=nats" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:nats,DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
  -extfile san.ext -out server.pem
rm -f server.csr san.ext ca.srl
chmod 644 server.key  # read by the nats container's own user
echo "written: $out/ca.pem $out/server.pem $out/server.key"
