#!/usr/bin/env bash
# `npm start`: installs what is missing, then serves every role in one process on 127.0.0.1:50051,
# with a local nats-server unless NATS_URL names one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-deps.sh
bash scripts/build.sh
if [ -z "${NATS_URL:-}" ]; then
  NATS_SERVER_BIN="$(bash scripts/ensure-nats.sh)"
  export NATS_SERVER_BIN
fi
# Plaintext on loopback for trying it out; with GL_TLS_CERT set, serve authenticated instead.
if [ -z "${GL_TLS_CERT:-}" ]; then set -- --insecure-dev "$@"; fi
exec node dist/scripts/cli.js serve "$@"
