#!/usr/bin/env bash
# `npm test`: installs what is missing, checks the API and generated code, typechecks, lints and
# runs the whole suite against real nats-server processes the harness starts on free ports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-deps.sh
NATS_SERVER_BIN="$(bash scripts/ensure-nats.sh)"
export NATS_SERVER_BIN
echo "nats-server: $("$NATS_SERVER_BIN" --version)"
bash scripts/gen-check.sh
npx tsc --noEmit -p .
npx vitest run "$@"
