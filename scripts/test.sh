#!/usr/bin/env bash
# The whole test run: tools, lint, typecheck, build, package checks (publint, attw), the
# packaging test (the packed tarballs installed and used outside the workspace, see
# CONTRIBUTING.md), and every test suite (unit, conformance, end-to-end, browser). Servers the
# tests need (redis-server, FerretDB) are started by the suites themselves on free loopback
# ports and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

bash scripts/ensure-tools.sh
pnpm lint
pnpm turbo run typecheck build --output-logs=errors-only
pnpm turbo run check:package --output-logs=errors-only
node scripts/package-test.mjs
node scripts/run-tests.mjs
