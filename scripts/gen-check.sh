#!/usr/bin/env bash
# Fails when the committed ts-proto output differs from what the .proto files generate, when buf
# lint finds a problem, or when the API breaks compatibility with the previous commit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
npx buf lint
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npx buf generate -o "$tmp"
npx buf build -o "$tmp/services/gen/grantledger.binpb"
npx buf build node_modules/grpc-health-check/proto -o "$tmp/services/gen/health.binpb"
if ! diff -r "$tmp/services/gen" services/gen >/dev/null; then
  diff -ru services/gen "$tmp/services/gen" | head -40 >&2
  echo "services/gen is stale: run 'npm run gen' and commit the result" >&2
  exit 1
fi
if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1 && git cat-file -e HEAD~1:proto 2>/dev/null; then
  npx buf breaking proto --against ".git#ref=HEAD~1,subdir=proto"
fi
echo "generated code is current; buf lint and buf breaking pass"
