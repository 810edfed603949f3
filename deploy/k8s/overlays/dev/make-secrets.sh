#!/usr/bin/env sh
# Makes this overlay's secrets (never committed): secrets.env and a self-signed tls.crt/key.
#   DATABASE_URL=postgresql://tiffin:PASSWORD@postgres.tiffin-dev:5432/tiffin ./make-secrets.sh
set -eu
cd "$(dirname "$0")"
random() { python3 -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"; }
umask 077
cat > secrets.env <<ENV
TIFFIN_DATABASE_URL=${DATABASE_URL:?set DATABASE_URL to the cluster database}
TIFFIN_EVENT_CIPHER_KEY=$(random)
TIFFIN_JWT_SECRET=$(random)
TIFFIN_PAYMENT_WEBHOOK_SECRET=$(random)
ENV
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
  -subj "/CN=tiffin-api" -addext "subjectAltName=DNS:tiffin-api,DNS:localhost" \
  -keyout tls.key -out tls.crt 2>/dev/null
echo "wrote secrets.env, tls.crt and tls.key"
