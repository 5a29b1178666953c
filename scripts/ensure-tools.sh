#!/usr/bin/env bash
# Installs what the full test run needs beyond Node and pnpm, when it is missing:
#   - redis-server, postgresql, chromium and faketime (Debian packages; needs root and
#     apt-get); faketime's libfaketime.so.1 moves a chaos node's wall clock (the clock-jump fault),
#   - the FerretDB test server (MongoDB wire protocol on SQLite), built with Go from
#     tools/ferretdb into ~/.cache/assured/bin (cached between runs; tools/ferretdb/README.md
#     says the one change its build makes to FerretDB: `_id` lookups use the `_id` index).
# Set REDIS_URL / MONGODB_URL / POSTGRES_URL to use servers of your own; then nothing is
# started for them.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then need_apt+=(redis-server); fi
if [ -z "${POSTGRES_URL:-}" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then need_apt+=(postgresql); fi
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then need_apt+=(chromium); fi
if [ -z "${ASSURED_LIBFAKETIME:-}" ] && ! compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null; then need_apt+=(faketime); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-tools: installing ${need_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "ensure-tools: missing ${need_apt[*]}; install them (Debian: apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

ferretdb_bin="${FERRETDB_BIN:-$HOME/.cache/assured/bin/ferretdb-test-2}"
if [ -z "${MONGODB_URL:-}" ] && [ ! -x "$ferretdb_bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "ensure-tools: Go is needed to build the FerretDB test server (or set MONGODB_URL)" >&2
    exit 1
  fi
  echo "ensure-tools: building the FerretDB test server (first run only, a few minutes)"
  mkdir -p "$(dirname "$ferretdb_bin")"
  bash tools/ferretdb/build.sh "$ferretdb_bin"
fi
echo "ensure-tools: ready"
