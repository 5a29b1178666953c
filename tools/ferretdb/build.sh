#!/usr/bin/env bash
# Builds the FerretDB test server into $1, with one fix applied to FerretDB 1.24.2's SQLite
# backend: its `_id` lookups name the field with another SQLite path expression (`->'$._id'`)
# than the unique `_id` index it creates (`->"_id"`), so SQLite cannot use the index and every
# find, update and delete by `_id` scans the whole collection (upstream, the constant carries a
# TODO to go away: FerretDB#226). With the expressions aligned they use the index, as on
# MongoDB. Nothing else changes. See tools/ferretdb/README.md.
set -euo pipefail

out="$(realpath -m -- "${1:?usage: build.sh <output binary>}")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

cd "$here"
go mod download github.com/FerretDB/FerretDB
module_dir="$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
cp -r "$module_dir" "$work/ferretdb"
chmod -R u+w "$work/ferretdb"

metadata="$work/ferretdb/internal/backends/sqlite/metadata/metadata.go"
before="IDColumn = DefaultColumn + \"->'\$._id'\""
after='IDColumn = DefaultColumn + `->"_id"`'
if ! grep -qF "$before" "$metadata"; then
  echo "tools/ferretdb/build.sh: FerretDB's _id expression is not the one this fix expects" >&2
  exit 1
fi
sed -i "s|$(printf '%s' "$before" | sed 's/[$.*[\^|]/\\&/g')|$after|" "$metadata"
grep -qF "$after" "$metadata"

cp go.mod go.sum main.go "$work/"
cd "$work"
go mod edit -replace "github.com/FerretDB/FerretDB=$work/ferretdb"
go build -o "$out" .
